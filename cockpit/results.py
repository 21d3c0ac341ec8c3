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
"""

from __future__ import annotations

import dataclasses
import gc
import json
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from cockpit import stats
from cockpit.ingest import guess_higher_is_better
from cockpit.models import Run, Sweep
from cockpit.stats import (
    Comparison,
    DataKind,
    Effect,
    EffectMethod,
    ScoreSummary,
    StatTest,
    Verdict,
)

if TYPE_CHECKING:
    from cockpit.store import Store

# Config keys that name a replicate, not a config: runs differing only here are seeds.
SEED_KEYS = frozenset({"seed", "seeds", "random_seed", "rng_seed", "run_seed"})
CONFIDENCE = 0.95
_Z95 = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)
# Per-item scores back a metric only when their mean reproduces it (the demo rounds to 4
# decimals); otherwise the items are of some other aggregation and pairing them would lie.
ITEM_MEAN_TOLERANCE = 1e-3


class ResultsError(ValueError):
    """A view that cannot be built (unknown sweep, metric or baseline): one line for the user."""


# --------------------------------------------------------------------------- the snapshot


@dataclass(frozen=True)
class ResultsData:
    """What the matrix needs from the store, read once: the app recomputes views from it."""

    sweeps: tuple[Sweep, ...]
    runs: tuple[Run, ...]
    finals: Mapping[str, Mapping[str, float]]  # run id -> metric -> last value
    items: Mapping[str, Mapping[str, Mapping[str, float]]]  # run id -> task -> item -> score
    loaded_at: float = 0.0


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
    ids = [r.id for r in runs]
    finals = store.final_metrics(ids if sweep is not None else None)
    items = store.eval_items_for_runs(ids)
    return ResultsData(sweeps, runs, finals, items, loaded_at=time.time())


# --------------------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class ConfigResult:
    """One config of a sweep: its runs, its values, and how it compares with the baseline."""

    sweep: str
    key: str  # the id of its first run: the row key, and what --baseline names
    run_ids: tuple[str, ...]
    params: Mapping[str, Any]  # the config (of its first run), seed keys left out
    label_keys: tuple[str, ...]  # the config keys that tell this sweep's configs apart
    state: str  # the runs' state, e.g. "succeeded" or "2 succeeded, 1 running"
    is_baseline: bool
    run_values: tuple[Mapping[str, float], ...]  # final value of every metric, per run
    summaries: Mapping[str, ScoreSummary]  # value and CI of each compared metric
    comparisons: Mapping[str, Comparison]  # vs the baseline; empty for the baseline itself

    @cached_property
    def values(self) -> Mapping[str, float]:
        """Final value of every metric, the mean over seeds for a replicated config.

        Computed on first use: a table shows a few metrics of a few rows, and averaging
        twenty metrics over every replicated config up front is a third of a build.
        """
        return _mean_values(self.run_values)

    @property
    def label(self) -> str:
        """Like "rank=64 scheduler=cosine": the keys that tell configs apart (or the run id)."""
        return _label(self.params, self.label_keys, self.key)


@dataclass(frozen=True)
class EffectsResult:
    """Main effects and interactions of a 2^k sweep on one metric (or why there are none)."""

    sweep: str
    metric: str
    factors: tuple[str, ...]
    effects: tuple[Effect, ...]  # largest first
    method: EffectMethod | None
    note: str  # what the SEs come from, or why no effects could be estimated


@dataclass(frozen=True)
class SweepResults:
    sweep: Sweep
    baseline: str | None  # key of the baseline config
    label_keys: tuple[str, ...]  # the config keys that tell configs apart
    configs: tuple[ConfigResult, ...]
    effects: Mapping[str, EffectsResult]  # per compared metric

    @property
    def name(self) -> str:
        return self.sweep.name


@dataclass(frozen=True)
class ResultsMatrix:
    """One view of the results: what the Results pane draws and `cockpit results` prints."""

    sweeps: tuple[SweepResults, ...]
    metrics: tuple[str, ...]  # every metric of the shown sweeps, display order
    compared: tuple[str, ...]  # metrics with CIs and comparisons in this view
    higher_is_better: Mapping[str, bool]
    family_size: int  # tested comparisons Holm corrects over together
    scope: str | None  # the sweep asked for; None: every sweep
    all_sweeps: tuple[str, ...] = ()  # every sweep there is, for the pane to cycle through
    alpha: float = stats.DEFAULT_ALPHA
    baselines: Mapping[str, str] = field(default_factory=dict)  # explicit choices, by sweep

    @property
    def metric(self) -> str | None:
        """The selected metric (the first compared one)."""
        return self.compared[0] if self.compared else None

    def comparisons(self) -> Iterable[tuple[SweepResults, ConfigResult, Comparison]]:
        for group in self.sweeps:
            for config in group.configs:
                for metric in self.compared:
                    cmp = config.comparisons.get(metric)
                    if cmp is not None:
                        yield group, config, cmp

    def find(self, key: str) -> tuple[SweepResults, ConfigResult] | None:
        for group in self.sweeps:
            for config in group.configs:
                if config.key == key or key in config.run_ids:
                    return group, config
        return None


def _unknown(what: str, name: str, known: Sequence[str], where: str = "") -> str:
    listed = ", ".join(known[:8]) + (f" and {len(known) - 8} more" if len(known) > 8 else "")
    place = f" in {where}" if where else ""
    return f"no {what} {name!r}{place} (known: {listed or 'none'})"


def metric_order(names: Iterable[str], primary: Iterable[str | None] = ()) -> tuple[str, ...]:
    """Primary metrics first, then evaluation metrics, then training diagnostics."""
    first = {p: i for i, p in enumerate(p for p in primary if p)}

    def key(name: str) -> tuple[int, int, str]:
        if name in first:
            return (0, first[name], name)
        low = name.lower()
        training = "train" in low or low in ("lr", "learning_rate", "grad_norm", "step_time")
        return (2 if training else 1, 0, name)

    return tuple(sorted(set(names), key=key))


# --------------------------------------------------------------------------- configs


@dataclass
class _Config:
    """A config while the matrix is built (mutable; frozen into ConfigResult at the end)."""

    key: str
    runs: list[Run]
    params: dict[str, Any]


_PLAIN = (str, int, float, bool, type(None))


def _config_key(config: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    items = sorted((k, v) for k, v in config.items() if k not in SEED_KEYS)
    key = tuple(items)
    try:
        hash(key)
    except TypeError:  # a list or dict value: compare those by their repr
        key = tuple((k, v if isinstance(v, _PLAIN) else repr(v)) for k, v in items)
    return key


def _group_configs(runs: Sequence[Run]) -> list[_Config]:
    groups: dict[tuple[tuple[str, Any], ...], _Config] = {}
    for run in runs:
        key = _config_key(run.spec.config)
        group = groups.get(key)
        if group is None:
            params = {k: v for k, v in run.spec.config.items() if k not in SEED_KEYS}
            groups[key] = _Config(run.id, [run], params)
        else:
            group.runs.append(run)
    return list(groups.values())


def _label_keys(sweep: Sweep, configs: Sequence[_Config]) -> tuple[str, ...]:
    if sweep.factors:
        return tuple(sweep.factors)
    keys: list[str] = []
    for c in configs:
        keys.extend(k for k in c.params if k not in keys)
    if len(configs) < 2:
        return ()
    return tuple(k for k in keys if len({repr(c.params.get(k)) for c in configs}) > 1)


def _label(params: Mapping[str, Any], keys: Sequence[str], fallback: str) -> str:
    parts = [f"{k}={params[k]}" for k in keys if k in params]
    return " ".join(parts) or fallback


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


def _item_task(metric: str, tasks: Iterable[str], item_metric: Mapping[str, str]) -> str | None:
    """The eval_items task whose per-item scores are this metric's, if any.

    "mmlu" backs "mmlu", "mmlu_acc" and "mmlu/acc"; lm-eval's filtered task "gsm8k,strict"
    backs "gsm8k/exact_match,strict". Where the importer recorded which per-item metric a
    task was scored by, only that metric matches. The longest task name wins.
    """
    best: str | None = None
    for task in tasks:
        base, _, filt = task.partition(",")
        scored_by = item_metric.get(task)
        ok = metric == task
        for sep in ("_", "/"):
            prefix = base + sep
            if not ok and metric.startswith(prefix):
                name, _, mfilt = metric[len(prefix) :].partition(",")
                ok = mfilt == filt and (scored_by is None or name == scored_by)
        if ok and (best is None or len(task) > len(best)):
            best = task
    return best


class _Scores:
    """Scores of configs per metric, computed once per build."""

    def __init__(self, data: ResultsData) -> None:
        self.data = data
        self._cache: dict[tuple[str, str], stats.Scores | None] = {}

    def of(self, config: _Config, metric: str) -> stats.Scores | None:
        key = (config.key, metric)
        if key not in self._cache:
            self._cache[key] = self._compute(config, metric)
        return self._cache[key]

    def _compute(self, config: _Config, metric: str) -> stats.Scores | None:
        finals = self.data.finals
        if len(config.runs) == 1:
            run = config.runs[0]
            final = finals.get(run.id, {}).get(metric)
            items = self._items(run, metric, final)
            if items is not None:
                return items
            seeds = run.provenance.get("seeds")
            if isinstance(seeds, dict):
                values = _clean(seeds.get(metric))
                if len(values) >= 2:
                    return values
            return None if final is None or math.isnan(final) else float(final)
        values = _clean(finals.get(r.id, {}).get(metric) for r in config.runs)
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    def _items(self, run: Run, metric: str, final: float | None) -> Mapping[str, float] | None:
        tasks = self.data.items.get(run.id)
        if not tasks:
            return None
        item_metric = run.provenance.get("item_metric")
        task = _item_task(metric, tasks, item_metric if isinstance(item_metric, dict) else {})
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


def _summary(config: _Config, metric: str, scores: stats.Scores | None) -> ScoreSummary | None:
    if scores is None:
        return None
    if isinstance(scores, int | float):
        # One number: a CI only from an SE its importer kept (lm-eval's acc_stderr).
        run = config.runs[0]
        stderr = run.provenance.get("metric_stderr")
        se = stderr.get(metric) if isinstance(stderr, dict) else None
        counts = run.provenance.get("sample_counts")
        n = counts.get(metric, 1) if isinstance(counts, dict) else 1
        value = float(scores)
        if isinstance(se, int | float) and not isinstance(se, bool) and se > 0:
            half = _Z95 * se
            return ScoreSummary(value, float(se), value - half, value + half, n, "reported SE")
        return ScoreSummary(value, math.nan, math.nan, math.nan, 1, "none")
    return stats.summarize_scores(scores, CONFIDENCE)


def _comparable(b: stats.Scores, c: stats.Scores) -> tuple[stats.Scores, stats.Scores]:
    """Make two configs' scores the same shape: paired only when both have items."""
    if isinstance(b, Mapping) and isinstance(c, Mapping):
        return b, c
    return _collapse(b), _collapse(c)


