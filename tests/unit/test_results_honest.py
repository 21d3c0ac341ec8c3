"""Verdicts that stay honest on real files (issue 8): direction and its source, censored
values, pseudo-replicates, bounded CIs, the baseline's choice, failed and running runs,
co-varying fields, and imports that drop or duplicate nothing without a word.

Real lm-eval and AI-Scientist files from tests/data/formats; variants are built in tmp_path.
References are independent: scipy's exact binomial test for McNemar.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import scipy.stats as st

from cockpit import ingest
from cockpit.metric_names import guess_direction, resolve_directions
from cockpit.models import Run, RunSpec, RunState, Sweep
from cockpit.models.results import StatTest, Verdict
from cockpit.results import ResultsData, build_matrix, results_matrix
from cockpit.store import Store
from cockpit.triage import build_triage
from tests.unit.test_results import cli

FORMATS = Path(__file__).parents[1] / "data" / "formats"
ASDIV = FORMATS / "lm-eval-asdiv"
ASDIV_RESULTS = ASDIV / "results_2024-08-21T03-44-09.494230.json"
ASDIV_SAMPLES = ASDIV / "samples_asdiv_2024-08-21T03-44-09.494230.jsonl"
GROK = FORMATS / "ai-scientist-data_augmentation_grokking"


def data_of(runs: list[tuple[str, dict[str, Any], dict[str, float], RunState]]) -> ResultsData:
    sweep = Sweep("s", {}, None, None, {}, 1.0)
    made = tuple(
        Run(rid, RunSpec(rid, "x", config, sweep="s"), state, exit_code=0)
        for rid, config, _, state in runs
    )
    return ResultsData((sweep,), made, {rid: finals for rid, _, finals, _ in runs}, {})


OK = RunState.SUCCEEDED

# --------------------------------------------------------------------------- direction


@pytest.mark.parametrize(
    ("metric", "higher", "source"),
    [
        ("x_div_y/step_val_acc_99", False, "name"),  # steps until 99% acc: fewer is better
        ("epochs_to_converge", False, "name"),
        ("time_to_90", False, "name"),
        ("final_val_acc", True, "name"),
        ("tokens_per_s", True, "name"),
        ("train_loss", False, "name"),
        ("lr", None, "hyperparameter"),
        ("epoch", None, "hyperparameter"),
        ("global_step", None, "hyperparameter"),
        ("mystery", True, "default"),
    ],
)
def test_direction_rule(metric: str, higher: bool | None, source: str) -> None:
    d = guess_direction(metric)
    assert (d.higher_is_better, d.source) == (higher, source)


def test_user_beats_spec_beats_file_beats_name() -> None:
    dirs = resolve_directions(
        ["a_acc", "b_acc", "c_acc", "d_acc"],
        recorded={"a_acc": False, "b_acc": False, "c_acc": False},
        spec={"a_acc": True, "b_acc": True},
        user={"a_acc": False},
    )
    assert [(d.higher_is_better, d.source) for d in dirs.values()] == [
        (False, "user"),
        (True, "spec"),
        (False, "file"),
        (True, "name"),
    ]


def test_faster_learning_is_better_and_lr_is_not_compared() -> None:
    # Steps until 99% validation accuracy: the candidate learns 2.5x faster.
    runs = [
        (f"slow{s}", {"aug": "none", "seed": s}, {"steps_to_99": v, "lr": 1e-3}, OK)
        for s, v in enumerate([5000.0, 5200.0, 4900.0])
    ] + [
        (f"fast{s}", {"aug": "mix", "seed": s}, {"steps_to_99": v, "lr": 2e-3}, OK)
        for s, v in enumerate([2000.0, 2100.0, 1950.0])
    ]
    matrix = build_matrix(data_of(runs), all_metrics=True)
    assert matrix.compared == ("steps_to_99",)  # lr is shown, never compared
    assert "lr" in matrix.metrics and matrix.direction_text("lr").startswith("a hyperparameter")
    fast = matrix.find("fast0")[1].comparisons["steps_to_99"]  # type: ignore[index]
    assert fast.verdict is Verdict.BETTER and fast.higher_is_better is False
    assert matrix.direction_text("steps_to_99") == "lower is better (name)"
    # The user can say otherwise; the source says who did.
    flipped = build_matrix(data_of(runs), all_metrics=True, directions={"steps_to_99": True})
    assert flipped.find("fast0")[1].comparisons["steps_to_99"].verdict is Verdict.WORSE  # type: ignore[index]
    assert flipped.direction_sources["steps_to_99"] == "user"


def test_cli_direction_is_remembered_and_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "c.db")
    assert cli(capsys, "--db", db, "import", str(GROK), "--sweep", "grok")[0] == 0
    metric = "x_div_y/final_val_loss"
    code, out, _ = cli(capsys, "--db", db, "results", "--metric", metric, "--format", "json")
    assert code == 0
    assert json.loads(out)["directions"][metric] == {"higher_is_better": False, "source": "name"}
    code, _, _ = cli(capsys, "--db", db, "results", "--direction", f"{metric}=higher")
    assert code == 0
    # Remembered: a later view without the flag uses it and says where it came from.
    code, out, _ = cli(capsys, "--db", db, "results", "--metric", metric, "--format", "json")
    assert json.loads(out)["directions"][metric] == {"higher_is_better": True, "source": "user"}
    code, out, _ = cli(capsys, "--db", db, "results", "--metric", metric)
    assert "higher is better (user)" in out
    code, _, err = cli(capsys, "--db", db, "results", "--direction", f"{metric}=sideways")
    assert code == 2 and "higher or lower" in err
    code, _, err = cli(capsys, "--db", db, "results", "--direction", "nosuch=lower")
    assert code == 2 and "nosuch" in err


# --------------------------------------------------------------------------- censored


def test_values_at_the_budget_are_censored_and_not_t_tested() -> None:
    runs = [
        (f"b{s}", {"aug": "none", "max_steps": 1000, "seed": s}, {"steps_to_target": v}, OK)
        for s, v in enumerate([1000.0, 1000.0, 800.0])
    ] + [
        (f"c{s}", {"aug": "mix", "max_steps": 1000, "seed": s}, {"steps_to_target": v}, OK)
        for s, v in enumerate([300.0, 350.0, 320.0])
    ]
    matrix = build_matrix(data_of(runs), metric="steps_to_target")
    group = matrix.sweeps[0]
    base = next(c for c in group.configs if c.is_baseline)
    assert base.summaries["steps_to_target"].censored == 2
    assert base.summaries["steps_to_target"].budget == 1000
    cmp = group.configs[1].comparisons["steps_to_target"]
    assert cmp.test is StatTest.NONE and cmp.p_value is None
    assert cmp.note.startswith("censored") and "no t-test" in cmp.note
    assert matrix.family_size == 0


def test_ai_scientist_budget_from_the_run_script(tmp_path: Path) -> None:
    exp = tmp_path / "grok"
    shutil.copytree(GROK, exp)
    # The example papers keep each run's script next to its folder (run_1.py).
    (exp / "run_1.py").write_text("    num_total_updates = 7500\n")
    [run] = ingest.parse_ai_scientist(exp)
    assert run.budgets["x_div_y/step_val_acc_99"] == 7500
    # final_info_dict keeps only seeds that reached the target: the others are censored.
    per_seed = run.seeds["permutation/step_val_acc_99"]
    assert per_seed.count(7500.0) >= 1 and len(per_seed) == 3
    assert any("censored" in w and "permutation/step_val_acc_99" in w for w in run.warnings)


# --------------------------------------------------------------------------- pseudo-replicates


def _lm_eval_copy(
    folder: Path, ts: str, date: float, flip: int = 0, model: str | None = None
) -> None:
    folder.mkdir(parents=True)
    data = json.loads(ASDIV_RESULTS.read_text())
    data["date"] = date
    lines = [json.loads(line) for line in ASDIV_SAMPLES.read_text().splitlines()]
    for item in lines[:flip]:
        item["acc"] = 1 - item["acc"]
    data["results"]["asdiv"]["acc,none"] = sum(i["acc"] for i in lines) / len(lines)
    if model is not None:
        data["config"]["model_args"] = f"pretrained={model}"
    (folder / f"results_{ts}.json").write_text(json.dumps(data))
    (folder / f"samples_asdiv_{ts}.jsonl").write_text(
        "\n".join(json.dumps(i) for i in lines) + "\n"
    )


def test_identical_seed_reruns_are_one_measurement_tested_by_mcnemar(
    tmp_path: Path, store: Store
) -> None:
    root = tmp_path / "evals"
    for k in range(3):  # deterministic re-runs of one config: same seeds, same answers
        _lm_eval_copy(root / f"base{k}", f"2024-08-2{k}T00-00-00.0", 1.7e9 + k)
    # The candidate flips the first 4 items (all correct in the base run): 4 discordant.
    _lm_eval_copy(root / "cand", "2024-08-25T00-00-00.0", 1.8e9, flip=4, model="other")
    ingest.record_imported_runs(store, ingest.import_path(root), sweep="rep", source=root)
    matrix = results_matrix(store, sweep="rep", metric="asdiv/acc")
    group = matrix.sweeps[0]
    base = next(c for c in group.configs if c.is_baseline)
    assert len(base.run_ids) == 3
    assert any("identical seeds" in n and "counted once" in n for n in base.notes)
    (cand,) = [c for c in group.configs if not c.is_baseline]
    cmp = cand.comparisons["asdiv/acc"]
    assert cmp.test is StatTest.MCNEMAR_EXACT  # per-item, not Welch over "seeds"
    ref = st.binomtest(0, 4, 0.5).pvalue  # McNemar exact: 0 of 4 discordant pairs one way
    assert cmp.p_value == pytest.approx(ref)
    assert cmp.verdict is Verdict.NO_DIFFERENCE
    summary = base.summaries["asdiv/acc"]
    assert summary.ci_high - summary.ci_low > 0.05  # one run's width, not zero


def test_lm_eval_seed_keys_make_seeds() -> None:
    [run] = ingest.parse_lm_eval(ASDIV_RESULTS)
    for key in ("random_seed", "numpy_seed", "torch_seed", "fewshot_seed"):
        assert key in run.config
    runs = [
        (f"r{s}", {"model": "m", "numpy_seed": s, "torch_seed": s}, {"acc": v}, OK)
        for s, v in enumerate([0.5, 0.52, 0.49])
    ]
    (config,) = build_matrix(data_of(runs), metric="acc").sweeps[0].configs
    assert config.summaries["acc"].n == 3 and not config.notes


# --------------------------------------------------------------------------- bounded CIs


def test_seed_cis_stay_in_0_1_and_seeds_are_not_trials() -> None:
    runs = [(f"a{s}", {"c": "a", "seed": s}, {"acc": 1.0}, OK) for s in range(3)] + [
        (f"b{s}", {"c": "b", "seed": s}, {"acc": v}, OK) for s, v in enumerate([0.9, 0.99, 1.0])
    ]
    matrix = build_matrix(data_of(runs), metric="acc")
    for config in matrix.sweeps[0].configs:
        s = config.summaries["acc"]
        assert 0.0 <= s.ci_low <= s.ci_high <= 1.0
        assert "wilson" not in s.method  # three seeds are not three Bernoulli trials
    b = matrix.sweeps[0].configs[1].summaries["acc"]
    assert b.method == "t, clipped to [0, 1]" and b.ci_high == 1.0


# --------------------------------------------------------------------------- baseline, states


def test_baseline_is_a_config_with_the_metric_and_says_when_it_has_none() -> None:
    runs = [
        ("failed", {"c": 0}, {}, RunState.FAILED),
        ("nothing", {"c": 1}, {}, OK),
        ("good", {"c": 2}, {"acc": 0.5}, OK),
        ("other", {"c": 3}, {"acc": 0.6}, OK),
    ]
    matrix = build_matrix(data_of(runs), metric="acc")
    assert matrix.sweeps[0].baseline == "good"
    chosen = build_matrix(data_of(runs), metric="acc", baselines={"s": "nothing"})
    cmp = chosen.find("other")[1].comparisons["acc"]  # type: ignore[index]
    assert cmp.verdict is Verdict.NO_BASELINE_VALUE
    assert "baseline nothing has no value of acc" in cmp.note


def test_failed_and_running_runs_stay_out_of_the_statistics() -> None:
    runs = [
        ("a0", {"c": "a", "seed": 0}, {"acc": 0.5}, OK),
        ("a1", {"c": "a", "seed": 1}, {"acc": 0.52}, OK),
        ("a2", {"c": "a", "seed": 2}, {"acc": 0.05}, RunState.FAILED),
        ("a3", {"c": "a", "seed": 3}, {"acc": 0.1}, RunState.RUNNING),
    ]
    (config,) = build_matrix(data_of(runs), metric="acc").sweeps[0].configs
    s = config.summaries["acc"]
    assert s.n == 2 and s.mean == pytest.approx(0.51)
    assert any("1 running" in n and "not final" in n for n in config.notes)
    assert any("1 failed" in n for n in config.notes)
    assert "running" in config.state


# --------------------------------------------------------------------------- factors


def test_fields_that_change_together_are_one_factor_and_factors_extend(
    tmp_path: Path, store: Store
) -> None:
    configs = [
        {"model": "hf", "model_args": "pretrained=a", "limit": 50},
        {"model": "hf", "model_args": "pretrained=b", "limit": 50},
    ]
    configs[0]["model_num_parameters"], configs[1]["model_num_parameters"] = 1, 2
    assert ingest.infer_factors(configs) == {"model_args": ["pretrained=a", "pretrained=b"]}
    root = tmp_path / "evals"
    _lm_eval_copy(root / "a", "2024-08-21T00-00-00.0", 1.7e9)
    _lm_eval_copy(root / "b", "2024-08-22T00-00-00.0", 1.7e9 + 1, flip=2, model="b")
    ingest.record_imported_runs(store, ingest.import_path(root / "a"), sweep="f")
    ingest.record_imported_runs(store, ingest.import_path(root / "b"), sweep="f")
    (sweep,) = store.list_sweeps()
    assert list(sweep.factors) == ["model_args"]  # the second import added the level
    assert len(sweep.factors["model_args"]) == 2


# --------------------------------------------------------------------------- imports


def test_dot_folders_are_imported_and_vcs_folders_skipped_out_loud(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "out"
    _lm_eval_copy(root / "..__other__results", "2024-08-21T00-00-00.0", 1.7e9)
    _lm_eval_copy(root / "model", "2024-08-22T00-00-00.0", 1.7e9 + 1, model="b")
    _lm_eval_copy(root / ".git" / "x", "2024-08-23T00-00-00.0", 1.7e9 + 2, model="c")
    code, out, _ = cli(capsys, "--db", str(tmp_path / "c.db"), "import", str(root))
    assert code == 0
    assert "imported 2 run(s)" in out
    assert f"skipped {root / '.git'}: not a results folder" in out


def test_reimport_through_other_spellings_replaces(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "evals"
    _lm_eval_copy(root / "a", "2024-08-21T00-00-00.0", 1.7e9)
    monkeypatch.chdir(tmp_path)
    for spelling in ("evals", str(root), str(root) + "/", "./evals/../evals"):
        ingest.record_imported_runs(store, ingest.import_path(spelling), source=spelling)
    (run,) = store.list_runs()
    assert len(store.eval_items_for_runs([run.id])[run.id]["asdiv"]) == 50
    # The files change: what the new files no longer have goes too.
    os.remove(next((root / "a").glob("samples_*")))
    summary = ingest.record_imported_runs(store, ingest.import_path(root), source=root)
    assert summary.replaced == 1
    assert store.eval_items_for_runs([run.id]) == {}
    assert len(store.list_runs()) == 1


def test_bad_values_are_reported_one_line_each_and_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    text = ASDIV_RESULTS.read_text().replace(
        '"acc,none": 0.92,',
        '"acc,none": 0.92, "f1,none": NaN, "em,none": Infinity, "x,none": "oops",',
    )
    (folder / ASDIV_RESULTS.name).write_text(text)
    db = str(tmp_path / "c.db")
    code, out, _ = cli(capsys, "--db", db, "import", str(folder))
    assert code == 0
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 3
    for key in ("results.asdiv.f1,none", "results.asdiv.em,none", "results.asdiv.x,none"):
        assert any(key in w and str(folder / ASDIV_RESULTS.name) in w for w in warnings)
    with Store.open(Path(db)) as s:
        (run,) = s.list_runs()
        assert len(run.provenance["import_warnings"]) == 3
        assert set(s.final_metrics([run.id])[run.id]) == {"asdiv/acc"}


def test_lm_eval_times_are_read_and_gpus_stay_unknown(store: Store) -> None:
    [run] = ingest.parse_lm_eval(ASDIV_RESULTS)
    assert run.started_at == pytest.approx(1724211836.1012678)
    assert run.ended_at == pytest.approx(1724211836.1012678 + 17.455804042001546)
    ingest.record_imported_runs(store, [run], sweep="t")
    report = build_triage(store, since=1724211000.0, now=1724213000.0)
    (outcome,) = report.finished
    assert outcome.gpus is None  # the file records no GPU: not "1 GPU"
    assert report.gpu_hours_used == 0.0
