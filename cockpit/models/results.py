"""The view models of results: what stats computes, what the Results pane and exporters draw.

Plain frozen dataclasses and enums, no numpy or scipy: widgets import these types, and the
app must not pay for statistics at start-up. cockpit.stats fills Comparison, ScoreSummary and
Effect; cockpit.results puts them into a ResultsMatrix.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from cockpit.models.runs import Sweep

# The significance level a view uses unless asked for another: the one default of the cockpit.
DEFAULT_ALPHA = 0.05
# The confidence of every CI the cockpit shows.
DEFAULT_CONFIDENCE = 0.95


class Verdict(enum.StrEnum):
    BETTER = "better"
    WORSE = "worse"
    NO_DIFFERENCE = "no significant difference"
    NOT_ENOUGH_DATA = "not enough data"
    NO_BASELINE_VALUE = "baseline has no value"
    SINGLE_RUN = "single run, no test possible"


class DataKind(enum.StrEnum):
    """What the scores of one comparison are, which decides the test."""

    PAIRED_BINARY = "paired-binary"  # 0/1 correctness on the same items
    PAIRED_CONTINUOUS = "paired-continuous"  # continuous scores on the same items
    SEEDS = "seeds"  # independent repeated runs (seeds) per config
    SINGLE = "single"  # one number per config


class StatTest(enum.StrEnum):
    MCNEMAR_EXACT = "McNemar exact"
    PAIRED_T = "paired t"
    WILCOXON = "Wilcoxon signed-rank"
    PAIRED_BOOTSTRAP = "paired bootstrap"
    WELCH_T = "Welch t"
    MANN_WHITNEY = "Mann-Whitney U"
    NONE = "none"


class EffectMethod(enum.StrEnum):
    """How the standard error of a factorial effect was obtained."""

    PAIRED_ITEMS = "per-item contrasts"
    POOLED_REPLICATES = "pooled replicate variance"
    LENTH_PSE = "Lenth pseudo-SE"


@dataclass(frozen=True)
class ScoreSummary:
    """One config's score with its uncertainty: Wilson CI for proportions, t CI otherwise."""

    mean: float
    se: float
    ci_low: float
    ci_high: float
    n: int
    method: str  # "wilson", "t", "t, clipped to [0, 1]", "reported SE" or "none"
    # Values at the run's budget of a count-to-target metric: the target was never reached,
    # so the true value is at least ``budget`` and the mean is only a lower bound.
    censored: int = 0
    budget: float | None = None


@dataclass(frozen=True)
class Comparison:
    """Candidate vs baseline on one metric, with the test, CI and verdict."""

    metric: str
    baseline: str
    candidate: str
    kind: DataKind
    test: StatTest
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None  # Holm-adjusted across the comparisons shown together
    delta: float | None  # candidate - baseline
    ci_low: float | None
    ci_high: float | None
    se: float | None  # standard error of delta
    n: int  # paired items, or seeds in both groups together
    n_baseline: int
    n_candidate: int
    baseline_mean: float | None
    candidate_mean: float | None
    mde: float | None  # minimum detectable effect (power 0.8) at this sample size
    verdict: Verdict
    higher_is_better: bool = True
    alpha: float = DEFAULT_ALPHA
    underpowered: bool = False  # the test could not reach alpha at this n, whatever the data
    flags: tuple[str, ...] = ()  # user-threshold violations, e.g. "drop 0.061 > max_drop 0.05"
    note: str = ""  # one line for the UI: why this test, why this verdict


@dataclass(frozen=True)
class Effect:
    """A main effect or interaction of a 2^k factorial design."""

    name: str  # "A", "AB" for one-letter factors, "lr:warmup" otherwise
    factors: tuple[str, ...]
    estimate: float
    se: float | None
    method: EffectMethod
    df: float | None
    t: float | None
    p_value: float | None
    p_adjusted: float | None  # Holm across the effects of this design
    # p_adjusted <= the alpha it was estimated with: decided here, not by whoever draws it.
    significant: bool = False


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
    # What a reader must know about this config's runs: duplicates counted once, runs left
    # out of the statistics because they failed or are still running.
    notes: tuple[str, ...] = ()

    @cached_property
    def values(self) -> Mapping[str, float]:
        """Final value of every metric, the mean over seeds for a replicated config.

        Computed on first use: a table shows a few metrics of a few rows, and averaging
        twenty metrics over every replicated config up front is a third of a build.
        """
        return mean_over_runs(self.run_values)

    @property
    def label(self) -> str:
        """Like "rank=64 scheduler=cosine": the keys that tell configs apart (or the run id)."""
        return config_label(self.params, self.label_keys, self.key)


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

    @property
    def baseline_config(self) -> ConfigResult | None:
        """The sweep's baseline config, if it has one in this view."""
        return next((c for c in self.configs if c.is_baseline), None)


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
    alpha: float = DEFAULT_ALPHA
    baselines: Mapping[str, str] = field(default_factory=dict)  # explicit choices, by sweep
    # Per metric, where its direction came from: "user", "spec", "file", "name", "default"
    # (nothing said: higher assumed) or "hyperparameter" (a logged setting, not compared).
    direction_sources: Mapping[str, str] = field(default_factory=dict)

    def direction_text(self, metric: str) -> str:
        """ "lower is better (name)": which way, and who said so."""
        source = self.direction_sources.get(metric, "default")
        if source == "hyperparameter":
            return "a hyperparameter, not an outcome"
        word = "higher" if self.higher_is_better.get(metric, True) else "lower"
        return f"{word} is better ({source})"

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