def _collapse(s: stats.Scores) -> float | list[float]:
    if isinstance(s, Mapping):
        return math.fsum(s.values()) / len(s)
    if isinstance(s, int | float):
        return float(s)
    values = list(s)
    return values[0] if len(values) == 1 else values


def _no_test(
    metric: str, baseline: str, candidate: str, hib: bool, alpha: float, note: str, **known: Any
) -> Comparison:
    """A comparison that could not be made at all (a side has no value): not enough data."""
    fields: dict[str, Any] = dict(
        metric=metric,
        baseline=baseline,
        candidate=candidate,
        kind=DataKind.SINGLE,
        test=StatTest.NONE,
        statistic=None,
        p_value=None,
        p_adjusted=None,
        delta=None,
        ci_low=None,
        ci_high=None,
        se=None,
        n=0,
        n_baseline=0,
        n_candidate=0,
        baseline_mean=None,
        candidate_mean=None,
        mde=None,
        verdict=Verdict.NOT_ENOUGH_DATA,
        higher_is_better=hib,
        alpha=alpha,
        underpowered=True,
        note=note,
    )
    fields.update(known)
    return Comparison(**fields)


_SINGLE_TEMPLATE: dict[str, Any] = {}


def _single(
    b: float,
    c: float,
    metric: str,
    baseline: str,
    candidate: str,
    hib: bool,
    alpha: float,
    spec: Mapping[str, float] | None,
) -> Comparison:
    """One number on each side: what stats.compare returns there, without numpy per cell.

    At 10,000 configs the general path's array round trip, and even Comparison's 25-field
    __init__, are most of the build time, so the fields are filled from a template (the
    dataclass has no __post_init__ to skip). tests/test_results.py checks that the result
    equals stats.compare's for single values.
    """
    if not _SINGLE_TEMPLATE:
        proto = Comparison(
            metric="",
            baseline="",
            candidate="",
            kind=DataKind.SINGLE,
            test=StatTest.NONE,
            statistic=None,
            p_value=None,
            p_adjusted=None,
            delta=None,
            ci_low=None,
            ci_high=None,
            se=None,
            n=2,
            n_baseline=1,
            n_candidate=1,
            baseline_mean=None,
            candidate_mean=None,
            mde=None,
            verdict=Verdict.SINGLE_RUN,
            note="one value per config: no test possible",
        )
        _SINGLE_TEMPLATE.update(proto.__dict__)
    fields = dict(_SINGLE_TEMPLATE)
    fields.update(
        metric=metric,
        baseline=baseline,
        candidate=candidate,
        delta=c - b,
        baseline_mean=b,
        candidate_mean=c,
        higher_is_better=hib,
        alpha=alpha,
    )
    if spec:
        fields["flags"] = stats.threshold_flags(c - b, c, spec, higher_is_better=hib)
    cmp = object.__new__(Comparison)
    cmp.__dict__.update(fields)
    return cmp


