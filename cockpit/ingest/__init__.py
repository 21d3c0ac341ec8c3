"""Results from other tools' files: lm-eval-harness, AI-Scientist, MLflow, and cockpit run dirs.

The parsers read files and return :class:`ImportedRun` values without touching the store;
:func:`record_imported_runs` then writes them (`cockpit import`). Every problem with a file
becomes an :class:`ImportFormatError` whose message is one line naming the file, never a
traceback, because the user reads it in a status bar.

Formats, and what each parser takes from it:

- lm-eval-harness (v0.4 ``results_<timestamp>.json``, v0.3 ``results.json``) plus the
  ``--log_samples`` files ``samples_<task>_<timestamp>.jsonl``: aggregate metrics with their
  stderr ("N/A" and null become None) and per-item scores keyed by (task, doc_id), so two
  models evaluated on the same documents can be compared item by item.
- AI-Scientist run folders (``run_<i>/final_info.json``): ``means`` per dataset; where the
  per-seed values (``final_info_dict``) are present the SE is recomputed from them as
  sd(ddof=1)/sqrt(n), because the templates write np.std(v)/len(v) (or /sqrt(len(v)) with
  ddof=0); the value they reported is kept in provenance.
- MLflow's file store (``mlruns/<experiment>/<run>/{meta.yaml,params,metrics,tags}``), read
  without mlflow: params become config, the last logged value (highest step) of each metric
  becomes the metric, the whole history goes into ``series``.
- The cockpit's own run folder: spec.json, metrics.jsonl, eval_items.jsonl, exit_code,
  provenance.json.
"""

from __future__ import annotations

from pathlib import Path

from cockpit.ingest.ai_scientist import parse_ai_scientist
from cockpit.ingest.cockpit_run import parse_cockpit_run
from cockpit.ingest.detect import detect_format, skipped_folders
from cockpit.ingest.lm_eval import parse_lm_eval
from cockpit.ingest.mlflow import parse_mlflow
from cockpit.ingest.reading import (
    AI_SCIENTIST,
    COCKPIT_RUN,
    FORMATS,
    LM_EVAL,
    MLFLOW,
    ImportedRun,
    ImportFormatError,
)
from cockpit.ingest.record import ImportSummary, infer_factors, record_imported_runs


def import_path(path: str | Path) -> list[ImportedRun]:
    """Detect the format of ``path`` and import every run in it (possibly none)."""
    fmt = detect_format(path)
    parser = {
        LM_EVAL: parse_lm_eval,
        AI_SCIENTIST: parse_ai_scientist,
        MLFLOW: parse_mlflow,
        COCKPIT_RUN: parse_cockpit_run,
    }[fmt]
    return parser(path)


__all__ = [
    "FORMATS",
    "ImportFormatError",
    "ImportSummary",
    "ImportedRun",
    "detect_format",
    "import_path",
    "infer_factors",
    "parse_ai_scientist",
    "parse_cockpit_run",
    "parse_lm_eval",
    "parse_mlflow",
    "record_imported_runs",
    "skipped_folders",
]
