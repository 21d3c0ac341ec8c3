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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
    # Per compared metric: the largest |delta| or |CI bound| of the comparisons, the
    # half-width of an axis that shows them all (the pane's forest plot).
    spans: Mapping[str, float] = field(default_factory=dict)

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


def _config_scores(data: ResultsData, config: _Config, metric: str) -> stats.Scores | None:
    """A config's scores on ``metric``: per-item scores, per-seed values, one number or None."""
    finals = data.finals
    if len(config.runs) == 1:
        run = config.runs[0]
        final = finals.get(run.id, {}).get(metric)
        items = _run_items(data, run, metric, final)
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


def _run_items(
    data: ResultsData, run: Run, metric: str, final: float | None
) -> Mapping[str, float] | None:
    tasks = data.items.get(run.id)
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


_SINGLE_TEMPLATE: dict[str, Any] = {}


def _single_template(
    metric: str, baseline: str, hib: bool, alpha: float, b: float
) -> dict[str, Any]:
    """A single-number comparison's fields but the candidate's (candidate, delta, its mean)."""
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
        metric=metric, baseline=baseline, baseline_mean=b, higher_is_better=hib, alpha=alpha
    )
    return fields


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
    equals stats.compare's for single values; _raw_comparisons inlines the same for a sweep.
    """
    fields = _single_template(metric, baseline, hib, alpha, b)
    fields.update(candidate=candidate, delta=c - b, candidate_mean=c)
    if spec:
        fields["flags"] = stats.threshold_flags(c - b, c, spec, higher_is_better=hib)
    return stats._make(Comparison, fields)


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
    if isinstance(b, float) and isinstance(c, float):
        # No test fits one number a side: one asked for falls back to none, as stats would,
        # and the threshold flags are the same either way.
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
    """A side has no value on ``m``: not enough data, and why (still running?)."""
    missing = base.key if b is None else config.key
    running = any(not r.state.terminal for r in (base if b is None else config).runs)
    note = f"{missing} has no {m}" + (" yet (still running)" if running else "")
    cmp = stats.no_comparison(m, base.key, config.key, hib, alpha, note)
    if spec and c is not None:
        # The value is known, so a floor ("min"/"max") can still be crossed.
        value = _collapse(c)
        mean = value if isinstance(value, float) else math.fsum(value) / len(value)
        flags = stats.threshold_flags(None, mean, spec, higher_is_better=hib)
        cmp = dataclasses.replace(cmp, candidate_mean=mean, flags=flags)
    return cmp


@dataclass(frozen=True)
class _Raw:
    """One sweep's comparisons on one metric before Holm, and what deciding them needs."""

    cmps: list[Comparison | None]  # aligned with the sweep's configs; None at the baseline
    tested: list[int]  # indices of those with a p-value
    flagged: list[int]  # indices of those stats built without a test: flagged on deciding
    span: float  # the largest |delta| or |CI bound|: half the forest plot's axis


def _raw_comparisons(
    prep: _SweepPrep,
    m: str,
    scores: Sequence[stats.Scores | None],
    base_index: int,
    *,
    hib: bool,
    alpha: float,
    test: StatTest | None,
    spec: Mapping[str, float] | None,
) -> _Raw:
    """Every config of a sweep against its baseline on ``m``, before Holm and verdicts.

    The common shapes go in bulk: one number a side (no test possible) from a template, as
    :func:`_single` does, and per-seed values through one vectorised Welch
    (stats._compare_seeds_many). Per-item scores, and any test asked for other than Welch,
    go one comparison at a time.
    """
    configs = prep.configs
    base = configs[base_index]
    b = scores[base_index]
    out: list[Comparison | None] = [None] * len(configs)
    b_flat = _collapse(b) if b is not None and not isinstance(b, Mapping) else None
    welch = isinstance(b_flat, list) and test in (None, StatTest.WELCH_T)
    seeds: list[int] = []
    others: list[int] = []  # built by stats (or not enough data): checked below
    cache = stats._BaselineCache()
    span = 0.0
    if type(b_flat) is float:
        template = _single_template(m, base.key, hib, alpha, b_flat)
        max_drop = spec.get("max_drop") if spec else None
        bounds = bool(spec) and ("min" in spec or "max" in spec)  # type: ignore[operator]
    make = stats._make
    for i, c in enumerate(scores):
        if i == base_index:
            continue
        if type(c) is float and type(b_flat) is float:
            # No test fits one number a side, whatever test was asked for: as _single.
            delta = c - b_flat
            fields = template.copy()
            fields["candidate"] = configs[i].key
            fields["delta"] = delta
            fields["candidate_mean"] = c
            if bounds or (max_drop is not None and (-delta if hib else delta) > max_drop):
                fields["flags"] = stats.threshold_flags(delta, c, spec, higher_is_better=hib)
            out[i] = make(Comparison, fields)
            if abs(delta) > span:  # a NaN never is
                span = abs(delta)
        elif b is None or c is None:
            out[i] = _missing(m, base, configs[i], b, c, hib, alpha, spec)
        elif welch and type(c) is list:
            seeds.append(i)
        else:
            others.append(i)
            out[i] = _compare(
                b,
                c,
                metric=m,
                baseline=base.key,
                candidate=configs[i].key,
                hib=hib,
                alpha=alpha,
                test=test,
                cache=cache,
                spec=spec,
            )
    if seeds:
        bulk = stats._compare_seeds_many(
            b_flat,  # type: ignore[arg-type]
            [scores[i] for i in seeds],  # type: ignore[misc]
            metric=m,
            baseline_name=base.key,
            candidate_names=[configs[i].key for i in seeds],
            higher_is_better=hib,
            alpha=alpha,
            confidence=CONFIDENCE,
        )
        for i, cmp in zip(seeds, bulk, strict=True):
            out[i] = cmp
        others += seeds
    tested: list[int] = []
    flagged: list[int] = []
    for i in sorted(others):
        cmp = out[i]
        assert cmp is not None
        if cmp.p_value is not None:
            tested.append(i)
        elif cmp.test is not StatTest.NONE or cmp.kind is not DataKind.SINGLE:
            flagged.append(i)
        for x in (cmp.ci_low, cmp.ci_high, cmp.delta):
            if x is not None and abs(x) > span:
                span = abs(x)
    return _Raw(out, tested, flagged, span)


