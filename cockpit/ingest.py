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

import json
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cockpit.metric_names import (
    SEED_KEYS,
    guess_directions,
    lm_eval_item_task,
    lm_eval_metric_name,
)

if TYPE_CHECKING:
    from cockpit.store import Store

LM_EVAL = "lm-eval"
AI_SCIENTIST = "ai-scientist"
MLFLOW = "mlflow"
COCKPIT_RUN = "cockpit-run"
FORMATS = (LM_EVAL, AI_SCIENTIST, MLFLOW, COCKPIT_RUN)


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


# --------------------------------------------------------------------------- shared helpers


@contextmanager
def _guard(path: Path) -> Iterator[None]:
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


def _read_json(path: Path) -> Any:
    with _guard(path):
        text = path.read_text(encoding="utf-8")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFormatError(
                f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from None


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a bad line names its number."""
    with _guard(path), path.open(encoding="utf-8") as fh:
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


def _number(value: Any) -> float | None:
    """A finite-or-not float from a JSON value; None for null, "N/A", strings, bools."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _stderr_of(values: list[float]) -> float | None:
    """sd(ddof=1)/sqrt(n) in plain Python (no numpy import for a handful of seeds)."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return math.sqrt(var / n)


# --------------------------------------------------------------------------- detection


_RESULTS_NAME = re.compile(r"^results(_.+)?\.json$")
_SAMPLES_NAME = re.compile(r"^samples_(?P<task>.+)_(?P<ts>\d{4}-\d{2}-\d{2}T[\d.\-:]+)\.jsonl$")
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
        meta = _read_flat_yaml(path)
    except ImportFormatError:
        return False
    return "experiment_id" in meta or "run_id" in meta or "run_uuid" in meta


def _lm_eval_results_in(directory: Path, depth: int = 3) -> list[Path]:
    """results*.json files up to ``depth`` folders down (lm-eval nests them per model)."""
    found: list[Path] = []
    level = [directory]
    for _ in range(depth + 1):
        nxt: list[Path] = []
        for d in level:
            try:
                entries = sorted(d.iterdir())
            except OSError:
                continue
            for entry in entries:
                if entry.is_file() and _RESULTS_NAME.match(entry.name):
                    if _looks_like_lm_eval(entry):
                        found.append(entry)
                elif entry.is_dir() and not entry.name.startswith("."):
                    nxt.append(entry)
        level = nxt
    return found


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
        if _SAMPLES_NAME.match(name):
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
    if _lm_eval_results_in(p):
        return LM_EVAL
    raise ImportFormatError(
        f"{p}: no results found (looked for lm-eval results_*.json, AI-Scientist "
        "run_*/final_info.json, an MLflow mlruns folder and cockpit run folders)"
    )


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


# --------------------------------------------------------------------------- lm-eval-harness


def _parse_model_args(model_args: Any) -> dict[str, str]:
    """ "pretrained=x,dtype=bfloat16" -> {"pretrained": "x", "dtype": "bfloat16"}."""
    if isinstance(model_args, dict):
        return {str(k): str(v) for k, v in model_args.items()}
    if not isinstance(model_args, str):
        return {}
    out: dict[str, str] = {}
    for part in model_args.split(","):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _lm_eval_model_name(data: dict[str, Any], config: dict[str, Any], fallback: str) -> str:
    name = data.get("model_name")
    if isinstance(name, str) and name:
        return name
    args = _parse_model_args(config.get("model_args"))
    for key in ("pretrained", "model", "engine", "path"):
        if args.get(key):
            return args[key]
    model = config.get("model")
    return model if isinstance(model, str) and model else fallback


_PROVENANCE_KEYS = (
    "git_hash",
    "upper_git_hash",
    "date",
    "model_source",
    "model_name",
    "model_name_sanitized",
    "model_sha",
    "transformers_version",
    "lm_eval_version",
    "task_hashes",
    "start_time",
    "end_time",
    "total_evaluation_time_seconds",
    "chat_template_sha",
    "system_instruction_sha",
    "fewshot_as_multiturn",
)


def _find_lm_eval_results(p: Path) -> list[Path]:
    if p.is_file():
        m = _SAMPLES_NAME.match(p.name)
        if m:
            results = p.parent / f"results_{m['ts']}.json"
            if not results.is_file():
                raise ImportFormatError(
                    f"{p}: no matching {results.name} next to this samples file"
                )
            return [results]
        return [p]
    found = _lm_eval_results_in(p)
    if not found:
        raise ImportFormatError(f"{p}: no lm-eval results_*.json in this folder")
    return found


def parse_lm_eval(path: str | Path) -> list[ImportedRun]:
    """One ImportedRun per lm-eval results file at ``path`` (file or folder), with the
    per-item scores of its ``samples_<task>_<timestamp>.jsonl`` files when they exist."""
    return [_parse_lm_eval_results(f) for f in _find_lm_eval_results(Path(path).expanduser())]


def _parse_lm_eval_results(path: Path) -> ImportedRun:
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise ImportFormatError(f"{path}: not an lm-eval results file (no 'results' object)")
    with _guard(path):
        cfg = data.get("config") if isinstance(data.get("config"), dict) else {}
        configs = data.get("configs") if isinstance(data.get("configs"), dict) else {}
        hib_all = (
            data.get("higher_is_better") if isinstance(data.get("higher_is_better"), dict) else {}
        )
        n_samples = data.get("n-samples") if isinstance(data.get("n-samples"), dict) else {}

        sections: dict[str, Any] = dict(data["results"])
        # lm-eval 0.4.0-0.4.2 kept group aggregates in a separate "groups" object.
        groups = data.get("groups")
        if isinstance(groups, dict):
            for task, res in groups.items():
                sections.setdefault(task, res)

        metrics: dict[str, float] = {}
        stderr: dict[str, float | None] = {}
        hib: dict[str, bool] = {}
        counts: dict[str, int] = {}
        task_metrics: dict[str, list[str]] = {}  # task -> metric names (no filter), file order
        for task, res in sections.items():
            if not isinstance(res, dict):
                raise ImportFormatError(f"{path}: results[{task!r}] is not an object")
            effective = (
                n_samples.get(task, {}).get("effective")
                if isinstance(n_samples.get(task), dict)
                else None
            )
            for key, value in res.items():
                metric, _, filt = key.partition(",")
                if key == "alias" or metric.endswith("_stderr"):
                    continue
                number = _number(value)
                if number is None:
                    continue  # e.g. "samples" counts as strings, or non-numeric entries
                name = lm_eval_metric_name(task, metric, filt)
                metrics[name] = number
                se_key = f"{metric}_stderr,{filt}" if filt else f"{metric}_stderr"
                # "N/A" (no bootstrap / group without SE) and null both mean: unknown.
                stderr[name] = _number(res.get(se_key))
                direction = (
                    hib_all.get(task, {}).get(metric)
                    if isinstance(hib_all.get(task), dict)
                    else None
                )
                if isinstance(direction, bool):
                    hib[name] = direction
                if isinstance(effective, int | float) and not isinstance(effective, bool):
                    counts[name] = int(effective)
                task_metrics.setdefault(task, [])
                if metric not in task_metrics[task]:
                    task_metrics[task].append(metric)

        ts_match = re.match(r"^results_(?P<ts>.+)\.json$", path.name)
        timestamp = ts_match["ts"] if ts_match else None
        provenance: dict[str, Any] = {"source_path": str(path), "timestamp": timestamp}
        for key in _PROVENANCE_KEYS:
            if key in data:
                provenance[key] = data[key]
        # lm-eval writes the duration as a string ("17.455804042001546").
        duration = provenance.get("total_evaluation_time_seconds")
        if isinstance(duration, str):
            with suppress(ValueError):
                provenance["total_evaluation_time_seconds"] = float(duration)
        provenance["warnings"] = []

        config: dict[str, Any] = dict(cfg)
        config["tasks"] = sorted(data["results"])
        n_shot = data.get("n-shot")
        if isinstance(n_shot, dict) and n_shot:
            shots = set(map(str, n_shot.values()))
            config["num_fewshot"] = next(iter(n_shot.values())) if len(shots) == 1 else n_shot
        config.setdefault("model_args_parsed", _parse_model_args(cfg.get("model_args")))

    items: list[tuple[str, str, float]] = []
    samples_files: list[str] = []
    item_metric: dict[str, str] = {}
    if timestamp is not None:
        for sfile in sorted(path.parent.glob(f"samples_*_{timestamp}.jsonl")):
            m = _SAMPLES_NAME.match(sfile.name)
            if not m or m["ts"] != timestamp:
                continue
            task = m["task"]
            samples_files.append(str(sfile))
            preferred = _preferred_item_metrics(task, task_metrics, configs)
            task_items, chosen = _parse_lm_eval_samples(sfile, task, preferred)
            items.extend(task_items)
            item_metric.update(chosen)
    provenance["samples_files"] = samples_files
    if item_metric:
        provenance["item_metric"] = item_metric
        _check_items_against_aggregates(
            items, item_metric, metrics, stderr, counts, configs, provenance
        )
    if not provenance["warnings"]:
        del provenance["warnings"]

    fallback = path.parent.name or path.stem
    return ImportedRun(
        name=_lm_eval_model_name(data, cfg, fallback),
        source_format=LM_EVAL,
        config=config,
        metrics=metrics,
        metric_stderr=stderr,
        eval_items=items,
        state="succeeded",  # lm-eval writes results only for a finished evaluation
        provenance=provenance,
        higher_is_better=hib,
        sample_counts=counts,
    )


def _preferred_item_metrics(
    task: str, task_metrics: dict[str, list[str]], configs: dict[str, Any]
) -> list[str]:
    """Metric names to score items by, best first: the task's metric_list, then the
    metrics its results report, then common defaults."""
    order: list[str] = []
    conf = configs.get(task)
    if isinstance(conf, dict) and isinstance(conf.get("metric_list"), list):
        for entry in conf["metric_list"]:
            if isinstance(entry, dict) and isinstance(entry.get("metric"), str):
                order.append(entry["metric"])
    order += task_metrics.get(task, [])
    order += ["acc", "exact_match", "acc_norm", "f1", "em"]
    return list(dict.fromkeys(order))


def _parse_lm_eval_samples(
    path: Path, task: str, preferred: list[str]
) -> tuple[list[tuple[str, str, float]], dict[str, str]]:
    """Per-item scores of one samples file, keyed by (task[,filter], doc_id).

    One metric per (task, filter): lines of newer lm-eval name theirs in "metrics"; otherwise
    the first of ``preferred`` that the line holds as a number. Metrics stored per item as
    lists (BLEU-style corpus metrics) cannot be paired and are skipped.
    """
    items: list[tuple[str, str, float]] = []
    chosen: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    for lineno, obj in _iter_jsonl(path):
        if "doc_id" not in obj:
            raise ImportFormatError(f"{path}: line {lineno} has no doc_id")
        filt = obj.get("filter") if isinstance(obj.get("filter"), str) else None
        key_task = lm_eval_item_task(task, filt)
        metric = chosen.get(key_task)
        if metric is None:
            names = obj.get("metrics") if isinstance(obj.get("metrics"), list) else []
            candidates = [n for n in names if isinstance(n, str)] + preferred
            metric = next((n for n in candidates if isinstance(obj.get(n), int | float)), None)
            if metric is None:
                continue  # no per-item numeric score on this line's task/filter
            chosen[key_task] = metric
        value = obj.get(metric)
        if not isinstance(value, int | float):
            raise ImportFormatError(f"{path}: line {lineno} has no numeric {metric!r}")
        item_id = str(obj["doc_id"])
        if (key_task, item_id) in seen:
            raise ImportFormatError(f"{path}: doc_id {item_id} appears twice (line {lineno})")
        seen.add((key_task, item_id))
        items.append((key_task, item_id, float(value)))
    return items, chosen


def _check_items_against_aggregates(
    items: list[tuple[str, str, float]],
    item_metric: dict[str, str],
    metrics: dict[str, float],
    stderr: dict[str, float | None],
    counts: dict[str, int],
    configs: dict[str, Any],
    provenance: dict[str, Any],
) -> None:
    """Samples and results should agree for mean-aggregated metrics; say so when they do not,
    and give an SE from the items where the results file said "N/A"."""
    by_task: dict[str, list[float]] = {}
    for task, _, score in items:
        by_task.setdefault(task, []).append(score)
    recomputed: list[str] = []
    for key_task, scores in by_task.items():
        task, _, filt = key_task.partition(",")
        metric = item_metric[key_task]
        conf = configs.get(task) if isinstance(configs.get(task), dict) else {}
        aggregation = "mean"
        for entry in conf.get("metric_list", []) if isinstance(conf, dict) else []:
            if isinstance(entry, dict) and entry.get("metric") == metric:
                aggregation = entry.get("aggregation", "mean")
        if aggregation != "mean":
            continue
        name = lm_eval_metric_name(task, metric, filt or "none")
        mean = sum(scores) / len(scores)
        if name in metrics and abs(metrics[name] - mean) > 1e-6:
            provenance["warnings"].append(
                f"{name}: results say {metrics[name]:.6g}, samples average {mean:.6g}"
            )
        if name not in metrics:
            metrics[name] = mean
        if stderr.get(name) is None:
            stderr[name] = _stderr_of(scores)
            recomputed.append(name)
        counts.setdefault(name, len(scores))
    if recomputed:
        provenance["stderr_from_samples"] = recomputed


# --------------------------------------------------------------------------- AI-Scientist


def _natural_key(path: Path) -> tuple[Any, ...]:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name))


_NOTES_RUN = re.compile(r"^##\s*Run\s+(\d+)\s*:\s*(.+?)\s*$", re.MULTILINE)


def _notes_titles(experiment_dir: Path) -> dict[str, str]:
    """Run titles from AI-Scientist's notes.txt ("## Run 2: Adding Gradient Penalty")."""
    notes = experiment_dir / "notes.txt"
    try:
        text = notes.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    return {f"run_{m[1]}": m[2] for m in _NOTES_RUN.finditer(text)}


def parse_ai_scientist(path: str | Path) -> list[ImportedRun]:
    """Runs of an AI-Scientist experiment: ``path`` is a final_info.json, a run folder
    (run_0/) or the experiment folder holding run_*/ folders (run_0 is the baseline)."""
    p = Path(path).expanduser()
    if p.is_file():
        files = [p]
    elif (p / "final_info.json").is_file():
        files = [p / "final_info.json"]
    else:
        files = [
            d / "final_info.json"
            for d in sorted((c for c in p.iterdir() if c.is_dir()), key=_natural_key)
            if (d / "final_info.json").is_file()
        ]
        if not files:
            raise ImportFormatError(f"{p}: no run_*/final_info.json in this folder")
    titles: dict[Path, dict[str, str]] = {}
    runs = []
    for f in files:
        experiment = f.parent.parent
        if experiment not in titles:
            titles[experiment] = _notes_titles(experiment)
        runs.append(_parse_final_info(f, titles[experiment]))
    return runs


def _flatten_numbers(obj: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            _flatten_numbers(value, f"{prefix}/{key}" if prefix else str(key), out)
    else:
        out[prefix] = obj


def _per_seed_files(run_dir: Path, dataset: str) -> dict[str, list[Any]]:
    """Per-seed values from the templates' final_info_<dataset>_<seed>.json files, for a
    final_info.json that only kept the means."""
    pattern = re.compile(rf"^final_info_{re.escape(dataset)}_(\d+)\.json$")
    files = sorted(
        (int(m[1]), f) for f in run_dir.iterdir() if (m := pattern.match(f.name)) and f.is_file()
    )
    out: dict[str, list[Any]] = {}
    for _, f in files:
        data = _read_json(f)
        if isinstance(data, dict):
            for key, value in data.items():
                out.setdefault(str(key), []).append(value)
    return out


def _parse_final_info(path: Path, titles: dict[str, str]) -> ImportedRun:
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ImportFormatError(
            f"{path}: expected an object of datasets, got {type(data).__name__}"
        )
    metrics: dict[str, float] = {}
    stderr: dict[str, float | None] = {}
    seeds: dict[str, list[float]] = {}
    reported: dict[str, float | None] = {}
    skipped: list[str] = []
    with _guard(path):
        for dataset, block in data.items():
            number = _number(block)
            if number is not None:  # flat {"metric": value}
                metrics[dataset] = number
                stderr[dataset] = None
                continue
            if not isinstance(block, dict):
                skipped.append(str(dataset))
                continue
            if isinstance(block.get("means"), dict):
                means_raw = block["means"]
                stderrs = block.get("stderrs") if isinstance(block.get("stderrs"), dict) else {}
                per_seed = (
                    block.get("final_info_dict")
                    if isinstance(block.get("final_info_dict"), dict)
                    else {}
                )
            else:
                means_raw, stderrs, per_seed = block, {}, {}
            if not per_seed:
                per_seed = _per_seed_files(path.parent, str(dataset))
            means: dict[str, Any] = {}
            _flatten_numbers(means_raw, "", means)
            for key, value in means.items():
                # Seed templates write "<m>_mean"/"<m>_stderr" next to final_info_dict["<m>"];
                # the 2D-diffusion one writes bare names. Strip the suffix only when paired.
                base = key
                if key.endswith("_mean") and (
                    key[:-5] in per_seed or f"{key[:-5]}_stderr" in stderrs
                ):
                    base = key[:-5]
                name = f"{dataset}/{base}"
                number = _number(value)
                if number is None:  # templates write None when every seed failed
                    skipped.append(name)
                    continue
                metrics[name] = number
                values = per_seed.get(base)
                clean = (
                    [float(v) for v in values if _number(v) is not None]
                    if isinstance(values, list)
                    else []
                )
                if clean:
                    seeds[name] = clean
                stderr[name] = _stderr_of(clean)
                if f"{base}_stderr" in stderrs or key in stderrs:
                    reported[name] = _number(stderrs.get(f"{base}_stderr", stderrs.get(key)))
    run_dir = path.parent
    provenance: dict[str, Any] = {
        "source_path": str(path),
        "experiment": run_dir.parent.name,
        "is_baseline": run_dir.name == "run_0",
    }
    if run_dir.name in titles:
        provenance["title"] = titles[run_dir.name]
    if reported:
        # The templates' stderr is np.std(v)/len(v) or ddof=0: kept only for reference.
        provenance["reported_stderr"] = reported
    if skipped:
        provenance["skipped"] = skipped
    return ImportedRun(
        name=run_dir.name,
        source_format=AI_SCIENTIST,
        config={"run": run_dir.name},
        metrics=metrics,
        metric_stderr=stderr,
        seeds=seeds,
        state="succeeded",  # final_info.json is written at the end of a successful run
        provenance=provenance,
        higher_is_better=guess_directions(metrics),
        sample_counts={k: len(v) for k, v in seeds.items()},
    )


# --------------------------------------------------------------------------- MLflow


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


def _read_flat_yaml(path: Path) -> dict[str, Any]:
    """The flat ``key: value`` YAML that MLflow's file store writes in meta.yaml.

    Nested blocks (indented or list lines) are skipped: MLflow keeps nothing we need there,
    and reading them without PyYAML is not worth a dependency.
    """
    out: dict[str, Any] = {}
    with _guard(path):
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
    p = Path(path).expanduser()
    if p.is_file():
        p = p.parent
    if (p / "mlruns").is_dir() and not (p / "meta.yaml").is_file():
        p = p / "mlruns"
    meta_path = p / "meta.yaml"
    if meta_path.is_file():
        meta = _read_flat_yaml(meta_path)
        kind = _mlflow_kind(meta)
        if kind == "run":
            exp_meta_path = p.parent / "meta.yaml"
            exp = _read_flat_yaml(exp_meta_path) if exp_meta_path.is_file() else {}
            return [_parse_mlflow_run(p, meta, exp)]
        if kind == "experiment":
            return _parse_mlflow_experiment(p, meta)
        raise ImportFormatError(f"{meta_path}: not an MLflow experiment or run meta.yaml")
    runs: list[ImportedRun] = []
    for child in sorted(c for c in p.iterdir() if c.is_dir() and not c.name.startswith(".")):
        child_meta = child / "meta.yaml"
        if not child_meta.is_file():
            continue
        meta = _read_flat_yaml(child_meta)
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
        meta = _read_flat_yaml(meta_path)
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


def _read_text(path: Path) -> str:
    with _guard(path):
        return path.read_text(encoding="utf-8")


def _parse_mlflow_metric(path: Path) -> list[tuple[int, int, float]]:
    """(step, timestamp, value) per line "timestamp value [step]" (old stores omit step)."""
    rows: list[tuple[int, int, float]] = []
    for lineno, line in enumerate(_read_text(path).splitlines(), 1):
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
        key: _coerce_scalar(_read_text(f).rstrip("\n")) for key, f in _key_files(run_dir / "params")
    }
    tags = {key: _read_text(f).rstrip("\n") for key, f in _key_files(run_dir / "tags")}
    metrics: dict[str, float] = {}
    series: dict[str, list[tuple[int, float]]] = {}
    for key, f in _key_files(run_dir / "metrics"):
        rows = sorted(_parse_mlflow_metric(f))
        if not rows:
            continue
        series[key] = [(step, value) for step, _, value in rows]
        metrics[key] = rows[-1][2]  # highest step, latest timestamp
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
        higher_is_better=guess_directions(metrics),
    )