def _compare(
    b: stats.Scores,
    c: stats.Scores,
    *,
    metric: str,
    baseline: str,
    candidate: str,
    hib: bool,
    alpha: float,
    test: StatTest | None,
    cache: Any,
    spec: Mapping[str, float] | None,
) -> Comparison:
    """The test without a verdict: the verdict waits for Holm across the whole view."""
    if type(b) is not float or type(c) is not float:
        b, c = _comparable(b, c)
    if isinstance(b, float) and isinstance(c, float) and test is None:
        return _single(b, c, metric, baseline, candidate, hib, alpha, spec)
    kwargs: dict[str, Any] = dict(
        metric=metric,
        baseline_name=baseline,
        candidate_name=candidate,
        paired=None,
        higher_is_better=hib,
        alpha=alpha,
        confidence=CONFIDENCE,
        n_boot=stats.DEFAULT_N_BOOT,
        seed=0,
        cache=cache,
    )
    # stats has no public "compare without deciding": compare()/compare_all() decide with
    # their own Holm family, and this view's family spans sweeps with different thresholds.
    if test is not None:
        try:
            return stats._compare_raw(b, c, test=test, **kwargs)
        except ValueError:
            pass  # the chosen test does not fit this data: fall back to the default one
    return stats._compare_raw(b, c, test=None, **kwargs)