def _decide_view(
    raws: Sequence[tuple[_Raw, Mapping[str, float] | None]],
) -> tuple[list[list[Comparison | None]], int]:
    """Holm over every tested comparison of the view, then verdicts with each one's spec.

    ``raws`` holds, per (sweep, metric) of the view, its raw comparisons and the sweep's
    threshold spec for that metric: Holm's family is the whole view while each comparison is
    judged by its own sweep's thresholds. Untested comparisons keep what they were built
    with (their flags included), except those stats built (too few seeds or items), which
    get flagged as they would in any view. Returns the decided lists and the family size.
    """
    decided: list[list[Comparison | None]] = []
    tested: list[tuple[int, int]] = []
    pvalues: list[float] = []
    family = 0
    decide = stats._decide
    for j, (raw, spec) in enumerate(raws):
        cmps = raw.cmps
        out = list(cmps) if raw.tested or raw.flagged else cmps
        decided.append(out)
        for i in raw.flagged:
            out[i] = decide(cmps[i], None, spec)  # type: ignore[arg-type]
        for i in raw.tested:
            p = cmps[i].p_value  # type: ignore[union-attr]
            family += 1
            if math.isnan(p):  # type: ignore[arg-type]  # holm_correct leaves a NaN out
                out[i] = decide(cmps[i], None, spec)  # type: ignore[arg-type]
            else:
                tested.append((j, i))
                pvalues.append(p)  # type: ignore[arg-type]
    if tested:
        adjusted = stats.holm_correct_array(pvalues).tolist()
        for (j, i), p in zip(tested, adjusted, strict=True):
            decided[j][i] = decide(raws[j][0].cmps[i], p, raws[j][1])  # type: ignore[arg-type]
    return decided, family


# --------------------------------------------------------------------------- effects


