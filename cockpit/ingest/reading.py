"""What every importer returns and reads with: ImportedRun, ImportFormatError, the format
names, and JSON/JSONL reading that turns any problem with a file into one line naming it."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LM_EVAL = "lm-eval"
AI_SCIENTIST = "ai-scientist"
MLFLOW = "mlflow"
COCKPIT_RUN = "cockpit-run"
FORMATS = (LM_EVAL, AI_SCIENTIST, MLFLOW, COCKPIT_RUN)

# Folders that never hold results: version control, caches, environments. Anything else is
# searched, dot-folders included: lm-eval names the folder of an output path like
# "../other/results" as "..__other__results", and skipping it dropped whole configs.
NOT_RESULTS_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".cache",
        ".ipynb_checkpoints",
        ".venv",
        "venv",
        ".tox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "__pycache__",
        "node_modules",
        ".Trash",
        ".trash",  # MLflow's deleted runs
    }
)


class ImportFormatError(ValueError):
    """A file could not be imported; ``str(err)`` is one line naming the file."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


@dataclass(frozen=True)
class ImportedRun:
    """One run as read from another tool's files (no database ids yet)."""

    name: str
    source_format: str
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # final value per metric
    metric_stderr: dict[str, float | None] = field(default_factory=dict)
    eval_items: list[tuple[str, str, float]] = field(default_factory=list)  # (task, id, score)
    seeds: dict[str, list[float]] = field(default_factory=dict)  # per-seed values, if any
    state: str = "succeeded"  # a cockpit RunState value
    provenance: dict[str, Any] = field(default_factory=dict)
    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # (step, value)
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    sample_counts: dict[str, int] = field(default_factory=dict)  # items behind a metric
    # What the parser skipped or doubts, one line each naming the file and the key: printed
    # by `cockpit import` and kept in the run's provenance ("import_warnings").
    warnings: list[str] = field(default_factory=list)
    started_at: float | None = None  # epoch seconds, when the file says
    ended_at: float | None = None
    gpus: int | None = None  # None: the source does not say (never guessed)
    budgets: dict[str, float] = field(default_factory=dict)  # count metric -> "never" value


@contextmanager
def guard(path: Path) -> Iterator[None]:
    """Turn whatever a malformed or unreadable file raises into a one-line ImportFormatError."""
    try:
        yield
    except ImportFormatError:
        raise
    except UnicodeDecodeError:
        raise ImportFormatError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise ImportFormatError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise ImportFormatError(
            f"{path}: unexpected content ({type(exc).__name__}: {exc})"
        ) from None


def read_json(path: Path) -> Any:
    with guard(path):
        text = path.read_text(encoding="utf-8")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFormatError(
                f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from None


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a bad line names its number."""
    with guard(path), path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ImportFormatError(
                    f"{path}: line {lineno} is not valid JSON ({exc.msg})"
                ) from None
            if not isinstance(obj, dict):
                raise ImportFormatError(f"{path}: line {lineno} is not a JSON object")
            yield lineno, obj


def json_number(value: Any) -> float | None:
    """A finite-or-not float from a JSON value; None for null, "N/A", strings, bools."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def finite_number(value: Any, where: str, warnings: list[str]) -> float | None:
    """A finite float, or None with one line in ``warnings`` saying what was skipped.

    null and "N/A" are how formats say "not computed" and pass quietly; NaN, Infinity, other
    strings and booleans are not results and are reported (``where`` is "file: key").
    """
    if value is None or value == "N/A":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        warnings.append(f"{where}: skipped non-numeric value {str(value)[:40]!r}")
        return None
    number = float(value)
    if not math.isfinite(number):
        warnings.append(f"{where}: skipped {number} (not a finite number)")
        return None
    return number


def stderr_of(values: list[float]) -> float | None:
    """sd(ddof=1)/sqrt(n) in plain Python (no numpy import for a handful of seeds)."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return math.sqrt(var / n)


def read_text(path: Path) -> str:
    """A UTF-8 file's text; a problem with it is one ImportFormatError line."""
    with guard(path):
        return path.read_text(encoding="utf-8")
