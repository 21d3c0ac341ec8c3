"""Run backends: where a run executes and how the cockpit follows it (one module each)."""
