"""The results matrix: configs x metrics of each sweep, every config compared with a baseline.

Core, no Textual, no I/O of its own: :func:`load_results_data` reads what the matrix needs
from the store once, and :func:`build_matrix` turns that snapshot into a
:class:`ResultsMatrix` for one view (a sweep or all of them, one metric or all of them, the
baselines chosen). The app runs both in a thread and hands the matrix to the Results pane;
the CLI and the exporters print or write the same object, so every surface says the same.

How a cell is computed, for one config and one metric:

- A *config* is the runs of a sweep that share every config key but the seed. One run is
  one config; runs that differ only by seed are replicates of one config.
- Its scores are, in order of preference: per-item scores on a task that backs the metric
  (eval_items task "mmlu" backs "mmlu_acc"; lm-eval's "arc/acc" is backed by task "arc"),
  used only when their mean reproduces the recorded metric; the per-seed values of its runs
  (or of one imported run that kept them, as AI-Scientist does); else a single number.
- The value and CI come from :func:`cockpit.stats.summarize_scores` (Wilson for 0/1 items,
  t otherwise); a single number has a CI only if the importer kept a reported SE.
- The comparison with the baseline is chosen by the data (cockpit.stats): McNemar for 0/1
  items, paired t for continuous items, Welch for seeds, no test for single numbers.
- Holm's correction runs over every tested comparison in the view, so what "better" means
  does not depend on which rows happen to be scrolled into sight, but does depend on how
  much is compared together: one metric in the TUI and with ``--metric``, every metric
  without it.

Ten thousand configs build in well under a pane's 300 ms budget because the common shapes go
in bulk (single numbers from a template, seeds through one vectorised Welch, summaries and
Holm vectorised: tests/test_results_bulk.py checks they equal the one-at-a-time stats
functions exactly) and because views of one snapshot share what they can: its configs,
each metric's scores and summaries, each baseline's comparisons (see _Memo). A reload is a
new snapshot, so nothing stale is ever reused.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import math
import operator
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from cockpit import stats
from cockpit.metric_names import (
    DIRECTION_HYPERPARAMETER,
    SEED_KEYS,
    Direction,
    budget_of,
    item_task_for,
    metric_order,
    proportion_bounds,
    resolve_directions,
)
from cockpit.models import Run, RunState, Sweep
from cockpit.models.results import (
    DEFAULT_ALPHA,
    DEFAULT_CONFIDENCE,
    NO_IMPORTED_META,
    Comparison,
    ConfigResult,
    EffectMethod,
    EffectsResult,
    ImportedRunMeta,
    ResultsMatrix,
    ScoreSummary,
    StatTest,
    SweepResults,
    Verdict,
    copy_with,
    from_fields,
)
from cockpit.runs import latest_attempts
from cockpit.validate import ValidationError
from cockpit.validate import shown as quoted

if TYPE_CHECKING:
    from cockpit.store import Store

_Z95 = NormalDist().inv_cdf(0.5 + DEFAULT_CONFIDENCE / 2)
# Per-item scores back a metric only when their mean reproduces it (the demo rounds to 4
# decimals); otherwise the items are of some other aggregation and pairing them would lie.
ITEM_MEAN_TOLERANCE = 1e-3


class ResultsError(ValidationError):
    """A view that cannot be built (unknown sweep, metric or baseline): one line for the user."""


# --------------------------------------------------------------------------- the snapshot


class _Memo:
    """What views of one snapshot share, computed once: configs, scores, comparisons.

    It lives on the ResultsData it was computed from, so a reload (a new snapshot) starts
    empty while a change of view (metric, baseline, sweep) reuses what it can. Entries never
    change once stored. The per-sweep ones stay; the per-metric ones are kept least recently
    used first up to MAX_CELLS configs' worth, so cycling through every metric of a
    10,000-config sweep does not keep them all.
    """

    MAX_CELLS = 60_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fixed: dict[Any, Any] = {}
        self._lru: OrderedDict[Any, tuple[int, Any]] = OrderedDict()
        self._cells = 0

    def __reduce__(self) -> tuple[type[_Memo], tuple[()]]:
        return (_Memo, ())  # a copy or a pickle of the snapshot starts with nothing cached

    def fixed(self, key: Any, compute: Callable[[], Any]) -> Any:
        found = self._fixed.get(key)
        if found is None:
            found = compute()
            with self._lock:
                found = self._fixed.setdefault(key, found)
        return found

    def lru(self, key: Any, weight: int, compute: Callable[[], Any]) -> Any:
        with self._lock:
            hit = self._lru.get(key)
            if hit is not None:
                self._lru.move_to_end(key)
                return hit[1]
        value = compute()
        with self._lock:
            if key not in self._lru:
                self._lru[key] = (weight, value)
                self._cells += weight
                while self._cells > self.MAX_CELLS and len(self._lru) > 1:
                    _, (dropped, _) = self._lru.popitem(last=False)
                    self._cells -= dropped
        return value


@dataclass(frozen=True)
class ResultsData:
    """What the matrix needs from the store, read once: the app recomputes views from it."""

    sweeps: tuple[Sweep, ...]
    runs: tuple[Run, ...]
    finals: Mapping[str, Mapping[str, float]]  # run id -> metric -> last value
    items: Mapping[str, Mapping[str, Mapping[str, float]]]  # run id -> task -> item -> score
    loaded_at: float = 0.0
    memo: _Memo = field(default_factory=_Memo, init=False, repr=False, compare=False)

    @cached_property
    def run_meta(self) -> Mapping[str, ImportedRunMeta]:
        """Run id -> what its importer recorded, for the runs that have a record."""
        out: dict[str, ImportedRunMeta] = {}
        for run in self.runs:
            meta = ImportedRunMeta.from_provenance(run.provenance)
            if meta is not NO_IMPORTED_META:
                out[run.id] = meta
        return out

    def meta_of(self, run_id: str) -> ImportedRunMeta:
        return self.run_meta.get(run_id, NO_IMPORTED_META)


def load_results_data(store: Store, sweep: str | None = None) -> ResultsData:
    """Read sweeps, their runs, final metrics and per-item scores (one sweep or all)."""
    sweeps = tuple(store.list_sweeps())
    if sweep is not None:
        known = [s.name for s in sweeps]
        if sweep not in known:
            raise ResultsError(_unknown("sweep", sweep, known))
        runs = tuple(store.list_runs(sweep))
    else:
        runs = tuple(r for r in store.list_runs() if r.spec.sweep is not None)
    # A relaunched run counts once: its latest finished attempt (see cockpit relaunch).
    runs = latest_attempts(runs)
    ids = [r.id for r in runs]
    finals = store.final_metrics(ids if sweep is not None else None)
    items = store.eval_items_for_runs(ids)
    return ResultsData(sweeps, runs, finals, items, loaded_at=time.time())


# --------------------------------------------------------------------------- the matrix


def _unknown(what: str, name: str, known: Sequence[str], where: str = "") -> str:
    listed = ", ".join(known[:8]) + (f" and {len(known) - 8} more" if len(known) > 8 else "")
    place = f" in {where}" if where else ""
    return f"no {what} {quoted(name)}{place} (known: {listed or 'none'})"


# --------------------------------------------------------------------------- configs


@dataclass
class _Config:
    """A config while the matrix is built (mutable; frozen into ConfigResult at the end)."""

    key: str
    runs: list[Run]
    params: dict[str, Any]


_PLAIN = (str, int, float, bool, type(None))


def _group_configs(runs: Sequence[Run]) -> list[_Config]:
    """Runs grouped by their config without the seed keys, in order of first appearance.

    Two runs are one config when they have the same non-seed keys with equal values (a
    list or dict value compares by its repr). A sweep's runs share a few key layouts, so
    each layout's sorted non-seed keys, its seed keys and its getter are worked out once.
    """
    groups: dict[tuple[Any, ...], _Config] = {}
    layouts: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...], Any]] = {}
    for run in runs:
        config = run.spec.config
        shape = tuple(config)
        layout = layouts.get(shape)
        if layout is None:
            names = tuple(sorted(k for k in shape if k not in SEED_KEYS))
            layout = (names, tuple(k for k in shape if k in SEED_KEYS), _getter(names))
            layouts[shape] = layout
        names, seeds, get = layout
        key: tuple[Any, ...] = (names, get(config))
        try:
            group = groups.get(key)
        except TypeError:  # a list or dict value: compare those by their repr
            key = (names, tuple(v if isinstance(v, _PLAIN) else repr(v) for v in key[1]))
            group = groups.get(key)
        if group is None:
            params = dict(config)
            for k in seeds:
                del params[k]
            groups[key] = _Config(run.id, [run], params)
        else:
            group.runs.append(run)
    return list(groups.values())


def _getter(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """The values of ``names`` in a mapping, as a tuple (itemgetter, whatever the count)."""
    if len(names) >= 2:
        return operator.itemgetter(*names)
    if len(names) == 1:
        (name,) = names
        return lambda config: (config[name],)
    return lambda config: ()


def _label_keys(sweep: Sweep, configs: Sequence[_Config]) -> tuple[str, ...]:
    if sweep.factors:
        return tuple(sweep.factors)
    if len(configs) < 2:
        return ()
    keys = dict.fromkeys(itertools.chain.from_iterable(c.params for c in configs))
    return tuple(k for k in keys if _varies(configs, k))


def _varies(configs: Sequence[_Config], key: str) -> bool:
    """Whether configs differ in ``key`` (by repr: 1 and 1.0, or 1 and True, differ)."""
    first = repr(configs[0].params.get(key))
    return any(repr(c.params.get(key)) != first for c in configs)


def _state(runs: Sequence[Run]) -> str:
    if len(runs) == 1:
        return str(runs[0].state)
    states = [str(r.state) for r in runs]
    if len(set(states)) == 1:
        return states[0]
    counts: dict[str, int] = {}
    for s in states:
        counts[s] = counts.get(s, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in counts.items())


# --------------------------------------------------------------------------- scores


def _config_scores(data: ResultsData, runs: Sequence[Run], metric: str) -> stats.Scores | None:
    """Scores on ``metric`` of a config's usable runs (finished, one per measurement):
    per-item scores, per-seed values, one number or None."""
    finals = data.finals
    if not runs:
        return None
    if len(runs) == 1:
        run = runs[0]
        final = finals.get(run.id, {}).get(metric)
        items = _run_items(data, run, metric, final)
        if items is not None:
            return items
        seeds = data.meta_of(run.id).seeds
        if seeds:
            values = _clean(seeds.get(metric))
            if len(values) >= 2:
                return values
        return None if final is None or math.isnan(final) else float(final)
    values = _clean(finals.get(r.id, {}).get(metric) for r in runs)
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def _run_items(
    data: ResultsData, run: Run, metric: str, final: float | None
) -> Mapping[str, float] | None:
    tasks = data.items.get(run.id)
    if not tasks:
        return None
    task = item_task_for(metric, tasks, data.meta_of(run.id).item_metric)
    if task is None:
        return None
    scores = tasks[task]
    if len(scores) < 2:
        return None
    if final is not None:
        mean = math.fsum(scores.values()) / len(scores)
        if abs(mean - final) > ITEM_MEAN_TOLERANCE * max(1.0, abs(final)):
            return None
    return scores


def _clean(values: Any) -> list[float]:
    if values is None:
        return []
    if isinstance(values, int | float):
        values = [values]
    out: list[float] = []
    for v in values:
        if isinstance(v, int | float) and not isinstance(v, bool) and not math.isnan(v):
            out.append(float(v))
    return out


def _summary(
    meta: ImportedRunMeta,
    metric: str,
    scores: stats.Scores | None,
    bounds: tuple[float, float] | None,
) -> ScoreSummary | None:
    """A config's value and CI; ``meta`` is its (first) run's imported record."""
    if scores is None:
        return None
    if isinstance(scores, int | float):
        # One number: a CI only from an SE its importer kept (lm-eval's acc_stderr).
        se = meta.reported_stderr.get(metric)
        n = meta.sample_counts.get(metric, 1)
        value = float(scores)
        if isinstance(se, int | float) and not isinstance(se, bool) and se > 0:
            half = _Z95 * se
            low, high = value - half, value + half
            method = "reported SE"
            if bounds is not None and (low < bounds[0] or high > bounds[1]):
                low, high = max(low, bounds[0]), min(high, bounds[1])
                method += f", clipped to [{bounds[0]:g}, {bounds[1]:g}]"
            return ScoreSummary(value, float(se), low, high, n, method)
        return ScoreSummary(value, math.nan, math.nan, math.nan, 1, "none")
    # A list is per-seed values (independent runs, never trials); a mapping per-item scores.
    return stats.summarize_scores(
        scores, DEFAULT_CONFIDENCE, seeds=isinstance(scores, list), bounds=bounds
    )


def _censored_count(scores: stats.Scores | None, budget: float | None) -> int:
    """How many of a config's values sit at the budget (the target never reached)."""
    if budget is None or scores is None or isinstance(scores, Mapping):
        return 0
    values = [scores] if isinstance(scores, int | float) else scores
    return sum(1 for v in values if v >= budget)


