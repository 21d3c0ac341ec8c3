"""Runs, their specs and sweeps, and what they record (metric series, per-item scores)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


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
    workdir: str | None = None  # where the command runs on its host (None: home)


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
    attempt: int = 1  # 2, 3 ... for `cockpit relaunch`; each attempt is a run of its own
    relaunch_of: str | None = None  # the run this attempt repeats
    results_at: float | None = None  # when its metrics reached the store


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


# A MetricPoint as a plain tuple, in the same order: how a log scan hands the store
# hundreds of thousands of points without an object each.
MetricRow = tuple[str, int, str, float]


@dataclass(frozen=True)
class EvalItem:
    run_id: str
    task: str
    item_id: str
    score: float
