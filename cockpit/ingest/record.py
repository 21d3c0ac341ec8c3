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
    # One line each: what the parsers skipped or doubted, naming the file and the key.
    warnings: tuple[str, ...] = ()
    replaced: int = 0  # runs an earlier import wrote that this one replaced


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
    """Config keys whose scalar value varies across runs, with levels in first-seen order.

    Keys that always change together (lm-eval's model and model_args, a model's name and its
    parameter count) are one factor, not several: two configs differing in one imported
    field are two levels of one factor, not an incomplete 2^2 design. The first such key
    names the factor.
    """
    levels: dict[str, list[Any]] = {}
    for config in configs:
        for key, value in config.items():
            if key in SEED_KEYS or not _scalar(value):
                continue
            seen = levels.setdefault(key, [])
            if value not in seen:
                seen.append(value)
    varying = [key for key, values in levels.items() if len(values) > 1]
    patterns: dict[tuple[int, ...], str] = {}
    out: dict[str, list[Any]] = {}
    for key in varying:
        # Which level each run has, numbered by first appearance: equal patterns co-vary.
        numbering: dict[str, int] = {}
        pattern = tuple(
            numbering.setdefault(repr(config.get(key)), len(numbering)) for config in configs
        )
        if pattern in patterns:
            continue
        patterns[pattern] = key
        out[key] = levels[key]
    return out


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


def content_key(run: ImportedRun) -> str:
    """A hash of what a run holds (its config, metrics, per-seed values and per-item
    scores): the same results read from another copy of the files have the same key."""
    import hashlib

    body = json.dumps(
        [
            run.source_format,
            run.name,
            # When it ran: a deterministic re-run has the same numbers but is another run.
            run.started_at,
            run.provenance.get("timestamp"),
            run.config,
            sorted(run.metrics.items()),
            sorted(run.seeds.items()),
            sorted(run.eval_items),
        ],
        sort_keys=True,
        default=repr,
    )
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def _resolved(source: object) -> str:
    """A source path spelled one way (absolute, symlinks and "..", trailing "/" resolved)."""
    text = str(source or "")
    if not text:
        return ""
    try:
        return str(Path(text).expanduser().resolve())
    except (OSError, RuntimeError):
        return text


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
    # An imported run is known by its resolved source (a file read again through another
    # spelling of its path) or by its content (the same files copied elsewhere): either way
    # the new import replaces the old run instead of adding a copy.
    by_source: dict[str, str] = {}
    by_content: dict[str, str] = {}
    for known in store.list_runs():
        source = _resolved(known.provenance.get("source_path"))
        taken[known.id] = source
        if source:
            by_source.setdefault(source, known.id)
        content = known.provenance.get("content_key")
        if isinstance(content, str):
            by_content.setdefault(content, known.id)
    written: list[str] = []
    warnings: list[str] = []
    replaced = 0
    points_total = items_total = 0
    for sweep_name, members in by_sweep.items():
        records = []
        for imported in members:
            source = _resolved(imported.provenance.get("source_path"))
            content = content_key(imported)
            earlier = by_source.get(source) if source else None
            earlier = earlier or by_content.get(content)
            if earlier is not None and earlier not in written:
                run_id = earlier
                replaced += 1
            else:
                run_id = _run_id(imported, taken)
            prov = dict(imported.provenance)
            prov["source_format"] = imported.source_format
            if source:
                prov["source_path"] = source
            prov["content_key"] = content
            if imported.warnings:
                prov["import_warnings"] = list(imported.warnings)
                warnings.extend(imported.warnings)
            if imported.gpus is None:
                prov["gpus_known"] = False  # the source does not say: never guessed
            meta = ImportedRunMeta(
                reported_stderr={k: v for k, v in imported.metric_stderr.items() if v is not None},
                sample_counts=imported.sample_counts,
                higher_is_better=imported.higher_is_better,
                seeds=imported.seeds,
                budgets=imported.budgets,
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
                    gpus=_gpu_count(imported.gpus, gpus),
                ),
                state=state,
                host=prov.get("host") if isinstance(prov.get("host"), str) else None,
                exit_code=exit_code if isinstance(exit_code, int) else None,
                started_at=imported.started_at or _epoch(prov, "started_at", "start_time_ms"),
                ended_at=imported.ended_at or _epoch(prov, "ended_at", "end_time_ms"),
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
        new_ids = {r.id for r, _, _ in records}
        configs = [r.spec.config for r, _, _ in records]
        if old is not None:
            configs += [r.spec.config for r in store.list_runs(sweep_name) if r.id not in new_ids]
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
            # A spec's factors stand; inferred ones are inferred again over every run of
            # the sweep, so a later import that adds levels (or a new factor) extends them.
            factors=spec.get("factors") or infer_factors(configs),
            baseline=(old.baseline if old else None) or spec.get("baseline") or baseline,
            primary_metric=(old.primary_metric if old else None) or spec.get("primary_metric"),
            thresholds=(old.thresholds if old and old.thresholds else None)
            or spec.get("thresholds")
            or {},
            created_at=old.created_at if old and old.created_at else _now(),
        )
        store.import_runs(sweep_row, records)
    fmt = runs[0].source_format if runs else ""
    return ImportSummary(
        fmt,
        tuple(by_sweep),
        tuple(written),
        points_total,
        items_total,
        tuple(warnings),
        replaced,
    )


def _gpu_count(declared: int | None, provenance_gpus: Any) -> int:
    """GPUs the source records; 0 when it records none (triage shows it as unknown)."""
    if declared is not None:
        return declared
    if isinstance(provenance_gpus, list):
        return len(provenance_gpus)
    return 0


def _now() -> float:
    import time

    return time.time()
