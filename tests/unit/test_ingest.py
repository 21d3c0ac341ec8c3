"""cockpit.ingest on real files from lm-eval-harness, AI-Scientist and MLflow (copied under
tests/data/formats/, see SOURCES.md there), their quirks, and malformed variants of them.

Expected numbers come from the files themselves (read here with json, independently of the
parser) or from scipy, never from the parser's own earlier output.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.stats as st

from cockpit import ingest
from cockpit.ingest import ImportFormatError
from cockpit.metric_names import guess_higher_is_better

FORMATS = Path(__file__).parents[1] / "data" / "formats"
ASDIV = FORMATS / "lm-eval-asdiv"
ASDIV_RESULTS = ASDIV / "results_2024-08-21T03-44-09.494230.json"
ASDIV_SAMPLES = ASDIV / "samples_asdiv_2024-08-21T03-44-09.494230.jsonl"
MMLU_AA = FORMATS / "lm-eval-mmlu-abstract-algebra"
GAN = FORMATS / "ai-scientist-gan_diffusion"
GROK = FORMATS / "ai-scientist-data_augmentation_grokking"
STYLE = FORMATS / "ai-scientist-multi_style_adapter"
MLRUNS = FORMATS / "mlflow-mlruns"
SAMPLE_RUNS = Path(__file__).parents[2] / "sample_runs" / "runs"


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    for f in dst.rglob("*"):
        f.chmod(0o644 if f.is_file() else 0o755)
    return dst


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        (ASDIV, "lm-eval"),
        (ASDIV_RESULTS, "lm-eval"),
        (ASDIV_SAMPLES, "lm-eval"),
        (MMLU_AA, "lm-eval"),
        (GAN, "ai-scientist"),
        (GAN / "run_3", "ai-scientist"),
        (GAN / "run_3" / "final_info.json", "ai-scientist"),
        (GROK, "ai-scientist"),
        (MLRUNS, "mlflow"),
        (MLRUNS / "0", "mlflow"),
        (MLRUNS / "0" / "0d8653353e3e43beb89442a8bca1a94d", "mlflow"),
        (MLRUNS / "0" / "meta.yaml", "mlflow"),
    ],
)
def test_detect_format_on_real_files(path: Path, fmt: str) -> None:
    assert ingest.detect_format(path) == fmt


def test_detect_format_cockpit_run(tmp_path: Path) -> None:
    run = _make_cockpit_run(tmp_path / "runs" / "r1")
    assert ingest.detect_format(run) == "cockpit-run"
    assert ingest.detect_format(run.parent) == "cockpit-run"
    assert ingest.detect_format(run / "spec.json") == "cockpit-run"


@pytest.mark.parametrize("name", ["notes.txt", "template.txt", "random.json"])
def test_detect_format_refuses_unknown_files_in_one_line(tmp_path: Path, name: str) -> None:
    f = tmp_path / name
    f.write_text('{"hello": 1}\n' if name.endswith(".json") else "no results here\n")
    with pytest.raises(ImportFormatError) as err:
        ingest.detect_format(f)
    msg = str(err.value)
    assert name in msg and "\n" not in msg


def test_detect_format_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match="no such file"):
        ingest.detect_format(tmp_path / "nope")
    with pytest.raises(ImportFormatError, match="no results found"):
        ingest.detect_format(tmp_path)


# --------------------------------------------------------------------------- lm-eval


def test_lm_eval_asdiv_results_and_samples() -> None:
    raw = json.loads(ASDIV_RESULTS.read_text())
    with ASDIV_SAMPLES.open() as fh:
        samples = [json.loads(line) for line in fh]
    [run] = ingest.import_path(ASDIV)
    assert run.source_format == "lm-eval"
    assert run.name == "meta-llama/Meta-Llama-3-8B-Instruct"
    assert run.state == "succeeded"
    assert run.metrics == {"asdiv/acc": raw["results"]["asdiv"]["acc,none"]}
    assert run.metric_stderr == {"asdiv/acc": raw["results"]["asdiv"]["acc_stderr,none"]}
    assert run.higher_is_better == {"asdiv/acc": True}
    assert run.sample_counts == {"asdiv/acc": 50}
    # Items keyed by doc_id for pairing, scored by acc (an int 0/1 in the file).
    assert run.eval_items == [("asdiv", str(s["doc_id"]), float(s["acc"])) for s in samples]
    assert sum(score for _, _, score in run.eval_items) == 46
    # The samples agree with the aggregate, and their SE with lm-eval's stored one.
    scores = [score for _, _, score in run.eval_items]
    assert st.sem(scores) == pytest.approx(run.metric_stderr["asdiv/acc"], rel=1e-12)
    assert "warnings" not in run.provenance
    assert run.provenance["item_metric"] == {"asdiv": "acc"}


def test_lm_eval_asdiv_quirks_survive() -> None:
    [run] = ingest.parse_lm_eval(ASDIV_RESULTS)
    assert run.config["limit"] == 50.0  # a float in the file
    # How it ran (batch size, device) is not the config: kept in provenance as in the file.
    assert "batch_size" not in run.config
    assert run.provenance["lm_eval_settings"]["batch_size"] == "8"  # a string in the file
    assert run.provenance["lm_eval_settings"]["use_cache"] is None
    assert run.config["num_fewshot"] == 8
    assert run.config["model_args_parsed"] == {"pretrained": "meta-llama/Meta-Llama-3-8B-Instruct"}
    assert run.provenance["total_evaluation_time_seconds"] == pytest.approx(17.455804042001546)
    assert run.provenance["git_hash"] == "59170e85"


def test_lm_eval_samples_path_finds_its_results() -> None:
    [run] = ingest.import_path(ASDIV_SAMPLES)
    assert run.provenance["source_path"] == str(ASDIV_RESULTS)
    assert len(run.eval_items) == 50


def test_lm_eval_results_without_samples_and_odd_metadata() -> None:
    [run] = ingest.import_path(MMLU_AA)
    assert run.metrics == {"mmlu_abstract_algebra/acc": 0.34}
    assert run.metric_stderr == {"mmlu_abstract_algebra/acc": 0.047609522856952344}
    assert run.eval_items == []
    assert run.sample_counts == {"mmlu_abstract_algebra/acc": 100}
    # model_name is a CSV path in this file; it is what the user ran, so it is the name.
    assert run.name.endswith("dog_steer.csv")
    assert run.config["model_dtype"] is None and run.config["limit"] is None
    assert run.config["num_fewshot"] == 0
    assert run.provenance["task_hashes"] == {}
    assert run.provenance["samples_files"] == []


def _asdiv_variant(tmp_path: Path, mutate_results=None, sample_lines=None) -> Path:  # type: ignore[no-untyped-def]
    d = tmp_path / "lm"
    d.mkdir()
    data = json.loads(ASDIV_RESULTS.read_text())
    if mutate_results:
        mutate_results(data)
    (d / ASDIV_RESULTS.name).write_text(json.dumps(data))
    lines = ASDIV_SAMPLES.read_text().splitlines() if sample_lines is None else sample_lines
    (d / ASDIV_SAMPLES.name).write_text("\n".join(lines) + "\n")
    return d


def test_lm_eval_na_and_null_stderr_become_none_then_come_from_samples(tmp_path: Path) -> None:
    def mutate(data: dict) -> None:  # type: ignore[type-arg]
        data["results"]["asdiv"]["acc_stderr,none"] = "N/A"
        data["results"]["asdiv"]["acc_norm,none"] = 0.9
        data["results"]["asdiv"]["acc_norm_stderr,none"] = None
        data["results"]["asdiv_group"] = {"alias": "g", "acc,none": 0.92, "acc_stderr,none": "N/A"}

    [run] = ingest.parse_lm_eval(_asdiv_variant(tmp_path, mutate))
    assert run.metric_stderr["asdiv/acc_norm"] is None
    assert run.metric_stderr["asdiv_group/acc"] is None
    # "N/A" in the file, but the samples give the SE lm-eval would have computed.
    scores = [json.loads(line)["acc"] for line in ASDIV_SAMPLES.read_text().splitlines()]
    assert run.metric_stderr["asdiv/acc"] == pytest.approx(st.sem(scores))
    assert run.provenance["stderr_from_samples"] == ["asdiv/acc"]


def test_lm_eval_samples_disagreeing_with_results_are_reported(tmp_path: Path) -> None:
    def mutate(data: dict) -> None:  # type: ignore[type-arg]
        data["results"]["asdiv"]["acc,none"] = 0.5

    [run] = ingest.parse_lm_eval(_asdiv_variant(tmp_path, mutate))
    # Said out loud (cockpit import prints run.warnings), naming the file.
    [line] = run.warnings
    assert line.endswith(": asdiv/acc: results say 0.5, samples average 0.92")
    assert line.startswith(str(tmp_path))


def test_lm_eval_filters_keep_items_apart(tmp_path: Path) -> None:
    # Newer lm-eval logs one line per (doc, filter) with "filter" and "metrics" keys.
    lines = []
    for doc in range(4):
        for filt, em in (("strict-match", doc % 2), ("flexible-extract", 1)):
            lines.append(
                json.dumps(
                    {"doc_id": doc, "filter": filt, "metrics": ["exact_match"], "exact_match": em}
                )
            )

    def mutate(data: dict) -> None:  # type: ignore[type-arg]
        data["results"]["asdiv"] = {
            "exact_match,strict-match": 0.5,
            "exact_match_stderr,strict-match": 0.29,
            "exact_match,flexible-extract": 1.0,
            "exact_match_stderr,flexible-extract": 0.0,
        }

    [run] = ingest.parse_lm_eval(_asdiv_variant(tmp_path, mutate, lines))
    assert run.metrics == {
        "asdiv/exact_match,strict-match": 0.5,
        "asdiv/exact_match,flexible-extract": 1.0,
    }
    strict = [s for t, _, s in run.eval_items if t == "asdiv,strict-match"]
    flexible = [s for t, _, s in run.eval_items if t == "asdiv,flexible-extract"]
    assert strict == [0.0, 1.0, 0.0, 1.0] and flexible == [1.0] * 4


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (['{"doc_id": 0, "acc": 1}', "{not json"], "line 2 is not valid JSON"),
        (['{"doc_id": 0, "acc": 1}', '{"acc": 1}'], "line 2 has no doc_id"),
        (['{"doc_id": 0, "acc": 1}', '{"doc_id": 0, "acc": 0}'], "doc_id 0 appears twice"),
        (['{"doc_id": 0, "acc": 1}', '{"doc_id": 1, "acc": "yes"}'], "line 2 has no numeric"),
        (["[1, 2]"], "line 1 is not a JSON object"),
    ],
)
def test_lm_eval_malformed_samples_name_file_and_line(
    tmp_path: Path, lines: list[str], expected: str
) -> None:
    d = _asdiv_variant(tmp_path, sample_lines=lines)
    with pytest.raises(ImportFormatError) as err:
        ingest.import_path(d)
    msg = str(err.value)
    assert expected in msg and ASDIV_SAMPLES.name in msg and "\n" not in msg


@pytest.mark.parametrize(
    "content",
    [
        '{"results": [1, 2], "versions": {}}',
        '{"results": {"asdiv": 3}, "versions": {}}',
        '{"results": {"asdiv": {"acc,none": 0.5}}, "versions": {}, "configs": []',
        "",
    ],
)
def test_lm_eval_malformed_results_is_one_line_error(tmp_path: Path, content: str) -> None:
    f = tmp_path / "results_2024-01-01T00-00-00.000000.json"
    f.write_text(content)
    with pytest.raises(ImportFormatError) as err:
        ingest.parse_lm_eval(f)
    assert f.name in str(err.value) and "\n" not in str(err.value)


def test_lm_eval_v03_results_json(tmp_path: Path) -> None:
    # lm-eval 0.3 wrote results.json with bare metric names and no n-samples.
    f = tmp_path / "results.json"
    f.write_text(
        json.dumps(
            {
                "results": {"hellaswag": {"acc": 0.5, "acc_stderr": 0.005, "acc_norm": 0.6}},
                "versions": {"hellaswag": 0},
                "config": {"model": "hf-causal", "model_args": "pretrained=gpt2", "num_fewshot": 0},
            }
        )
    )
    assert ingest.detect_format(tmp_path) == "lm-eval"
    [run] = ingest.import_path(tmp_path)
    assert run.name == "gpt2"
    assert run.metrics == {"hellaswag/acc": 0.5, "hellaswag/acc_norm": 0.6}
    assert run.metric_stderr == {"hellaswag/acc": 0.005, "hellaswag/acc_norm": None}


# --------------------------------------------------------------------------- AI-Scientist


def test_ai_scientist_gan_diffusion_means_only() -> None:
    runs = ingest.import_path(GAN)
    assert [r.name for r in runs] == [f"run_{i}" for i in range(6)]
    for run in runs:
        raw = json.loads((GAN / run.name / "final_info.json").read_text())
        expected = {f"{ds}/{m}": v for ds, block in raw.items() for m, v in block["means"].items()}
        assert run.metrics == expected
        assert len(run.metrics) == 16
        # One seed, no stderrs in the file: nothing is invented.
        assert set(run.metric_stderr.values()) == {None}
        assert run.seeds == {}
        assert run.state == "succeeded"
    assert runs[0].provenance["is_baseline"] and not runs[1].provenance["is_baseline"]
    # notes.txt has sections for runs 0, 2, 3, 4 only.
    titles = {r.name: r.provenance.get("title") for r in runs}
    assert titles == {
        "run_0": "Baseline",
        "run_1": None,
        "run_2": "Adding Gradient Penalty",
        "run_3": "Fine-Tuning Hyperparameters",
        "run_4": "Changing Beta Schedule to Quadratic",
        "run_5": None,
    }
    # The file declares no direction: none is recorded as the file's (results guesses from
    # the name and says so).
    assert runs[0].higher_is_better == {}


def test_ai_scientist_recomputes_stderr_from_seeds_multi_style_adapter() -> None:
    raw = json.loads((STYLE / "run_1" / "final_info.json").read_text())
    [run] = ingest.import_path(STYLE)
    values = raw["shakespeare_char"]["final_info_dict"]["final_train_loss"]
    name = "shakespeare_char/final_train_loss"
    assert run.seeds[name] == values
    assert run.metrics[name] == raw["shakespeare_char"]["means"]["final_train_loss_mean"]
    assert run.metric_stderr[name] == pytest.approx(st.sem(values))
    # The template's stderr is np.std(v) / len(v): kept for reference, not used.
    reported = raw["shakespeare_char"]["stderrs"]["final_train_loss_stderr"]
    assert reported == pytest.approx(np.std(values) / len(values))
    assert run.provenance["reported_stderr"][name] == reported
    assert run.metric_stderr[name] > 2 * reported
    # enwik8 has a single seed: the file says stderr 0.0, which is not knowledge.
    assert run.metric_stderr["enwik8/final_train_loss"] is None
    assert run.provenance["reported_stderr"]["enwik8/final_train_loss"] == 0.0
    assert run.sample_counts[name] == 3 and run.sample_counts["enwik8/final_train_loss"] == 1


def test_ai_scientist_grokking_nulls_and_empty_seed_lists() -> None:
    raw = json.loads((GROK / "run_1" / "final_info.json").read_text())
    [run] = ingest.import_path(GROK)
    assert run.provenance["title"] == "Operand Reversal Augmentation"
    # means null where no seed reached 95 % (and 99 % on permutation): skipped, not 0.
    assert "x_div_y/step_val_acc_95" not in run.metrics
    assert "permutation/step_val_acc_99" not in run.metrics
    assert "x_div_y/step_val_acc_95" in run.provenance["skipped"]
    values = raw["x_div_y"]["final_info_dict"]["final_val_acc"]
    assert run.metric_stderr["x_div_y/final_val_acc"] == pytest.approx(st.sem(values))
    # This template used ddof=0 / sqrt(n).
    reported = raw["x_div_y"]["stderrs"]["final_val_acc_stderr"]
    assert reported == pytest.approx(np.std(values) / np.sqrt(len(values)))


def test_ai_scientist_per_seed_files_when_final_info_dict_is_missing(tmp_path: Path) -> None:
    grok = _copy(GROK, tmp_path)
    info = grok / "run_1" / "final_info.json"
    raw = json.loads(info.read_text())
    stripped = {ds: {"means": block["means"]} for ds, block in raw.items()}
    info.write_text(json.dumps(stripped))
    [run] = ingest.import_path(grok)
    for ds in raw:
        for metric, values in raw[ds]["final_info_dict"].items():
            if values:
                assert run.seeds.get(f"{ds}/{metric}") == [float(v) for v in values]


def test_ai_scientist_malformed(tmp_path: Path) -> None:
    run = tmp_path / "run_0"
    run.mkdir()
    (run / "final_info.json").write_text('{"circle": {"means": {"eval_loss": 0.4}')
    with pytest.raises(ImportFormatError, match=r"final_info\.json: not valid JSON"):
        ingest.import_path(tmp_path)
    (run / "final_info.json").write_text("[1, 2, 3]")
    with pytest.raises(ImportFormatError, match="expected an object"):
        ingest.import_path(tmp_path)


# --------------------------------------------------------------------------- MLflow


def _mlflow_files(run_dir: Path, kind: str) -> dict[str, str]:
    return {f.name: f.read_text() for f in (run_dir / kind).iterdir()}


def test_mlflow_file_store() -> None:
    runs = ingest.import_path(MLRUNS)
    assert len(runs) == 7
    by_id = {r.provenance["run_id"]: r for r in runs}
    states = sorted(r.state for r in runs)
    # 3 FINISHED, 4 left RUNNING (never closed, end_time null).
    assert states == ["running"] * 4 + ["succeeded"] * 3
    for run_id, run in by_id.items():
        run_dir = MLRUNS / "0" / run_id
        metrics = {k: float(v.split()[1]) for k, v in _mlflow_files(run_dir, "metrics").items()}
        assert run.metrics == metrics
        params = {k: float(v) for k, v in _mlflow_files(run_dir, "params").items()}
        assert run.config == params
        assert run.name == _mlflow_files(run_dir, "tags")["mlflow.runName"]
        assert run.provenance["experiment_name"] == "Default"
        assert run.series == {k: [(0, v)] for k, v in metrics.items()}
        if run.state == "running":
            assert run.provenance["end_time_ms"] is None
    assert sum("git_commit" in r.provenance for r in runs) == 4
    odd = by_id["0d8653353e3e43beb89442a8bca1a94d"]
    assert odd.config == {"alpha": 0.1, "l1_ratio": 0.6}
    assert odd.higher_is_better == {}  # MLflow declares no direction


def _synthetic_store(tmp_path: Path) -> Path:
    """The real store plus a FAILED run with history and a deleted run."""
    store = _copy(MLRUNS, tmp_path)
    src = store / "0" / "0d8653353e3e43beb89442a8bca1a94d"
    failed = store / "0" / "ffffffffffffffffffffffffffffffff"
    shutil.copytree(src, failed)
    meta = (failed / "meta.yaml").read_text()
    meta = meta.replace("status: 3", "status: 4").replace(
        "0d8653353e3e43beb89442a8bca1a94d", failed.name
    )
    (failed / "meta.yaml").write_text(meta.replace("run_name: wise-roo-476", "run_name: boom"))
    (failed / "metrics" / "loss").write_text("1 2.5 0\n3 nan 20\n2 1.5 10\n")
    (failed / "metrics" / "train").mkdir()
    (failed / "metrics" / "train" / "acc").write_text("1 0.5\n")  # old stores: no step
    deleted = store / "0" / "dddddddddddddddddddddddddddddddd"
    shutil.copytree(src, deleted)
    dmeta = (
        (deleted / "meta.yaml")
        .read_text()
        .replace("lifecycle_stage: active", "lifecycle_stage: deleted")
    )
    (deleted / "meta.yaml").write_text(dmeta)
    return store


def test_mlflow_failed_run_history_and_deleted_runs(tmp_path: Path) -> None:
    store = _synthetic_store(tmp_path)
    runs = {r.name: r for r in ingest.import_path(store)}
    assert len(runs) == 8  # the deleted run is skipped, as MLflow's UI does
    boom = runs["boom"]
    assert boom.state == "failed"
    # Ordered by step: the last logged value is a step-20 NaN. It is no result: no final
    # value (an earlier one would pass for one), the series keeps the finite points, and
    # the import says so, naming the file and the metric.
    assert boom.series["loss"] == [(0, 2.5), (10, 1.5)]
    assert "loss" not in boom.metrics
    [warning] = [w for w in boom.warnings if "loss" in w]
    assert "metrics/loss" in warning and "nan" in warning and "step 20" in warning
    assert boom.metrics["train/acc"] == 0.5


@pytest.mark.parametrize(
    ("target", "content", "expected"),
    [
        ("metrics/mae", "1748257990918 not-a-number 0\n", "metrics/mae: line 1"),
        ("metrics/mae", "1 2 3 4\n", "is not 'timestamp value step'"),
        ("meta.yaml", "artifact_uri file:///x\nrun_id: abc\n", "meta.yaml: line 1"),
    ],
)
def test_mlflow_malformed_files_name_the_file(
    tmp_path: Path, target: str, content: str, expected: str
) -> None:
    store = _copy(MLRUNS, tmp_path)
    run_dir = store / "0" / "0d8653353e3e43beb89442a8bca1a94d"
    (run_dir / target).write_text(content)
    with pytest.raises(ImportFormatError) as err:
        ingest.parse_mlflow(run_dir)
    assert expected in str(err.value) and "\n" not in str(err.value)


# --------------------------------------------------------------------------- cockpit runs


def _make_cockpit_run(run_dir: Path, exit_code: str | None = "0") -> Path:
    run_dir.mkdir(parents=True)
    (run_dir / "spec.json").write_text(
        json.dumps(
            {
                "run_id": run_dir.name,
                "sweep": "s",
                "config": {"lr": 0.001, "seed": 1},
                "command": "python train.py",
                "host": "h1",
            }
        )
    )
    (run_dir / "metrics.jsonl").write_text(
        "\n".join(
            [
                '{"step": 0, "val_loss": 3.0}',
                '{"step": 10, "train_loss": 2.0, "lr": 0.001}',
                '{"step": 20, "train_loss": 1.5, "note": "text is ignored"}',
                '{"step": 20, "val_loss": 1.7, "mmlu_acc": 0.5}',
            ]
        )
        + "\n"
    )
    (run_dir / "eval_items.jsonl").write_text(
        "".join(json.dumps({"task": "mmlu", "doc_id": i, "acc": i % 2}) for i in range(6)).replace(
            "}{", "}\n{"
        )
        + "\n"
    )
    if exit_code is not None:
        (run_dir / "exit_code").write_text(exit_code + "\n")
    (run_dir / "provenance.json").write_text(json.dumps({"git_commit": "abc123"}))
    return run_dir


def test_cockpit_run_dir(tmp_path: Path) -> None:
    [run] = ingest.import_path(_make_cockpit_run(tmp_path / "r1"))
    assert run.name == "r1" and run.source_format == "cockpit-run"
    assert run.config == {"lr": 0.001, "seed": 1}
    assert run.metrics == {"val_loss": 1.7, "train_loss": 1.5, "lr": 0.001, "mmlu_acc": 0.5}
    assert run.series["val_loss"] == [(0, 3.0), (20, 1.7)]
    assert run.eval_items == [("mmlu", str(i), float(i % 2)) for i in range(6)]
    assert run.metric_stderr["mmlu_acc"] == pytest.approx(st.sem([i % 2 for i in range(6)]))
    assert run.provenance["git_commit"] == "abc123"
    assert run.provenance["exit_code"] == 0
    assert run.state == "succeeded"


@pytest.mark.parametrize(
    ("code", "state"), [("0", "succeeded"), ("1", "failed"), ("124", "timeout"), (None, "running")]
)
def test_cockpit_run_state_from_exit_code(tmp_path: Path, code: str | None, state: str) -> None:
    [run] = ingest.parse_cockpit_run(_make_cockpit_run(tmp_path / "r", code))
    assert run.state == state


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("spec.json", "{", "spec.json: not valid JSON"),
        ("spec.json", "[]", "spec.json: expected a JSON object"),
        (
            "metrics.jsonl",
            '{"step": 1, "loss": 1}\n{"step": "x", "loss": 2}\n',
            "line 2 has a non-numeric step",
        ),
        ("eval_items.jsonl", '{"task": "t", "acc": 1}\n', "line 1 has no doc_id"),
        ("exit_code", "segfault\n", "expected an integer exit code"),
        ("provenance.json", "3", "provenance.json: expected a JSON object"),
    ],
)
def test_cockpit_run_malformed(tmp_path: Path, name: str, content: str, expected: str) -> None:
    run_dir = _make_cockpit_run(tmp_path / "r")
    (run_dir / name).write_text(content)
    with pytest.raises(ImportFormatError) as err:
        ingest.import_path(run_dir)
    assert expected in str(err.value) and "\n" not in str(err.value)


@pytest.mark.skipif(not SAMPLE_RUNS.is_dir(), reason="sample_runs not generated")
def test_cockpit_sample_runs() -> None:
    runs = ingest.import_path(SAMPLE_RUNS)
    dirs = sorted(d for d in SAMPLE_RUNS.iterdir() if (d / "spec.json").is_file())
    assert [r.provenance["source_path"] for r in runs] == [str(d) for d in dirs]
    for run, d in zip(runs, dirs, strict=True):
        spec = json.loads((d / "spec.json").read_text())
        assert run.config == spec["config"]
        with (d / "eval_items.jsonl").open() as fh:
            items = [json.loads(line) for line in fh]
        assert len(run.eval_items) == len(items)
        if "mmlu_acc" in run.metrics:
            assert run.metrics["mmlu_acc"] == pytest.approx(np.mean([i["acc"] for i in items]))


# --------------------------------------------------------------------------- robustness


@pytest.mark.parametrize(
    "src",
    [ASDIV_RESULTS, GAN / "run_0" / "final_info.json", MLRUNS / "0" / "meta.yaml"],
)
def test_truncated_real_files_never_raise_anything_but_import_errors(
    tmp_path: Path, src: Path
) -> None:
    text = src.read_text()
    for cut in (1, len(text) // 3, len(text) // 2, len(text) - 2):
        d = tmp_path / f"cut{cut}"
        d.mkdir()
        target = d / src.name
        target.write_text(text[:cut])
        if src.name == "meta.yaml":  # an experiment folder with a damaged meta.yaml
            try:
                ingest.parse_mlflow(d)
            except ImportFormatError as err:
                assert "\n" not in str(err)
            continue
        with pytest.raises(ImportFormatError) as err:
            ingest.import_path(target)
        assert src.name in str(err.value) and "\n" not in str(err.value)


def test_binary_file_is_a_one_line_error(tmp_path: Path) -> None:
    run = tmp_path / "run_0"
    run.mkdir()
    (run / "final_info.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ImportFormatError, match="not a UTF-8 text file"):
        ingest.import_path(tmp_path)


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("eval_loss", False),
        ("mmlu/acc", True),
        ("holdout_ppl", False),
        ("r2", True),
        ("training_time", False),
        ("lr", None),
        ("tokens_per_s", True),
    ],
)
def test_guess_higher_is_better(metric: str, expected: bool | None) -> None:
    assert guess_higher_is_better(metric) is expected
