"""GPU telemetry and control: simulated, local NVML, the remote sampler, nvidia-smi, kill."""
