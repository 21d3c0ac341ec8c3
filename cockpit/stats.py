"""Significance tests, confidence intervals, multiple-comparison correction, factorial effects.

Pure functions and frozen dataclasses: no I/O, no Textual. numpy and scipy are imported inside
the functions that use them, because the app must not pay scipy's import cost at start-up
(``import cockpit.stats`` imports neither; a test checks it).

Conventions used throughout:

- A comparison is always *candidate minus baseline*: a positive delta means the candidate scored
  higher. Whether higher is better is a per-metric flag that only the verdict looks at.
- Standard errors are sd(ddof=1) / sqrt(n), the way lm-eval-harness computes ``acc_stderr``, so
  the numbers here match what users see in their other tools.
- The test is chosen from the shape of the data (see :func:`choose_test`): per-item scores on the
  same items are paired; repeated seeds are independent samples; a single number per config
  cannot be tested at all and is labelled so, never called better or worse.
- Nothing is "better" or "worse" without a significant test after Holm correction across every
  comparison shown together (:func:`compare_all` / :func:`adjust_comparisons`).
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, TypeAlias

from cockpit.models.results import (
    DEFAULT_ALPHA,
    DEFAULT_CONFIDENCE,
    Comparison,
    DataKind,
    Effect,
    EffectMethod,
    ScoreSummary,
    StatTest,
    Verdict,
    copy_with,
    from_fields,
)

if TYPE_CHECKING:  # pragma: no cover - typing only; numpy is imported lazily at run time
    import numpy as np

# Per-config scores: item id -> score (paired items), a list of per-seed values, or one number.
Scores: TypeAlias = Mapping[str, float] | Sequence[float] | float

DEFAULT_POWER = 0.8
DEFAULT_N_BOOT = 5000
_STD_NORMAL = NormalDist()


# Which tests make sense for which data; the first is the default.
# The data kinds in words, for notes that say why a test was or was not used.
KIND_WORDS: dict[DataKind, str] = {
    DataKind.PAIRED_BINARY: "0/1 scores on the same items",
    DataKind.PAIRED_CONTINUOUS: "continuous scores on the same items",
    DataKind.SEEDS: "values of independent seeds",
    DataKind.SINGLE: "one value per config",
}
_TESTS_FOR_KIND: dict[DataKind, tuple[StatTest, ...]] = {
    DataKind.PAIRED_BINARY: (
        StatTest.MCNEMAR_EXACT,
        StatTest.PAIRED_T,
        StatTest.PAIRED_BOOTSTRAP,
    ),
    DataKind.PAIRED_CONTINUOUS: (
        StatTest.PAIRED_T,
        StatTest.WILCOXON,
        StatTest.PAIRED_BOOTSTRAP,
    ),
    DataKind.SEEDS: (StatTest.WELCH_T, StatTest.MANN_WHITNEY),
    DataKind.SINGLE: (StatTest.NONE,),
}


@dataclass(frozen=True)
class StatResult:
    """Outcome of one two-sample test. ``delta`` is candidate minus baseline (means)."""

    test: StatTest
    statistic: float
    p_value: float
    delta: float
    ci_low: float
    ci_high: float
    se: float  # standard error of delta; nan where the test has none
    df: float | None
    n_baseline: int
    n_candidate: int
    # Smallest p-value this test could produce at this sample size whatever the data:
    # when it exceeds alpha the test is structurally unable to find anything.
    min_attainable_p: float = 0.0
    # McNemar only: (items only the candidate got right, items only the baseline got right).
    discordant: tuple[int, int] | None = None


# --------------------------------------------------------------------------- helpers


def _np() -> Any:
    import numpy

    return numpy


def _as_array(values: Iterable[float] | float) -> np.ndarray:
    """1-D float array with NaNs removed (a NaN is a missing value, not a score)."""
    np = _np()
    arr = np.atleast_1d(np.asarray(values, dtype=float)).ravel()
    return arr[~np.isnan(arr)]


def _z(q: float) -> float:
    return _STD_NORMAL.inv_cdf(q)


def _t_quantile(q: float, df: float) -> float:
    from scipy.special import stdtrit

    return float(stdtrit(df, q))


def _t_two_sided_p(t: float, df: float) -> float:
    from scipy.special import stdtr

    return float(2.0 * stdtr(df, -abs(t)))


def _is_binary(arr: np.ndarray) -> bool:
    np = _np()
    return bool(np.all((arr == 0.0) | (arr == 1.0)))


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.4g}"


# --------------------------------------------------------------------------- SEs and CIs


def stderr_mean(values: Iterable[float]) -> float:
    """sd(ddof=1) / sqrt(n): lm-eval-harness's ``mean_stderr``; nan for fewer than 2 values."""
    np = _np()
    arr = _as_array(values)
    if arr.size < 2:
        return math.nan
    return float(np.std(arr, ddof=1) / math.sqrt(arr.size))


def stderr_proportion(p: float, n: int) -> float:
    """The SE lm-eval-harness reports for a 0/1 metric with mean ``p`` over ``n`` items.

    It is ``stderr_mean`` of the 0/1 scores in closed form: sqrt(p (1 - p) / (n - 1)), which
    lets an aggregate-only results file (no samples) be checked or given an SE.
    """
    if n < 2:
        return math.nan
    return math.sqrt(max(p * (1.0 - p), 0.0) / (n - 1))


def wilson_ci(
    successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float]:
    """Wilson score interval for a proportion (no continuity correction).

    Unlike the Wald interval it stays inside [0, 1] and behaves at 0 % and 100 %, which are
    common on small benchmarks. With no trials nothing is known: (0, 1).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return (0.0, 1.0)
    z = _z(1.0 - (1.0 - confidence) / 2.0)
    p = successes / n
    z2n = z * z / n
    denom = 1.0 + z2n
    centre = (p + z2n / 2.0) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n)) / denom
    # At 0 % and 100 % the bound is exactly 0 or 1; rounding would otherwise leave 1e-17.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def t_ci(values: Iterable[float], confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Student-t interval for a mean (SE as in :func:`stderr_mean`); nan for n < 2."""
    arr = _as_array(values)
    if arr.size < 2:
        return (math.nan, math.nan)
    mean = float(arr.mean())
    half = _t_quantile(1.0 - (1.0 - confidence) / 2.0, arr.size - 1) * stderr_mean(arr)
    return (mean - half, mean + half)


def summarize_scores(
    scores: Scores,
    confidence: float = DEFAULT_CONFIDENCE,
    *,
    seeds: bool = False,
    bounds: tuple[float, float] | None = None,
) -> ScoreSummary:
    """Mean, SE and CI of one config's scores: Wilson for 0/1 scores, t otherwise.

    ``seeds``: the values are independent runs, not trials, so three seeds at 1.0 are not
    "3 of 3 correct" and never get a Wilson interval. ``bounds``: the metric's possible
    range (an accuracy's [0, 1]); a t interval is clipped to it, since a CI reaching past
    what the metric can be claims nothing more than the bound does.
    """
    arr = _as_array(list(scores.values()) if isinstance(scores, Mapping) else scores)
    n = int(arr.size)
    if n == 0:
        return ScoreSummary(math.nan, math.nan, math.nan, math.nan, 0, "none")
    mean = float(arr.mean())
    if n == 1:
        return ScoreSummary(mean, math.nan, math.nan, math.nan, 1, "none")
    se = stderr_mean(arr)
    if not seeds and _is_binary(arr):
        low, high = wilson_ci(int(arr.sum()), n, confidence)
        return ScoreSummary(mean, se, low, high, n, "wilson")
    low, high = t_ci(arr, confidence)
    return _bounded(ScoreSummary(mean, se, low, high, n, "t"), bounds)


def _bounded(summary: ScoreSummary, bounds: tuple[float, float] | None) -> ScoreSummary:
    """The summary with its CI clipped to ``bounds`` (method says so when it bit)."""
    if bounds is None:
        return summary
    lo, hi = bounds
    low, high = max(summary.ci_low, lo), min(summary.ci_high, hi)
    if (low, high) == (summary.ci_low, summary.ci_high):
        return summary
    method = f"{summary.method}, clipped to [{lo:g}, {hi:g}]"
    return ScoreSummary(summary.mean, summary.se, low, high, summary.n, method)