def mean_over_runs(run_values: Sequence[Mapping[str, float]]) -> Mapping[str, float]:
    """Each metric's mean over the runs that report it (the one run's values as they are)."""
    if len(run_values) == 1:
        return run_values[0]
    sums: dict[str, list[float]] = {}
    for finals in run_values:
        for name, value in finals.items():
            if value is not None and not math.isnan(value):
                sums.setdefault(name, []).append(value)
    return {name: math.fsum(v) / len(v) for name, v in sums.items()}


def config_label(params: Mapping[str, Any], keys: Sequence[str], fallback: str) -> str:
    """ "k=v k=v" for the keys that tell configs apart, or ``fallback`` when none do."""
    parts = [f"{k}={params[k]}" for k in keys if k in params]
    return " ".join(parts) or fallback


def from_fields(cls: type[Any], fields: dict[str, Any]) -> Any:
    """An instance of one of these frozen dataclasses from a dict of all its fields.

    It skips __init__ (none of them has a __post_init__ or InitVar, so the object is equal
    to the one __init__ would build), which is five times faster and matters at thousands
    of comparisons per view. The dict becomes the instance's __dict__: pass a fresh one.
    """
    new = object.__new__(cls)
    object.__setattr__(new, "__dict__", fields)
    return new


def copy_with(obj: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` for these frozen dataclasses, through :func:`from_fields`."""
    fields = dict(obj.__dict__)
    fields.update(changes)
    return from_fields(type(obj), fields)


@dataclass(frozen=True)
class ImportedRunMeta:
    """What an importer knew about a run's metrics that the metrics table cannot hold.

    Typed once here so that results reads fields, not magic keys. It is kept with the run's
    provenance (see :meth:`to_provenance`), under the keys imports have always used, so a
    database written before loads and gives the same results.
    """

    reported_stderr: Mapping[str, float] = field(default_factory=dict)  # e.g. acc_stderr
    sample_counts: Mapping[str, int] = field(default_factory=dict)  # items behind a metric
    seeds: Mapping[str, Sequence[float]] = field(default_factory=dict)  # per-seed values
    item_metric: Mapping[str, str] = field(default_factory=dict)  # item task -> its metric
    higher_is_better: Mapping[str, bool] = field(default_factory=dict)  # as the file said
    is_baseline: bool = False  # the file marks this run as its experiment's baseline
    source_path: str | None = None
    # Per count-to-target metric, the value meaning "never reached" (the run's step budget).
    budgets: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_provenance(cls, provenance: Mapping[str, Any]) -> ImportedRunMeta:
        """The record kept in a run's provenance; what is malformed there is left out."""
        if not provenance or not any(k in provenance for k in _PROVENANCE_KEYS):
            return NO_IMPORTED_META

        def mapping(key: str) -> Mapping[str, Any]:
            value = provenance.get(key)
            return value if isinstance(value, dict) else {}

        source = provenance.get("source_path")
        return cls(
            reported_stderr=mapping("metric_stderr"),
            sample_counts=mapping("sample_counts"),
            seeds=mapping("seeds"),
            item_metric=mapping("item_metric"),
            higher_is_better={
                k: v for k, v in mapping("higher_is_better").items() if isinstance(v, bool)
            },
            is_baseline=provenance.get("is_baseline") is True,
            source_path=source if isinstance(source, str) else None,
            budgets={
                k: float(v)
                for k, v in mapping("budgets").items()
                if isinstance(v, int | float) and not isinstance(v, bool)
            },
        )

    def to_provenance(self) -> dict[str, Any]:
        """The provenance keys of this record (empty ones left out)."""
        out: dict[str, Any] = {
            "metric_stderr": dict(self.reported_stderr),
            "sample_counts": dict(self.sample_counts),
            "higher_is_better": dict(self.higher_is_better),
            "seeds": {k: list(v) for k, v in self.seeds.items()},
            "item_metric": dict(self.item_metric),
            "budgets": dict(self.budgets),
        }
        out = {k: v for k, v in out.items() if v}
        if self.is_baseline:
            out["is_baseline"] = True
        if self.source_path is not None:
            out["source_path"] = self.source_path
        return out


# The provenance keys ImportedRunMeta is kept under (their names predate the record).
_PROVENANCE_KEYS = (
    "metric_stderr",
    "sample_counts",
    "seeds",
    "item_metric",
    "higher_is_better",
    "is_baseline",
    "source_path",
    "budgets",
)
NO_IMPORTED_META = ImportedRunMeta()
