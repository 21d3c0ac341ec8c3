"""Which importer reads a path: lm-eval, AI-Scientist, MLflow or a cockpit run folder."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from cockpit.ingest.mlflow import read_flat_yaml
from cockpit.ingest.reading import (
    AI_SCIENTIST,
    COCKPIT_RUN,
    LM_EVAL,
    MLFLOW,
    NOT_RESULTS_DIRS,
    ImportFormatError,
)

RESULTS_NAME = re.compile(r"^results(_.+)?\.json$")
SAMPLES_NAME = re.compile(r"^samples_(?P<task>.+)_(?P<ts>\d{4}-\d{2}-\d{2}T[\d.\-:]+)\.jsonl$")
_COCKPIT_FILES = ("spec.json",)


def _looks_like_lm_eval(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as fh:
            head = fh.read(1 << 16)
    except (OSError, UnicodeDecodeError):
        return False
    return '"results"' in head and any(
        key in head for key in ('"versions"', '"n-shot"', '"configs"', '"config"')
    )


def _is_mlflow_meta(path: Path) -> bool:
    try:
        meta = read_flat_yaml(path)
    except ImportFormatError:
        return False
    return "experiment_id" in meta or "run_id" in meta or "run_uuid" in meta


def _walk(directory: Path, depth: int) -> Iterator[Path]:
    """Every entry up to ``depth`` folders down, level by level, sorted; the folders in
    NOT_RESULTS_DIRS are listed but not entered."""
    level = [directory]
    for _ in range(depth + 1):
        nxt: list[Path] = []
        for d in level:
            try:
                entries = sorted(d.iterdir())
            except OSError:
                continue
            for entry in entries:
                yield entry
                if entry.is_dir() and entry.name not in NOT_RESULTS_DIRS:
                    nxt.append(entry)
        level = nxt


def skipped_folders(directory: Path, depth: int = 3) -> list[Path]:
    """The folders under ``directory`` an import does not search (NOT_RESULTS_DIRS)."""
    if not directory.is_dir():
        return []
    return [e for e in _walk(directory, depth) if e.name in NOT_RESULTS_DIRS and e.is_dir()]


def lm_eval_results_in(directory: Path, depth: int = 3) -> list[Path]:
    """results*.json files up to ``depth`` folders down (lm-eval nests them per model)."""
    return [
        e
        for e in _walk(directory, depth)
        if RESULTS_NAME.match(e.name) and e.is_file() and _looks_like_lm_eval(e)
    ]


def detect_format(path: str | Path) -> str:
    """Which importer reads ``path``: "lm-eval", "ai-scientist", "mlflow" or "cockpit-run".

    ``path`` may be a file or a folder holding one or many runs. Raises ImportFormatError
    (one line) when nothing recognisable is there.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise ImportFormatError(f"{p}: no such file or folder")
    if p.is_file():
        name = p.name
        if name == "final_info.json":
            return AI_SCIENTIST
        if name in _COCKPIT_FILES:
            return COCKPIT_RUN
        if name == "meta.yaml" and _is_mlflow_meta(p):
            return MLFLOW
        if SAMPLES_NAME.match(name):
            return LM_EVAL
        if name.endswith(".json") and _looks_like_lm_eval(p):
            return LM_EVAL
        raise ImportFormatError(
            f"{p}: not a recognised results file (expected an lm-eval results_*.json or "
            "samples_*.jsonl, an AI-Scientist final_info.json, an MLflow meta.yaml or a "
            "cockpit spec.json)"
        )
    if (p / "spec.json").is_file():
        return COCKPIT_RUN
    if (p / "final_info.json").is_file():
        return AI_SCIENTIST
    if (p / "meta.yaml").is_file() and _is_mlflow_meta(p / "meta.yaml"):
        return MLFLOW
    children = [c for c in sorted(p.iterdir()) if c.is_dir()]
    if any((c / "spec.json").is_file() for c in children):
        return COCKPIT_RUN
    if any((c / "final_info.json").is_file() for c in children):
        return AI_SCIENTIST
    if (p / "mlruns").is_dir() or any(
        (c / "meta.yaml").is_file() and _is_mlflow_meta(c / "meta.yaml") for c in children
    ):
        return MLFLOW
    if lm_eval_results_in(p):
        return LM_EVAL
    raise ImportFormatError(
        f"{p}: no results found (looked for lm-eval results_*.json, AI-Scientist "
        "run_*/final_info.json, an MLflow mlruns folder and cockpit run folders)"
    )
