"""Dataclasses shared by the core, the backends and the widgets.

Nothing here does I/O or imports Textual: these are the nouns every layer speaks.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class HostKind(enum.StrEnum):
    SSH = "ssh"
    SLURM = "slurm"
    LOCAL = "local"
    DEMO = "demo"


@dataclass(frozen=True)
class Host:
    name: str
    kind: HostKind = HostKind.SSH
    address: str = ""  # ssh alias, hostname or IP
    user: str | None = None
    port: int | None = None
    jump: str | None = None  # ProxyJump, as in ~/.ssh/config
    identity_file: str | None = None
    gpus: int | None = None
    labels: tuple[str, ...] = ()
    read_only: bool = False


@dataclass(frozen=True)
class LlmBackend:
    name: str
    model: str  # a litellm model string, e.g. "openai/gpt-4o-mini"
    api_base: str | None = None
    # The NAME of the environment variable holding the key; the key itself is never stored.
    api_key_env: str | None = None
    budget_usd: float | None = None


class RunState(enum.StrEnum):
    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    LOST = "lost"  # proven dead with no exit code
    UNREACHABLE = "unreachable"  # host down; not terminal

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL_RUN_STATES


_TERMINAL_RUN_STATES = frozenset(
    {RunState.SUCCEEDED, RunState.FAILED, RunState.TIMEOUT, RunState.CANCELLED, RunState.LOST}
)


@dataclass(frozen=True)
class RunSpec:
    """What to run: a command and the config it was generated from."""

    name: str
    command: str
    config: dict[str, Any] = field(default_factory=dict)
    sweep: str | None = None
    host: str | None = None
    gpus: int = 1
    timeout_s: int | None = None
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    id: str
    spec: RunSpec
    state: RunState = RunState.QUEUED
    host: str | None = None
    remote_dir: str | None = None
    gpu_ids: tuple[int, ...] = ()
    pid: int | None = None
    job_id: str | None = None
    exit_code: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sweep:
    name: str
    factors: dict[str, list[Any]]
    baseline: str | None = None  # run id of the baseline config
    primary_metric: str | None = None
    thresholds: dict[str, Any] = field(default_factory=dict)
    created_at: float | None = None


@dataclass(frozen=True)
class MetricPoint:
    run_id: str
    step: int
    name: str
    value: float


@dataclass(frozen=True)
class EvalItem:
    run_id: str
    task: str
    item_id: str
    score: float


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


@dataclass(frozen=True)
class Idea:
    name: str
    title: str
    experiment: str = ""
    interestingness: int | None = None
    feasibility: int | None = None
    novelty: int | None = None
    novel: bool | None = None
    status: str = "new"  # new | queued | running | done | rejected
    source: str = "user"  # user | llm | file

    @property
    def score(self) -> float | None:
        parts = [s for s in (self.interestingness, self.feasibility, self.novelty) if s is not None]
        return sum(parts) / len(parts) if parts else None


class CommandStatus(enum.StrEnum):
    PENDING = "pending"
    NEEDS_CONFIRM = "needs-confirm"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"  # a person declined an LLM-proposed command
    INTERRUPTED = "interrupted"  # was running when the cockpit died; never re-run silently

    @property
    def terminal(self) -> bool:
        return self in (
            CommandStatus.DONE,
            CommandStatus.FAILED,
            CommandStatus.REJECTED,
            CommandStatus.INTERRUPTED,
        )


class CommandOrigin(enum.StrEnum):
    USER = "user"
    LLM = "llm"


@dataclass(frozen=True)
class Command:
    id: int
    pane: str
    backend: str
    kind: str
    payload: dict[str, Any]
    status: CommandStatus
    origin: CommandOrigin = CommandOrigin.USER
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None


@dataclass(frozen=True)
class DraftVersion:
    draft: str
    version: int
    text: str
    message: str = ""
    created_at: float = 0.0
