"""The morning report: what finished or failed since the last look, and what it means.

:func:`build_triage` gathers it from the store (runs, results, GPU samples) and the runs' log
tails; :func:`render_triage` prints it with rich. Core, no Textual: the CLI prints it and the
app shows the same report over the cockpit (widgets/triage.py), at start-up when it has news.

- "Since the last look" is a time kept in the settings table (:data:`LAST_LOOK_KEY`),
  moved to now each time the report is shown (unless asked not to); the first report looks
  back :data:`DEFAULT_WINDOW_S`.
- A failure's reason comes from the run's state and exit code first (timeout, killed,
  cancelled, lost), then from the tail of its log when there is one (CUDA OOM, NaN loss),
  then the last error-looking line.
- GPU-hours used are each run's GPU count times the part of its run time inside the window;
  idle GPU-hours come from the gpu_samples table, when the cockpit recorded any.
- Results are the verdicts `cockpit results --sweep S --metric M` gives for the configs of
  the runs that finished in the window: the sweep's primary metric, plus every metric the
  sweep has a threshold for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cockpit.logs import classify_ending, read_log_tail
from cockpit.models import HostKind, Run, RunState
from cockpit.models.triage import RunOutcome, TriageReport, TriageResult
from cockpit.results import ResultsData, ResultsError, build_matrix, load_results_data

if TYPE_CHECKING:
    from cockpit.store import Store

LAST_LOOK_KEY = "triage.last_look"
DEFAULT_WINDOW_S = 12 * 3600
# A gap between two samples of one GPU longer than this means the sampler was off, not
# that the GPU idled for that long.
MAX_SAMPLE_GAP_S = 300.0


def log_finder(store: Store, extra_dirs: Sequence[Path] = ()) -> Callable[[Run], list[str]]:
    """Where a run's out.log is on this machine: the folder it was imported from, its run
    folder when the run is local, or a demo's sample folder."""
    dirs = list(extra_dirs)
    hosts = {h.name: h for h in store.list_hosts()}
    if any(h.kind is HostKind.DEMO for h in hosts.values()):
        from cockpit.demo import sample_runs_dir

        dirs.append(sample_runs_dir() / "runs")

    def find(run: Run) -> list[str]:
        candidates: list[Path] = []
        source = run.provenance.get("source_path")
        if isinstance(source, str):
            candidates.append(Path(source) / "out.log")
        host = hosts.get(run.host or "")
        if run.remote_dir and (host is None or host.kind is HostKind.LOCAL):
            candidates.append(Path(run.remote_dir).expanduser() / "out.log")
        candidates += [d / run.id / "out.log" for d in dirs]
        for path in candidates:
            if path.is_file():
                return read_log_tail(path)
        return []

    return find


# --------------------------------------------------------------------------- building


def _gpus(run: Run) -> int | None:
    """The run's GPU count; None for an imported run whose source records none."""
    if run.gpu_ids:
        return len(run.gpu_ids)
    if run.provenance.get("gpus_known") is False:
        return None
    return max(0, run.spec.gpus)


def _overlap(start: float | None, end: float | None, since: float, until: float) -> float:
    if start is None:
        return 0.0
    end = until if end is None else end
    return max(0.0, min(end, until) - max(start, since))


def _outcome(run: Run, tail: Sequence[str], flags: Sequence[dict[str, Any]] = ()) -> RunOutcome:
    kind, reason = classify_ending(run.state, run.exit_code, tail, run.spec.timeout_s)
    return RunOutcome(
        run_id=run.id,
        sweep=run.spec.sweep,
        state=str(run.state),
        host=run.host,
        gpus=_gpus(run),
        started_at=run.started_at,
        ended_at=run.ended_at,
        exit_code=run.exit_code,
        reason_kind=kind,
        reason=reason,
        log_tail=tuple(tail[-5:]),
        log_flags=tuple(f"{f['kind']} at line {f['line']}: {f['text']}" for f in flags),
    )