def _decide_all(raw: list[tuple[Mapping[str, Any], Comparison]]) -> list[Comparison]:
    """Holm over every tested comparison in ``raw``, then verdicts with each sweep's thresholds.

    adjust_comparisons takes one thresholds mapping; calling it on all tested comparisons
    once per distinct thresholds spec keeps Holm's family the whole view while each
    comparison is judged by its own sweep's thresholds. Untested comparisons keep what they
    were built with (their threshold flags included), except those stats built, which
    adjust_comparisons flags as it would in any view.
    """
    out: list[Comparison] = [c for _, c in raw]
    tested = [i for i, (_, c) in enumerate(raw) if c.p_value is not None]
    groups: dict[str, tuple[Mapping[str, Any], set[int]]] = {}
    spec_keys: dict[int, str] = {}  # sweeps with equal thresholds share one pass
    for i, (thresholds, cmp) in enumerate(raw):
        if cmp.p_value is not None:
            key = spec_keys.get(id(thresholds))
            if key is None:
                key = json.dumps(thresholds, sort_keys=True, default=repr)
                spec_keys[id(thresholds)] = key
            groups.setdefault(key, (thresholds, set()))[1].add(i)
        elif cmp.test is not StatTest.NONE or cmp.kind is not DataKind.SINGLE:
            (decided,) = stats.adjust_comparisons([cmp], thresholds)
            out[i] = decided
    for thresholds, indices in groups.values():
        decided_all = stats.adjust_comparisons([raw[i][1] for i in tested], thresholds)
        for i, cmp in zip(tested, decided_all, strict=True):
            if i in indices:
                out[i] = cmp
    return out


# --------------------------------------------------------------------------- effects


