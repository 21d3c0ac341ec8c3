"""The results matrix (cockpit.results), `cockpit import` into the store, and `cockpit results`.

Expected verdicts on the demo come from the story sample_runs/ tells (rank matters, weight
decay does not), checked independently in tests/unit/test_sample_runs.py; expected numbers come
from the data themselves or from scipy, not from the code under test.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path

import pytest
from scipy.stats import binomtest, ttest_ind

from cockpit import ingest, stats
from cockpit.cli.main import main
from cockpit.demo import DemoData, collect_run_results, sample_runs_dir, seed_demo
from cockpit.export.tables import to_json
from cockpit.metric_names import item_task_for
from cockpit.models import EvalItem, MetricPoint, Run, RunSpec, RunState, Sweep
from cockpit.models.results import DataKind, EffectMethod, StatTest, Verdict
from cockpit.results import ResultsError, build_matrix, load_results_data, results_matrix
from cockpit.store import Store

SWEEP = "galore-doe"
BASELINE = "doe-r128-none-wd0.1"
R64 = ["doe-r64-none-wd0.1", "doe-r64-cosine-wd0.1", "doe-r64-none-wd0.2", "doe-r64-cosine-wd0.2"]
FORMATS = Path(__file__).parents[1] / "data" / "formats"


def complete_demo(store: Store) -> Store:
    """The demo with its live run finished too: the full 2^3 design."""
    seed_demo(store)
    data = DemoData(sample_runs_dir())
    live = data.live_run_id()
    collect_run_results(store, data, live)
    store.set_run_state(live, RunState.SUCCEEDED, exit_code=0, ended_at=time.time())
    return store


@pytest.fixture
def demo(store: Store) -> Store:
    return complete_demo(store)


def items_of(run_id: str) -> dict[str, int]:
    path = sample_runs_dir() / "runs" / run_id / "eval_items.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {str(r["doc_id"]): r["acc"] for r in rows}


def config(matrix, key):  # type: ignore[no-untyped-def]
    found = matrix.find(key)
    assert found is not None, key
    return found[1]


# --------------------------------------------------------------------------- the demo


def test_r64_configs_are_better_on_mmlu_with_mcnemar(demo: Store) -> None:
    matrix = results_matrix(demo, sweep=SWEEP, metric="mmlu_acc")
    assert matrix.compared == ("mmlu_acc",)
    assert matrix.family_size == 7  # every candidate has paired 0/1 items
    base = items_of(BASELINE)
    for run_id in R64:
        cmp = config(matrix, run_id).comparisons["mmlu_acc"]
        assert cmp.kind is DataKind.PAIRED_BINARY and cmp.test is StatTest.MCNEMAR_EXACT
        assert cmp.verdict is Verdict.BETTER
        # The raw p-value is the exact binomial test on the discordant items (scipy).
        cand = items_of(run_id)
        only_cand = sum(1 for k in base if cand[k] and not base[k])
        only_base = sum(1 for k in base if base[k] and not cand[k])
        expected = binomtest(only_cand, only_cand + only_base, 0.5).pvalue
        assert cmp.p_value == pytest.approx(expected, rel=1e-9)
        assert cmp.p_adjusted is not None and cmp.p_value <= cmp.p_adjusted <= 0.05
        assert cmp.ci_low is not None and cmp.ci_low > 0
        assert cmp.delta == pytest.approx((sum(cand.values()) - sum(base.values())) / 2000)


def test_weight_decay_only_change_is_no_significant_difference(demo: Store) -> None:
    matrix = results_matrix(demo, sweep=SWEEP, metric="mmlu_acc")
    cmp = config(matrix, "doe-r128-none-wd0.2").comparisons["mmlu_acc"]
    assert cmp.verdict is Verdict.NO_DIFFERENCE
    assert str(cmp.verdict) == "no significant difference"
    assert cmp.mde is not None and "MDE" in cmp.note
    for run_id in ("doe-r128-cosine-wd0.1", "doe-r128-cosine-wd0.2"):
        assert config(matrix, run_id).comparisons["mmlu_acc"].verdict is Verdict.NO_DIFFERENCE


def test_holm_runs_over_every_comparison_in_the_view(demo: Store) -> None:
    matrix = results_matrix(demo, sweep=SWEEP, metric="mmlu_acc")
    comparisons = [cmp for _, _, cmp in matrix.comparisons()]
    raw = sorted(c.p_value for c in comparisons if c.p_value is not None)
    m = len(raw)
    # Holm by hand: running max of (m - i) * p_(i), capped at 1.
    expected, running = [], 0.0
    for i, p in enumerate(raw):
        running = max(running, min(1.0, (m - i) * p))
        expected.append(running)
    got = sorted(c.p_adjusted for c in comparisons if c.p_adjusted is not None)
    assert got == pytest.approx(expected)


def test_value_and_wilson_ci_from_items(demo: Store) -> None:
    matrix = results_matrix(demo, sweep=SWEEP, metric="mmlu_acc")
    base = config(matrix, BASELINE)
    assert base.is_baseline and not base.comparisons
    summary = base.summaries["mmlu_acc"]
    correct = sum(items_of(BASELINE).values())
    assert summary.mean == pytest.approx(correct / 2000) == pytest.approx(0.4415)
    assert summary.method == "wilson"
    assert (summary.ci_low, summary.ci_high) == pytest.approx(stats.wilson_ci(correct, 2000))


def test_rank_main_effect_ranks_first(demo: Store) -> None:
    matrix = results_matrix(demo, sweep=SWEEP, metric="mmlu_acc")
    effects = matrix.sweeps[0].effects["mmlu_acc"]
    assert effects.method is EffectMethod.PAIRED_ITEMS
    first = effects.effects[0]
    assert first.name == "rank" and first.estimate > 0  # rank 64 forgets less than 128
    assert first.p_adjusted is not None and first.p_adjusted < 0.001
    others = {e.name: e for e in effects.effects}
    assert others["weight_decay"].p_adjusted is not None
    assert others["weight_decay"].p_adjusted > 0.5
    # The estimate is mean(high) - mean(low) of the final metric.
    finals = demo.final_metrics()
    high = [v["mmlu_acc"] for k, v in finals.items() if "-r64-" in k]
    low = [v["mmlu_acc"] for k, v in finals.items() if "-r128-" in k]
    assert first.estimate == pytest.approx(sum(high) / 4 - sum(low) / 4, abs=1e-4)


def test_live_run_is_not_enough_data_and_blocks_effects(store: Store) -> None:
    seed_demo(store)  # the last run is still running
    matrix = build_matrix(load_results_data(store), sweep=SWEEP)
    assert matrix.metric == "mmlu_acc"  # the sweep's primary metric by default
    cmp = config(matrix, "doe-r64-cosine-wd0.2").comparisons["mmlu_acc"]
    assert cmp.verdict is Verdict.NOT_ENOUGH_DATA and "still running" in cmp.note
    assert matrix.family_size == 6
    assert "incomplete" in matrix.sweeps[0].effects["mmlu_acc"].note
    assert not matrix.sweeps[0].effects["mmlu_acc"].effects


def test_single_numbers_get_no_test(demo: Store) -> None:
    matrix = results_matrix(demo, sweep=SWEEP, metric="holdout_ppl")
    assert matrix.higher_is_better["holdout_ppl"] is False
    assert matrix.family_size == 0
    for _, _, cmp in matrix.comparisons():
        assert cmp.verdict is Verdict.SINGLE_RUN
        assert str(cmp.verdict) == "single run, no test possible"
        assert cmp.p_value is None and cmp.test is StatTest.NONE
    effects = matrix.sweeps[0].effects["holdout_ppl"]
    assert effects.method is EffectMethod.LENTH_PSE and effects.effects[0].name == "rank"


@pytest.mark.parametrize(
    ("b", "c", "hib", "threshold"),
    [(0.5, 0.6, True, None), (0.5, 0.4, True, 0.05), (13.2, 13.9, False, {"max_drop": 0.5})],
)
def test_single_value_fast_path_equals_stats_compare(
    b: float, c: float, hib: bool, threshold: object
) -> None:
    spec = stats.threshold_for("m", {"m": threshold}) if threshold is not None else None
    ours = stats.compare_batch(
        b,
        [c],
        ["cand"],
        metric="m",
        baseline_name="base",
        higher_is_better=hib,
        threshold=spec,
        lenient=True,
        alpha=0.05,
    ).comparisons[0]
    theirs = stats.compare(
        b,
        c,
        metric="m",
        baseline_name="base",
        candidate_name="cand",
        higher_is_better=hib,
        threshold=threshold,  # type: ignore[arg-type]
    )
    assert ours == theirs


def test_all_metrics_view_and_json_contract(demo: Store) -> None:
    matrix = results_matrix(demo, sweep=SWEEP, all_metrics=True)
    # lr is a setting the runs logged, shown but never compared.
    assert set(matrix.compared) == {"mmlu_acc", "holdout_ppl", "train_loss", "tokens_per_s"}
    assert "lr" in matrix.metrics and matrix.direction_sources["lr"] == "hyperparameter"
    assert matrix.compared[0] == "mmlu_acc"  # the primary metric leads
    data = json.loads(json.dumps(to_json(matrix)))
    assert data["format"] == "cockpit-results/1"
    assert set(data) == {
        "format",
        "alpha",
        "confidence",
        "holm_family_size",
        "metrics",
        "compared_metrics",
        "higher_is_better",
        "directions",
        "sweeps",
        "comparisons",
    }
    assert len(data["comparisons"]) == 7 * 4
    (sweep,) = data["sweeps"]
    assert set(sweep) == {
        "sweep",
        "baseline",
        "primary_metric",
        "factors",
        "thresholds",
        "configs",
        "effects",
    }
    assert set(sweep["configs"][0]) == {
        "config",
        "label",
        "runs",
        "params",
        "state",
        "is_baseline",
        "values",
        "summaries",
        "notes",
    }
    cmp = next(
        c for c in data["comparisons"] if c["config"] == R64[0] and c["metric"] == "mmlu_acc"
    )
    assert set(cmp) == {
        "sweep",
        "metric",
        "baseline",
        "config",
        "label",
        "data_kind",
        "test",
        "statistic",
        "p_value",
        "p_holm",
        "delta",
        "ci_low",
        "ci_high",
        "se",
        "n",
        "n_baseline",
        "n_config",
        "baseline_value",
        "value",
        "mde",
        "underpowered",
        "higher_is_better",
        "direction_source",
        "verdict",
        "flags",
        "note",
    }
    assert cmp["test"] == "McNemar exact" and cmp["verdict"] == "better"
    assert sweep["effects"]["mmlu_acc"]["effects"][0]["name"] == "rank"


def test_baseline_override_changes_every_verdict(demo: Store) -> None:
    matrix = results_matrix(demo, sweep=SWEEP, metric="mmlu_acc", baseline=R64[0])
    assert config(matrix, R64[0]).is_baseline
    assert config(matrix, BASELINE).comparisons["mmlu_acc"].verdict is Verdict.WORSE


def test_unknown_sweep_metric_or_baseline_is_one_clear_error(demo: Store) -> None:
    data = load_results_data(demo)
    with pytest.raises(ResultsError, match=r"no sweep 'nope'.*known: galore-doe"):
        build_matrix(data, sweep="nope")
    with pytest.raises(ResultsError, match=r"no metric 'mmlu'.*mmlu_acc"):
        build_matrix(data, metric="mmlu")
    with pytest.raises(ResultsError, match="no run 'nope'"):
        results_matrix(demo, baseline="nope")


# --------------------------------------------------------------------------- synthetic data


def add_sweep(
    store: Store,
    name: str,
    runs: list[tuple[str, dict[str, object], dict[str, float]]],
    *,
    factors: dict[str, list[object]] | None = None,
    baseline: str | None = None,
    thresholds: dict[str, object] | None = None,
    items: dict[str, dict[str, dict[str, float]]] | None = None,
) -> None:
    store.upsert_sweep(Sweep(name, factors or {}, baseline, None, thresholds or {}, created_at=1.0))
    for run_id, cfg, finals in runs:
        store.upsert_run(
            Run(
                run_id,
                RunSpec(run_id, "train", cfg, sweep=name),
                state=RunState.SUCCEEDED,
                exit_code=0,
            )
        )
        store.add_metrics(MetricPoint(run_id, 100, k, v) for k, v in finals.items())
        for task, scores in (items or {}).get(run_id, {}).items():
            store.add_eval_items(EvalItem(run_id, task, i, s) for i, s in scores.items())


def test_seeds_are_compared_with_welch_and_effects_pool_their_variance(store: Store) -> None:
    rng = random.Random(1)
    runs = []
    values: dict[str, list[float]] = {}
    for lr in (0.1, 0.2):
        for wd in (0.0, 0.1):
            for seed in range(4):
                run_id = f"lr{lr}-wd{wd}-s{seed}"
                value = 0.5 + (0.05 if lr == 0.2 else 0.0) + rng.gauss(0, 0.01)
                values.setdefault(f"lr{lr}-wd{wd}", []).append(value)
                runs.append((run_id, {"lr": lr, "wd": wd, "seed": seed}, {"acc": value}))
    add_sweep(
        store,
        "seeds",
        runs,
        factors={"lr": [0.1, 0.2], "wd": [0.0, 0.1]},
        baseline="lr0.1-wd0.0-s0",
    )
    matrix = results_matrix(store, sweep="seeds", metric="acc")
    group = matrix.sweeps[0]
    assert len(group.configs) == 4 and all(len(c.run_ids) == 4 for c in group.configs)
    better = config(matrix, "lr0.2-wd0.0-s0").comparisons["acc"]
    assert better.kind is DataKind.SEEDS and better.test is StatTest.WELCH_T
    expected = ttest_ind(values["lr0.2-wd0.0"], values["lr0.1-wd0.0"], equal_var=False)
    assert better.p_value == pytest.approx(expected.pvalue)
    assert better.verdict is Verdict.BETTER
    assert config(matrix, "lr0.1-wd0.1-s0").comparisons["acc"].verdict is not Verdict.BETTER
    effects = group.effects["acc"]
    assert effects.method is EffectMethod.POOLED_REPLICATES
    assert effects.effects[0].name == "lr"


def test_threshold_drop_is_flagged_and_never_called_better(store: Store) -> None:
    rng = random.Random(2)
    ids = [str(i) for i in range(400)]
    base = {i: float(rng.random() < 0.7) for i in ids}
    worse = {i: (0.0 if rng.random() < 0.15 else s) for i, s in base.items()}
    add_sweep(
        store,
        "drop",
        [
            ("base", {"v": 0}, {"qa_acc": sum(base.values()) / 400}),
            ("worse", {"v": 1}, {"qa_acc": sum(worse.values()) / 400}),
        ],
        baseline="base",
        thresholds={"qa_acc": {"max_drop": 0.05}},
        items={"base": {"qa": base}, "worse": {"qa": worse}},
    )
    cmp = config(results_matrix(store, sweep="drop"), "worse").comparisons["qa_acc"]
    assert cmp.kind is DataKind.PAIRED_BINARY
    assert cmp.verdict is Verdict.WORSE
    assert any("max_drop 0.05" in f and "(significant)" in f for f in cmp.flags)


def test_continuous_items_use_paired_t_or_the_test_asked_for(store: Store) -> None:
    rng = random.Random(3)
    ids = [str(i) for i in range(200)]
    base = {i: rng.random() for i in ids}
    cand = {i: v + 0.02 + rng.gauss(0, 0.05) for i, v in base.items()}
    add_sweep(
        store,
        "cont",
        [
            ("a", {"v": 0}, {"qa_f1": sum(base.values()) / 200}),
            ("b", {"v": 1}, {"qa_f1": sum(cand.values()) / 200}),
        ],
        baseline="a",
        items={"a": {"qa": base}, "b": {"qa": cand}},
    )
    cmp = config(results_matrix(store, sweep="cont"), "b").comparisons["qa_f1"]
    assert cmp.kind is DataKind.PAIRED_CONTINUOUS and cmp.test is StatTest.PAIRED_T
    assert cmp.verdict is Verdict.BETTER
    wil = config(results_matrix(store, sweep="cont", test="Wilcoxon signed-rank"), "b")
    assert wil.comparisons["qa_f1"].test is StatTest.WILCOXON
    # A test that does not fit the data falls back to the one that does.
    welch = config(results_matrix(store, sweep="cont", test="Welch t"), "b")
    assert welch.comparisons["qa_f1"].test is StatTest.PAIRED_T


def test_items_whose_mean_disagrees_with_the_metric_are_not_paired(store: Store) -> None:
    ids = [str(i) for i in range(50)]
    add_sweep(
        store,
        "odd",
        [("a", {"v": 0}, {"qa_acc": 0.9}), ("b", {"v": 1}, {"qa_acc": 0.8})],
        baseline="a",
        items={"a": {"qa": dict.fromkeys(ids, 1.0)}, "b": {"qa": dict.fromkeys(ids, 0.0)}},
    )
    cmp = config(results_matrix(store, sweep="odd"), "b").comparisons["qa_acc"]
    assert cmp.kind is DataKind.SINGLE and cmp.verdict is Verdict.SINGLE_RUN


@pytest.mark.parametrize(
    ("metric", "tasks", "scored_by", "expected"),
    [
        ("mmlu_acc", ["mmlu"], {}, "mmlu"),
        ("mmlu_acc", ["mmlu", "mmlu_acc"], {}, "mmlu_acc"),
        ("arc/acc", ["arc", "arc_easy"], {"arc": "acc"}, "arc"),
        ("arc/acc_norm", ["arc"], {"arc": "acc"}, None),
        (
            "gsm8k/exact_match,strict-match",
            ["gsm8k,strict-match", "gsm8k,flexible"],
            {},
            "gsm8k,strict-match",
        ),
        ("holdout_ppl", ["mmlu"], {}, None),
    ],
)
def test_which_item_task_backs_a_metric(
    metric: str, tasks: list[str], scored_by: dict[str, str], expected: str | None
) -> None:
    assert item_task_for(metric, tasks, scored_by) == expected


def test_ten_thousand_single_runs_build_quickly(store: Store) -> None:
    """Not the benchmark (tests/bench/): a guard against an accidental quadratic path."""
    runs = [(f"r{i}", {"lr": i}, {"acc": 0.5 + (i % 100) / 1000}) for i in range(3000)]
    store.upsert_sweep(Sweep("big", {}, "r0", "acc", {"acc": {"max_drop": 0.01}}, 1.0))
    store.import_runs(
        None,
        [
            (
                Run(f"r{i}", RunSpec(f"r{i}", "x", {"lr": i}, sweep="big"), RunState.SUCCEEDED),
                [MetricPoint(f"r{i}", 1, "acc", v["acc"])],
                [],
            )
            for i, (_, _, v) in enumerate(runs)
        ],
    )
    data = load_results_data(store)
    start = time.perf_counter()
    matrix = build_matrix(data)
    assert time.perf_counter() - start < 2.0
    assert len(matrix.sweeps[0].configs) == 3000
    flagged = [c for c in matrix.sweeps[0].configs if c.comparisons.get("acc", None)]
    assert all(c.comparisons["acc"].verdict is Verdict.SINGLE_RUN for c in flagged)


# --------------------------------------------------------------------------- import


def test_import_cockpit_runs_recreates_the_demo_sweep_and_is_idempotent(store: Store) -> None:
    runs = ingest.import_path(sample_runs_dir() / "runs")
    summary = ingest.record_imported_runs(store, runs, source=sample_runs_dir() / "runs")
    assert summary.sweeps == (SWEEP,) and len(summary.run_ids) == 8
    assert summary.eval_items == 8 * 2000
    (sweep,) = store.list_sweeps()
    spec = json.loads((sample_runs_dir() / "sweep.json").read_text())
    assert sweep.factors == spec["factors"] and sweep.baseline == BASELINE
    assert sweep.thresholds == spec["thresholds"] and sweep.primary_metric == "mmlu_acc"
    again = ingest.record_imported_runs(store, runs, source=sample_runs_dir() / "runs")
    assert again.run_ids == summary.run_ids
    assert len(store.list_runs()) == 8
    assert len(store.eval_scores(BASELINE, "mmlu")) == 2000
    matrix = results_matrix(store, sweep=SWEEP, metric="mmlu_acc")
    assert all(config(matrix, r).comparisons["mmlu_acc"].verdict is Verdict.BETTER for r in R64)
    run = store.get_run(BASELINE)
    assert run.state is RunState.SUCCEEDED and run.exit_code == 0 and run.started_at


def test_import_ai_scientist_seeds_are_compared_with_welch(store: Store, tmp_path: Path) -> None:
    exp = tmp_path / "style"
    shutil.copytree(FORMATS / "ai-scientist-multi_style_adapter" / "run_1", exp / "run_1")
    info = json.loads((exp / "run_1" / "final_info.json").read_text())
    block = info["shakespeare_char"]
    block["final_info_dict"]["best_val_loss"] = [
        v + 0.05 for v in block["final_info_dict"]["best_val_loss"]
    ]
    block["means"]["best_val_loss_mean"] += 0.05
    (exp / "run_0").mkdir()
    (exp / "run_0" / "final_info.json").write_text(json.dumps(info))
    summary = ingest.record_imported_runs(store, ingest.import_path(exp), source=exp)
    assert summary.sweeps == ("style",)
    matrix = results_matrix(store, sweep="style", metric="shakespeare_char/best_val_loss")
    assert matrix.sweeps[0].baseline == "run_0"  # AI-Scientist's baseline run
    cmp = config(matrix, "run_1").comparisons["shakespeare_char/best_val_loss"]
    assert cmp.kind is DataKind.SEEDS and cmp.test is StatTest.WELCH_T
    assert cmp.n_baseline == 3 and cmp.n_candidate == 3
    assert cmp.delta == pytest.approx(-0.05)
    assert cmp.verdict is Verdict.BETTER  # lower validation loss


def test_import_lm_eval_and_mlflow(store: Store) -> None:
    asdiv = ingest.record_imported_runs(
        store, ingest.import_path(FORMATS / "lm-eval-asdiv"), source=FORMATS / "lm-eval-asdiv"
    )
    assert asdiv.eval_items > 0
    (run_id,) = asdiv.run_ids
    run = store.get_run(run_id)
    assert run.provenance["source_format"] == "lm-eval"
    assert run.provenance["higher_is_better"]
    matrix = results_matrix(store, sweep=asdiv.sweeps[0], metric="asdiv/acc")
    summary = matrix.sweeps[0].configs[0].summaries["asdiv/acc"]
    assert summary.method == "wilson" and summary.n == asdiv.eval_items
    ml = ingest.record_imported_runs(
        store, ingest.import_path(FORMATS / "mlflow-mlruns"), source=FORMATS / "mlflow-mlruns"
    )
    assert len(ml.run_ids) == len(set(ml.run_ids)) > 1
    assert any(store.metric_series_for_runs(list(ml.run_ids), ["rmse"]).values())


# --------------------------------------------------------------------------- CLI


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str) -> None:
    assert code == 2, err
    assert err.startswith("cockpit") and "error:" in err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    path = tmp_path / "demo.db"
    with Store.open(path) as s:
        complete_demo(s)
    return path


def test_cli_results_formats(capsys: pytest.CaptureFixture[str], demo_db: Path) -> None:
    db = ["--db", str(demo_db)]
    code, out, _ = cli(capsys, *db, "results", "--sweep", SWEEP, "--metric", "mmlu_acc")
    assert code == 0
    assert "McNemar exact" in out and "better" in out and "no significant difference" in out
    assert "Holm correction over the 7 tested comparisons" in out
    assert "rank" in out.split("effects on mmlu_acc")[1].splitlines()[1]

    code, out, _ = cli(capsys, *db, "results", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["compared_metrics"][0] == "mmlu_acc" and data["holm_family_size"] == 7

    code, out, _ = cli(capsys, *db, "results", "--format", "csv", "--metric", "mmlu_acc")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("sweep,config,label,is_baseline") and len(lines) == 9

    code, out, _ = cli(capsys, *db, "results", "--format", "latex", "--baseline", R64[0])
    assert code == 0 and "\\toprule" in out and "\\bottomrule" in out

    code, out, _ = cli(capsys, *db, "results", "--metric", "holdout_ppl", "--test", "welch")
    assert code == 0 and "single run, no test possible" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sweep", "nope"], "no sweep 'nope'"),
        (["--metric", "nope"], "no metric 'nope'"),
        (["--baseline", "nope"], "no run 'nope'"),
        (["--format", "xml"], "invalid choice"),
        (["--test", "ttest"], "invalid choice"),
    ],
)
def test_cli_results_bad_input_exits_2_in_one_line(
    capsys: pytest.CaptureFixture[str], demo_db: Path, args: list[str], message: str
) -> None:
    code, out, err = cli(capsys, "--db", str(demo_db), "results", *args)
    one_line_error(code, err)
    assert message in err and out == ""


def test_cli_import(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    code, out, _ = cli(capsys, "--db", str(db), "import", str(sample_runs_dir() / "runs"))
    assert code == 0 and "imported 8 run(s) (cockpit-run) into sweep galore-doe" in out
    code, out, _ = cli(
        capsys,
        "--db",
        str(db),
        "import",
        str(FORMATS / "ai-scientist-gan_diffusion"),
        "--sweep",
        "gan",
    )
    assert code == 0 and "into sweep gan" in out
    with Store.open(db) as s:
        assert {sw.name for sw in s.list_sweeps()} == {SWEEP, "gan"}
        assert len(s.list_runs("gan")) == 6


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "no such file or folder"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no results found"),
    ],
)
def test_cli_import_bad_input_changes_nothing(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    db = tmp_path / "c.db"
    Store.open(db).close()
    code, _, err = cli(capsys, "--db", str(db), "import", str(make(tmp_path)))
    one_line_error(code, err)
    assert message in err
    with Store.open(db) as s:
        assert s.list_runs() == [] and s.list_sweeps() == []


def test_cli_import_refuses_a_bad_sweep_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = cli(
        capsys,
        "--db",
        str(tmp_path / "c.db"),
        "import",
        str(sample_runs_dir() / "runs"),
        "--sweep",
        "no spaces please",
    )
    one_line_error(code, err)
    assert "invalid sweep name" in err


def test_no_nan_reaches_json(demo: Store) -> None:
    text = json.dumps(to_json(results_matrix(demo, all_metrics=True)))
    assert "NaN" not in text and "Infinity" not in text


def test_the_text_table_lists_under_each_sweep_only_the_metrics_it_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "two.db"
    for name in ("lm-eval-asdiv", "ai-scientist-gan_diffusion"):
        assert main(["--db", str(db), "import", str(FORMATS / name)]) == 0
    capsys.readouterr()
    assert main(["--db", str(db), "results"]) == 0
    text = capsys.readouterr().out
    asdiv, _, gan = text.partition("sweep ai-scientist-gan_diffusion")
    assert "asdiv/acc" in asdiv and "eval_loss" not in asdiv
    assert "circle/eval_loss" in gan and "asdiv/acc" not in gan
