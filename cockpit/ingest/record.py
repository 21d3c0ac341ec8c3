"""Imported runs into the store (`cockpit import`): runs, metrics, per-item scores, sweeps."""

from __future__ import annotations

import json
import re
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cockpit.ingest.reading import MLFLOW, ImportedRun
from cockpit.metric_names import SEED_KEYS
from cockpit.models.results import ImportedRunMeta

if TYPE_CHECKING:
    from cockpit.store import Store


@dataclass(frozen=True)
class ImportSummary:
    """What an import wrote: for the one line the CLI prints."""

    source_format: str
    sweeps: tuple[str, ...]
    run_ids: tuple[str, ...]
    metric_points: int
    eval_items: int


def _default_sweep(run: ImportedRun, source: Path | None) -> str:
    prov = run.provenance
    for key in ("sweep", "experiment_name", "experiment"):
        value = prov.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    if source is not None:
        folder = source if source.is_dir() else source.parent
        return folder.resolve().name or "imported"
    return "imported"


def _sweep_spec_near(source: Path | None, name: str) -> dict[str, Any]:
    """A cockpit sweep.json next to the imported folder (or one up) naming this sweep."""
    if source is None:
        return {}
    folder = source if source.is_dir() else source.parent
    for candidate in (folder / "sweep.json", folder.parent / "sweep.json"):
        if candidate.is_file():
            try:
                spec = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(spec, dict) and spec.get("name") == name:
                return spec
    return {}


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def infer_factors(configs: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Config keys whose scalar value varies across runs, with levels in first-seen order."""
    levels: dict[str, list[Any]] = {}
    for config in configs:
        for key, value in config.items():
            if key in SEED_KEYS or not _scalar(value):
                continue
            seen = levels.setdefault(key, [])
            if value not in seen:
                seen.append(value)
    return {key: values for key, values in levels.items() if len(values) > 1}


def _epoch(prov: dict[str, Any], iso_key: str, ms_key: str) -> float | None:
    from datetime import datetime

    iso = prov.get(iso_key)
    if isinstance(iso, str):
        with suppress(ValueError):
            return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    ms = prov.get(ms_key)
    if isinstance(ms, int | float) and not isinstance(ms, bool):
        return float(ms) / 1000.0
    return None


def _run_id(run: ImportedRun, taken: dict[str, str]) -> str:
    """A readable id that is stable across re-imports of the same file: the run's name,
    with a short hash of its source when another source already uses that name."""
    import hashlib

    base = re.sub(r"\s+", "-", str(run.provenance.get("run_id") or run.name).strip()) or "run"
    if run.source_format == MLFLOW:
        base = re.sub(r"\s+", "-", run.name.strip()) or base  # names read better than uuids
    source = str(run.provenance.get("source_path", ""))
    owner = taken.get(base)
    if owner is None or owner == source:
        taken[base] = source
        return base
    digest = hashlib.sha1(source.encode()).hexdigest()[:6]
    run_id = f"{base}-{digest}"
    taken[run_id] = source
    return run_id


def record_imported_runs(
    store: Store,
    runs: list[ImportedRun],
    *,
    sweep: str | None = None,
    source: str | Path | None = None,
) -> ImportSummary:
    """Write imported runs into the store: runs, metrics (series and finals), per-item
    scores, and their sweep (created, or extended with the new runs' factors).

    Each sweep is written in one transaction; importing the same files again replaces what
    the first import wrote instead of adding copies. What the store has no column for
    (reported stderrs, per-seed values, which metric direction the file declared) goes
    into the run's provenance as an ImportedRunMeta, which cockpit.results reads back.
    """
    from cockpit.models import EvalItem, MetricPoint, Run, RunSpec, RunState, Sweep

    src = Path(source).expanduser() if source is not None else None
    by_sweep: dict[str, list[ImportedRun]] = {}
    for run in runs:
        by_sweep.setdefault(sweep or _default_sweep(run, src), []).append(run)
    existing_sweeps = {s.name: s for s in store.list_sweeps()}
    taken: dict[str, str] = {}
    for known in store.list_runs():
        taken[known.id] = str(known.provenance.get("source_path", ""))
    written: list[str] = []
    points_total = items_total = 0
    for sweep_name, members in by_sweep.items():
        records = []
        for imported in members:
            run_id = _run_id(imported, taken)
            prov = dict(imported.provenance)
            prov["source_format"] = imported.source_format
            meta = ImportedRunMeta(
                reported_stderr={k: v for k, v in imported.metric_stderr.items() if v is not None},
                sample_counts=imported.sample_counts,
                higher_is_better=imported.higher_is_better,
                seeds=imported.seeds,
            )
            prov.update(meta.to_provenance())
            try:
                state = RunState(imported.state)
            except ValueError:
                state = RunState.LOST
            exit_code = prov.get("exit_code")
            gpus = prov.get("gpus")
            record = Run(
                id=run_id,
                spec=RunSpec(
                    name=imported.name,
                    command=str(prov.get("command") or ""),
                    config=dict(imported.config),
                    sweep=sweep_name,
                    host=prov.get("host") if isinstance(prov.get("host"), str) else None,
                    gpus=len(gpus) if isinstance(gpus, list) and gpus else 1,
                ),
                state=state,
                host=prov.get("host") if isinstance(prov.get("host"), str) else None,
                exit_code=exit_code if isinstance(exit_code, int) else None,
                started_at=_epoch(prov, "started_at", "start_time_ms"),
                ended_at=_epoch(prov, "ended_at", "end_time_ms"),
                provenance=prov,
            )
            points = [
                MetricPoint(run_id, int(step), name, float(value))
                for name, series in imported.series.items()
                for step, value in series
            ]
            last_step = max((p.step for p in points), default=0)
            points += [
                MetricPoint(run_id, last_step, name, float(value))
                for name, value in imported.metrics.items()
                if name not in imported.series
            ]
            items = [
                EvalItem(run_id, task, item, score) for task, item, score in imported.eval_items
            ]
            records.append((record, points, items))
            written.append(run_id)
            points_total += len(points)
            items_total += len(items)
        old = existing_sweeps.get(sweep_name)
        spec = _sweep_spec_near(src, sweep_name)
        configs = [r.spec.config for r, _, _ in records]
        if old is not None:
            configs += [r.spec.config for r in store.list_runs(sweep_name)]
        baseline = next(
            (
                r.id
                for r, _, _ in records
                if ImportedRunMeta.from_provenance(r.provenance).is_baseline
            ),
            None,
        )
        sweep_row = Sweep(
            name=sweep_name,
            factors=(old.factors if old and old.factors else None)
            or spec.get("factors")
            or infer_factors(configs),
            baseline=(old.baseline if old else None) or spec.get("baseline") or baseline,
            primary_metric=(old.primary_metric if old else None) or spec.get("primary_metric"),
            thresholds=(old.thresholds if old and old.thresholds else None)
            or spec.get("thresholds")
            or {},
            created_at=old.created_at if old and old.created_at else _now(),
        )
        store.import_runs(sweep_row, records)
    fmt = runs[0].source_format if runs else ""
    return ImportSummary(fmt, tuple(by_sweep), tuple(written), points_total, items_total)


def _now() -> float:
    import time

    return time.time()