def _censored_comparison(
    m: str,
    base: _Config,
    config: _Config,
    censored: tuple[int, int],
    budget: float | None,
    hib: bool,
    alpha: float,
) -> Comparison:
    """No test where a side holds censored values: a t-test would read "never reached
    within the budget" as "reached exactly at the budget"."""
    parts = [
        f"{key} {n} value(s)"
        for key, n in ((base.key, censored[0]), (config.key, censored[1]))
        if n
    ]
    at = f" {budget:g}" if budget is not None else ""
    note = (
        f"censored: {' and '.join(parts)} at the budget{at} (target never reached); "
        "no t-test on censored values"
    )
    return stats.no_comparison(m, base.key, config.key, hib, alpha, note)


def _missing(
    m: str,
    base: _Config,
    config: _Config,
    b: stats.Scores | None,
    c: stats.Scores | None,
    hib: bool,
    alpha: float,
    spec: Mapping[str, float] | None,
) -> Comparison:
    """A side has no value on ``m``: not enough data, and why (still running? failed?).

    A baseline without a value says so ("baseline has no value"): the config may well
    have data, the comparison lacks its reference."""
    side = base if b is None else config
    running = any(not r.state.terminal for r in side.runs)
    failed = side.runs and all(
        r.state.terminal and r.state is not RunState.SUCCEEDED for r in side.runs
    )
    why = " yet (still running)" if running else " (its runs failed)" if failed else ""
    if b is None:
        note = f"baseline {base.key} has no value of {m}{why}"
    else:
        note = f"{config.key} has no {m}{why}"
    cmp = stats.no_comparison(m, base.key, config.key, hib, alpha, note)
    if b is None:
        cmp = dataclasses.replace(cmp, verdict=Verdict.NO_BASELINE_VALUE)
    if spec and c is not None:
        # The value is known, so a floor ("min"/"max") can still be crossed.
        value = stats.collapse_scores(c)
        mean = value if isinstance(value, float) else math.fsum(value) / len(value)
        flags = stats.threshold_flags(None, mean, spec, higher_is_better=hib)
        cmp = dataclasses.replace(cmp, candidate_mean=mean, flags=flags)
    return cmp


