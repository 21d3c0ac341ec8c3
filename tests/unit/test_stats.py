"""cockpit.stats against independent references: scipy where it has the test, published worked
examples otherwise, and the stderr values lm-eval-harness stored in real results files.

Nothing here compares the module with its own earlier output.
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.stats as st

from cockpit import stats
from cockpit.stats import DataKind, EffectMethod, StatTest, Verdict

FORMATS = Path(__file__).parents[1] / "data" / "formats"
ASDIV = FORMATS / "lm-eval-asdiv"
MMLU_AA = FORMATS / "lm-eval-mmlu-abstract-algebra"

# Student's sleep data (Cushny & Peebles), as in R's `sleep`: extra hours of sleep per patient.
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]

# Box, Hunter & Hunter, Statistics for Experimenters (2nd ed.), the 2^3 pilot plant: yields in
# standard order of temperature T, concentration C, catalyst K, duplicated runs.
PILOT_DUPLICATES = [[59, 61], [74, 70], [50, 58], [69, 67], [50, 54], [81, 85], [46, 44], [79, 81]]
PILOT_MEANS = [60, 72, 54, 68, 52, 83, 45, 80]
PILOT_EFFECTS = {"T": 23.0, "C": -5.0, "K": 1.5, "TC": 1.5, "TK": 10.0, "CK": 0.0, "TCK": 0.5}


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- import cost


def test_importing_stats_and_ingest_loads_neither_scipy_nor_numpy() -> None:
    code = (
        "import sys, cockpit.stats, cockpit.ingest; "
        "print(sorted(m for m in ('scipy', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- standard errors


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n", [2, 3, 17, 500])
def test_stderr_mean_matches_scipy_sem(seed: int, n: int) -> None:
    x = _rng(seed).normal(size=n)
    assert stats.stderr_mean(x) == pytest.approx(st.sem(x, ddof=1), rel=1e-12)


def test_stderr_mean_undefined_below_two_values() -> None:
    assert math.isnan(stats.stderr_mean([1.0]))
    assert math.isnan(stats.stderr_mean([]))


def test_stderr_mean_reproduces_lm_eval_acc_stderr_from_real_samples() -> None:
    results = json.loads(next(ASDIV.glob("results_*.json")).read_text())
    stored = results["results"]["asdiv"]["acc_stderr,none"]
    with next(ASDIV.glob("samples_*.jsonl")).open() as fh:
        acc = [json.loads(line)["acc"] for line in fh]
    assert stats.stderr_mean(acc) == pytest.approx(stored, rel=1e-12)


@pytest.mark.parametrize(("folder", "task"), [(ASDIV, "asdiv"), (MMLU_AA, "mmlu_abstract_algebra")])
def test_stderr_proportion_reproduces_lm_eval_stored_stderr(folder: Path, task: str) -> None:
    results = json.loads(next(folder.glob("results_*.json")).read_text())
    acc = results["results"][task]["acc,none"]
    stored = results["results"][task]["acc_stderr,none"]
    n = results["n-samples"][task]["effective"]
    assert stats.stderr_proportion(acc, n) == pytest.approx(stored, rel=1e-12)


# --------------------------------------------------------------------------- intervals


@pytest.mark.parametrize(
    ("k", "n"), [(0, 10), (1, 10), (5, 10), (10, 10), (46, 50), (34, 100), (7000, 14042), (1, 1)]
)
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_ci_matches_scipy(k: int, n: int, confidence: float) -> None:
    ref = st.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    low, high = stats.wilson_ci(k, n, confidence)
    assert low == pytest.approx(ref.low, abs=1e-12)
    assert high == pytest.approx(ref.high, abs=1e-12)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    # Newcombe (1998), Statistics in Medicine 17:857, Table II, method 3 (score, no correction).
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_ci_published_examples(k: int, n: int, low: float, high: float) -> None:
    got = stats.wilson_ci(k, n)
    assert got[0] == pytest.approx(low, abs=5e-5)
    assert got[1] == pytest.approx(high, abs=5e-5)


def test_wilson_ci_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        stats.wilson_ci(11, 10)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_t_ci_matches_scipy(seed: int, confidence: float) -> None:
    x = _rng(seed).normal(3.0, 2.0, size=12)
    ref = st.t.interval(confidence, len(x) - 1, loc=x.mean(), scale=st.sem(x))
    assert stats.t_ci(x, confidence) == pytest.approx(ref, rel=1e-10)


def test_summarize_scores_uses_wilson_for_proportions_and_t_otherwise() -> None:
    binary = [1] * 46 + [0] * 4
    s = stats.summarize_scores(binary)
    ref = st.binomtest(46, 50).proportion_ci(method="wilson")
    assert (s.method, s.n, s.mean) == ("wilson", 50, 0.92)
    assert (s.ci_low, s.ci_high) == pytest.approx((ref.low, ref.high))
    cont = stats.summarize_scores(SLEEP_1)
    assert cont.method == "t"
    assert (cont.ci_low, cont.ci_high) == pytest.approx(
        st.t.interval(0.95, 9, loc=np.mean(SLEEP_1), scale=st.sem(SLEEP_1))
    )
    assert stats.summarize_scores(0.5).method == "none"


# --------------------------------------------------------------------------- paired tests


def test_paired_t_published_sleep_example() -> None:
    # R: t.test(extra ~ group, data = sleep, paired = TRUE): t = -4.0621, df = 9,
    # p-value = 0.002833, 95 % CI -2.4598858 -0.7001142, mean difference -1.58.
    res = stats.paired_t(SLEEP_2, SLEEP_1)
    assert res.statistic == pytest.approx(-4.0621, abs=5e-5)
    assert res.df == 9
    assert res.p_value == pytest.approx(0.002833, abs=5e-7)
    assert res.delta == pytest.approx(-1.58)
    assert (res.ci_low, res.ci_high) == pytest.approx((-2.4598858, -0.7001142), abs=5e-8)


@pytest.mark.parametrize("seed", range(5))
def test_paired_t_matches_scipy(seed: int) -> None:
    rng = _rng(seed)
    base = rng.normal(size=40)
    cand = base + rng.normal(0.2, 1.0, size=40)
    ref = st.ttest_rel(cand, base)
    res = stats.paired_t(base, cand, confidence=0.9)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    ci = ref.confidence_interval(confidence_level=0.9)
    assert (res.ci_low, res.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-10)


def _binary_pair(seed: int, n: int, p_base: float, p_cand: float) -> tuple[np.ndarray, np.ndarray]:
    rng = _rng(seed)
    return (rng.random(n) < p_base).astype(np.int8), (rng.random(n) < p_cand).astype(np.int8)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [12, 60, 2000])
def test_mcnemar_exact_matches_binomial_test(seed: int, n: int) -> None:
    base, cand = _binary_pair(seed, n, 0.6, 0.66)
    b = int(((cand == 1) & (base == 0)).sum())
    c = int(((cand == 0) & (base == 1)).sum())
    ref = st.binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
    res = stats.mcnemar_exact(base, cand)
    assert res.discordant == (b, c)
    assert res.p_value == pytest.approx(ref, rel=1e-10)
    assert res.delta == pytest.approx(cand.mean() - base.mean())


def test_mcnemar_exact_published_example() -> None:
    # Fagerland, Lydersen & Laake (2013), BMC Med Res Methodol 13:91: airway
    # hyper-responsiveness before/after, discordant pairs 1 and 7 (n = 21): exact p = 0.070.
    base = [1] * 1 + [0] * 7 + [1] * 2 + [0] * 11
    cand = [0] * 1 + [1] * 7 + [1] * 2 + [0] * 11
    res = stats.mcnemar_exact(base, cand)
    assert res.discordant == (7, 1)
    assert res.p_value == pytest.approx(0.0703, abs=5e-5)


def test_mcnemar_exact_matches_statsmodels() -> None:
    sm = pytest.importorskip("statsmodels.stats.contingency_tables")
    base, cand = _binary_pair(11, 300, 0.5, 0.58)
    table = [
        [int(((base == 1) & (cand == 1)).sum()), int(((base == 1) & (cand == 0)).sum())],
        [int(((base == 0) & (cand == 1)).sum()), int(((base == 0) & (cand == 0)).sum())],
    ]
    ref = sm.mcnemar(table, exact=True)
    res = stats.mcnemar_exact(base, cand)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert res.statistic == ref.statistic


def test_mcnemar_paired_ci_is_the_t_interval_of_item_differences() -> None:
    base, cand = _binary_pair(3, 500, 0.5, 0.55)
    ref = st.ttest_rel(cand.astype(float), base.astype(float)).confidence_interval()
    res = stats.mcnemar_exact(base, cand)
    assert (res.ci_low, res.ci_high) == pytest.approx((ref.low, ref.high), rel=1e-10)
    assert res.se == pytest.approx(st.sem(cand.astype(float) - base))


def test_mcnemar_many_equals_one_at_a_time() -> None:
    rng = _rng(5)
    base = (rng.random(1000) < 0.6).astype(np.int8)
    cands = (rng.random((20, 1000)) < rng.uniform(0.55, 0.65, size=(20, 1))).astype(np.int8)
    many = stats.mcnemar_exact_many(base, cands)
    for row, res in zip(cands, many, strict=True):
        ref = st.binomtest(int((row > base).sum()), int((row != base).sum()), 0.5).pvalue
        assert res.p_value == pytest.approx(ref, rel=1e-10)
        assert res == stats.mcnemar_exact(base, row)


def test_mcnemar_rejects_non_binary_scores() -> None:
    with pytest.raises(ValueError, match="0/1"):
        stats.mcnemar_exact([0, 1, 0.5], [1, 1, 0])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [8, 30, 200])
def test_wilcoxon_matches_scipy(seed: int, n: int) -> None:
    rng = _rng(seed)
    base = rng.normal(size=n)
    cand = base + rng.normal(0.3, 1.0, size=n)
    ref = st.wilcoxon(cand - base)
    res = stats.wilcoxon_signed_rank(base, cand, n_boot=500)
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-10)


def test_paired_bootstrap_ci_agrees_with_scipy_bootstrap() -> None:
    rng = _rng(8)
    base = rng.normal(size=400)
    cand = base + rng.normal(0.1, 1.0, size=400)
    low, high = stats.paired_bootstrap_ci(base, cand, n_boot=20_000, seed=1)
    ref = st.bootstrap(
        (cand - base,), np.mean, method="percentile", n_resamples=20_000, random_state=2
    ).confidence_interval
    # Two Monte Carlo estimates of the same percentiles: agree to well under one SE (0.05).
    assert low == pytest.approx(ref.low, abs=0.006)
    assert high == pytest.approx(ref.high, abs=0.006)


def test_paired_bootstrap_is_deterministic_per_seed_and_tests_sensibly() -> None:
    rng = _rng(9)
    base = rng.normal(size=300)
    shifted = base + 0.5 + rng.normal(0, 0.5, size=300)
    null = base + rng.normal(0, 0.5, size=300)
    a = stats.paired_bootstrap(base, shifted, n_boot=2000, seed=4)
    assert a == stats.paired_bootstrap(base, shifted, n_boot=2000, seed=4)
    assert a.p_value == pytest.approx(1 / 2001)  # nothing as extreme under the null
    assert a.ci_low > 0
    # Under the null the bootstrap p agrees roughly with the paired t-test.
    b = stats.paired_bootstrap(base, null, n_boot=4000, seed=4)
    assert b.p_value == pytest.approx(st.ttest_rel(null, base).pvalue, abs=0.05)


# --------------------------------------------------------------------------- independent


def test_welch_t_published_sleep_example() -> None:
    # R: t.test(extra ~ group, data = sleep): Welch t = -1.8608, df = 17.776,
    # p-value = 0.07939, 95 % CI -3.3654832 0.2054832.
    res = stats.welch_t(SLEEP_2, SLEEP_1)
    assert res.statistic == pytest.approx(-1.8608, abs=5e-5)
    assert res.df == pytest.approx(17.776, abs=5e-4)
    assert res.p_value == pytest.approx(0.07939, abs=5e-6)
    assert (res.ci_low, res.ci_high) == pytest.approx((-3.3654832, 0.2054832), abs=5e-8)


@pytest.mark.parametrize(("n1", "n2"), [(2, 2), (3, 5), (5, 3), (10, 20)])
def test_welch_t_matches_scipy(n1: int, n2: int) -> None:
    rng = _rng(n1 * 100 + n2)
    base = rng.normal(0.0, 1.0, size=n1)
    cand = rng.normal(0.5, 2.0, size=n2)
    ref = st.ttest_ind(cand, base, equal_var=False)
    res = stats.welch_t(base, cand, confidence=0.95)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    ci = ref.confidence_interval()
    assert (res.ci_low, res.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-9)


@pytest.mark.parametrize(("n1", "n2"), [(3, 3), (4, 6), (20, 25)])
def test_mann_whitney_matches_scipy(n1: int, n2: int) -> None:
    rng = _rng(n1 + 7 * n2)
    base = rng.normal(0.0, 1.0, size=n1)
    cand = rng.normal(0.8, 1.0, size=n2)
    ref = st.mannwhitneyu(cand, base, alternative="two-sided")
    res = stats.mann_whitney(base, cand, n_boot=500)
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert res.min_attainable_p == pytest.approx(2 / math.comb(n1 + n2, n1))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n", [5, 8, 11])
def test_wilcoxon_p_is_the_exact_sign_flip_probability(seed: int, n: int) -> None:
    """Under the null every sign of the ranked |differences| is equally likely: the exact
    two-sided p is the share of the 2^n sign patterns whose W+ is as far from its mean."""
    rng = _rng(seed + 40)
    base = rng.normal(size=n)
    cand = base + rng.normal(0.4, 1.0, size=n)  # distinct nonzero differences: no ties
    d = cand - base
    ranks = np.argsort(np.argsort(np.abs(d))) + 1
    w_plus = int(ranks[d > 0].sum())
    mean = n * (n + 1) / 4
    extreme = sum(
        abs(sum(r for r, positive in zip(ranks, signs, strict=True) if positive) - mean)
        >= abs(w_plus - mean)
        for signs in itertools.product((False, True), repeat=n)
    )
    res = stats.wilcoxon_signed_rank(base, cand, n_boot=200)
    assert res.p_value == pytest.approx(extreme / 2**n, rel=1e-12)
    assert res.statistic == min(w_plus, n * (n + 1) // 2 - w_plus)


@pytest.mark.parametrize(("n1", "n2"), [(3, 3), (3, 5), (4, 6), (6, 4)])
def test_mann_whitney_p_is_the_exact_rank_split_probability(n1: int, n2: int) -> None:
    """Under the null every split of the pooled ranks into the two groups is equally likely:
    the exact two-sided p is the share of the C(n1+n2, n2) splits whose U is as far from
    n1*n2/2 as the one observed."""
    rng = _rng(n1 * 10 + n2 + 50)
    base = rng.normal(0.0, 1.0, size=n1)
    cand = rng.normal(1.0, 1.0, size=n2)  # continuous: no ties
    pooled = np.concatenate([base, cand])
    ranks = np.argsort(np.argsort(pooled)) + 1

    def u_of(group: tuple[int, ...]) -> float:
        return sum(int(ranks[i]) for i in group) - n2 * (n2 + 1) / 2

    observed = u_of(tuple(range(n1, n1 + n2)))
    mean = n1 * n2 / 2
    splits = list(itertools.combinations(range(n1 + n2), n2))
    extreme = sum(abs(u_of(g) - mean) >= abs(observed - mean) for g in splits)
    res = stats.mann_whitney(base, cand, n_boot=200)
    assert res.statistic == observed  # U of the candidate
    assert res.p_value == pytest.approx(min(1.0, extreme / len(splits)), rel=1e-12)


def _mcnemar_at_its_mde(n: int, p_only_baseline: float) -> tuple[float, float]:
    """Discordant rates (only candidate right, only baseline right) whose true difference
    equals the MDE the cockpit states for n items: 2.80 x the SE of the mean difference."""
    k = (st.norm.ppf(0.975) + st.norm.ppf(0.8)) ** 2 / n
    # delta = sqrt(k * (2 p01 + delta - delta^2)), solved for delta.
    a, b, c = 1 + k, -k, -2 * k * p_only_baseline
    delta = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    return p_only_baseline + delta, p_only_baseline


def _mcnemar_power(n: int, rates: tuple[float, float], nulls: int, reps: int) -> float:
    """Share of simulated experiments in which the comparison at the MDE is called better,
    alone (nulls = 0) or Holm-corrected together with `nulls` comparisons of no difference."""
    rng = _rng(2027)
    p10, p01 = rates
    real = rng.multinomial(n, [p10, p01, 1 - p10 - p01], size=(reps, 1))
    half = (p10 + p01) / 2  # the same discordance, no difference
    null = rng.multinomial(n, [half, half, 1 - 2 * half], size=(reps, nulls))
    draws = np.concatenate([real, null], axis=1)
    p = stats.mcnemar_p_values(draws[..., 0], draws[..., 1])
    found = 0
    for row, (b, c) in zip(p, draws[:, 0, :2], strict=True):
        adjusted = stats.holm_correct(list(row)) if nulls else list(row)
        found += bool(b > c and adjusted[0] is not None and adjusted[0] <= 0.05)
    return found / reps


def test_the_stated_mde_is_found_about_80_percent_of_the_time_by_one_mcnemar_test() -> None:
    """Monte Carlo of what the README says about the MDE: one McNemar comparison at a true
    difference equal to the MDE is called better close to 80 % of the time (the exact test
    is a little conservative), and about half the time when Holm corrects it together with
    6 comparisons of no difference, as the README says."""
    n = 1000
    rates = _mcnemar_at_its_mde(n, 0.05)
    alone = _mcnemar_power(n, rates, nulls=0, reps=4000)
    assert 0.70 <= alone <= 0.82, alone
    # One real difference among 7 comparisons: Holm tests it first at alpha / 7.
    after_holm = _mcnemar_power(n, rates, nulls=6, reps=1500)
    assert 0.40 <= after_holm <= 0.60, after_holm
    # The stated formula is the right scale: a quarter larger an effect is found ~95 %.
    bigger = (rates[1] + 1.25 * (rates[0] - rates[1]), rates[1])
    assert _mcnemar_power(n, bigger, nulls=0, reps=2000) >= 0.9


def test_a_test_that_does_not_fit_the_data_is_replaced_and_the_note_says_so() -> None:
    items = {f"q{i}": float(i % 3 == 0) for i in range(60)}
    better = {k: 1.0 if i % 2 == 0 else v for i, (k, v) in enumerate(items.items())}
    batch = stats.compare_batch(
        items, [better], ["c"], test=StatTest.WILCOXON, lenient=True, metric="acc"
    )
    cmp = batch.comparisons[0]
    assert cmp is not None and cmp.test is StatTest.MCNEMAR_EXACT
    assert cmp.note.startswith(
        "Wilcoxon signed-rank asked for does not fit 0/1 scores on the same items; McNemar"
    )
    seeds = stats.compare_batch(
        [0.41, 0.43, 0.42],
        [[0.45, 0.46, 0.44]],
        ["c"],
        test=StatTest.MCNEMAR_EXACT,
        lenient=True,
        metric="acc",
    ).comparisons[0]
    assert seeds is not None and seeds.test is StatTest.WELCH_T
    assert seeds.note.startswith("McNemar exact asked for does not fit values of independent")
    # A test that fits is used as asked, and the note does not mention another.
    fits = stats.compare_batch(
        items, [better], ["c"], test=StatTest.PAIRED_T, lenient=True, metric="acc"
    ).comparisons[0]
    assert fits is not None and fits.test is StatTest.PAIRED_T and "asked" not in fits.note


# --------------------------------------------------------------------------- Holm


def test_holm_published_example() -> None:
    # Holm-Bonferroni worked example (4 hypotheses, alpha 0.05): H1 and H4 rejected;
    # adjusted p = min(1, running max of (m - j + 1) p_(j)) = .02, .03, .06, .06.
    adjusted = stats.holm_correct([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [p <= 0.05 for p in adjusted] == [True, False, False, True]


@pytest.mark.parametrize("seed", range(5))
def test_holm_matches_statsmodels(seed: int) -> None:
    mt = pytest.importorskip("statsmodels.stats.multitest")
    p = _rng(seed).uniform(0, 0.2, size=30) ** 2
    ref = mt.multipletests(p, method="holm")[1]
    assert stats.holm_correct(list(p)) == pytest.approx(list(ref), rel=1e-12)


def test_holm_is_monotone_capped_and_skips_missing() -> None:
    p = [0.5, None, 0.001, float("nan"), 0.4, 0.03]
    adj = stats.holm_correct(p)
    assert adj[1] is None and adj[3] is None
    tested = [(raw, a) for raw, a in zip(p, adj, strict=True) if a is not None]
    # m = 4 tests, not 6: the missing ones do not count.
    assert adj[2] == pytest.approx(0.004)
    assert all(a <= 1.0 for _, a in tested)
    ordered = sorted(tested)
    assert all(x[1] <= y[1] for x, y in itertools.pairwise(ordered))
    assert all(a >= raw for raw, a in tested)


# --------------------------------------------------------------------------- MDE


@pytest.mark.parametrize("se", [0.01, 0.5, 3.0])
def test_minimum_detectable_effect_has_80_percent_power(se: float) -> None:
    mde = stats.minimum_detectable_effect(se)
    z = st.norm.ppf(0.975)
    power = st.norm.cdf(mde / se - z) + st.norm.cdf(-mde / se - z)
    assert power == pytest.approx(0.8, abs=1e-3)
    assert mde == pytest.approx((st.norm.ppf(0.975) + st.norm.ppf(0.8)) * se, rel=1e-9)


# --------------------------------------------------------------------------- choosing tests


@pytest.mark.parametrize(
    ("baseline", "candidate", "paired", "kind", "test"),
    [
        (
            {"q1": 1, "q2": 0},
            {"q1": 0, "q2": 0},
            None,
            DataKind.PAIRED_BINARY,
            StatTest.MCNEMAR_EXACT,
        ),
        (
            {"q1": 0.3, "q2": 0.9},
            {"q1": 0.5, "q2": 0.1},
            None,
            DataKind.PAIRED_CONTINUOUS,
            StatTest.PAIRED_T,
        ),
        ([1, 0, 1], [1, 1, 1], True, DataKind.PAIRED_BINARY, StatTest.MCNEMAR_EXACT),
        ([0.71, 0.72, 0.70], [0.74, 0.73, 0.75], None, DataKind.SEEDS, StatTest.WELCH_T),
        (0.71, 0.74, None, DataKind.SINGLE, StatTest.NONE),
        ([0.71], [0.74], None, DataKind.SINGLE, StatTest.NONE),
    ],
)
def test_choose_test_from_data_shape(
    baseline: object, candidate: object, paired: bool | None, kind: DataKind, test: StatTest
) -> None:
    assert stats.choose_test(baseline, candidate, paired=paired) == (kind, test)  # type: ignore[arg-type]


def test_choose_test_refuses_mixed_shapes() -> None:
    with pytest.raises(ValueError):
        stats.choose_test({"q1": 1.0}, [1.0, 2.0])


# --------------------------------------------------------------------------- verdicts


def _items(values: np.ndarray) -> dict[str, float]:
    return {f"doc{i}": float(v) for i, v in enumerate(values)}


def test_compare_paired_items_better_and_direction_flip() -> None:
    base, cand = _binary_pair(21, 3000, 0.50, 0.56)
    b, c = _items(base), _items(cand)
    res = stats.compare(b, c, metric="acc")
    ref_p = st.binomtest(int((cand > base).sum()), int((cand != base).sum()), 0.5).pvalue
    assert res.test is StatTest.MCNEMAR_EXACT
    assert res.p_value == pytest.approx(ref_p)
    assert res.p_adjusted == res.p_value
    assert res.verdict is Verdict.BETTER
    assert res.delta == pytest.approx(cand.mean() - base.mean())
    assert res.ci_low is not None and res.ci_low > 0
    # The same numbers for an error rate: higher is worse.
    assert stats.compare(b, c, higher_is_better=False).verdict is Verdict.WORSE


def test_compare_aligns_items_by_id() -> None:
    base = {"a": 1.0, "b": 0.0, "c": 1.0, "d": 0.0, "e": 1.0}
    cand = {"e": 1.0, "d": 1.0, "x": 0.0, "a": 1.0, "b": 1.0}  # shuffled, one extra, "c" missing
    res = stats.compare(base, cand)
    assert res.n == 4
    assert res.delta == pytest.approx((3 - 1) / 4 * 1.0)  # b, d flip to 1; others agree


def test_compare_single_values_says_no_test_possible() -> None:
    res = stats.compare(0.71, 0.80, metric="acc")
    assert res.verdict is Verdict.SINGLE_RUN
    assert str(res.verdict) == "single run, no test possible"
    assert res.p_value is None and res.p_adjusted is None
    assert res.delta == pytest.approx(0.09)


def test_compare_seeds_uses_welch() -> None:
    res = stats.compare(SLEEP_2, SLEEP_1, metric="sleep")
    assert res.test is StatTest.WELCH_T
    assert res.p_value == pytest.approx(st.ttest_ind(SLEEP_1, SLEEP_2, equal_var=False).pvalue)
    assert res.verdict is Verdict.NO_DIFFERENCE
    assert res.mde == pytest.approx(
        (st.norm.ppf(0.975) + st.norm.ppf(0.8))
        * math.sqrt(np.var(SLEEP_1, ddof=1) / 10 + np.var(SLEEP_2, ddof=1) / 10)
    )


def test_compare_one_seed_against_several_is_not_enough_data_with_mde() -> None:
    res = stats.compare([0.70], [0.71, 0.73, 0.72], metric="acc")
    assert res.verdict is Verdict.NOT_ENOUGH_DATA
    assert res.p_value is None
    sd = np.std([0.71, 0.73, 0.72], ddof=1)
    assert res.mde == pytest.approx(
        (st.norm.ppf(0.975) + st.norm.ppf(0.8)) * sd * math.sqrt(1 + 1 / 3)
    )


def test_compare_too_few_items_is_not_enough_data_not_no_difference() -> None:
    # 5 items all flipping in the candidate's favour: McNemar's smallest possible p is
    # 2 / 2^5 = 0.0625 > 0.05, so no outcome could have been significant.
    res = stats.compare([0, 0, 0, 0, 0], [1, 1, 1, 1, 1], paired=True)
    assert res.p_value == pytest.approx(st.binomtest(5, 5, 0.5).pvalue)
    assert res.verdict is Verdict.NOT_ENOUGH_DATA


def test_compare_mann_whitney_three_seeds_each_is_not_enough_data() -> None:
    res = stats.compare([0.1, 0.2, 0.3], [0.7, 0.8, 0.9], test="Mann-Whitney U")
    assert res.p_value == pytest.approx(0.1)  # the smallest p with 3 vs 3
    assert res.verdict is Verdict.NOT_ENOUGH_DATA


def test_compare_mde_above_user_threshold_is_not_enough_data() -> None:
    base, cand = _binary_pair(2, 60, 0.6, 0.6)
    res = stats.compare(_items(base), _items(cand), metric="mmlu_acc", threshold={"max_drop": 0.05})
    assert res.p_value is not None and res.p_value > 0.05
    assert res.mde is not None and res.mde > 0.05
    assert res.verdict is Verdict.NOT_ENOUGH_DATA
    assert "MDE" in res.note


def test_compare_rejects_a_test_that_does_not_fit_the_data() -> None:
    with pytest.raises(ValueError):
        stats.compare([0.1, 0.2, 0.3], [0.2, 0.3, 0.4], test=StatTest.MCNEMAR_EXACT)


@pytest.mark.parametrize("seed", range(30))
def test_never_better_or_worse_without_a_significant_test(seed: int) -> None:
    rng = _rng(seed)
    n = int(rng.integers(5, 200))
    base, cand = _binary_pair(seed, n, 0.6, 0.6 + rng.uniform(-0.1, 0.1))
    for res in (
        stats.compare(_items(base), _items(cand)),
        stats.compare(list(rng.normal(size=3)), list(rng.normal(0.5, size=4))),
    ):
        if res.verdict in (Verdict.BETTER, Verdict.WORSE):
            assert res.p_adjusted is not None and res.p_adjusted <= 0.05


# --------------------------------------------------------------------------- thresholds


def test_threshold_flags_drop_on_accuracy_and_rise_on_loss() -> None:
    spec = stats.threshold_for("mmlu_acc", {"mmlu_acc": {"max_drop": 0.05}})
    assert stats.threshold_flags(-0.06, 0.4, spec) == ("drop 0.06 > max_drop 0.05",)
    assert stats.threshold_flags(-0.04, 0.4, spec) == ()
    assert stats.threshold_flags(0.06, 0.4, spec, higher_is_better=False) == (
        "rise 0.06 > max_drop 0.05",
    )


def test_threshold_for_globs_bare_numbers_and_typos() -> None:
    assert stats.threshold_for("mmlu_stem/acc", {"mmlu*": 0.05}) == {"max_drop": 0.05}
    assert stats.threshold_for("gsm8k", {"mmlu*": 0.05}) is None
    with pytest.raises(ValueError, match="max_dorp"):
        stats.threshold_for("mmlu_acc", {"mmlu_acc": {"max_dorp": 0.05}})


# --------------------------------------------------------------------------- compare_all


def test_compare_all_applies_holm_across_every_comparison() -> None:
    rng = _rng(40)
    n = 800
    base = (rng.random(n) < 0.5).astype(int)
    candidates = {}
    for i, p in enumerate([0.5, 0.52, 0.545, 0.56, 0.6]):
        cand = np.where(rng.random(n) < 0.8, base, (rng.random(n) < p).astype(int))
        cand = np.where((base == 0) & (rng.random(n) < (p - 0.5)), 1, cand)
        candidates[f"cfg{i}"] = {"acc": _items(cand)}
    results = stats.compare_all({"acc": _items(base)}, candidates, baseline_name="base")
    raw = [r.p_value for r in results]
    mt = pytest.importorskip("statsmodels.stats.multitest")
    assert [r.p_adjusted for r in results] == pytest.approx(
        list(mt.multipletests(raw, method="holm")[1])
    )
    for r in results:
        significant = r.p_adjusted is not None and r.p_adjusted <= 0.05
        assert (r.verdict in (Verdict.BETTER, Verdict.WORSE)) == significant
        assert r.baseline == "base"


def test_compare_all_significant_alone_but_not_after_holm() -> None:
    # One candidate with raw p ~ 0.013 among nine null ones: alone it would be "better";
    # Holm across ten comparisons makes it no significant difference.
    base = {f"q{i}": 0.0 for i in range(40)}
    strong = {f"q{i}": (1.0 if i < 12 else 0.0) for i in range(40)}
    base.update({f"r{i}": 1.0 for i in range(40)})
    strong.update({f"r{i}": (0.0 if i < 2 else 1.0) for i in range(40)})
    alone = stats.compare(base, strong)
    assert alone.p_value == pytest.approx(st.binomtest(12, 14, 0.5).pvalue)
    assert alone.verdict is Verdict.BETTER
    nulls = {f"n{i}": {"acc": dict(base)} for i in range(9)}
    results = stats.compare_all({"acc": base}, {"strong": {"acc": strong}, **nulls})
    first = results[0]
    assert first.p_adjusted == pytest.approx(min(1.0, 10 * alone.p_value))
    assert first.verdict is Verdict.NO_DIFFERENCE


def test_compare_all_mixes_kinds_and_reports_missing_metrics() -> None:
    baseline = {"acc": {"a": 1.0, "b": 0.0}, "loss": [1.0, 1.1, 0.9], "bleu": 21.0}
    candidates = {
        "c1": {"acc": {"a": 1.0, "b": 1.0}, "loss": [0.8, 0.85, 0.9], "bleu": 22.0},
        "c2": {"loss": [1.0, 1.05]},
    }
    res = stats.compare_all(
        baseline, candidates, higher_is_better={"loss": False}, thresholds={"bleu": 0.5}
    )
    by = {(r.candidate, r.metric): r for r in res}
    assert by[("c1", "bleu")].verdict is Verdict.SINGLE_RUN
    assert by[("c1", "acc")].verdict is Verdict.NOT_ENOUGH_DATA  # 2 items cannot be tested
    assert by[("c2", "acc")].verdict is Verdict.NOT_ENOUGH_DATA
    assert "no acc" in by[("c2", "acc")].note
    assert by[("c1", "loss")].test is StatTest.WELCH_T
    assert not by[("c1", "loss")].higher_is_better


def test_compare_all_flags_thresholds_from_the_sweep_spec() -> None:
    base, cand = _binary_pair(13, 2000, 0.55, 0.45)
    res = stats.compare_all(
        {"mmlu_acc": _items(base)},
        {"cfg": {"mmlu_acc": _items(cand)}},
        thresholds={"mmlu_acc": {"max_drop": 0.05}},
    )[0]
    assert res.verdict is Verdict.WORSE
    assert len(res.flags) == 1 and res.flags[0].startswith("drop ")
    assert res.flags[0].endswith("(significant)")


# --------------------------------------------------------------------------- factorial


def test_effect_labels_standard_order() -> None:
    assert ["".join(e) for e in stats.effect_labels("ABC")] == [
        "A",
        "B",
        "AB",
        "C",
        "AC",
        "BC",
        "ABC",
    ]


def test_factorial_pilot_plant_effects_and_lenth_pse() -> None:
    effects = stats.factorial_effects(PILOT_MEANS, ["T", "C", "K"])
    got = {e.name: e.estimate for e in effects}
    assert got == pytest.approx(PILOT_EFFECTS)
    assert stats.lenth_pse(list(got.values())) == pytest.approx(2.25)
    assert all(e.method is EffectMethod.LENTH_PSE and e.se == pytest.approx(2.25) for e in effects)
    # Ranked by size: T, TK, then C.
    assert [e.name for e in effects[:3]] == ["T", "TK", "C"]
    # Lenth's margin of error t(0.975, m/3 = 7/3) * PSE = 3.76 * 2.25 = 8.47 makes T and TK
    # the active effects, as in BHH's analysis.
    me = st.t.ppf(0.975, 7 / 3) * 2.25
    assert me == pytest.approx(8.47, abs=0.01)
    active = {e.name for e in effects if e.p_value is not None and e.p_value < 0.05}
    assert active == {n for n, v in PILOT_EFFECTS.items() if abs(v) > me} == {"T", "TK"}


def test_lenth_pse_trims_effects_beyond_two_and_a_half_s0() -> None:
    # Worked from Lenth's (1989) definition: median |c| = 2, s0 = 3, so |c| = 8 > 7.5 is
    # trimmed; the median of the remaining six (0.5, 1, 1, 2, 2, 3) is 1.5 -> PSE = 2.25.
    assert stats.lenth_pse([0.5, -1, 1, 2, -2, 3, 8]) == pytest.approx(2.25)
    # Nothing trimmed: PSE = 1.5 * median = s0.
    assert stats.lenth_pse([1, 2, 3, 4, 5]) == pytest.approx(4.5)


def test_factorial_pilot_plant_replicated_pooled_se() -> None:
    # BHH: duplicated runs give s^2 = 8 on 8 df and SE(effect) = sqrt(4 s^2 / 16) = 1.4.
    effects = stats.factorial_effects(PILOT_DUPLICATES, ["T", "C", "K"])
    assert {e.name: e.estimate for e in effects} == pytest.approx(PILOT_EFFECTS)
    for e in effects:
        assert e.method is EffectMethod.POOLED_REPLICATES
        assert e.se == pytest.approx(math.sqrt(2.0))
        assert e.df == 8
        assert e.p_value == pytest.approx(2 * st.t.sf(abs(e.estimate) / math.sqrt(2), 8))
    significant = {e.name for e in effects if e.p_value < 0.05}
    assert significant == {"T", "C", "TK"}


def test_factorial_per_item_contrasts_match_per_item_regression() -> None:
    rng = _rng(77)
    n_items = 150
    # Items of varying difficulty; every run scores every item.
    difficulty = rng.normal(size=n_items)
    y = np.array(PILOT_MEANS, dtype=float)[:, None] + difficulty + rng.normal(0, 3, (8, n_items))
    effects = {e.name: e for e in stats.factorial_effects(y, ["T", "C", "K"], per_item=True)}
    # Independent reference: per item, least squares on the +-1 model matrix (coefficients
    # are half-effects), then the mean and scipy's SEM across items.
    signs = np.array([[1 if (i >> j) & 1 else -1 for j in range(3)] for i in range(8)])
    cols = [
        signs[:, 0],
        signs[:, 1],
        signs[:, 0] * signs[:, 1],
        signs[:, 2],
        signs[:, 0] * signs[:, 2],
        signs[:, 1] * signs[:, 2],
        signs.prod(axis=1),
    ]
    x = np.column_stack([np.ones(8), *cols])
    coef = np.linalg.lstsq(x, y, rcond=None)[0][1:] * 2  # (7, n_items) per-item effects
    for name, row in zip(["T", "C", "TC", "K", "TK", "CK", "TCK"], coef, strict=True):
        assert effects[name].estimate == pytest.approx(row.mean())
        assert effects[name].se == pytest.approx(st.sem(row))
        assert effects[name].method is EffectMethod.PAIRED_ITEMS
        assert effects[name].df == n_items - 1


def test_factorial_per_item_accepts_mappings_aligned_by_id() -> None:
    rows = [{f"q{i}": float((i + r) % 3 == 0) for i in range(30)} for r in range(4)]
    rows[2]["extra"] = 1.0
    effects = stats.factorial_effects(rows, ["lr", "warmup"], per_item=True)
    assert {e.name for e in effects} == {"lr", "warmup", "lr:warmup"}


def test_factorial_rejects_wrong_run_count() -> None:
    with pytest.raises(ValueError, match="2\\^3"):
        stats.factorial_effects([1.0, 2.0, 3.0], ["A", "B", "C"])


def test_factorial_cells_puts_configs_in_standard_order() -> None:
    factors = {"rank": [128, 64], "scheduler": ["none", "cosine"]}
    configs = [
        {"rank": 64, "scheduler": "cosine", "seed": 1},
        {"rank": 128, "scheduler": "none", "seed": 1},
        {"rank": 128, "scheduler": "cosine", "seed": 1},
        {"rank": 64, "scheduler": "none", "seed": 1},
        {"rank": 64, "scheduler": "cosine", "seed": 2},
    ]
    # Standard order: (1), rank, scheduler, rank+scheduler; the last cell is replicated.
    assert stats.factorial_cells(configs, factors) == [[1], [3], [2], [0, 4]]
    with pytest.raises(ValueError, match="incomplete"):
        stats.factorial_cells(configs[:2], factors)
    with pytest.raises(ValueError, match="not one of"):
        stats.factorial_cells([*configs, {"rank": 32, "scheduler": "none"}], factors)
