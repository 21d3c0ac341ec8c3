"""MLflow's file store (``mlruns/<experiment>/<run>/{meta.yaml,params,metrics,tags}``), read
without mlflow: params become config, the last logged value (highest step) of each metric
becomes the metric, the whole history goes into ``series``."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cockpit.ingest.reading import (
    MLFLOW,
    NOT_RESULTS_DIRS,
    ImportedRun,
    ImportFormatError,
    guard,
    read_text,
)


def _coerce_scalar(text: str) -> Any:
    """YAML-ish scalar: null, bool, int, float or string (quotes removed)."""
    s = text.strip()
    if s in ("", "null", "~", "None"):
        return None if s != "" else ""
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    if s in ("true", "True"):
        return True
    if s in ("false", "False"):
        return False
    if s == "[]":
        return []
    if s == "{}":
        return {}
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


# "key: value" or "key:"; the colon must be followed by a space, as YAML requires, so that
# "artifact_uri file:///x" is an error rather than a key "artifact_uri file".
_YAML_LINE = re.compile(r"^(?P<key>[^\s:][^:]*):(?:\s+(?P<value>.*))?$")


def read_flat_yaml(path: Path) -> dict[str, Any]:
    """The flat ``key: value`` YAML that MLflow's file store writes in meta.yaml.

    Nested blocks (indented or list lines) are skipped: MLflow keeps nothing we need there,
    and reading them without PyYAML is not worth a dependency.
    """
    out: dict[str, Any] = {}
    with guard(path):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t-":
                continue
            m = _YAML_LINE.match(line)
            if m is None:
                raise ImportFormatError(f"{path}: line {lineno} is not 'key: value'")
            out[m["key"].strip()] = _coerce_scalar(m["value"] or "")
    return out


_MLFLOW_STATUS = {
    1: "running",
    2: "queued",  # SCHEDULED
    3: "succeeded",  # FINISHED
    4: "failed",
    5: "cancelled",  # KILLED
    "RUNNING": "running",
    "SCHEDULED": "queued",
    "FINISHED": "succeeded",
    "FAILED": "failed",
    "KILLED": "cancelled",
}


def _mlflow_kind(meta: dict[str, Any]) -> str:
    if "run_id" in meta or "run_uuid" in meta:
        return "run"
    if "experiment_id" in meta:
        return "experiment"
    return "other"


def parse_mlflow(path: str | Path) -> list[ImportedRun]:
    """Runs of an MLflow file store: ``path`` is mlruns/, an experiment folder or a run folder
    (or its meta.yaml). Deleted runs and experiments are skipped, as MLflow's UI does."""
    p = Path(path).expanduser().resolve()
    if p.is_file():
        p = p.parent
    if (p / "mlruns").is_dir() and not (p / "meta.yaml").is_file():
        p = p / "mlruns"
    meta_path = p / "meta.yaml"
    if meta_path.is_file():
        meta = read_flat_yaml(meta_path)
        kind = _mlflow_kind(meta)
        if kind == "run":
            exp_meta_path = p.parent / "meta.yaml"
            exp = read_flat_yaml(exp_meta_path) if exp_meta_path.is_file() else {}
            return [_parse_mlflow_run(p, meta, exp)]
        if kind == "experiment":
            return _parse_mlflow_experiment(p, meta)
        raise ImportFormatError(f"{meta_path}: not an MLflow experiment or run meta.yaml")
    runs: list[ImportedRun] = []
    for child in sorted(c for c in p.iterdir() if c.is_dir() and c.name not in NOT_RESULTS_DIRS):
        child_meta = child / "meta.yaml"
        if not child_meta.is_file():
            continue
        meta = read_flat_yaml(child_meta)
        if _mlflow_kind(meta) == "experiment":  # skips models/ (the model registry)
            runs.extend(_parse_mlflow_experiment(child, meta))
    return runs


def _parse_mlflow_experiment(exp_dir: Path, exp_meta: dict[str, Any]) -> list[ImportedRun]:
    if exp_meta.get("lifecycle_stage") == "deleted":
        return []
    runs: list[ImportedRun] = []
    for run_dir in sorted(c for c in exp_dir.iterdir() if c.is_dir()):
        meta_path = run_dir / "meta.yaml"
        if not meta_path.is_file():
            continue
        meta = read_flat_yaml(meta_path)
        if _mlflow_kind(meta) != "run" or meta.get("lifecycle_stage") == "deleted":
            continue
        runs.append(_parse_mlflow_run(run_dir, meta, exp_meta))
    return runs