# --------------------------------------------------------------------------- cockpit run dirs


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
    text = _read_text(f).strip()
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
    spec = _read_json(run_dir / "spec.json")
    if not isinstance(spec, dict):
        raise ImportFormatError(f"{run_dir / 'spec.json'}: expected a JSON object")
    config = spec.get("config") if isinstance(spec.get("config"), dict) else {}

    metrics: dict[str, float] = {}
    series: dict[str, list[tuple[int, float]]] = {}
    last_step: dict[str, int] = {}
    mfile = run_dir / "metrics.jsonl"
    if mfile.is_file():
        for lineno, obj in _iter_jsonl(mfile):
            step = obj.get("step", lineno)
            if isinstance(step, bool) or not isinstance(step, int | float):
                raise ImportFormatError(f"{mfile}: line {lineno} has a non-numeric step")
            for key, value in obj.items():
                number = _number(value)
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
        for lineno, obj in _iter_jsonl(ifile):
            item_id = obj.get("doc_id", obj.get("item_id"))
            if item_id is None:
                raise ImportFormatError(f"{ifile}: line {lineno} has no doc_id")
            if score_key is None:
                score_key = next(
                    (
                        k
                        for k in ("score", "acc", *obj)
                        if k not in ("task", "doc_id", "item_id")
                        and _number(obj.get(k)) is not None
                    ),
                    None,
                )
            value = _number(obj.get(score_key)) if score_key else None
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
            stderr[name] = _stderr_of(scores)
            counts[name] = len(scores)

    state, code = _state_from_exit_code(run_dir)
    provenance: dict[str, Any] = {}
    pfile = run_dir / "provenance.json"
    if pfile.is_file():
        prov = _read_json(pfile)
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
        higher_is_better=guess_directions(metrics),
        sample_counts=counts,
    )


# --------------------------------------------------------------------------- into the store


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
    into the run's provenance, where cockpit.results looks for it.
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
            extra = {
                "metric_stderr": {k: v for k, v in imported.metric_stderr.items() if v is not None},
                "sample_counts": imported.sample_counts,
                "higher_is_better": imported.higher_is_better,
                "seeds": imported.seeds,
            }
            prov.update({k: v for k, v in extra.items() if v})
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
            (r.id for r, _, _ in records if r.provenance.get("is_baseline") is True), None
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