def summarize_many(
    scores: Sequence[Sequence[float]],
    confidence: float = DEFAULT_CONFIDENCE,
    *,
    seeds: bool = False,
    bounds: tuple[float, float] | None = None,
) -> list[ScoreSummary]:
    """:func:`summarize_scores` of many configs' per-seed values, vectorised.

    One mean/SD reduction per group of configs with the same number of values and one t
    quantile per group; equal, field for field, to ``[summarize_scores(s) for s in scores]``
    with the same ``seeds`` and ``bounds``. 0/1 values (Wilson unless ``seeds``), NaNs and
    fewer than 2 values go one at a time.
    """
    np = _np()
    out: list[ScoreSummary | None] = [None] * len(scores)
    tail = 1.0 - (1.0 - confidence) / 2.0
    for n, rows in _rows_by_length(scores).items():
        if n < 2:
            continue
        matrix = np.array([scores[i] for i in rows], dtype=float).reshape(len(rows), n)
        binary = ((matrix == 0.0) | (matrix == 1.0)).all(axis=1) & (not seeds)
        plain = (~(np.isnan(matrix).any(axis=1) | binary)).tolist()
        means = matrix.mean(axis=1).tolist()
        # stderr_mean: np.std(row, ddof=1) / sqrt(n), the division done in float64 as there.
        ses = (matrix.std(axis=1, ddof=1) / math.sqrt(n)).tolist()
        q = _t_quantile(tail, n - 1)
        for j, i in enumerate(rows):
            if plain[j]:
                mean, se = means[j], ses[j]
                half = q * se
                summary = from_fields(
                    ScoreSummary,
                    {
                        "mean": mean,
                        "se": se,
                        "ci_low": mean - half,
                        "ci_high": mean + half,
                        "n": n,
                        "method": "t",
                    },
                )
                out[i] = summary if bounds is None else _bounded(summary, bounds)
    return [
        s if s is not None else summarize_scores(scores[i], confidence, seeds=seeds, bounds=bounds)
        for i, s in enumerate(out)
    ]


def minimum_detectable_effect(
    se: float, *, alpha: float = DEFAULT_ALPHA, power: float = DEFAULT_POWER
) -> float:
    """Smallest true difference a two-sided test at ``alpha`` finds with ``power``.

    Normal approximation: (z_{1-alpha/2} + z_{power}) * SE of the difference; about 2.8 SE
    at the defaults. It holds for one comparison tested alone with a z-like test; an exact
    test on counts is conservative (McNemar at this effect: about 75 %, see test_stats), and
    Holm's correction over m comparisons lowers it further (m = 7: about 50 %).
    """
    if se is None or math.isnan(se):
        return math.nan
    return (_z(1.0 - alpha / 2.0) + _z(power)) * se


# --------------------------------------------------------------------------- paired tests


def _paired_arrays(baseline: Iterable[float], candidate: Iterable[float]) -> np.ndarray:
    """Differences candidate - baseline, dropping items where either score is missing."""
    np = _np()
    b = np.asarray(baseline, dtype=float).ravel()
    c = np.asarray(candidate, dtype=float).ravel()
    if b.shape != c.shape:
        raise ValueError(f"paired scores need the same items: {b.size} vs {c.size} values")
    keep = ~(np.isnan(b) | np.isnan(c))
    return (c - b)[keep] if not keep.all() else c - b


def _t_from_mean_se(mean: float, se: float, df: float) -> tuple[float, float]:
    """t statistic and two-sided p; a zero SE means no spread at all, so p is 1 or 0."""
    if se == 0.0 or math.isnan(se):
        if mean == 0.0:
            return 0.0, 1.0
        return math.copysign(math.inf, mean), 0.0
    t = mean / se
    return t, _t_two_sided_p(t, df)


def paired_t(
    baseline: Iterable[float], candidate: Iterable[float], confidence: float = DEFAULT_CONFIDENCE
) -> StatResult:
    """Paired t-test on per-item differences, with the t CI of the mean difference."""
    d = _paired_arrays(baseline, candidate)
    n = int(d.size)
    if n < 2:
        raise ValueError(f"paired t-test needs at least 2 paired items, got {n}")
    mean = float(d.mean())
    se = stderr_mean(d)
    df = n - 1
    t, p = _t_from_mean_se(mean, se, df)
    half = _t_quantile(1.0 - (1.0 - confidence) / 2.0, df) * se
    return StatResult(StatTest.PAIRED_T, t, p, mean, mean - half, mean + half, se, df, n, n)