def _sweep_batch(
    prep: _SweepPrep,
    m: str,
    scores: Sequence[stats.Scores | None],
    base_index: int,
    *,
    hib: bool,
    alpha: float,
    test: StatTest | None,
    spec: Mapping[str, float] | None,
    censored: Sequence[int] = (),
    budget: float | None = None,
) -> stats.ComparisonBatch:
    """Every config of a sweep against its baseline on ``m``, before Holm and verdicts.

    A config (or baseline) without a value is said to be missing, and why, rather than
    compared; one with censored values (a side at the budget) is said to be censored; the
    rest go through stats.compare_batch, leniently: a view mixes shapes.
    """
    configs = prep.configs
    base = configs[base_index]
    b = scores[base_index]
    if censored and any(censored):
        batch = _sweep_batch(
            prep,
            m,
            [
                None if (censored[i] or censored[base_index]) and i != base_index else s
                for i, s in enumerate(scores)
            ],
            base_index,
            hib=hib,
            alpha=alpha,
            test=test,
            spec=spec,
        )
        cmps = list(batch.comparisons)
        for i, s in enumerate(scores):
            if i != base_index and s is not None and (censored[i] or censored[base_index]):
                pair = (censored[base_index], censored[i])
                cmps[i] = _censored_comparison(m, base, configs[i], pair, budget, hib, alpha)
        return dataclasses.replace(batch, comparisons=cmps)
    if b is None:
        return stats.ComparisonBatch(
            [
                None if i == base_index else _missing(m, base, configs[i], b, c, hib, alpha, spec)
                for i, c in enumerate(scores)
            ],
            [],
            [],
            0.0,
            spec,
        )
    candidates = list(scores)
    candidates[base_index] = None
    batch = stats.compare_batch(
        b,
        candidates,
        [c.key for c in configs],
        metric=m,
        baseline_name=base.key,
        higher_is_better=hib,
        threshold=spec,
        test=test,
        lenient=True,
        alpha=alpha,
        confidence=DEFAULT_CONFIDENCE,
    )
    missing = [i for i, c in enumerate(scores) if c is None and i != base_index]
    if not missing:
        return batch
    cmps = list(batch.comparisons)
    for i in missing:
        cmps[i] = _missing(m, base, configs[i], b, None, hib, alpha, spec)
    return dataclasses.replace(batch, comparisons=cmps)


