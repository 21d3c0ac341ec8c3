"""The morning report's view model: what cockpit.triage builds and the CLI and the app's
triage screen draw. Plain frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    sweep: str | None
    state: str
    host: str | None
    gpus: int | None  # None: the source does not say
    started_at: float | None
    ended_at: float | None
    exit_code: int | None
    reason_kind: str  # ok | timeout | oom | killed | nan | cancelled | lost | exit | running
    reason: str  # one line for a person
    log_tail: tuple[str, ...] = ()
    log_flags: tuple[str, ...] = ()  # what its log showed: "nan-loss at line 120: loss=nan"


@dataclass(frozen=True)
class TriageResult:
    """One new config's verdict on one metric, as `cockpit results` gives it."""

    sweep: str
    metric: str
    config: str
    label: str
    value: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    test: str
    p_holm: float | None
    verdict: str
    flags: tuple[str, ...]
    family_size: int


@dataclass(frozen=True)
class TriageReport:
    since: float
    until: float
    since_source: str  # "last look", "--since", or "default window"
    finished: tuple[RunOutcome, ...]
    failed: tuple[RunOutcome, ...]
    running: tuple[RunOutcome, ...]
    gpu_hours_used: float
    gpu_hours_by_host: dict[str, float]
    gpu_hours_observed: float | None  # None: no GPU samples in the window
    gpu_hours_idle: float | None
    results: tuple[TriageResult, ...]
    thresholds_crossed: tuple[str, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def news(self) -> bool:
        """Whether anything happened worth opening on: runs that finished or failed, new
        verdicts, thresholds crossed (a run still going is not news)."""
        return bool(self.finished or self.failed or self.results or self.thresholds_crossed)