def mcnemar_counts(
    baseline: Iterable[float], candidate: Iterable[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Discordant counts for one candidate (1-D) or many (2-D, one row per candidate).

    Returns (b, c): items only the candidate got right, items only the baseline got right.
    Vectorised: one comparison pass over the (k, n) matrix, no Python loop over items.
    """
    np = _np()
    base = np.asarray(baseline)
    cand = np.asarray(candidate)
    if cand.shape[-1] != base.shape[-1]:
        raise ValueError(f"paired scores need the same items: {base.size} vs {cand.shape[-1]}")
    b = np.count_nonzero(cand > base, axis=-1)
    c = np.count_nonzero(cand < base, axis=-1)
    return b, c


def mcnemar_p_values(b: Any, c: Any) -> np.ndarray:
    """Exact (binomial) two-sided McNemar p-values for discordant counts, vectorised.

    p = min(1, 2 * P[X <= min(b, c)]) with X ~ Binomial(b + c, 1/2), as in statsmodels'
    ``mcnemar(exact=True)``; with no discordant items p = 1.
    """
    np = _np()
    # scipy.special, not scipy.stats: the binomial CDF is all we need, and scipy.stats costs
    # about 0.6 s more to import, which the first comparison after start-up would pay.
    from scipy.special import bdtr

    b = np.asarray(b)
    c = np.asarray(c)
    return np.minimum(1.0, 2.0 * bdtr(np.minimum(b, c), b + c, 0.5))


def _paired_binary_result(
    b: int, c: int, n: int, confidence: float, p: float | None = None
) -> StatResult:
    """McNemar result from counts; the CI is the t interval of the per-item differences.

    For 0/1 scores the differences are +1 (b items), -1 (c items) and 0, so their mean and
    ddof=1 SD follow from the counts without touching the data again.
    """
    if p is None:
        p = float(mcnemar_p_values(b, c))
    mean = (b - c) / n
    if n >= 2:
        var = max((b + c) - n * mean * mean, 0.0) / (n - 1)
        se = math.sqrt(var / n)
        half = _t_quantile(1.0 - (1.0 - confidence) / 2.0, n - 1) * se
    else:
        se, half = math.nan, math.nan
    return StatResult(
        StatTest.MCNEMAR_EXACT,
        float(min(b, c)),
        float(p),
        mean,
        mean - half,
        mean + half,
        se,
        None,
        n,
        n,
        min_attainable_p=min(1.0, 2.0 * 0.5**n),
        discordant=(int(b), int(c)),
    )


def mcnemar_exact(
    baseline: Iterable[float], candidate: Iterable[float], confidence: float = DEFAULT_CONFIDENCE
) -> StatResult:
    """McNemar's exact test for paired 0/1 correctness on the same items.

    ``statistic`` is min(b, c) (the statsmodels convention); ``discordant`` holds (b, c).
    """
    np = _np()
    base = np.asarray(baseline, dtype=float).ravel()
    cand = np.asarray(candidate, dtype=float).ravel()
    if base.shape != cand.shape:
        raise ValueError(f"paired scores need the same items: {base.size} vs {cand.size}")
    keep = ~(np.isnan(base) | np.isnan(cand))
    base, cand = base[keep], cand[keep]
    if not (_is_binary(base) and _is_binary(cand)):
        raise ValueError("McNemar's test needs 0/1 scores")
    b, c = mcnemar_counts(base, cand)
    return _paired_binary_result(int(b), int(c), int(base.size), confidence)


def mcnemar_exact_many(
    baseline: Iterable[float], candidates: Any, confidence: float = DEFAULT_CONFIDENCE
) -> list[StatResult]:
    """McNemar exact for many candidates (rows of a 2-D 0/1 array) against one baseline."""
    np = _np()
    base = np.asarray(baseline)
    cands = np.atleast_2d(np.asarray(candidates))
    b, c = mcnemar_counts(base, cands)
    p = mcnemar_p_values(b, c)
    n = int(base.shape[-1])
    return [
        _paired_binary_result(int(bi), int(ci), n, confidence, float(pi))
        for bi, ci, pi in zip(b, c, p, strict=True)
    ]


def wilcoxon_signed_rank(
    baseline: Iterable[float],
    candidate: Iterable[float],
    confidence: float = DEFAULT_CONFIDENCE,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> StatResult:
    """Wilcoxon signed-rank test (scipy's defaults: zero differences dropped, exact for
    small n). The CI of the mean difference is a paired bootstrap, as the test has no
    t interval of its own."""
    from scipy.stats import wilcoxon

    d = _paired_arrays(baseline, candidate)
    n = int(d.size)
    if n < 2:
        raise ValueError(f"Wilcoxon test needs at least 2 paired items, got {n}")
    n_nonzero = int((d != 0).sum())
    if n_nonzero == 0:
        statistic, p = 0.0, 1.0
    else:
        res = wilcoxon(d)
        statistic, p = float(res.statistic), float(res.pvalue)
    boot = _bootstrap_means(d, n_boot, seed)
    low, high = _percentile_ci(boot, confidence)
    return StatResult(
        StatTest.WILCOXON,
        statistic,
        p,
        float(d.mean()),
        low,
        high,
        float(boot.std(ddof=1)),
        None,
        n,
        n,
        # Exact null: all 2^n sign patterns equally likely; the most extreme has p = 2 / 2^n.
        min_attainable_p=min(1.0, 2.0 * 0.5 ** max(n_nonzero, 0)) if n_nonzero <= 50 else 0.0,
    )


def _bootstrap_means(d: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Means of ``n_boot`` resamples of ``d`` (with replacement), in memory-bounded chunks."""
    np = _np()
    rng = np.random.default_rng(seed)
    n = d.size
    out = np.empty(n_boot)
    chunk = max(1, min(n_boot, 2_000_000 // max(n, 1)))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = d[idx].mean(axis=1)
    return out


def _percentile_ci(boot: np.ndarray, confidence: float) -> tuple[float, float]:
    np = _np()
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    return float(low), float(high)


def paired_bootstrap(
    baseline: Iterable[float],
    candidate: Iterable[float],
    confidence: float = DEFAULT_CONFIDENCE,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> StatResult:
    """Paired bootstrap over items: percentile CI of the mean difference, and a p-value from
    the bootstrap distribution shifted to the null (Efron & Tibshirani, ch. 16):
    p = (1 + #{|m* - m| >= |m|}) / (1 + B). Deterministic for a given ``seed``."""
    d = _paired_arrays(baseline, candidate)
    n = int(d.size)
    if n < 2:
        raise ValueError(f"paired bootstrap needs at least 2 paired items, got {n}")
    mean = float(d.mean())
    boot = _bootstrap_means(d, n_boot, seed)
    low, high = _percentile_ci(boot, confidence)
    extreme = int((abs(boot - mean) >= abs(mean) - 1e-15).sum()) if mean != 0 else n_boot
    p = (1 + extreme) / (1 + n_boot)
    return StatResult(
        StatTest.PAIRED_BOOTSTRAP,
        mean,
        min(1.0, p),
        mean,
        low,
        high,
        float(boot.std(ddof=1)),
        None,
        n,
        n,
        min_attainable_p=1.0 / (1 + n_boot),
    )


def paired_bootstrap_ci(
    baseline: Iterable[float],
    candidate: Iterable[float],
    confidence: float = DEFAULT_CONFIDENCE,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean paired difference (candidate - baseline)."""
    d = _paired_arrays(baseline, candidate)
    if d.size < 2:
        return (math.nan, math.nan)
    return _percentile_ci(_bootstrap_means(d, n_boot, seed), confidence)


# --------------------------------------------------------------------------- independent


def welch_t(
    baseline: Iterable[float], candidate: Iterable[float], confidence: float = DEFAULT_CONFIDENCE
) -> StatResult:
    """Welch's unequal-variance t-test across seeds, with the Welch-Satterthwaite CI."""
    b = _as_array(baseline)
    c = _as_array(candidate)
    n1, n2 = int(b.size), int(c.size)
    if n1 < 2 or n2 < 2:
        raise ValueError(f"Welch's t-test needs at least 2 seeds per config, got {n1} and {n2}")
    se, delta, df = _welch_se_df(
        float(b.mean()), float(b.var(ddof=1)), n1, float(c.mean()), float(c.var(ddof=1)), n2
    )
    t, p = _t_from_mean_se(delta, se, df)
    half = _t_quantile(1.0 - (1.0 - confidence) / 2.0, df) * se
    return StatResult(StatTest.WELCH_T, t, p, delta, delta - half, delta + half, se, df, n1, n2)


def _welch_se_df(
    b_mean: float, b_var: float, n1: int, c_mean: float, c_var: float, n2: int
) -> tuple[float, float, float]:
    """SE of the difference, the difference and the Welch-Satterthwaite df from the moments.

    Plain floats on purpose: ``x ** 2`` is libm's pow, which numpy's vectorised square is
    not, and the vectorised Welch below must give exactly what :func:`welch_t` gives.
    """
    v1 = b_var / n1
    v2 = c_var / n2
    se = math.sqrt(v1 + v2)
    delta = c_mean - b_mean
    denom = v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1)
    df = (v1 + v2) ** 2 / denom if denom > 0 else float(n1 + n2 - 2)
    return se, delta, df


def _rows_by_length(values: Sequence[Sequence[float]]) -> dict[int, list[int]]:
    """Indices of ``values`` grouped by length: each group stacks into one 2-D array."""
    groups: dict[int, list[int]] = {}
    for i, v in enumerate(values):
        groups.setdefault(len(v), []).append(i)
    return groups


def _moments_by_row(
    values: Sequence[Sequence[float]], min_n: int
) -> dict[int, tuple[int, float, float]]:
    """Row index -> (n, mean, var ddof=1), from one 2-D reduction per row length.

    A row-wise reduction of a C-contiguous 2-D array sums each row exactly as the same
    reduction of that row alone would (numpy's pairwise summation runs along the row), so
    these equal ``float(row.mean())`` and ``float(row.var(ddof=1))`` bit for bit. Rows
    shorter than ``min_n`` or holding a NaN are left out, for the one-at-a-time path.
    """
    np = _np()
    out: dict[int, tuple[int, float, float]] = {}
    for n, rows in _rows_by_length(values).items():
        if n < min_n:
            continue
        matrix = np.array([values[i] for i in rows], dtype=float).reshape(len(rows), n)
        bad = np.isnan(matrix).any(axis=1).tolist()
        means = matrix.mean(axis=1).tolist()
        variances = matrix.var(axis=1, ddof=1).tolist()
        for j, i in enumerate(rows):
            if not bad[j]:
                out[i] = (n, means[j], variances[j])
    return out


def welch_t_many(
    baseline: Iterable[float],
    candidates: Sequence[Sequence[float]],
    confidence: float = DEFAULT_CONFIDENCE,
) -> list[StatResult]:
    """Welch's t-test of many candidates (per-seed values each) against one baseline.

    Vectorised: one mean/variance reduction per group of candidates with the same number of
    seeds and one call each of stdtr and stdtrit for all of them; equal, field for field, to
    ``[welch_t(baseline, c, confidence) for c in candidates]`` (which raises the same way).
    """
    b = _as_array(baseline)
    done = _welch_rows(b, candidates, confidence)
    return [
        done[i][0] if i in done else welch_t(b, candidates[i], confidence)
        for i in range(len(candidates))
    ]


def _welch_rows(
    b: np.ndarray, candidates: Sequence[Sequence[float]], confidence: float
) -> dict[int, tuple[StatResult, float]]:
    """Welch results for the candidates the vectorised path can take: index -> (result,
    the candidate's mean).

    It leaves out what welch_t treats specially: fewer than 2 values on a side, NaNs
    (welch_t drops them), and a zero or NaN SE (p is then 1 or 0, not from the t
    distribution).
    """
    np = _np()
    from scipy.special import stdtr, stdtrit

    n1 = int(b.size)
    if n1 < 2 or not candidates:
        return {}
    b_mean, b_var = float(b.mean()), float(b.var(ddof=1))
    moments = _moments_by_row(candidates, 2)
    keep: list[int] = []
    rows: list[tuple[float, float, float, int, float]] = []  # (se, delta, df, n2, mean)
    for i, (n2, c_mean, c_var) in moments.items():
        se, delta, df = _welch_se_df(b_mean, b_var, n1, c_mean, c_var, n2)
        if se == 0.0 or math.isnan(se):
            continue
        keep.append(i)
        rows.append((se, delta, df, n2, c_mean))
    if not keep:
        return {}
    se_a = np.array([r[0] for r in rows])
    delta_a = np.array([r[1] for r in rows])
    df_a = np.array([r[2] for r in rows])
    t_a = delta_a / se_a
    p_a = (2.0 * stdtr(df_a, -np.abs(t_a))).tolist()
    half_a = (stdtrit(df_a, 1.0 - (1.0 - confidence) / 2.0) * se_a).tolist()
    out: dict[int, tuple[StatResult, float]] = {}
    for j, i in enumerate(keep):
        se, delta, df, n2, c_mean = rows[j]
        half = half_a[j]
        result = StatResult(
            StatTest.WELCH_T, delta / se, p_a[j], delta, delta - half, delta + half, se, df, n1, n2
        )
        out[i] = (result, c_mean)
    return out


def _bootstrap_diff_of_means(b: np.ndarray, c: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    np = _np()
    rng = np.random.default_rng(seed)
    bi = rng.integers(0, b.size, size=(n_boot, b.size))
    ci = rng.integers(0, c.size, size=(n_boot, c.size))
    return c[ci].mean(axis=1) - b[bi].mean(axis=1)


def mann_whitney(
    baseline: Iterable[float],
    candidate: Iterable[float],
    confidence: float = DEFAULT_CONFIDENCE,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> StatResult:
    """Mann-Whitney U across seeds (U of the candidate, two-sided, scipy's method choice).

    The CI of the difference of means is a two-sample bootstrap. With few seeds the exact
    test cannot reach small p-values (3 vs 3 seeds: p >= 0.1), which ``min_attainable_p``
    records so the verdict can say "not enough data" rather than "no difference".
    """
    from scipy.stats import mannwhitneyu

    b = _as_array(baseline)
    c = _as_array(candidate)
    n1, n2 = int(b.size), int(c.size)
    if n1 < 1 or n2 < 1:
        raise ValueError("Mann-Whitney needs at least one value per config")
    res = mannwhitneyu(c, b, alternative="two-sided")
    boot = _bootstrap_diff_of_means(b, c, n_boot, seed)
    low, high = _percentile_ci(boot, confidence)
    return StatResult(
        StatTest.MANN_WHITNEY,
        float(res.statistic),
        float(res.pvalue),
        float(c.mean() - b.mean()),
        low,
        high,
        float(boot.std(ddof=1)),
        None,
        n1,
        n2,
        min_attainable_p=min(1.0, 2.0 / math.comb(n1 + n2, n1)),
    )


# --------------------------------------------------------------------------- multiplicity


def holm_correct(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm step-down adjusted p-values, in the input order.

    Adjusted p_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)) over the sorted p-values: monotone
    in the raw p, capped at 1. ``None``/NaN entries (no test performed) stay ``None`` and do not
    count towards m.
    """
    indexed = [(p, i) for i, p in enumerate(pvalues) if p is not None and not math.isnan(float(p))]
    out: list[float | None] = [None] * len(pvalues)
    m = len(indexed)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(indexed)):
        running = max(running, min(1.0, (m - rank) * float(p)))
        out[i] = running
    return out


# --------------------------------------------------------------------------- thresholds

_THRESHOLD_KEYS = frozenset({"max_drop", "min", "max"})


def threshold_for(metric: str, thresholds: Mapping[str, Any] | None) -> Mapping[str, float] | None:
    """The user threshold spec for ``metric``: exact key first, then glob patterns ("mmlu*").

    A bare number means ``{"max_drop": number}``. Unknown keys raise ValueError, because a
    misspelt threshold that silently never fires is worse than an error.
    """
    if not thresholds:
        return None
    spec = thresholds.get(metric)
    if spec is None:
        for pattern, value in thresholds.items():
            if fnmatch.fnmatchcase(metric, pattern):
                spec = value
                break
    if spec is None:
        return None
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        return {"max_drop": float(spec)}
    if not isinstance(spec, Mapping):
        raise ValueError(f"threshold for {metric!r} must be a number or a mapping, got {spec!r}")
    unknown = set(spec) - _THRESHOLD_KEYS
    if unknown:
        raise ValueError(
            f"unknown threshold key(s) {sorted(unknown)} for {metric!r}; "
            f"use {sorted(_THRESHOLD_KEYS)}"
        )
    return {k: float(v) for k, v in spec.items()}


def threshold_flags(
    delta: float | None,
    candidate_mean: float | None,
    spec: Mapping[str, float] | None,
    *,
    higher_is_better: bool = True,
    significant: bool | None = None,
) -> tuple[str, ...]:
    """Flags for a user threshold, e.g. {"max_drop": 0.05}: flag when the candidate is worse
    than the baseline by more than 0.05 in the metric's own units (a drop for accuracy, a rise
    for a loss). "min"/"max" bound the candidate's value itself. Flags fire on the observed
    numbers; whether the change is significant is said in the flag."""
    if not spec:
        return ()
    flags: list[str] = []
    sig = "" if significant is None else (" (significant)" if significant else " (not significant)")
    max_drop = spec.get("max_drop")
    if max_drop is not None and delta is not None:
        worsening = -delta if higher_is_better else delta
        if worsening > max_drop:
            word = "drop" if higher_is_better else "rise"
            flags.append(f"{word} {worsening:.4g} > max_drop {max_drop:.4g}{sig}")
    if candidate_mean is not None:
        if "min" in spec and candidate_mean < spec["min"]:
            flags.append(f"value {candidate_mean:.4g} < min {spec['min']:.4g}")
        if "max" in spec and candidate_mean > spec["max"]:
            flags.append(f"value {candidate_mean:.4g} > max {spec['max']:.4g}")
    return tuple(flags)


# --------------------------------------------------------------------------- choosing a test


def choose_test(
    baseline: Scores, candidate: Scores, *, paired: bool | None = None
) -> tuple[DataKind, StatTest]:
    """Pick the data kind and default test from the shape of the data.

    - item id -> score mappings on both sides (or ``paired=True``): paired items; 0/1 scores
      get McNemar's exact test, continuous ones a paired t-test;
    - sequences of per-seed values: Welch's t-test;
    - one number on both sides: no test (``SINGLE``).
    """
    kind, _, _ = _prepare(baseline, candidate, paired)
    return kind, _TESTS_FOR_KIND[kind][0]


class _BaselineCache:
    """A baseline mapping's keys and values as an array, built once per metric.

    compare_all compares one baseline with many candidates; converting its 14,000 scores
    once instead of once per candidate is most of what keeps 100 configs under a second.
    """

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Mapping[str, float], list[str], np.ndarray]] = {}

    def get(self, scores: Mapping[str, float]) -> tuple[list[str], np.ndarray]:
        hit = self._cache.get(id(scores))
        if hit is None or hit[0] is not scores:
            np = _np()
            keys = list(scores.keys())
            values = np.fromiter(scores.values(), dtype=float, count=len(keys))
            hit = (scores, keys, values)
            self._cache[id(scores)] = hit
        return hit[1], hit[2]


def _prepare(
    baseline: Scores,
    candidate: Scores,
    paired: bool | None,
    cache: _BaselineCache | None = None,
) -> tuple[DataKind, np.ndarray, np.ndarray]:
    """Data kind and the two score arrays, each converted exactly once.

    Paired data come back aligned (items both sides have, in the baseline's order) with any
    item missing on either side dropped; seeds come back with NaNs dropped.
    """
    np = _np()
    if isinstance(baseline, Mapping) != isinstance(candidate, Mapping):
        raise ValueError("cannot compare per-item scores with per-seed or single values")
    if isinstance(baseline, Mapping):
        assert isinstance(candidate, Mapping)
        if paired is False:
            raise ValueError("per-item scores are paired by item id; paired=False makes no sense")
        paired = True
        b_keys, b = (cache or _BaselineCache()).get(baseline)
        # The common case (same items, same order) needs no Python-level lookup per item.
        if len(b_keys) == len(candidate) and b_keys == list(candidate.keys()):
            c = np.fromiter(candidate.values(), dtype=float, count=len(b_keys))
        else:
            common = [i for i, k in enumerate(b_keys) if k in candidate]
            b = b[common]
            c = np.fromiter((candidate[b_keys[i]] for i in common), dtype=float, count=len(common))
    else:
        b = np.atleast_1d(np.asarray(baseline, dtype=float)).ravel()
        c = np.atleast_1d(np.asarray(candidate, dtype=float)).ravel()
        if paired and b.shape != c.shape:
            raise ValueError(f"paired scores need the same items: {b.size} vs {c.size} values")
    if paired:
        keep = ~(np.isnan(b) | np.isnan(c))
        if not keep.all():
            b, c = b[keep], c[keep]
        binary = _is_binary(b) and _is_binary(c)
        return (DataKind.PAIRED_BINARY if binary else DataKind.PAIRED_CONTINUOUS), b, c
    b, c = b[~np.isnan(b)], c[~np.isnan(c)]
    kind = DataKind.SINGLE if b.size <= 1 and c.size <= 1 else DataKind.SEEDS
    return kind, b, c


def _run_test(
    test: StatTest,
    b: np.ndarray,
    c: np.ndarray,
    confidence: float,
    n_boot: int,
    seed: int,
) -> StatResult:
    if test is StatTest.MCNEMAR_EXACT:
        bc, cc = mcnemar_counts(b, c)
        return _paired_binary_result(int(bc), int(cc), int(b.size), confidence)
    if test is StatTest.PAIRED_T:
        return paired_t(b, c, confidence)
    if test is StatTest.WILCOXON:
        return wilcoxon_signed_rank(b, c, confidence, n_boot=n_boot, seed=seed)
    if test is StatTest.PAIRED_BOOTSTRAP:
        return paired_bootstrap(b, c, confidence, n_boot=n_boot, seed=seed)
    if test is StatTest.WELCH_T:
        return welch_t(b, c, confidence)
    if test is StatTest.MANN_WHITNEY:
        return mann_whitney(b, c, confidence, n_boot=n_boot, seed=seed)
    raise ValueError(f"no test to run for {test}")


def compare(
    baseline: Scores,
    candidate: Scores,
    *,
    metric: str = "",
    baseline_name: str = "baseline",
    candidate_name: str = "candidate",
    paired: bool | None = None,
    test: StatTest | str | None = None,
    higher_is_better: bool = True,
    alpha: float = DEFAULT_ALPHA,
    confidence: float = DEFAULT_CONFIDENCE,
    threshold: Mapping[str, float] | float | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> Comparison:
    """Compare one candidate with the baseline on one metric.

    The test follows :func:`choose_test` unless ``test`` names another one valid for the data.
    As a lone comparison, ``p_adjusted`` equals ``p_value`` (Holm with m = 1); use
    :func:`compare_all` for several so they are corrected together.
    """
    spec = threshold_for(metric, {metric: threshold}) if threshold is not None else None
    batch = compare_batch(
        baseline,
        [candidate],
        [candidate_name],
        metric=metric,
        baseline_name=baseline_name,
        higher_is_better=higher_is_better,
        threshold=spec,
        paired=paired,
        test=test,
        alpha=alpha,
        confidence=confidence,
        n_boot=n_boot,
        seed=seed,
    )
    cmp = batch.comparisons[0]
    assert cmp is not None
    return _decide(cmp, cmp.p_value, spec)


def compare_undecided(
    baseline: Scores,
    candidate: Scores,
    *,
    metric: str = "",
    baseline_name: str = "baseline",
    candidate_name: str = "candidate",
    paired: bool | None = None,
    test: StatTest | str | None = None,
    higher_is_better: bool = True,
    alpha: float = DEFAULT_ALPHA,
    confidence: float = DEFAULT_CONFIDENCE,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> Comparison:
    """One comparison's test, CI and MDE without the verdict, which waits for Holm over the
    family it is shown in (:func:`decide_family` or :func:`adjust_comparisons`)."""
    return _compare_undecided(
        baseline,
        candidate,
        metric=metric,
        baseline_name=baseline_name,
        candidate_name=candidate_name,
        paired=paired,
        test=test,
        higher_is_better=higher_is_better,
        alpha=alpha,
        confidence=confidence,
        n_boot=n_boot,
        seed=seed,
    )


def _compare_undecided(
    baseline: Scores,
    candidate: Scores,
    *,
    metric: str,
    baseline_name: str,
    candidate_name: str,
    paired: bool | None,
    test: StatTest | str | None,
    higher_is_better: bool,
    alpha: float,
    confidence: float,
    n_boot: int,
    seed: int,
    cache: _BaselineCache | None = None,
) -> Comparison:
    """The test without a verdict: ``verdict`` is provisional until :func:`_decide`."""
    kind, b, c = _prepare(baseline, candidate, paired, cache)
    chosen = StatTest(test) if test is not None else _TESTS_FOR_KIND[kind][0]
    if chosen not in _TESTS_FOR_KIND[kind]:
        raise ValueError(f"{chosen} does not apply to {kind} data")
    base = dict(
        metric=metric,
        baseline=baseline_name,
        candidate=candidate_name,
        kind=kind,
        test=chosen,
        higher_is_better=higher_is_better,
        alpha=alpha,
    )
    n1, n2 = int(b.size), int(c.size)
    b_mean = float(b.mean()) if n1 else None
    c_mean = float(c.mean()) if n2 else None
    delta = c_mean - b_mean if b_mean is not None and c_mean is not None else None
    paired_kind = kind in (DataKind.PAIRED_BINARY, DataKind.PAIRED_CONTINUOUS)
    common = dict(
        **base,
        statistic=None,
        p_value=None,
        p_adjusted=None,
        delta=delta,
        ci_low=None,
        ci_high=None,
        se=None,
        n=n1 if paired_kind else n1 + n2,
        n_baseline=n1,
        n_candidate=n2,
        baseline_mean=b_mean,
        candidate_mean=c_mean,
        mde=None,
    )
    if kind is DataKind.SINGLE:
        return Comparison(
            **common, verdict=Verdict.SINGLE_RUN, note="one value per config: no test possible"
        )
    if paired_kind and n1 < 2:
        return Comparison(
            **common,
            verdict=Verdict.NOT_ENOUGH_DATA,
            underpowered=True,
            note=f"{n1} paired item(s) in common; need at least 2",
        )
    if kind is DataKind.SEEDS and chosen is StatTest.WELCH_T and min(n1, n2) < 2:
        # Welch needs a variance on both sides; the MDE borrows the side that has one.
        spread = b if n1 >= 2 else c
        mde = None
        if spread.size >= 2:
            sd = float(spread.std(ddof=1))
            mde = minimum_detectable_effect(sd * math.sqrt(1 / n1 + 1 / n2), alpha=alpha)
        return Comparison(
            **{**common, "mde": mde},
            verdict=Verdict.NOT_ENOUGH_DATA,
            underpowered=True,
            note=f"seeds: {n1} baseline vs {n2} candidate; Welch needs at least 2 on each side",
        )
    res = _run_test(chosen, b, c, confidence, n_boot, seed)
    mde = minimum_detectable_effect(res.se, alpha=alpha)
    note = f"{chosen}"
    if res.discordant is not None:
        note += (
            f": {res.discordant[0]} items only candidate right, {res.discordant[1]} only baseline"
        )
    elif paired_kind:
        note += f" on {n1} paired items"
    else:
        note += f" on {n1} vs {n2} seeds"
    return copy_with(
        Comparison(**common, verdict=Verdict.NO_DIFFERENCE, note=note),
        statistic=res.statistic,
        p_value=res.p_value,
        delta=res.delta,
        ci_low=res.ci_low,
        ci_high=res.ci_high,
        se=res.se,
        mde=None if math.isnan(mde) else mde,
        underpowered=res.min_attainable_p > alpha,
    )


def _compare_seeds_many(
    baseline: Sequence[float],
    candidates: Sequence[Sequence[float]],
    *,
    metric: str,
    baseline_name: str,
    candidate_names: Sequence[str],
    higher_is_better: bool,
    alpha: float,
    confidence: float,
) -> list[Comparison]:
    """``_compare_undecided(baseline, c, test=None)`` for many candidates' per-seed values at once.

    Welch's test runs vectorised (:func:`_welch_rows`) and each Comparison is filled from a
    template; whatever that path leaves out (one seed on a side, NaNs, no spread) goes
    through :func:`_compare_raw` itself, so the list equals the one-at-a-time one exactly.
    Both sides must be sequences of numbers (seeds), not item mappings.
    """
    b = _as_array(baseline)
    done = _welch_rows(b, candidates, confidence)  # NaNs dropped from b, as _prepare does
    n1 = int(b.size)
    b_mean = float(b.mean()) if n1 else None
    mde_z = _z(1.0 - alpha / 2.0) + _z(DEFAULT_POWER)
    template: dict[str, Any] = {
        "metric": metric,
        "baseline": baseline_name,
        "kind": DataKind.SEEDS,
        "test": StatTest.WELCH_T,
        "p_adjusted": None,
        "n_baseline": n1,
        "baseline_mean": b_mean,
        "verdict": Verdict.NO_DIFFERENCE,
        "higher_is_better": higher_is_better,
        "alpha": alpha,
        "underpowered": False,  # Welch can reach any p: its min_attainable_p is 0
        "flags": (),
    }
    out: list[Comparison] = []
    for i, values in enumerate(candidates):
        hit = done.get(i)
        if hit is None:
            out.append(
                _compare_undecided(
                    baseline,
                    values,
                    metric=metric,
                    baseline_name=baseline_name,
                    candidate_name=candidate_names[i],
                    paired=None,
                    test=None,
                    higher_is_better=higher_is_better,
                    alpha=alpha,
                    confidence=confidence,
                    n_boot=DEFAULT_N_BOOT,
                    seed=0,
                )
            )
            continue
        res, c_mean = hit
        n2 = res.n_candidate
        mde = mde_z * res.se  # minimum_detectable_effect(res.se, alpha=alpha)
        fields = dict(template)
        fields.update(
            candidate=candidate_names[i],
            statistic=res.statistic,
            p_value=res.p_value,
            delta=res.delta,
            ci_low=res.ci_low,
            ci_high=res.ci_high,
            se=res.se,
            n=n1 + n2,
            n_candidate=n2,
            candidate_mean=c_mean,
            mde=None if math.isnan(mde) else mde,
            note=f"{StatTest.WELCH_T} on {n1} vs {n2} seeds",
        )
        out.append(from_fields(Comparison, fields))
    return out


def _comparable(b: Scores, c: Scores) -> tuple[Scores, Scores]:
    """Two configs' scores made the same shape: paired only when both have items."""
    if isinstance(b, Mapping) and isinstance(c, Mapping):
        return b, c
    return collapse_scores(b), collapse_scores(c)


def collapse_scores(s: Scores) -> float | list[float]:
    """Scores as one number (the mean of items, or the one value) or a list of seeds."""
    if isinstance(s, Mapping):
        return math.fsum(s.values()) / len(s)
    if isinstance(s, int | float):
        return float(s)
    values = list(s)
    return values[0] if len(values) == 1 else values


def _single_template(
    metric: str, baseline: str, hib: bool, alpha: float, b: float
) -> dict[str, Any]:
    """A single-number comparison's fields but the candidate's (candidate, delta, its mean).

    At 10,000 configs the general path's array round trip, and even Comparison's 25-field
    __init__, are most of a view's build time; tests check the result equals the general
    path's.
    """
    fields = dict(no_comparison(metric, baseline, "", hib, alpha).__dict__)
    fields.update(
        n=2,
        n_baseline=1,
        n_candidate=1,
        baseline_mean=b,
        verdict=Verdict.SINGLE_RUN,
        underpowered=False,
        note="one value per config: no test possible",
    )
    return fields


@dataclass(frozen=True)
class ComparisonBatch:
    """Candidates against one baseline on one metric, tested but not yet decided."""

    comparisons: list[Comparison | None]  # aligned with the candidates; None where none given
    tested: list[int]  # indices of those with a p-value: members of Holm's family
    flagged: list[int]  # indices of those built without a test by stats: flagged on deciding
    span: float  # the largest |delta| or |CI bound|: half the width of a forest plot's axis
    threshold: Mapping[str, float] | None = None  # the user threshold they are judged by


def compare_batch(
    baseline: Scores,
    candidates: Sequence[Scores | None],
    candidate_names: Sequence[str],
    *,
    metric: str = "",
    baseline_name: str = "baseline",
    higher_is_better: bool = True,
    threshold: Mapping[str, float] | None = None,
    paired: bool | None = None,
    test: StatTest | str | None = None,
    lenient: bool = False,
    alpha: float = DEFAULT_ALPHA,
    confidence: float = DEFAULT_CONFIDENCE,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> ComparisonBatch:
    """Every candidate against the baseline on one metric, before Holm and verdicts.

    Each comparison equals :func:`compare_undecided` of that candidate (single-number ones
    come with their threshold flags, as deciding would give them). The common shapes go in
    bulk, because a view compares thousands of configs: one number a side (no test
    possible) from a template, per-seed values through one vectorised Welch; anything else
    one at a time. A None candidate gets None. ``lenient`` is for a view of many configs:
    scores of different shapes are compared as their means and a test that does not fit
    the data falls back to the default one, where otherwise both raise ValueError.
    """
    chosen = StatTest(test) if test is not None else None
    out: list[Comparison | None] = [None] * len(candidates)
    b_flat = collapse_scores(baseline) if not isinstance(baseline, Mapping) else None
    free = paired is not True  # shapes alone decide the test, so the bulk paths apply
    welch = free and isinstance(b_flat, list) and chosen in (None, StatTest.WELCH_T)
    single = free and (lenient or chosen is None) and type(b_flat) is float and b_flat == b_flat
    seeds: list[int] = []
    others: list[int] = []  # built one at a time (or not enough data): checked below
    cache = _BaselineCache()
    span = 0.0
    hib = higher_is_better
    spec = threshold
    if single:
        template = _single_template(metric, baseline_name, hib, alpha, b_flat)  # type: ignore[arg-type]
        max_drop = spec.get("max_drop") if spec else None
        bounds = bool(spec) and ("min" in spec or "max" in spec)  # type: ignore[operator]
    for i, c in enumerate(candidates):
        if c is None:
            continue
        if single and type(c) is float and c == c:
            delta = c - b_flat  # type: ignore[operator]
            fields = template.copy()
            fields["candidate"] = candidate_names[i]
            fields["delta"] = delta
            fields["candidate_mean"] = c
            if bounds or (max_drop is not None and (-delta if hib else delta) > max_drop):
                fields["flags"] = threshold_flags(delta, c, spec, higher_is_better=hib)
            out[i] = from_fields(Comparison, fields)
            if abs(delta) > span:
                span = abs(delta)
        elif welch and type(c) is list:
            seeds.append(i)
        else:
            others.append(i)
            kwargs: dict[str, Any] = dict(
                metric=metric,
                baseline_name=baseline_name,
                candidate_name=candidate_names[i],
                higher_is_better=hib,
                alpha=alpha,
                confidence=confidence,
                n_boot=n_boot,
                seed=seed,
                cache=cache,
            )
            if lenient:
                out[i] = _compare_leniently(baseline, c, chosen, spec, kwargs)
            else:
                out[i] = _compare_undecided(baseline, c, paired=paired, test=chosen, **kwargs)
    if seeds:
        bulk = _compare_seeds_many(
            b_flat,  # type: ignore[arg-type]
            [candidates[i] for i in seeds],  # type: ignore[misc]
            metric=metric,
            baseline_name=baseline_name,
            candidate_names=[candidate_names[i] for i in seeds],
            higher_is_better=hib,
            alpha=alpha,
            confidence=confidence,
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
        elif spec:
            out[i] = _decide(cmp, None, spec)  # a single number: flagged as the template is
        for x in (cmp.ci_low, cmp.ci_high, cmp.delta):
            if x is not None and abs(x) > span:
                span = abs(x)
    return ComparisonBatch(out, tested, flagged, span, spec)


def _compare_leniently(
    b: Scores,
    c: Scores,
    test: StatTest | None,
    spec: Mapping[str, float] | None,
    kwargs: dict[str, Any],
) -> Comparison:
    """compare_batch's one-at-a-time path for a view: shapes made comparable, and a test
    that does not fit this data replaced by the default one."""
    if type(b) is not float or type(c) is not float:
        b, c = _comparable(b, c)
    if type(b) is float and type(c) is float and b == b and c == c:
        # No test fits one number a side: one asked for falls back to none.
        fields = _single_template(
            kwargs["metric"],
            kwargs["baseline_name"],
            kwargs["higher_is_better"],
            kwargs["alpha"],
            b,
        )
        fields.update(candidate=kwargs["candidate_name"], delta=c - b, candidate_mean=c)
        if test is not None and test is not StatTest.NONE:
            words = KIND_WORDS[DataKind.SINGLE]
            fields["note"] = f"{test} asked for does not fit {words}; {fields['note']}"
        if spec:
            fields["flags"] = threshold_flags(
                c - b, c, spec, higher_is_better=kwargs["higher_is_better"]
            )
        return from_fields(Comparison, fields)
    if test is not None:
        try:
            return _compare_undecided(b, c, paired=None, test=test, **kwargs)
        except ValueError:
            pass  # the chosen test does not fit this data: fall back to the default one
    cmp = _compare_undecided(b, c, paired=None, test=None, **kwargs)
    if test is not None and cmp.test is not test:
        # Said, never silent: the user asked for one test and reads the result of another.
        return copy_with(
            cmp, note=f"{test} asked for does not fit {KIND_WORDS[cmp.kind]}; {cmp.note}"
        )
    return cmp


def _decide(
    cmp: Comparison, p_adjusted: float | None, spec: Mapping[str, float] | None
) -> Comparison:
    """Verdict and flags once the adjusted p-value is known."""
    if cmp.p_value is None or p_adjusted is None:
        flags = threshold_flags(
            cmp.delta, cmp.candidate_mean, spec, higher_is_better=cmp.higher_is_better
        )
        return copy_with(cmp, p_adjusted=None, flags=flags)
    significant = p_adjusted <= cmp.alpha and bool(cmp.delta)
    note = cmp.note
    if significant:
        assert cmp.delta is not None
        verdict = Verdict.BETTER if (cmp.delta > 0) == cmp.higher_is_better else Verdict.WORSE
    elif cmp.underpowered:
        verdict = Verdict.NOT_ENOUGH_DATA
        note += f"; this test cannot reach p <= {cmp.alpha:g} at this sample size"
    elif (
        spec is not None
        and "max_drop" in spec
        and cmp.mde is not None
        and cmp.mde > spec["max_drop"]
    ):
        # Not significant, but too few data to have seen the drop the user cares about.
        verdict = Verdict.NOT_ENOUGH_DATA
        note += f"; MDE {_fmt(cmp.mde)} > max_drop {_fmt(spec['max_drop'])}"
    else:
        verdict = Verdict.NO_DIFFERENCE
    if verdict in (Verdict.NOT_ENOUGH_DATA, Verdict.NO_DIFFERENCE) and cmp.mde is not None:
        note += f"; MDE {_fmt(cmp.mde)}" if "MDE" not in note else ""
    flags = threshold_flags(
        cmp.delta,
        cmp.candidate_mean,
        spec,
        higher_is_better=cmp.higher_is_better,
        significant=significant,
    )
    return copy_with(cmp, p_adjusted=p_adjusted, verdict=verdict, flags=flags, note=note)


@dataclass(frozen=True)
class FamilyDecision:
    """The verdicts of a view: its batches decided together."""

    comparisons: list[list[Comparison | None]]  # aligned with the batches and their candidates
    family_size: int  # tested comparisons Holm corrected over together


def decide_family(batches: Sequence[ComparisonBatch]) -> FamilyDecision:
    """Holm over every tested comparison of the batches together, then each one's verdict
    and flags by its own batch's threshold.

    A view's family spans sweeps and metrics with different thresholds, so what "better"
    means does not depend on which rows are in sight. Untested comparisons keep what they
    were built with, except those stats built without a test (too few seeds or items),
    which get their flags here. A NaN p-value counts in the family size but not in Holm.
    """
    decided: list[list[Comparison | None]] = []
    tested: list[tuple[int, int]] = []
    pvalues: list[float] = []
    family = 0
    decide = _decide
    for j, batch in enumerate(batches):
        cmps = batch.comparisons
        spec = batch.threshold
        out = list(cmps) if batch.tested or batch.flagged else cmps
        decided.append(out)
        for i in batch.flagged:
            out[i] = decide(cmps[i], None, spec)  # type: ignore[arg-type]
        for i in batch.tested:
            p = cmps[i].p_value  # type: ignore[union-attr]
            family += 1
            if math.isnan(p):  # type: ignore[arg-type]  # holm_correct leaves a NaN out
                out[i] = decide(cmps[i], None, spec)  # type: ignore[arg-type]
            else:
                tested.append((j, i))
                pvalues.append(p)  # type: ignore[arg-type]
    if tested:
        adjusted = holm_correct_array(pvalues).tolist()
        for (j, i), p in zip(tested, adjusted, strict=True):
            batch = batches[j]
            decided[j][i] = decide(batch.comparisons[i], p, batch.threshold)  # type: ignore[arg-type]
    return FamilyDecision(decided, family)


def holm_correct_array(pvalues: Any) -> Any:
    """:func:`holm_correct` of a 1-D float array with no missing values, vectorised.

    Equal to it element for element: the same running maximum of min(1, (m - rank) p) over
    the sorted p-values (ties get the same value whatever their order).
    """
    np = _np()
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.maximum.accumulate(scaled)
    return out


def adjust_comparisons(
    comparisons: Sequence[Comparison], thresholds: Mapping[str, Any] | None = None
) -> list[Comparison]:
    """Holm-correct the p-values of all ``comparisons`` together, then set verdicts and flags.

    Use this when the comparisons shown in one view come from several places; comparisons
    with no test (single runs, too little data) keep their verdict and do not count in m.
    """
    adjusted = holm_correct([c.p_value for c in comparisons])
    return [
        _decide(c, p, threshold_for(c.metric, thresholds))
        for c, p in zip(comparisons, adjusted, strict=True)
    ]


def compare_all(
    baseline: Mapping[str, Scores],
    candidates: Mapping[str, Mapping[str, Scores]],
    *,
    baseline_name: str = "baseline",
    higher_is_better: Mapping[str, bool] | bool = True,
    thresholds: Mapping[str, Any] | None = None,
    paired: bool | None = None,
    tests: Mapping[str, StatTest | str] | None = None,
    alpha: float = DEFAULT_ALPHA,
    confidence: float = DEFAULT_CONFIDENCE,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> list[Comparison]:
    """Every candidate config against the baseline on every baseline metric, Holm-corrected.

    ``baseline`` maps metric -> scores; ``candidates`` maps config name -> metric -> scores.
    ``tests`` optionally overrides the test per metric. A metric the candidate lacks appears
    as "not enough data" so that the gap is visible rather than silently dropped.
    Results come in candidate order, then baseline-metric order.
    """
    specs = {metric: threshold_for(metric, thresholds) for metric in baseline}  # typos fail first
    names = list(candidates)
    hibs: dict[str, bool] = {}
    batches: list[ComparisonBatch] = []
    for metric, b_scores in baseline.items():
        hib = (
            higher_is_better
            if isinstance(higher_is_better, bool)
            else higher_is_better.get(metric, True)
        )
        hibs[metric] = hib
        batches.append(
            compare_batch(
                b_scores,
                [candidates[name].get(metric) for name in names],
                names,
                metric=metric,
                baseline_name=baseline_name,
                higher_is_better=hib,
                threshold=specs[metric],
                paired=paired,
                test=(tests or {}).get(metric),
                alpha=alpha,
                confidence=confidence,
                n_boot=n_boot,
                seed=seed,
            )
        )
    decided = decide_family(batches).comparisons
    out: list[Comparison] = []
    for k, name in enumerate(names):
        for j, metric in enumerate(baseline):
            cmp = decided[j][k]
            out.append(cmp or no_comparison(metric, baseline_name, name, hibs[metric], alpha))
    return out


def no_comparison(
    metric: str,
    baseline: str,
    candidate: str,
    hib: bool,
    alpha: float,
    note: str | None = None,
) -> Comparison:
    """A comparison that could not be made at all (a side has no value): not enough data."""
    return Comparison(
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
        note=note or f"{candidate} has no {metric}",
    )


# --------------------------------------------------------------------------- factorial designs


def effect_labels(factors: Sequence[str]) -> list[tuple[str, ...]]:
    """Effects of a 2^k design in standard (Yates) order: A, B, AB, C, AC, BC, ABC, ..."""
    k = len(factors)
    return [tuple(factors[j] for j in range(k) if mask >> j & 1) for mask in range(1, 2**k)]


def factorial_cells(
    configs: Sequence[Mapping[str, Any]], factors: Mapping[str, Sequence[Any]]
) -> list[list[int]]:
    """Which configs sit in each run of a 2^k design, in standard order.

    ``factors`` maps factor name -> (low, high) levels, as in a sweep spec; the first level is
    the low one. Returns, per run in standard order, the indices of the matching configs
    (several when a config was replicated over seeds). Raises ValueError when a config has a
    level outside the two given or a run has no config, since effects from an incomplete
    design would be silently confounded.
    """
    names = list(factors)
    cells: list[list[int]] = [[] for _ in range(2 ** len(names))]
    for index, config in enumerate(configs):
        mask = 0
        for j, name in enumerate(names):
            levels = list(factors[name])
            if len(levels) != 2:
                raise ValueError(f"factor {name!r} needs exactly 2 levels, got {levels!r}")
            value = config.get(name)
            if value == levels[1]:
                mask |= 1 << j
            elif value != levels[0]:
                raise ValueError(f"config {index}: {name}={value!r} is not one of {levels!r}")
        cells[mask].append(index)
    missing = [i for i, cell in enumerate(cells) if not cell]
    if missing:
        raise ValueError(f"incomplete 2^{len(names)} design: no config for run(s) {missing}")
    return cells


def _effect_name(parts: tuple[str, ...], factors: Sequence[str]) -> str:
    # "TC" reads well for one-letter factors; "lr:warmup" (R's notation) for longer names.
    sep = "" if all(len(f) == 1 for f in factors) else ":"
    return sep.join(parts)


def _contrast_matrix(k: int) -> np.ndarray:
    """(2^k - 1, 2^k) matrix of +-1: row = effect (standard order), column = run.

    Runs are in standard order: factor j is at its high level in run i when bit j of i is
    set (the first factor alternates fastest).
    """
    np = _np()
    runs = np.arange(2**k)
    masks = np.arange(1, 2**k)
    # Sign of run i in effect mask: product over factors in the mask of (+1 high, -1 low),
    # i.e. -1 to the number of factors in the mask at their low level in run i.
    low = (~runs[None, :]) & masks[:, None]
    parity = np.zeros_like(low)
    for j in range(k):
        parity ^= (low >> j) & 1
    return 1.0 - 2.0 * parity


def lenth_pse(effects: Sequence[float]) -> float:
    """Lenth's (1989) pseudo standard error for unreplicated factorial effects.

    s0 = 1.5 median|c|; PSE = 1.5 median{|c| : |c| < 2.5 s0}. Robust because active effects
    are few and get trimmed away.
    """
    np = _np()
    abs_c = np.abs(_as_array(effects))
    if abs_c.size == 0:
        return math.nan
    s0 = 1.5 * float(np.median(abs_c))
    kept = abs_c[abs_c < 2.5 * s0]
    if kept.size == 0:
        return 0.0
    return 1.5 * float(np.median(kept))


def factorial_effects(
    responses: Sequence[float] | Sequence[Sequence[float]] | Sequence[Mapping[str, float]],
    factors: Sequence[str],
    *,
    per_item: bool = False,
    alpha: float = DEFAULT_ALPHA,
) -> list[Effect]:
    """Main effects and interactions of a 2^k design, each with an SE, largest first.

    ``responses`` holds one entry per run in standard order (see :func:`effect_labels`):

    - a number per run: unreplicated, SEs from Lenth's pseudo-SE (t with m/3 df);
    - a list of replicate (seed) values per run: SEs from the pooled within-run variance,
      SE = s * sqrt(sum 1/r_i) / 2^(k-1) with sum(r_i - 1) df;
    - with ``per_item=True``, per-item scores on the same items for every run (a row per run,
      or a mapping item id -> score, aligned on the items all runs share): each item gives
      its own contrast, SE = sd(per-item effects, ddof=1) / sqrt(n_items).

    An effect is mean(high) - mean(low). Holm-adjusted p-values are across the effects; an
    effect is significant when its adjusted p-value is at most ``alpha``.
    """
    np = _np()
    k = len(factors)
    n_runs = 2**k
    if k == 0 or len(responses) != n_runs:
        raise ValueError(f"{k} factors need 2^{k} = {n_runs} runs, got {len(responses)}")
    contrasts = _contrast_matrix(k)
    divisor = 2 ** (k - 1)
    m = n_runs - 1
    labels = effect_labels(factors)
    first = responses[0]

    se: np.ndarray
    if per_item:
        if isinstance(first, Mapping):
            maps = [dict(r) for r in responses]  # type: ignore[arg-type]
            common = [key for key in maps[0] if all(key in r for r in maps[1:])]
            y = np.array([[r[key] for key in common] for r in maps], dtype=float)
        else:
            y = np.asarray(responses, dtype=float)
        if y.ndim != 2 or y.shape[1] < 2:
            raise ValueError("per-item effects need at least 2 items scored by every run")
        y = y[:, ~np.isnan(y).any(axis=0)]
        per_item_effects = contrasts @ y / divisor  # (m, n_items)
        estimates = per_item_effects.mean(axis=1)
        n_items = y.shape[1]
        se = per_item_effects.std(axis=1, ddof=1) / math.sqrt(n_items)
        df: float = n_items - 1
        method = EffectMethod.PAIRED_ITEMS
    elif isinstance(first, Sequence | np.ndarray) and not isinstance(first, str):
        reps = [_as_array(r) for r in responses]  # type: ignore[arg-type]
        if any(r.size == 0 for r in reps):
            raise ValueError("every run needs at least one value")
        means = np.array([r.mean() for r in reps])
        estimates = contrasts @ means / divisor
        df = float(sum(r.size - 1 for r in reps))
        if df > 0:
            pooled = sum(float(((r - r.mean()) ** 2).sum()) for r in reps) / df
            se_one = math.sqrt(pooled * sum(1.0 / r.size for r in reps)) / divisor
            se = np.full(m, se_one)
            method = EffectMethod.POOLED_REPLICATES
        else:  # one value per run after all
            se = np.full(m, lenth_pse(estimates))
            df = m / 3.0
            method = EffectMethod.LENTH_PSE
    else:
        y1 = np.asarray(responses, dtype=float)
        estimates = contrasts @ y1 / divisor
        se = np.full(m, lenth_pse(estimates))
        df = m / 3.0
        method = EffectMethod.LENTH_PSE

    ts: list[float | None] = []
    ps: list[float | None] = []
    for est, s in zip(estimates, se, strict=True):
        if s > 0 and not math.isnan(s):
            t = float(est / s)
            ts.append(t)
            ps.append(_t_two_sided_p(t, df))
        else:
            ts.append(None)
            ps.append(None)
    adjusted = holm_correct(ps)
    effects = [
        Effect(
            name=_effect_name(parts, factors),
            factors=parts,
            estimate=float(est),
            se=None if math.isnan(s) else float(s),
            method=method,
            df=df,
            t=t,
            p_value=p,
            p_adjusted=pa,
            significant=pa is not None and pa <= alpha,
        )
        for parts, est, s, t, p, pa in zip(labels, estimates, se, ts, ps, adjusted, strict=True)
    ]
    # Largest effects first (a Pareto chart of effects); ties keep standard order.
    return sorted(effects, key=lambda e: -abs(e.estimate))
