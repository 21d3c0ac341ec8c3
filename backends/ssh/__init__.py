"""SSH: ~/.ssh/config resolution, host keys, and the pooled connections to hosts."""
