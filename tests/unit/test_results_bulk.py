"""The results matrix's bulk paths give exactly what the one-at-a-time stats functions give.

build_matrix compares thousands of configs at once: per-seed values through one vectorised
Welch (stats.welch_t_many inside stats.compare_batch), their summaries through
stats.summarize_many, Holm through stats.holm_correct_array, single numbers from a
template. Each is checked here, on seeded random data, for equality (==, not approx) with
welch_t, summarize_scores, holm_correct and compare_undecided + adjust_comparisons.
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Any

import pytest

from cockpit import stats
from cockpit.metric_names import proportion_bounds
from cockpit.models import Run, RunSpec, RunState, Sweep
from cockpit.models.results import ScoreSummary, StatTest, Verdict
from cockpit.results import ResultsData, build_matrix

THRESHOLDS = {"acc": {"max_drop": 0.01, "min": 0.45}, "loss": {"max_drop": 0.05}}


def seed_values(rng: random.Random, n: int, mean: float, sd: float) -> list[float]:
    shape = rng.random()
    if shape < 0.05:
        return [round(mean, 3)] * n  # no spread at all
    if shape < 0.10:
        return [float(rng.random() < 0.5) for _ in range(n)]  # 0/1 values: Wilson
    values = [rng.gauss(mean, sd) for _ in range(n)]
    if shape < 0.15 and n > 2:
        values[rng.randrange(n)] = math.nan  # a seed that never reported
    return values


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_welch_many_and_summaries_equal_one_at_a_time(seed: int) -> None:
    rng = random.Random(seed)
    baseline = seed_values(rng, rng.randint(2, 8), 0.5, 0.02)
    baseline = [v for v in baseline if not math.isnan(v)] or [0.5, 0.51]
    candidates = [
        seed_values(rng, rng.randint(1, 12), 0.5 + rng.gauss(0, 0.02), rng.choice([1e-3, 0.02]))
        for _ in range(300)
    ]
    names = [f"c{i}" for i in range(len(candidates))]
    bulk = stats.compare_batch(
        baseline,
        candidates,
        names,
        metric="acc",
        baseline_name="base",
        higher_is_better=True,
        alpha=0.05,
        confidence=0.95,
    ).comparisons
    one = [
        stats.compare_undecided(
            baseline,
            c,
            metric="acc",
            baseline_name="base",
            candidate_name=name,
            paired=None,
            test=None,
            higher_is_better=True,
            alpha=0.05,
            confidence=0.95,
            n_boot=stats.DEFAULT_N_BOOT,
            seed=0,
        )
        for c, name in zip(candidates, names, strict=True)
    ]
    assert bulk == one
    assert sum(c.test is StatTest.WELCH_T for c in bulk) > 200  # the vectorised path ran

    clean = [[v for v in c if not math.isnan(v)] for c in candidates]
    welchable = [c for c in clean if len(c) >= 2]
    assert stats.welch_t_many(baseline, welchable) == [
        stats.welch_t(baseline, c) for c in welchable
    ]

    summaries = stats.summarize_many(candidates)
    expected = [stats.summarize_scores(c) for c in candidates]
    for got, want in zip(summaries, expected, strict=True):
        if want.n >= 2:  # n < 2 gives NaN fields, which never compare equal
            assert got == want


@pytest.mark.parametrize("seed", [0, 1])
def test_holm_array_equals_holm(seed: int) -> None:
    rng = random.Random(seed)
    pvalues = [rng.random() ** 3 for _ in range(500)] + [0.01] * 5 + [1.0, 0.0]
    rng.shuffle(pvalues)
    assert stats.holm_correct_array(pvalues).tolist() == stats.holm_correct(pvalues)


# --------------------------------------------------------------------------- the matrix


def random_data(seed: int) -> ResultsData:
    """Three sweeps: replicated seeds, single runs, and both mixed, with real effects."""
    rng = random.Random(seed)
    sweeps: list[Sweep] = []
    runs: list[Run] = []
    finals: dict[str, dict[str, float]] = {}
    for name, configs, seeds in (
        ("seeds", 60, (1, 6)),
        ("single", 200, (1, 1)),
        ("mixed", 40, (1, 4)),
    ):
        sweeps.append(Sweep(name, {}, None, "acc", THRESHOLDS, 1.0))
        for c in range(configs):
            effect = rng.choice([0.0, 0.0, 0.03, -0.03])
            if c == 0:  # the baseline: every seed, well behaved
                values = [rng.gauss(0.5, 0.01) for _ in range(seeds[1])]
            else:
                values = seed_values(rng, rng.randint(*seeds), 0.5 + effect, 0.01)
            if all(math.isnan(v) for v in values):
                values = [0.5]
            for s, value in enumerate(values):
                run_id = f"{name}-c{c:03d}-s{s}"
                spec = RunSpec(run_id, "train", {"lr": c, "seed": s}, sweep=name)
                runs.append(Run(run_id, spec, RunState.SUCCEEDED, exit_code=0))
                finals[run_id] = {"acc": value, "loss": 2.0 - value + rng.gauss(0, 0.001)}
    return ResultsData(tuple(sweeps), tuple(runs), finals, {})


def scores_of(data: ResultsData, run_ids: tuple[str, ...], metric: str) -> Any:
    values = [data.finals[r][metric] for r in run_ids if not math.isnan(data.finals[r][metric])]
    return values[0] if len(values) == 1 else values


@pytest.mark.parametrize(("seed", "metric"), [(0, "acc"), (1, "acc"), (2, "loss")])
def test_matrix_equals_compare_raw_then_holm_over_the_view(seed: int, metric: str) -> None:
    data = random_data(seed)
    matrix = build_matrix(data, metric=metric)
    hib = matrix.higher_is_better[metric]
    got = []
    raw = []
    for group in matrix.sweeps:
        base = next(c for c in group.configs if c.is_baseline)
        b = scores_of(data, base.run_ids, metric)
        # Seeds are runs, not trials; a proportion's CI stays inside [0, 1].
        values = [
            v
            for c in group.configs
            for r in c.run_ids
            if not math.isnan(v := data.finals[r][metric])
        ]
        bounds = proportion_bounds(metric, values)
        for config in group.configs:
            c = scores_of(data, config.run_ids, metric)
            want = (
                stats.summarize_scores(c, seeds=True, bounds=bounds)
                if isinstance(c, list)
                else ScoreSummary(c, math.nan, math.nan, math.nan, 1, "none")
            )
            assert config.summaries[metric] == want
            if config.is_baseline:
                assert config.comparisons == {}
                continue
            got.append(config.comparisons[metric])
            raw.append(
                stats.compare_undecided(
                    b,
                    c,
                    metric=metric,
                    baseline_name=base.key,
                    candidate_name=config.key,
                    paired=None,
                    test=None,
                    higher_is_better=hib,
                    alpha=0.05,
                    confidence=0.95,
                    n_boot=stats.DEFAULT_N_BOOT,
                    seed=0,
                )
            )
    # Holm over every tested comparison of the view, each judged by the sweep's thresholds.
    assert got == stats.adjust_comparisons(raw, THRESHOLDS)
    assert matrix.family_size == sum(c.p_value is not None for c in raw) > 50
    verdicts = {c.verdict for c in got}
    assert {Verdict.BETTER, Verdict.WORSE, Verdict.SINGLE_RUN, Verdict.NOT_ENOUGH_DATA} <= verdicts
    assert any(c.flags for c in got)
    # The forest plot's axis: the widest |delta| or CI bound of each sweep.
    for group in matrix.sweeps:
        bounds = [
            abs(x)
            for cfg in group.configs
            if (cmp := cfg.comparisons.get(metric)) is not None
            for x in (cmp.ci_low, cmp.ci_high, cmp.delta)
            if x is not None and not math.isnan(x)
        ]
        assert group.spans[metric] == max(bounds)


def test_views_reuse_what_they_share_without_changing_a_result() -> None:
    data = random_data(3)
    first = build_matrix(data, metric="acc")
    build_matrix(data, metric="loss")
    group = first.sweeps[0]
    other = next(c.key for c in group.configs if not c.is_baseline)
    rebased = build_matrix(data, metric="acc", baselines={group.name: other})
    again = build_matrix(data, metric="acc")
    assert again == first  # from the snapshot's cache
    assert build_matrix(dataclasses.replace(data), metric="acc") == first  # from scratch
    fresh = build_matrix(dataclasses.replace(data), metric="acc", baselines={group.name: other})
    assert rebased == fresh
    assert build_matrix(data, sweep="mixed", all_metrics=True) == build_matrix(
        dataclasses.replace(data), sweep="mixed", all_metrics=True
    )


def test_single_numbers_keep_their_threshold_flags_whatever_test_is_asked_for() -> None:
    sweep = Sweep("s", {}, "a", "acc", {"acc": {"max_drop": 0.05}}, 1.0)
    runs = tuple(
        Run(r, RunSpec(r, "x", {"v": i}, sweep="s"), RunState.SUCCEEDED) for i, r in enumerate("ab")
    )
    data = ResultsData((sweep,), runs, {"a": {"acc": 0.8}, "b": {"acc": 0.7}}, {})
    for test in (None, "Welch t", "Mann-Whitney U"):
        cmp = build_matrix(data, test=test).sweeps[0].configs[1].comparisons["acc"]
        assert cmp.verdict is Verdict.SINGLE_RUN and cmp.test is StatTest.NONE
        assert cmp.flags == ("drop 0.1 > max_drop 0.05",)


def test_a_cached_comparison_is_not_reused_where_the_direction_differs() -> None:
    # Sweep "a" records that lower "score" is better; sweep "b" says nothing, so the
    # all-sweeps view follows "a" while "b" alone guesses higher is better.
    sweeps = (Sweep("a", {}, "a0", "score", {}, 1.0), Sweep("b", {}, "b0", "score", {}, 1.0))
    runs = []
    finals = {}
    for name in ("a", "b"):
        for i, value in enumerate((0.5, 0.7)):
            prov = {"higher_is_better": {"score": False}} if name == "a" else {}
            spec = RunSpec(f"{name}{i}", "x", {"v": i}, sweep=name)
            runs.append(Run(f"{name}{i}", spec, RunState.SUCCEEDED, provenance=prov))
            finals[f"{name}{i}"] = {"score": value}
    data = ResultsData(sweeps, tuple(runs), finals, {})
    both = build_matrix(data)
    alone = build_matrix(data, sweep="b")
    assert both.higher_is_better["score"] is False and alone.higher_is_better["score"] is True
    assert alone == build_matrix(dataclasses.replace(data), sweep="b")
    assert alone.sweeps[0].configs[1].comparisons["score"].higher_is_better is True