def _effects(
    sweep: Sweep, configs: Sequence[_Config], metric: str, scores: _Scores
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
            s = scores.of(configs[index], metric)
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
                collapsed = _collapse(s)
                values.extend(collapsed if isinstance(collapsed, list) else [collapsed])
            flat.append(values)
        replicated = any(len(v) > 1 for v in flat)
        responses = flat if replicated else [v[0] for v in flat]
    try:
        effects = stats.factorial_effects(responses, list(factors), per_item=per_item)
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
    """No cyclic GC while the matrix is built.

    Building allocates tens of thousands of small objects at 10,000 configs, which sets off
    collections that rescan the whole snapshot (a quarter of the build time). Nothing built
    here is cyclic garbage, so postponing the collector for the build loses nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
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
    alpha: float = stats.DEFAULT_ALPHA,
) -> ResultsMatrix:
    """One view of the results.

    ``sweep``: one sweep, or None for all of them (grouped). ``metric``: the metric (or
    metrics) to compare; None picks the first sweep's primary metric (or the first metric);
    ``all_metrics`` compares every metric instead. ``baselines``: sweep -> run id overriding
    the sweep's baseline.
    ``test`` overrides the test where it fits the data (else the default is used).
    Raises ResultsError for an unknown sweep, metric or baseline.
    """
    with _gc_paused():
        return _build_matrix(data, sweep, metric, all_metrics, baselines, test, alpha)


def _build_matrix(
    data: ResultsData,
    sweep: str | None,
    metric: str | Sequence[str] | None,
    all_metrics: bool,
    baselines: Mapping[str, str] | None,
    test: StatTest | str | None,
    alpha: float,
) -> ResultsMatrix:
    known = [s.name for s in data.sweeps]
    if sweep is not None and sweep not in known:
        raise ResultsError(_unknown("sweep", sweep, known))
    shown = [s for s in data.sweeps if sweep is None or s.name == sweep]
    runs_by_sweep: dict[str, list[Run]] = {s.name: [] for s in shown}
    for run in data.runs:
        if run.spec.sweep in runs_by_sweep:
            runs_by_sweep[run.spec.sweep].append(run)
    configs_by_sweep = {name: _group_configs(runs) for name, runs in runs_by_sweep.items()}

    names: set[str] = set()
    for runs in runs_by_sweep.values():
        for run in runs:
            names.update(data.finals.get(run.id, ()))
    metrics = metric_order(names, (s.primary_metric for s in shown))
    wanted = [metric] if isinstance(metric, str) else list(metric or ())
    for m in wanted:
        if m not in names:
            where = f"sweep {sweep!r}" if sweep else "any sweep"
            raise ResultsError(_unknown("metric", m, list(metrics), where=where))
    if all_metrics:
        compared = metrics
    elif wanted:
        compared = tuple(dict.fromkeys(wanted))
    else:
        compared = metrics[:1]

    hib = _directions(data, runs_by_sweep, metrics)
    overrides = dict(baselines or {})
    baseline_keys = {
        s.name: _baseline(s, configs_by_sweep[s.name], overrides.get(s.name)) for s in shown
    }
    for name, run_id in overrides.items():
        if name in runs_by_sweep and baseline_keys.get(name) is None:
            raise ResultsError(f"no run {run_id!r} in sweep {name!r}")
    chosen_test = StatTest(test) if test is not None else None
    specs: dict[tuple[str, str], Mapping[str, float] | None] = {}
    for s in shown:
        for m in compared:
            try:
                specs[(s.name, m)] = stats.threshold_for(m, s.thresholds)
            except ValueError as exc:
                raise ResultsError(f"sweep {s.name}: {exc}") from None

    scores = _Scores(data)
    raw: list[tuple[Mapping[str, Any], Comparison]] = []
    where: list[tuple[str, str, str]] = []  # (sweep, config key, metric) of each raw entry
    for s in shown:
        configs = configs_by_sweep[s.name]
        base_key = baseline_keys[s.name]
        base = next((c for c in configs if c.key == base_key), None)
        if base is None:
            continue
        for m in compared:
            cache = stats._BaselineCache()
            spec = specs[(s.name, m)]
            b = scores.of(base, m)
            for config in configs:
                if config is base:
                    continue
                c = scores.of(config, m)
                if b is None or c is None:
                    missing = base.key if b is None else config.key
                    running = any(
                        not r.state.terminal for r in (base if b is None else config).runs
                    )
                    note = f"{missing} has no {m}" + (" yet (still running)" if running else "")
                    cmp = _no_test(m, base.key, config.key, hib[m], alpha, note)
                    if spec and c is not None:
                        # The value is known, so a floor ("min"/"max") can still be crossed.
                        value = _collapse(c)
                        mean = value if isinstance(value, float) else math.fsum(value) / len(value)
                        flags = stats.threshold_flags(None, mean, spec, higher_is_better=hib[m])
                        cmp = dataclasses.replace(cmp, candidate_mean=mean, flags=flags)
                else:
                    cmp = _compare(
                        b,
                        c,
                        metric=m,
                        baseline=base.key,
                        candidate=config.key,
                        hib=hib[m],
                        alpha=alpha,
                        test=chosen_test,
                        cache=cache,
                        spec=spec,
                    )
                raw.append((s.thresholds, cmp))
                where.append((s.name, config.key, m))
    decided = _decide_all(raw)
    by_config: dict[tuple[str, str], dict[str, Comparison]] = {}
    for (sweep_name, key, m), cmp in zip(where, decided, strict=True):
        by_config.setdefault((sweep_name, key), {})[m] = cmp

    groups: list[SweepResults] = []
    for s in shown:
        configs = configs_by_sweep[s.name]
        label_keys = _label_keys(s, configs)
        results = tuple(
            ConfigResult(
                sweep=s.name,
                key=c.key,
                run_ids=(c.key,) if len(c.runs) == 1 else tuple(r.id for r in c.runs),
                params=c.params,
                label_keys=label_keys,
                state=_state(c.runs),
                is_baseline=c.key == baseline_keys[s.name],
                run_values=tuple(data.finals.get(r.id, {}) for r in c.runs),
                summaries={
                    m: summary
                    for m in compared
                    if (summary := _summary(c, m, scores.of(c, m))) is not None
                },
                comparisons=by_config.get((s.name, c.key), {}),
            )
            for c in configs
        )
        effects = {m: _effects(s, configs, m, scores) for m in compared}
        groups.append(
            SweepResults(
                sweep=s,
                baseline=baseline_keys[s.name],
                label_keys=label_keys,
                configs=results,
                effects=effects,
            )
        )
    return ResultsMatrix(
        sweeps=tuple(groups),
        metrics=metrics,
        compared=compared,
        higher_is_better=hib,
        family_size=sum(1 for c in decided if c.p_value is not None),
        scope=sweep,
        all_sweeps=tuple(known),
        alpha=alpha,
        baselines=overrides,
    )


def _mean_values(run_values: Sequence[Mapping[str, float]]) -> Mapping[str, float]:
    if len(run_values) == 1:
        return run_values[0]
    sums: dict[str, list[float]] = {}
    for finals in run_values:
        for name, value in finals.items():
            if value is not None and not math.isnan(value):
                sums.setdefault(name, []).append(value)
    return {name: math.fsum(v) / len(v) for name, v in sums.items()}


def _directions(
    data: ResultsData, runs_by_sweep: Mapping[str, Sequence[Run]], metrics: Sequence[str]
) -> dict[str, bool]:
    """Higher-is-better per metric: what an importer recorded, else a guess from the name."""
    recorded: dict[str, bool] = {}
    for runs in runs_by_sweep.values():
        for run in runs:
            hib = run.provenance.get("higher_is_better")
            if isinstance(hib, dict):
                for name, value in hib.items():
                    if isinstance(value, bool):
                        recorded.setdefault(name, value)
    out: dict[str, bool] = {}
    for m in metrics:
        guess = guess_higher_is_better(m)
        out[m] = recorded.get(m, True if guess is None else guess)
    return out


def _baseline(sweep: Sweep, configs: Sequence[_Config], override: str | None) -> str | None:
    """Key of the baseline config: the override, the sweep's, an importer's mark, the first."""

    def owner(run_id: str | None) -> str | None:
        if run_id is None:
            return None
        for c in configs:
            if c.key == run_id or any(r.id == run_id for r in c.runs):
                return c.key
        return None

    if override is not None:
        return owner(override)
    found = owner(sweep.baseline)
    if found is not None:
        return found
    for c in configs:
        if any(r.provenance.get("is_baseline") is True for r in c.runs):
            return c.key
    return configs[0].key if configs else None


def results_matrix(
    store: Store,
    *,
    sweep: str | None = None,
    metric: str | Sequence[str] | None = None,
    all_metrics: bool = False,
    baseline: str | None = None,
    test: StatTest | str | None = None,
) -> ResultsMatrix:
    """Load and build in one go (the CLI and the exporters): ``baseline`` is a run id."""
    data = load_results_data(store, sweep)
    baselines: dict[str, str] = {}
    if baseline is not None:
        owner = next((r.spec.sweep for r in data.runs if r.id == baseline), None)
        if owner is None:
            where = f" in sweep {sweep!r}" if sweep else ""
            raise ResultsError(f"no run {baseline!r}{where} to use as the baseline")
        baselines[owner] = baseline
    return build_matrix(
        data, sweep=sweep, metric=metric, all_metrics=all_metrics, baselines=baselines, test=test
    )


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
    "results_matrix",
]
