"""Shadows any installed pynvml: the host has no NVML bindings."""

raise ImportError("No module named 'pynvml' (cockpit test stand-in)")