# --------------------------------------------------------------------------- effects


def _effects(
    sweep: Sweep,
    configs: Sequence[_Config],
    metric: str,
    scores: Sequence[stats.Scores | None],
    alpha: float,
) -> EffectsResult:
    factors = tuple(sweep.factors)

    def none(note: str) -> EffectsResult:
        return EffectsResult(sweep.name, metric, factors, (), None, note)

    if not factors:
        return none("the sweep names no factors: no factorial view")
    if any(len(levels) != 2 for levels in sweep.factors.values()):
        return none("not a 2^k design: every factor needs exactly 2 levels")
    try:
        cells = stats.factorial_cells([c.params for c in configs], sweep.factors)
    except ValueError as exc:
        return none(str(exc))
    cell_scores: list[list[stats.Scores]] = []
    for cell in cells:
        found: list[stats.Scores] = []
        for index in cell:
            s = scores[index]
            if s is None:
                return none(f"incomplete design: no {metric} for {configs[index].key} yet")
            found.append(s)
        cell_scores.append(found)
    responses: list[Any]
    per_item = all(len(f) == 1 and isinstance(f[0], Mapping) for f in cell_scores)
    if per_item:
        responses = [f[0] for f in cell_scores]
    else:
        flat: list[list[float]] = []
        for f in cell_scores:
            values: list[float] = []
            for s in f:
                collapsed = stats.collapse_scores(s)
                values.extend(collapsed if isinstance(collapsed, list) else [collapsed])
            flat.append(values)
        replicated = any(len(v) > 1 for v in flat)
        responses = flat if replicated else [v[0] for v in flat]
    try:
        effects = stats.factorial_effects(responses, list(factors), per_item=per_item, alpha=alpha)
    except ValueError as exc:
        return none(str(exc))
    method = effects[0].method if effects else None
    notes = {
        EffectMethod.PAIRED_ITEMS: "SEs from per-item contrasts on the shared items",
        EffectMethod.POOLED_REPLICATES: "SEs from the pooled variance of replicate seeds",
        EffectMethod.LENTH_PSE: "unreplicated: SEs are Lenth's pseudo-SE",
    }
    return EffectsResult(
        sweep.name,
        metric,
        factors,
        tuple(effects),
        method,
        notes.get(method, ""),  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------- building


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic GC while the matrix is built, and none of its objects scanned as young after.

    Building allocates tens of thousands of small objects at 10,000 configs, which sets off
    collections that rescan the whole snapshot (a quarter of the build time). Nothing built
    here is cyclic garbage, so postponing the collector for the build loses nothing. Merely
    re-enabling it would pay the same scan at once (30 to 70 ms after each build, on the
    event loop if it is the next to allocate): gc.freeze() then gc.unfreeze() moves what
    survives straight to the oldest generation, whose (rare) full collections still find
    any cycle among it. Garbage is freed by reference counting as ever. When the process
    has frozen objects already (the cockpit freezes what start-up built), unfreezing would
    hand all of them back to the collector: what the build made stays frozen with them,
    until the app's next thorough collection (cockpit.app.collector) walks them all.
    """
    was_enabled = gc.isenabled()
    frozen_before = gc.get_freeze_count()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if not frozen_before:
            gc.unfreeze()
        if was_enabled:
            gc.enable()


def build_matrix(
    data: ResultsData,
    *,
    sweep: str | None = None,
    metric: str | Sequence[str] | None = None,
    all_metrics: bool = False,
    baselines: Mapping[str, str] | None = None,
    test: StatTest | str | None = None,
    alpha: float = DEFAULT_ALPHA,
    directions: Mapping[str, bool] | None = None,
    spec_directions: Mapping[str, bool] | None = None,
) -> ResultsMatrix:
    """One view of the results.

    ``sweep``: one sweep, or None for all of them (grouped). ``metric``: the metric (or
    metrics) to compare; None picks the first sweep's primary metric (or the first metric);
    ``all_metrics`` compares every metric instead. ``baselines``: sweep -> run id overriding
    the sweep's baseline.
    ``test`` overrides the test where it fits the data (else the default is used).
    ``directions``: metric -> higher-is-better as the user set it (it wins over everything);
    ``spec_directions``: what a sweep spec says (over the file and the name).
    Hyperparameters echoed in the logs (lr, epoch…) are not compared unless given a
    direction. Raises ResultsError for an unknown sweep, metric or baseline.
    """
    given = (dict(directions or {}), dict(spec_directions or {}))
    with _gc_paused():
        return _build_matrix(data, sweep, metric, all_metrics, baselines, test, alpha, given)


@dataclass
class _SweepPrep:
    """One sweep of a snapshot, ready for any view: what does not depend on metric or
    baseline, computed once per snapshot (see _Memo)."""

    sweep: Sweep
    runs: list[Run]  # in the snapshot's order
    configs: list[_Config]
    label_keys: tuple[str, ...]
    names: set[str]  # every metric some run of the sweep has
    owner: dict[str, str]  # run id -> key of its config
    marked: str | None  # first config with a run an importer marked as the baseline
    statics: list[dict[str, Any]]  # per config: the ConfigResult fields no view changes
    plain: list[bool]  # per config: one run, its one final number is all there is
    usable: list[list[Run]]  # per config: the runs statistics use (finished, one per seed)

    @property
    def name(self) -> str:
        return self.sweep.name


def _runs_by_sweep(data: ResultsData) -> dict[str | None, list[Run]]:
    out: dict[str | None, list[Run]] = {}
    for run in data.runs:
        out.setdefault(run.spec.sweep, []).append(run)
    return out


def _sweep_prep(data: ResultsData, sweep: Sweep) -> _SweepPrep:
    runs = data.memo.fixed(("runs",), lambda: _runs_by_sweep(data)).get(sweep.name, [])
    configs = _group_configs(runs)
    label_keys = _label_keys(sweep, configs)
    finals, items = data.finals, data.items
    empty: Mapping[str, float] = {}
    names: set[str] = set().union(*(finals.get(r.id, empty) for r in runs))
    owner = {r.id: c.key for c in configs for r in c.runs}
    meta = data.run_meta
    marks = {owner[r.id] for r in runs if r.id in meta and meta[r.id].is_baseline}
    marked = next((c.key for c in configs if c.key in marks), None) if marks else None
    statics: list[dict[str, Any]] = []
    plain: list[bool] = []
    usable: list[list[Run]] = []
    name = sweep.name
    for c in configs:
        key, runs_c = c.key, c.runs
        first = runs_c[0]
        imported = meta.get(first.id)
        single = len(runs_c) == 1
        used, notes = _usable_runs(runs_c, finals)
        usable.append(used)
        plain.append(
            single
            and bool(used)
            and not (items and items.get(key))
            and not (imported and (imported.seeds or imported.reported_stderr))
        )
        statics.append(
            {
                "sweep": name,
                "key": key,
                "run_ids": (key,) if single else tuple([r.id for r in runs_c]),
                "params": c.params,
                "label_keys": label_keys,
                "state": str(first.state) if single else _state(runs_c),
                # A run without metrics gets a dict of its own: run_values are the caller's.
                "run_values": (
                    (finals.get(key) or {},)
                    if single
                    else tuple([finals.get(r.id) or {} for r in runs_c])
                ),
                "notes": notes,
            }
        )
    return _SweepPrep(
        sweep, runs, configs, label_keys, names, owner, marked, statics, plain, usable
    )


def _seed_signature(run: Run) -> tuple[tuple[str, str], ...]:
    config = run.spec.config
    return tuple(sorted((k, repr(config[k])) for k in config if k in SEED_KEYS))


def _usable_runs(
    runs: Sequence[Run], finals: Mapping[str, Mapping[str, float]]
) -> tuple[list[Run], tuple[str, ...]]:
    """The runs of one config that statistics may use, and what the reader must be told.

    Only finished, successful runs count: a failed run's last value is not a result and a
    running one's is not final. Runs with the same seeds are one measurement repeated
    (lm-eval is deterministic at fixed seeds), as are seedless runs with identical results:
    counting them as seeds would give a spread of 0 and a CI narrower than one run's.
    """
    notes: list[str] = []
    left_out: dict[str, int] = {}
    done: list[Run] = []
    for run in runs:
        if run.state is RunState.SUCCEEDED:
            done.append(run)
        else:
            left_out[str(run.state)] = left_out.get(str(run.state), 0) + 1
    for state, n in left_out.items():
        what = "not final yet" if not RunState(state).terminal else "not a result"
        notes.append(f"{n} {state} run(s) left out of the statistics ({what})")
    if len(done) < 2:
        return done, tuple(notes)
    kept: dict[Any, Run] = {}
    dupes: dict[Any, int] = {}
    for run in done:
        signature = _seed_signature(run)
        key: Any = signature or ("results", repr(sorted((finals.get(run.id) or {}).items())))
        if key in kept:
            dupes[key] = dupes.get(key, 1) + 1
        else:
            kept[key] = run
    for key, n in dupes.items():
        if key and key[0] == "results":
            notes.append(
                f"{n} runs without seeds gave identical results: counted as one measurement"
            )
        else:
            seeds = ", ".join(f"{k}={v}" for k, v in key)
            notes.append(
                f"{n} runs with identical seeds ({seeds}): one measurement repeated, "
                "counted once, not as {n} seeds".replace("{n}", str(n))
            )
    return list(kept.values()), tuple(notes)


@dataclass(frozen=True)
class _MetricCells:
    """Every config of a sweep on one metric: scores, summaries, censored counts."""

    scores: list[stats.Scores | None]
    summaries: list[ScoreSummary | None]
    censored: list[int]
    budget: float | None  # the budget censored values sit at (the first one found)


def _metric_cells(data: ResultsData, prep: _SweepPrep, metric: str) -> _MetricCells:
    """Scores and summaries, then censoring: values of a count-to-target metric at the run's
    budget (from the importer's record or the config) are flagged, never averaged silently."""
    scores, summaries = _scores_and_summaries(data, prep, metric)
    censored = [0] * len(scores)
    first_budget: float | None = None
    for i, used in enumerate(prep.usable):
        if scores[i] is None or not used:
            continue
        run = used[0]
        budget = data.meta_of(run.id).budgets.get(metric) or budget_of(metric, run.spec.config)
        n = _censored_count(scores[i], budget)
        if n:
            censored[i] = n
            first_budget = first_budget if first_budget is not None else budget
            summary = summaries[i]
            if summary is not None:
                summaries[i] = copy_with(summary, censored=n, budget=budget)
    return _MetricCells(scores, summaries, censored, first_budget)


def _scores_and_summaries(
    data: ResultsData, prep: _SweepPrep, metric: str
) -> tuple[list[stats.Scores | None], list[ScoreSummary | None]]:
    """Every config's scores on ``metric`` and their value with its CI, in bulk.

    The common shapes skip the general code: a plain single run is a dict lookup and a
    summary from a template; per-seed values are summarised together (stats.summarize_many).
    A proportion's CIs are kept inside [0, 1].
    """
    finals = data.finals
    empty: Mapping[str, float] = {}
    nan = math.nan
    scores: list[stats.Scores | None] = []
    summaries: list[ScoreSummary | None] = []
    seeds: list[int] = []
    for i, config in enumerate(prep.configs):
        if prep.plain[i]:
            v = finals.get(config.key, empty).get(metric)
            if v is None or math.isnan(v):
                scores.append(None)
                summaries.append(None)
                continue
            value = float(v)
            scores.append(value)
            summaries.append(
                from_fields(
                    ScoreSummary,
                    {
                        "mean": value,
                        "se": nan,
                        "ci_low": nan,
                        "ci_high": nan,
                        "n": 1,
                        "method": "none",
                    },
                )
            )
            continue
        s = _config_scores(data, prep.usable[i], metric)
        scores.append(s)
        summaries.append(None)
        if type(s) is list:
            seeds.append(i)
    bounds = proportion_bounds(metric, _all_values(scores))
    for i, s in enumerate(scores):
        if s is not None and type(s) is not list and not prep.plain[i]:
            used = prep.usable[i]
            meta = data.meta_of(used[0].id) if used else NO_IMPORTED_META
            summaries[i] = _summary(meta, metric, s, bounds)
    if seeds:
        for i, summary in zip(
            seeds,
            stats.summarize_many(
                [scores[i] for i in seeds], DEFAULT_CONFIDENCE, seeds=True, bounds=bounds
            ),
            strict=True,  # type: ignore[misc]
        ):
            summaries[i] = summary
    return scores, summaries


def _all_values(scores: Sequence[stats.Scores | None]) -> Iterator[float]:
    for s in scores:
        if s is None:
            continue
        if isinstance(s, Mapping):
            yield from s.values()
        elif isinstance(s, list):
            yield from s
        else:
            yield s


def _build_matrix(
    data: ResultsData,
    sweep: str | None,
    metric: str | Sequence[str] | None,
    all_metrics: bool,
    baselines: Mapping[str, str] | None,
    test: StatTest | str | None,
    alpha: float,
    given: tuple[dict[str, bool], dict[str, bool]] = ({}, {}),
) -> ResultsMatrix:
    known = [s.name for s in data.sweeps]
    if sweep is not None and sweep not in known:
        raise ResultsError(_unknown("sweep", sweep, known))
    memo = data.memo
    shown_sweeps = [s for s in data.sweeps if sweep is None or s.name == sweep]
    shown = [memo.fixed(("sweep", s.name), lambda s=s: _sweep_prep(data, s)) for s in shown_sweeps]

    names: set[str] = set()
    for prep in shown:
        names |= prep.names
    user, spec_given = given
    metrics, dirs = memo.fixed(
        ("scope", sweep, tuple(sorted(user.items())), tuple(sorted(spec_given.items()))),
        lambda: _scope(shown, names, data.run_meta, user, spec_given),
    )
    hib = {m: d.higher_is_better is not False for m, d in dirs.items()}
    outcomes = tuple(m for m in metrics if dirs[m].source != DIRECTION_HYPERPARAMETER)
    wanted = [metric] if isinstance(metric, str) else list(metric or ())
    for m in wanted:
        if m not in names:
            where = f"sweep {quoted(sweep)}" if sweep else "any sweep"
            raise ResultsError(_unknown("metric", m, list(metrics), where=where))
        if dirs[m].source == DIRECTION_HYPERPARAMETER:
            raise ResultsError(
                f"{m} is a hyperparameter the runs logged, not an outcome; to compare it "
                f"anyway give it a direction (--direction {m}=lower or =higher)"
            )
    if all_metrics:
        compared = outcomes
    elif wanted:
        compared = tuple(dict.fromkeys(wanted))
    else:
        compared = outcomes[:1]

    overrides = dict(baselines or {})

    def per_metric(prep: _SweepPrep, m: str) -> _MetricCells:
        return memo.lru(  # type: ignore[no-any-return]
            ("metric", prep.name, m),
            len(prep.configs),
            lambda: _metric_cells(data, prep, m),
        )

    def with_value(prep: _SweepPrep) -> list[bool] | None:
        if not compared:
            return None
        return [s is not None for s in per_metric(prep, compared[0]).scores]

    baseline_keys = {
        prep.name: _baseline(prep, overrides.get(prep.name), lambda p=prep: with_value(p))
        for prep in shown
    }
    for name, run_id in overrides.items():
        if name in baseline_keys and baseline_keys.get(name) is None:
            raise ResultsError(f"no run {quoted(run_id)} in sweep {quoted(name)}")
    chosen_test = StatTest(test) if test is not None else None
    specs: dict[tuple[str, str], Mapping[str, float] | None] = {}
    for prep in shown:
        for m in compared:
            try:
                specs[(prep.name, m)] = stats.threshold_for(m, prep.sweep.thresholds)
            except ValueError as exc:
                raise ResultsError(f"sweep {prep.name}: {exc}") from None

    batches: list[stats.ComparisonBatch] = []
    where: list[tuple[int, str]] = []  # (index into shown, metric) of each batch
    for k, prep in enumerate(shown):
        base_key = baseline_keys[prep.name]
        base_index = next((i for i, c in enumerate(prep.configs) if c.key == base_key), None)
        if base_index is None:
            continue
        for m in compared:
            spec = specs[(prep.name, m)]

            def compute(
                prep: _SweepPrep = prep, m: str = m, spec: Any = spec, base_index: int = base_index
            ) -> Any:
                cells = per_metric(prep, m)
                return _sweep_batch(
                    prep,
                    m,
                    cells.scores,
                    base_index,
                    hib=hib[m],
                    alpha=alpha,
                    test=chosen_test,
                    spec=spec,
                    censored=cells.censored,
                    budget=cells.budget,
                )

            # Which way is better can differ by view (an importer's record in another sweep).
            key = ("raw", prep.name, m, base_key, hib[m], chosen_test, alpha)
            batches.append(memo.lru(key, len(prep.configs), compute))
            where.append((k, m))
    family = stats.decide_family(batches)
    by_sweep: dict[int, list[tuple[str, list[Comparison | None]]]] = {}
    spans: dict[int, dict[str, float]] = {}
    for (k, m), cmps, batch in zip(where, family.comparisons, batches, strict=True):
        by_sweep.setdefault(k, []).append((m, cmps))
        spans.setdefault(k, {})[m] = batch.span

    groups: list[SweepResults] = []
    for k, prep in enumerate(shown):
        base_key = baseline_keys[prep.name]
        columns = by_sweep.get(k, [])
        sums = [(m, per_metric(prep, m).summaries) for m in compared]
        results: list[ConfigResult] = []
        make = from_fields
        if len(compared) == 1 and len(columns) <= 1:  # the TUI's view: one metric, in bulk
            (m,) = compared
            only_sums = sums[0][1]
            only_cmps = columns[0][1] if columns else [None] * len(prep.statics)
            for static, summary, cmp in zip(prep.statics, only_sums, only_cmps, strict=True):
                fields = static.copy()
                fields["is_baseline"] = static["key"] == base_key
                fields["summaries"] = {} if summary is None else {m: summary}
                fields["comparisons"] = {} if cmp is None else {m: cmp}
                results.append(make(ConfigResult, fields))
        else:
            for i, static in enumerate(prep.statics):
                fields = static.copy()
                fields["is_baseline"] = static["key"] == base_key
                fields["summaries"] = {m: s[i] for m, s in sums if s[i] is not None}
                fields["comparisons"] = {m: c[i] for m, c in columns if c[i] is not None}
                results.append(make(ConfigResult, fields))
        effects = {
            m: memo.lru(
                ("effects", prep.name, m, alpha),
                1,
                lambda prep=prep, m=m: _effects(
                    prep.sweep, prep.configs, m, per_metric(prep, m).scores, alpha
                ),
            )
            for m in compared
        }
        groups.append(
            SweepResults(
                sweep=prep.sweep,
                baseline=base_key,
                label_keys=prep.label_keys,
                configs=tuple(results),
                effects=effects,
                spans=spans.get(k, {}),
            )
        )
    return ResultsMatrix(
        sweeps=tuple(groups),
        metrics=metrics,
        compared=compared,
        higher_is_better=hib,
        family_size=family.family_size,
        scope=sweep,
        all_sweeps=tuple(known),
        alpha=alpha,
        baselines=overrides,
        direction_sources={m: d.source for m, d in dirs.items()},
    )


def _scope(
    shown: Sequence[_SweepPrep],
    names: set[str],
    meta: Mapping[str, ImportedRunMeta],
    user: Mapping[str, bool],
    spec: Mapping[str, bool],
) -> tuple[tuple[str, ...], dict[str, Direction]]:
    """The metrics of a view, display order, and which way each is better (and who said)."""
    metrics = metric_order(names, (prep.sweep.primary_metric for prep in shown))
    recorded: dict[str, bool] = {}
    for prep in shown:
        for run in prep.runs:
            imported = meta.get(run.id)
            if imported is not None:
                for name, value in imported.higher_is_better.items():
                    recorded.setdefault(name, value)
    dirs = resolve_directions(metrics, recorded=recorded, spec=spec, user=user)
    return metrics, dirs


def _baseline(
    prep: _SweepPrep, override: str | None, with_value: Callable[[], list[bool] | None]
) -> str | None:
    """Key of the baseline config: the override, the sweep's, an importer's mark, else the
    first config that has a value of the view's metric (the first config if none has).

    A chosen baseline (override, sweep, mark) stays even without a value: its comparisons
    then say "baseline has no value" instead of silently picking another.
    """
    if override is not None:
        return prep.owner.get(override)
    found = prep.owner.get(prep.sweep.baseline) if prep.sweep.baseline is not None else None
    if found is not None:
        return found
    if prep.marked is not None:
        return prep.marked
    if not prep.configs:
        return None
    has = with_value()
    if has is not None:
        for config, ok in zip(prep.configs, has, strict=True):
            if ok:
                return config.key
    return prep.configs[0].key


def results_matrix(
    store: Store,
    *,
    sweep: str | None = None,
    metric: str | Sequence[str] | None = None,
    all_metrics: bool = False,
    baseline: str | None = None,
    test: StatTest | str | None = None,
    directions: Mapping[str, bool] | None = None,
) -> ResultsMatrix:
    """Load and build in one go (the CLI and the exporters): ``baseline`` is a run id.

    ``directions`` (metric -> higher-is-better) are added to the ones the user set before,
    which the store remembers (see :func:`remembered_directions`)."""
    data = load_results_data(store, sweep)
    baselines: dict[str, str] = {}
    if baseline is not None:
        owner = next((r.spec.sweep for r in data.runs if r.id == baseline), None)
        if owner is None:
            where = f" in sweep {quoted(sweep)}" if sweep else ""
            raise ResultsError(f"no run {quoted(baseline)}{where} to use as the baseline")
        baselines[owner] = baseline
    if directions:
        known = set().union(*data.finals.values()) if data.finals else set()
        for name in directions:
            if name not in known:
                raise ResultsError(_unknown("metric", name, sorted(known)) + " for --direction")
        remember_directions(store, directions)
    return build_matrix(
        data,
        sweep=sweep,
        metric=metric,
        all_metrics=all_metrics,
        baselines=baselines,
        test=test,
        directions=remembered_directions(store),
    )


# The settings key under which the user's metric directions are kept: {metric: bool}.
DIRECTIONS_SETTING = "results.metric_directions"


def remembered_directions(store: Store) -> dict[str, bool]:
    """The directions the user set (CLI --direction, the pane's key), metric -> higher."""
    saved = store.get_setting(DIRECTIONS_SETTING, {})
    if not isinstance(saved, dict):
        return {}
    return {str(k): v for k, v in saved.items() if isinstance(v, bool)}


def remember_directions(store: Store, directions: Mapping[str, bool]) -> None:
    """Keep the user's directions: every later view, CLI or pane, uses them."""
    saved = remembered_directions(store)
    saved.update({str(k): bool(v) for k, v in directions.items()})
    store.set_setting(DIRECTIONS_SETTING, saved)


__all__ = [
    "ConfigResult",
    "EffectsResult",
    "ResultsData",
    "ResultsError",
    "ResultsMatrix",
    "SweepResults",
    "build_matrix",
    "load_results_data",
    "metric_order",
    "remember_directions",
    "remembered_directions",
    "resolve_directions",
    "results_matrix",
]
