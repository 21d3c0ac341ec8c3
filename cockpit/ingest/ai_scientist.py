"""AI-Scientist run folders (``run_<i>/final_info.json``): ``means`` per dataset; where the
per-seed values (``final_info_dict``) are present the SE is recomputed from them as
sd(ddof=1)/sqrt(n), because the templates write np.std(v)/len(v) (or /sqrt(len(v)) with
ddof=0); the value they reported is kept in provenance."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cockpit.ingest.reading import (
    AI_SCIENTIST,
    ImportedRun,
    ImportFormatError,
    finite_number,
    guard,
    json_number,
    read_json,
    stderr_of,
)
from cockpit.metric_names import BUDGET_KEYS, is_count_to_target


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
    p = Path(path).expanduser().resolve()
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


# How the templates name a run's step budget; a count-to-target metric (step_val_acc_99) is
# set to it when the target is never reached, so a value there is censored, not measured.
_BUDGET_ASSIGN = re.compile(
    r"^\s*(?P<key>" + "|".join(BUDGET_KEYS["step"]) + r")\s*=\s*(?P<value>\d+)\b", re.MULTILINE
)


def _step_budget(run_dir: Path) -> tuple[float, Path] | None:
    """The step budget from the run's own script (run_<i>.py, as example papers keep it, or
    the template's experiment.py), if it sets one of the known budget variables."""
    for script in (
        run_dir.parent / f"{run_dir.name}.py",
        run_dir / "experiment.py",
        run_dir.parent / "experiment.py",
    ):
        try:
            text = script.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        m = _BUDGET_ASSIGN.search(text)
        if m:
            return float(m["value"]), script
    return None


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
        data = read_json(f)
        if isinstance(data, dict):
            for key, value in data.items():
                out.setdefault(str(key), []).append(value)
    return out


def _parse_final_info(path: Path, titles: dict[str, str]) -> ImportedRun:
    data = read_json(path)
    if not isinstance(data, dict):
        raise ImportFormatError(
            f"{path}: expected an object of datasets, got {type(data).__name__}"
        )
    metrics: dict[str, float] = {}
    stderr: dict[str, float | None] = {}
    seeds: dict[str, list[float]] = {}
    reported: dict[str, float | None] = {}
    skipped: list[str] = []
    warnings: list[str] = []
    with guard(path):
        for dataset, block in data.items():
            number = json_number(block)
            if number is not None:  # flat {"metric": value}
                metrics[dataset] = number
                stderr[dataset] = None
                continue
            if not isinstance(block, dict):
                skipped.append(str(dataset))
                warnings.append(f"{path}: {dataset}: skipped {str(block)[:40]!r} (not a number)")
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
                number = finite_number(value, f"{path}: {dataset}.{key}", warnings)
                if number is None:  # templates write None when every seed failed
                    skipped.append(name)
                    if value is None:
                        warnings.append(f"{path}: {dataset}.{key} is null: no value")
                    continue
                metrics[name] = number
                values = per_seed.get(base)
                clean: list[float] = []
                for k, v in enumerate(values if isinstance(values, list) else []):
                    where = f"{path}: {dataset}.final_info_dict.{base}[{k}]"
                    seed_value = finite_number(v, where, warnings)
                    if seed_value is not None:
                        clean.append(seed_value)
                if clean:
                    seeds[name] = clean
                stderr[name] = stderr_of(clean)
                if f"{base}_stderr" in stderrs or key in stderrs:
                    reported[name] = json_number(stderrs.get(f"{base}_stderr", stderrs.get(key)))
    run_dir = path.parent
    budgets: dict[str, float] = {}
    counts = [m for m in (*metrics, *skipped) if is_count_to_target(m)]
    found = _step_budget(run_dir) if counts else None
    if found is not None:
        budget, script = found
        budgets = dict.fromkeys(counts, budget)
        for m in counts:
            was_null = m not in metrics
            if was_null:
                # null: no seed reached the target within the budget. That is a result
                # (at least the budget), kept as censored values rather than dropped.
                metrics[m] = budget
                skipped.remove(m)
                seeds.pop(m, None)
                warnings[:] = [
                    w
                    for w in warnings
                    if not w.endswith(" is null: no value") or f"{m.split('/', 1)[0]}." not in w
                ]
            # Some templates drop a seed that never reached the target (None) from
            # final_info_dict: it is a run at the budget, not a run that never happened.
            dataset = m.split("/", 1)[0]
            runs_of_dataset = max(
                (len(v) for k, v in seeds.items() if k.split("/", 1)[0] == dataset), default=0
            )
            have = seeds.get(m, [])
            if (have or was_null) and len(have) < runs_of_dataset:
                missing = runs_of_dataset - len(have)
                seeds[m] = have + [budget] * missing
                warnings.append(
                    f"{path}: {m}: {missing} of {runs_of_dataset} seeds have no value (never "
                    f"reached): counted as censored at the budget {budget:g}"
                )
        warnings += [
            f"{path}: {m} = {budget:g} is the step budget set in {script.name}: "
            "censored (target never reached)"
            for m in counts
            if metrics[m] >= budget or any(v >= budget for v in seeds.get(m, ()))
        ]
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
        sample_counts={k: len(v) for k, v in seeds.items()},
        warnings=warnings,
        budgets=budgets,
    )
