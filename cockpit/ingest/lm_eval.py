"""lm-eval-harness: v0.4 ``results_<timestamp>.json`` (v0.3 ``results.json``) and the
``--log_samples`` files ``samples_<task>_<timestamp>.jsonl``: aggregate metrics with their
stderr ("N/A" and null become None) and per-item scores keyed by (task, doc_id), so two models
evaluated on the same documents can be compared item by item."""

from __future__ import annotations

import re
from contextlib import suppress
from pathlib import Path
from typing import Any

from cockpit.ingest.detect import SAMPLES_NAME, lm_eval_results_in
from cockpit.ingest.reading import (
    LM_EVAL,
    ImportedRun,
    ImportFormatError,
    finite_number,
    guard,
    iter_jsonl,
    json_number,
    read_json,
    stderr_of,
)
from cockpit.metric_names import lm_eval_item_task, lm_eval_metric_name


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
        m = SAMPLES_NAME.match(p.name)
        if m:
            results = p.parent / f"results_{m['ts']}.json"
            if not results.is_file():
                raise ImportFormatError(
                    f"{p}: no matching {results.name} next to this samples file"
                )
            return [results]
        return [p]
    found = lm_eval_results_in(p)
    if not found:
        raise ImportFormatError(f"{p}: no lm-eval results_*.json in this folder")
    return found


def parse_lm_eval(path: str | Path) -> list[ImportedRun]:
    """One ImportedRun per lm-eval results file at ``path`` (file or folder), with the
    per-item scores of its ``samples_<task>_<timestamp>.jsonl`` files when they exist."""
    found = _find_lm_eval_results(Path(path).expanduser().resolve())
    return [_parse_lm_eval_results(f) for f in found]


# lm-eval's config keys that say where and how fast it ran, not what was evaluated: two runs
# that differ only here are the same config (kept in provenance, "lm_eval_settings").
_RUN_SETTINGS = ("device", "batch_size", "batch_sizes", "use_cache", "bootstrap_iters")


def _parse_lm_eval_results(path: Path) -> ImportedRun:
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise ImportFormatError(f"{path}: not an lm-eval results file (no 'results' object)")
    with guard(path):
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
        warnings: list[str] = []
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
                if isinstance(value, dict | list) or key in ("name", "sample_len", "samples"):
                    continue  # structure or counts lm-eval keeps next to its metrics
                number = finite_number(value, f"{path}: results.{task}.{key}", warnings)
                if number is None:
                    continue
                name = lm_eval_metric_name(task, metric, filt)
                metrics[name] = number
                se_key = f"{metric}_stderr,{filt}" if filt else f"{metric}_stderr"
                # "N/A" (no bootstrap / group without SE) and null both mean: unknown.
                stderr[name] = json_number(res.get(se_key))
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
        started_at = json_number(data.get("date"))
        duration = provenance.get("total_evaluation_time_seconds")
        ended_at = (
            started_at + duration
            if started_at is not None and isinstance(duration, float) and duration >= 0
            else None
        )

        config: dict[str, Any] = {k: v for k, v in cfg.items() if k not in _RUN_SETTINGS}
        settings = {k: cfg[k] for k in _RUN_SETTINGS if k in cfg}
        if settings:
            provenance["lm_eval_settings"] = settings
        # lm-eval 0.4 keeps its four seeds in "config"; older files at the top level.
        for key in ("random_seed", "numpy_seed", "torch_seed", "fewshot_seed"):
            if key not in config and key in data:
                config[key] = data[key]
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
            m = SAMPLES_NAME.match(sfile.name)
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
    # Samples that disagree with the results are doubted out loud, not only kept.
    warnings += [f"{path}: {w}" for w in provenance.pop("warnings")]

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
        warnings=warnings,
        started_at=started_at,
        ended_at=ended_at,
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
    for lineno, obj in iter_jsonl(path):
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
            stderr[name] = stderr_of(scores)
            recomputed.append(name)
        counts.setdefault(name, len(scores))
    if recomputed:
        provenance["stderr_from_samples"] = recomputed
