"""GPU telemetry: one sample per GPU, one snapshot per host."""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    user: str | None
    command: str | None
    used_memory_mib: float | None


@dataclass(frozen=True)
class GpuSample:
    """One GPU at one instant. Fields a device does not support are None."""

    host: str
    index: int
    timestamp: float
    name: str | None = None
    uuid: str | None = None
    utilization_pct: float | None = None
    memory_used_mib: float | None = None
    memory_total_mib: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    sm_clock_mhz: float | None = None
    fan_pct: float | None = None
    pstate: str | None = None
    ecc_volatile_uncorrected: int | None = None
    mig_mode: bool | None = None
    processes: tuple[GpuProcess, ...] = ()

    @property
    def memory_pct(self) -> float | None:
        if self.memory_used_mib is None or not self.memory_total_mib:
            return None
        return 100.0 * self.memory_used_mib / self.memory_total_mib

    @property
    def idle(self) -> bool:
        """Free for a new job: no processes, util < 5 %, memory < 5 %."""
        mem = self.memory_pct
        return (
            not self.processes
            and self.utilization_pct is not None
            and self.utilization_pct < 5.0
            and mem is not None
            and mem < 5.0
        )


class HostState(enum.StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    STALE = "stale"
    DOWN = "down"
    AUTH_FAILED = "auth-failed"
    HOST_KEY_UNKNOWN = "host-key-unknown"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class HostSnapshot:
    """Everything the GPU pane knows about one host at one instant."""

    host: str
    state: HostState
    timestamp: float
    gpus: tuple[GpuSample, ...] = ()
    driver_version: str | None = None
    cuda_version: str | None = None
    source: str | None = None  # "nvml", "nvidia-smi", "simulated", ...
    reason: str | None = None  # why down/unsupported