def _key_files(directory: Path) -> Iterator[tuple[str, Path]]:
    """(key, file) under params/, metrics/ or tags/; keys with "/" are nested folders."""
    if not directory.is_dir():
        return
    for f in sorted(directory.rglob("*")):
        if f.is_file():
            yield f.relative_to(directory).as_posix(), f


def _parse_mlflow_metric(path: Path) -> list[tuple[int, int, float]]:
    """(step, timestamp, value) per line "timestamp value [step]" (old stores omit step)."""
    rows: list[tuple[int, int, float]] = []
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            if len(parts) not in (2, 3):
                raise ValueError
            ts = int(parts[0])
            value = float(parts[1])  # "nan"/"inf" are legitimate logged values
            step = int(parts[2]) if len(parts) == 3 else 0
        except ValueError:
            raise ImportFormatError(
                f"{path}: line {lineno} is not 'timestamp value step': {line.strip()[:60]!r}"
            ) from None
        rows.append((step, ts, value))
    return rows


def _parse_mlflow_run(run_dir: Path, meta: dict[str, Any], exp: dict[str, Any]) -> ImportedRun:
    config = {
        key: _coerce_scalar(read_text(f).rstrip("\n")) for key, f in _key_files(run_dir / "params")
    }
    tags = {key: read_text(f).rstrip("\n") for key, f in _key_files(run_dir / "tags")}
    metrics: dict[str, float] = {}
    series: dict[str, list[tuple[int, float]]] = {}
    warnings: list[str] = []
    for key, f in _key_files(run_dir / "metrics"):
        rows = sorted(_parse_mlflow_metric(f))
        finite = [r for r in rows if math.isfinite(r[2])]
        if len(finite) < len(rows):
            # A diverged loss logs nan: said once per metric, never averaged in.
            bad = [r for r in rows if not math.isfinite(r[2])]
            steps = ", ".join(str(r[0]) for r in bad[:5]) + (" …" if len(bad) > 5 else "")
            warnings.append(
                f"{f}: skipped {len(bad)} non-finite value(s) of {key} ({bad[0][2]}) "
                f"at step {steps}"
            )
        if not finite:
            continue
        series[key] = [(step, value) for step, _, value in finite]
        if math.isfinite(rows[-1][2]):
            metrics[key] = rows[-1][2]  # highest step, latest timestamp
        # else: it ended diverged; an earlier value would pass for a result it never had.
    run_id = str(meta.get("run_id") or meta.get("run_uuid") or run_dir.name)
    status = meta.get("status")
    state = _MLFLOW_STATUS.get(status, "unknown") if isinstance(status, int | str) else "unknown"
    provenance: dict[str, Any] = {
        "source_path": str(run_dir),
        "run_id": run_id,
        "experiment_id": str(meta.get("experiment_id", exp.get("experiment_id", ""))),
        "experiment_name": exp.get("name"),
        "mlflow_status": status,
        "start_time_ms": meta.get("start_time"),
        "end_time_ms": meta.get("end_time"),
        "artifact_uri": meta.get("artifact_uri"),
        "user": meta.get("user_id") or tags.get("mlflow.user"),
        "tags": {k: v for k, v in tags.items() if k != "mlflow.log-model.history"},
    }
    if "mlflow.source.git.commit" in tags:
        provenance["git_commit"] = tags["mlflow.source.git.commit"]
    if "mlflow.source.name" in tags:
        provenance["source_name"] = tags["mlflow.source.name"]
    name = meta.get("run_name") or tags.get("mlflow.runName") or run_id
    return ImportedRun(
        name=str(name),
        source_format=MLFLOW,
        config=config,
        metrics=metrics,
        metric_stderr=dict.fromkeys(metrics),
        state=state,
        provenance=provenance,
        series=series,
        warnings=warnings,
        started_at=_epoch_ms(meta.get("start_time")),
        ended_at=_epoch_ms(meta.get("end_time")),
    )


def _epoch_ms(value: Any) -> float | None:
    """MLflow's milliseconds since the epoch (null for a run never closed)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value) / 1000.0
    return None
