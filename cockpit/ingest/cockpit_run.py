"""The cockpit's own run folder: spec.json, metrics.jsonl, eval_items.jsonl, exit_code,
provenance.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cockpit.ingest.reading import (
    COCKPIT_RUN,
    ImportedRun,
    ImportFormatError,
    iter_jsonl,
    json_number,
    read_json,
    read_text,
    stderr_of,
)


def parse_cockpit_run(path: str | Path) -> list[ImportedRun]:
    """Cockpit run folders: ``path`` is one run folder (spec.json, metrics.jsonl,
    eval_items.jsonl, exit_code, provenance.json) or a folder of them (runs/)."""
    p = Path(path).expanduser()
    if p.is_file():
        p = p.parent
    if (p / "spec.json").is_file():
        return [_parse_cockpit_dir(p)]
    dirs = sorted(c for c in p.iterdir() if c.is_dir() and (c / "spec.json").is_file())
    if not dirs:
        raise ImportFormatError(f"{p}: not a cockpit run folder (no spec.json)")
    return [_parse_cockpit_dir(d) for d in dirs]


def _state_from_exit_code(run_dir: Path) -> tuple[str, int | None]:
    f = run_dir / "exit_code"
    if not f.is_file():
        # The wrapper writes exit_code last; without it the run is still going (or died in a
        # way only the runner, which can check the pid, can tell).
        return "running", None
    text = read_text(f).strip()
    try:
        code = int(text)
    except ValueError:
        raise ImportFormatError(f"{f}: expected an integer exit code, got {text[:40]!r}") from None
    if code == 0:
        return "succeeded", code
    if code in (124, 137):  # GNU timeout: 124, or 128+9 when it had to SIGKILL
        return "timeout", code
    return "failed", code


def _parse_cockpit_dir(run_dir: Path) -> ImportedRun:
    spec = read_json(run_dir / "spec.json")
    if not isinstance(spec, dict):
        raise ImportFormatError(f"{run_dir / 'spec.json'}: expected a JSON object")
    config = spec.get("config") if isinstance(spec.get("config"), dict) else {}

    metrics: dict[str, float] = {}
    series: dict[str, list[tuple[int, float]]] = {}
    last_step: dict[str, int] = {}
    mfile = run_dir / "metrics.jsonl"
    if mfile.is_file():
        for lineno, obj in iter_jsonl(mfile):
            step = obj.get("step", lineno)
            if isinstance(step, bool) or not isinstance(step, int | float):
                raise ImportFormatError(f"{mfile}: line {lineno} has a non-numeric step")
            for key, value in obj.items():
                number = json_number(value)
                if key == "step" or number is None:
                    continue
                series.setdefault(key, []).append((int(step), number))
                # Highest step wins; a later line at the same step overrides an earlier one.
                if int(step) >= last_step.get(key, -(2**63)):
                    last_step[key] = int(step)
                    metrics[key] = number

    items: list[tuple[str, str, float]] = []
    ifile = run_dir / "eval_items.jsonl"
    score_key: str | None = None
    if ifile.is_file():
        for lineno, obj in iter_jsonl(ifile):
            item_id = obj.get("doc_id", obj.get("item_id"))
            if item_id is None:
                raise ImportFormatError(f"{ifile}: line {lineno} has no doc_id")
            if score_key is None:
                score_key = next(
                    (
                        k
                        for k in ("score", "acc", *obj)
                        if k not in ("task", "doc_id", "item_id")
                        and json_number(obj.get(k)) is not None
                    ),
                    None,
                )
            value = json_number(obj.get(score_key)) if score_key else None
            if value is None:
                raise ImportFormatError(f"{ifile}: line {lineno} has no numeric score")
            items.append((str(obj.get("task", "eval")), str(item_id), value))

    stderr: dict[str, float | None] = dict.fromkeys(metrics)
    counts: dict[str, int] = {}
    if items and score_key:
        by_task: dict[str, list[float]] = {}
        for task, _, score in items:
            by_task.setdefault(task, []).append(score)
        for task, scores in by_task.items():
            # eval_items for task "mmlu" scored by "acc" back the metric "mmlu_acc".
            name = f"{task}_{score_key}"
            metrics.setdefault(name, sum(scores) / len(scores))
            stderr[name] = stderr_of(scores)
            counts[name] = len(scores)

    state, code = _state_from_exit_code(run_dir)
    provenance: dict[str, Any] = {}
    pfile = run_dir / "provenance.json"
    if pfile.is_file():
        prov = read_json(pfile)
        if not isinstance(prov, dict):
            raise ImportFormatError(f"{pfile}: expected a JSON object")
        provenance.update(prov)
    provenance.update(
        {
            "source_path": str(run_dir),
            "run_id": spec.get("run_id", run_dir.name),
            "sweep": spec.get("sweep"),
            "host": spec.get("host"),
            "command": spec.get("command"),
            "exit_code": code,
        }
    )
    return ImportedRun(
        name=str(spec.get("name") or spec.get("run_id") or run_dir.name),
        source_format=COCKPIT_RUN,
        config=dict(config),
        metrics=metrics,
        metric_stderr=stderr,
        eval_items=items,
        state=state,
        provenance=provenance,
        series=series,
        sample_counts=counts,
        gpus=spec.get("gpus") if isinstance(spec.get("gpus"), int) else None,
    )