def _effects(
    sweep: Sweep,
    configs: Sequence[_Config],
    metric: str,
    scores: Sequence[stats.Scores | None],
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
    """No cyclic GC while the matrix is built, and none of its objects scanned as young after.

    Building allocates tens of thousands of small objects at 10,000 configs, which sets off
    collections that rescan the whole snapshot (a quarter of the build time). Nothing built
    here is cyclic garbage, so postponing the collector for the build loses nothing. Merely
    re-enabling it would pay the same scan at once (30 to 70 ms after each build, on the
    event loop if it is the next to allocate): gc.freeze() then gc.unfreeze() moves what
    survives straight to the oldest generation, whose (rare) full collections still find
    any cycle among it. Garbage is freed by reference counting as ever.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
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
    marks = {owner[r.id] for r in runs if r.provenance.get("is_baseline") is True}
    marked = next((c.key for c in configs if c.key in marks), None) if marks else None
    statics: list[dict[str, Any]] = []
    plain: list[bool] = []
    name = sweep.name
    for c in configs:
        key, runs_c = c.key, c.runs
        first = runs_c[0]
        prov = first.provenance
        single = len(runs_c) == 1
        plain.append(
            single
            and not (items and items.get(key))
            and not (
                prov
                and (
                    isinstance(prov.get("seeds"), dict)
                    or isinstance(prov.get("metric_stderr"), dict)
                )
            )
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
            }
        )
    return _SweepPrep(sweep, runs, configs, label_keys, names, owner, marked, statics, plain)


def _scores_and_summaries(
    data: ResultsData, prep: _SweepPrep, metric: str
) -> tuple[list[stats.Scores | None], list[ScoreSummary | None]]:
    """Every config's scores on ``metric`` and their value with its CI, in bulk.

    The common shapes skip the general code: a plain single run is a dict lookup and a
    summary from a template; per-seed values are summarised together (stats.summarize_many).
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
                stats._make(
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
        s = _config_scores(data, config, metric)
        scores.append(s)
        if type(s) is list:
            seeds.append(i)
            summaries.append(None)
        else:
            summaries.append(_summary(config, metric, s))
    if seeds:
        for i, summary in zip(
            seeds,
            stats.summarize_many([scores[i] for i in seeds], CONFIDENCE),
            strict=True,  # type: ignore[misc]
        ):
            summaries[i] = summary
    return scores, summaries


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
    memo = data.memo
    shown_sweeps = [s for s in data.sweeps if sweep is None or s.name == sweep]
    shown = [memo.fixed(("sweep", s.name), lambda s=s: _sweep_prep(data, s)) for s in shown_sweeps]

    names: set[str] = set()
    for prep in shown:
        names |= prep.names
    metrics, hib = memo.fixed(("scope", sweep), lambda: _scope(shown, names))
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

    overrides = dict(baselines or {})
    baseline_keys = {prep.name: _baseline(prep, overrides.get(prep.name)) for prep in shown}
    for name, run_id in overrides.items():
        if name in baseline_keys and baseline_keys.get(name) is None:
            raise ResultsError(f"no run {run_id!r} in sweep {name!r}")
    chosen_test = StatTest(test) if test is not None else None
    specs: dict[tuple[str, str], Mapping[str, float] | None] = {}
    for prep in shown:
        for m in compared:
            try:
                specs[(prep.name, m)] = stats.threshold_for(m, prep.sweep.thresholds)
            except ValueError as exc:
                raise ResultsError(f"sweep {prep.name}: {exc}") from None

    def per_metric(prep: _SweepPrep, m: str) -> tuple[list[Any], list[ScoreSummary | None]]:
        return memo.lru(  # type: ignore[no-any-return]
            ("metric", prep.name, m),
            len(prep.configs),
            lambda: _scores_and_summaries(data, prep, m),
        )

    raws: list[tuple[_Raw, Mapping[str, float] | None]] = []
    where: list[tuple[int, str]] = []  # (index into shown, metric) of each entry of raws
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
                return _raw_comparisons(
                    prep,
                    m,
                    per_metric(prep, m)[0],
                    base_index,
                    hib=hib[m],
                    alpha=alpha,
                    test=chosen_test,
                    spec=spec,
                )

            # Which way is better can differ by view (an importer's record in another sweep).
            key = ("raw", prep.name, m, base_key, hib[m], chosen_test, alpha)
            raws.append((memo.lru(key, len(prep.configs), compute), spec))
            where.append((k, m))
    decided, family_size = _decide_view(raws)
    by_sweep: dict[int, list[tuple[str, list[Comparison | None]]]] = {}
    spans: dict[int, dict[str, float]] = {}
    for (k, m), cmps, (raw, _) in zip(where, decided, raws, strict=True):
        by_sweep.setdefault(k, []).append((m, cmps))
        spans.setdefault(k, {})[m] = raw.span

    groups: list[SweepResults] = []
    for k, prep in enumerate(shown):
        base_key = baseline_keys[prep.name]
        columns = by_sweep.get(k, [])
        sums = [(m, per_metric(prep, m)[1]) for m in compared]
        results: list[ConfigResult] = []
        make = stats._make
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
                ("effects", prep.name, m),
                1,
                lambda prep=prep, m=m: _effects(
                    prep.sweep, prep.configs, m, per_metric(prep, m)[0]
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
        family_size=family_size,
        scope=sweep,
        all_sweeps=tuple(known),
        alpha=alpha,
        baselines=overrides,
    )


def _scope(shown: Sequence[_SweepPrep], names: set[str]) -> tuple[tuple[str, ...], dict[str, bool]]:
    """The metrics of a view, display order, and which way each is better."""
    metrics = metric_order(names, (prep.sweep.primary_metric for prep in shown))
    return metrics, _directions([prep.runs for prep in shown], metrics)


def _mean_values(run_values: Sequence[Mapping[str, float]]) -> Mapping[str, float]:
    if len(run_values) == 1:
        return run_values[0]
    sums: dict[str, list[float]] = {}
    for finals in run_values:
        for name, value in finals.items():
            if value is not None and not math.isnan(value):
                sums.setdefault(name, []).append(value)
    return {name: math.fsum(v) / len(v) for name, v in sums.items()}


def _directions(runs_by_sweep: Iterable[Sequence[Run]], metrics: Sequence[str]) -> dict[str, bool]:
    """Higher-is-better per metric: what an importer recorded, else a guess from the name."""
    recorded: dict[str, bool] = {}
    for runs in runs_by_sweep:
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


def _baseline(prep: _SweepPrep, override: str | None) -> str | None:
    """Key of the baseline config: the override, the sweep's, an importer's mark, the first."""
    if override is not None:
        return prep.owner.get(override)
    found = prep.owner.get(prep.sweep.baseline) if prep.sweep.baseline is not None else None
    if found is not None:
        return found
    if prep.marked is not None:
        return prep.marked
    return prep.configs[0].key if prep.configs else None


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