def build_triage(
    store: Store,
    *,
    since: float | None = None,
    now: float | None = None,
    logs: Callable[[Run], list[str]] | None = None,
    data: ResultsData | None = None,
    first_since: float | None = None,
) -> TriageReport:
    """The report for runs that ended in [since, now]; ``since`` defaults to the last look.

    ``data``: a results snapshot already read (the app's), so the verdicts need not read
    the store again. ``first_since``: where a first report (no last look yet) starts instead
    of DEFAULT_WINDOW_S back, e.g. the start of the demo's night of runs.
    """
    until = time.time() if now is None else now
    if since is not None:
        source = "--since"
    else:
        last = store.get_setting(LAST_LOOK_KEY)
        if isinstance(last, int | float) and last < until:
            since, source = float(last), "last look"
        elif first_since is not None and first_since < until:
            since, source = first_since, "first look"
        else:
            since, source = until - DEFAULT_WINDOW_S, "default window"
    logs = logs or log_finder(store)
    runs = store.list_runs()
    flags = store.log_flags()
    finished: list[RunOutcome] = []
    failed: list[RunOutcome] = []
    running: list[RunOutcome] = []
    used: dict[str, float] = {}
    for run in runs:
        seconds = _overlap(run.started_at, run.ended_at, since, until)
        if seconds and not (run.state.terminal and run.ended_at is None):
            host = run.host or "?"
            gpus = _gpus(run)
            if gpus is not None:  # unknown stays unknown: no GPU-hours invented
                used[host] = used.get(host, 0.0) + gpus * seconds / 3600.0
        if not run.state.terminal:
            if run.state is not RunState.QUEUED:
                running.append(_outcome(run, (), flags.get(run.id, ())))
            continue
        if run.ended_at is None or not since <= run.ended_at <= until:
            continue
        if run.state is RunState.SUCCEEDED:
            finished.append(_outcome(run, (), flags.get(run.id, ())))
        else:
            failed.append(_outcome(run, logs(run), flags.get(run.id, ())))
    observed = idle = None
    rows = store.gpu_time_between(since, until, MAX_SAMPLE_GAP_S)
    if rows:
        observed = sum(r["observed_s"] or 0.0 for r in rows) / 3600.0
        idle = sum(r["idle_s"] or 0.0 for r in rows) / 3600.0
    results, crossed, notes = _new_results(store, finished, data)
    return TriageReport(
        since=since,
        until=until,
        since_source=source,
        finished=tuple(sorted(finished, key=lambda o: o.ended_at or 0.0)),
        failed=tuple(sorted(failed, key=lambda o: o.ended_at or 0.0)),
        running=tuple(running),
        gpu_hours_used=sum(used.values()),
        gpu_hours_by_host=dict(sorted(used.items())),
        gpu_hours_observed=observed,
        gpu_hours_idle=idle,
        results=tuple(results),
        thresholds_crossed=tuple(crossed),
        notes=tuple(notes),
    )


def _new_results(
    store: Store, finished: Sequence[RunOutcome], data: ResultsData | None = None
) -> tuple[list[TriageResult], list[str], list[str]]:
    new_runs: dict[str, set[str]] = {}
    for outcome in finished:
        if outcome.sweep:
            new_runs.setdefault(outcome.sweep, set()).add(outcome.run_id)
    if not new_runs:
        return [], [], []
    if data is None:
        data = load_results_data(store)
    results: list[TriageResult] = []
    crossed: list[str] = []
    notes: list[str] = []
    for sweep in data.sweeps:
        if sweep.name not in new_runs:
            continue
        metrics = [sweep.primary_metric] if sweep.primary_metric else []
        metrics += [m for m in sweep.thresholds if m not in metrics and not _is_glob(m)]
        if not metrics:
            metrics = [None]  # type: ignore[list-item]  # the view's default metric
        for metric in metrics:
            try:
                matrix = build_matrix(data, sweep=sweep.name, metric=metric)
            except ResultsError as exc:
                notes.append(f"{sweep.name}: {exc}")
                continue
            shown = matrix.metric
            if shown is None:
                continue
            (group,) = matrix.sweeps
            for config in group.configs:
                if not new_runs[sweep.name] & set(config.run_ids):
                    continue
                cmp = config.comparisons.get(shown)
                summary = config.summaries.get(shown)
                if config.is_baseline or cmp is None:
                    continue
                result = TriageResult(
                    sweep=sweep.name,
                    metric=shown,
                    config=config.key,
                    label=config.label,
                    value=summary.mean if summary else None,
                    delta=cmp.delta,
                    ci_low=cmp.ci_low,
                    ci_high=cmp.ci_high,
                    test=str(cmp.test),
                    p_holm=cmp.p_adjusted,
                    verdict=str(cmp.verdict),
                    flags=cmp.flags,
                    family_size=matrix.family_size,
                )
                if metric == metrics[0]:
                    results.append(result)
                crossed += [f"{sweep.name} {config.key}: {shown} {flag}" for flag in cmp.flags]
    return results, list(dict.fromkeys(crossed)), notes


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def mark_looked(store: Store, when: float) -> None:
    store.set_setting(LAST_LOOK_KEY, when)


def report_json(report: TriageReport) -> dict[str, Any]:
    """The report as plain data (``cockpit triage --json``)."""
    from dataclasses import asdict

    return asdict(report)
