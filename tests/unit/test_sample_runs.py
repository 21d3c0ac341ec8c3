"""The embedded demo dataset (sample_runs/) is self-consistent and reproducible.

These tests read the committed files directly (no cockpit code), so they fail when the
generator breaks, when someone edits a generated file by hand, or when the story the demo
tells (rank dominates, weight decay does nothing) stops holding.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "sample_runs"
GENERATOR = SAMPLE / "generate.py"
FACTORS = {"rank": [128, 64], "scheduler": ["none", "cosine"], "weight_decay": [0.1, 0.2]}
IDEA_KEYS = {
    "Name": str,
    "Title": str,
    "Experiment": str,
    "Interestingness": int,
    "Feasibility": int,
    "Novelty": int,
    "novel": bool,
}
STEP_RE = re.compile(
    r"^step +(\d+)/(\d+) \| loss (\S+) \| lr (\S+) \| grad_norm (\S+) \| tokens/s (\d+)"
    r" \| mem (\S+)G$"
)
EVAL_RE = re.compile(r"^eval step (\d+) \| holdout_ppl (\S+)$")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run_id(rank: int, scheduler: str, wd: float) -> str:
    return f"doe-r{rank}-{scheduler}-wd{wd}"


@pytest.fixture(scope="module")
def sweep() -> dict[str, Any]:
    return read_json(SAMPLE / "sweep.json")


@pytest.fixture(scope="module")
def runs(sweep: dict[str, Any]) -> dict[str, Path]:
    return {rid: SAMPLE / "runs" / rid for rid in sweep["runs"]}


@pytest.fixture(scope="module")
def items(runs: dict[str, Path]) -> dict[str, dict[int, int]]:
    """run id -> {doc_id: acc}"""
    return {
        rid: {row["doc_id"]: row["acc"] for row in read_jsonl(d / "eval_items.jsonl")}
        for rid, d in runs.items()
    }


@pytest.fixture(scope="module")
def final_mmlu(runs: dict[str, Path]) -> dict[str, float]:
    return {rid: read_jsonl(d / "metrics.jsonl")[-1]["mmlu_acc"] for rid, d in runs.items()}


def test_sweep_covers_full_factorial_in_yates_order(sweep: dict[str, Any]) -> None:
    assert sweep["name"] == "galore-doe"
    assert sweep["factors"] == FACTORS
    assert sweep["primary_metric"] == "mmlu_acc"
    assert sweep["thresholds"] == {"mmlu_acc": {"max_drop": 0.05}}
    assert sweep["baseline"] == "doe-r128-none-wd0.1"
    # Standard order: the first factor alternates fastest.
    expected = [
        run_id(r, s, w)
        for w, s, r in itertools.product(
            FACTORS["weight_decay"], FACTORS["scheduler"], FACTORS["rank"]
        )
    ]
    assert sweep["runs"] == expected
    on_disk = sorted(p.name for p in (SAMPLE / "runs").iterdir() if p.is_dir())
    assert on_disk == sorted(expected)


def test_run_dirs_are_complete(runs: dict[str, Path]) -> None:
    gpus_by_host: dict[str, list[int]] = {}
    for rid, d in runs.items():
        spec = read_json(d / "spec.json")
        assert spec["run_id"] == rid
        assert spec["sweep"] == "galore-doe"
        cfg = spec["config"]
        assert run_id(cfg["rank"], cfg["scheduler"], cfg["weight_decay"]) == rid
        assert f"--galore-rank {cfg['rank']}" in spec["command"]
        assert f"--scheduler {cfg['scheduler']}" in spec["command"]
        assert f"--weight-decay {cfg['weight_decay']}" in spec["command"]
        assert spec["timeout_s"] == 43200
        assert (d / "exit_code").read_text() == "0\n"

        prov = read_json(d / "provenance.json")
        assert prov["hostname"] == spec["host"]
        assert prov["git_dirty"] is False
        assert re.fullmatch(r"[0-9a-f]{40}", prov["git_commit"])
        started = datetime.fromisoformat(prov["started_at"])
        ended = datetime.fromisoformat(prov["ended_at"])
        assert datetime.fromisoformat("2026-11-21T22:00:00+00:00") <= started < ended
        assert ended <= datetime.fromisoformat("2026-11-22T06:30:00+00:00")
        (gpu,) = spec["gpus"]
        gpus_by_host.setdefault(spec["host"], []).append(gpu)
    assert {h: sorted(g) for h, g in gpus_by_host.items()} == {
        "demo-a": [0, 1, 2, 3],
        "demo-b": [0, 1, 2, 3],
    }


def test_out_logs_are_long_and_finish(runs: dict[str, Path]) -> None:
    for d in runs.values():
        lines = (d / "out.log").read_text(encoding="utf-8").splitlines()
        assert len(lines) >= 2000
        assert lines[-1].startswith("training finished")
        assert any("UserWarning" in line for line in lines)
        assert any(line.startswith("checkpoint: saved") for line in lines)


def test_metrics_match_out_log(runs: dict[str, Path]) -> None:
    for rid, d in runs.items():
        steps: dict[int, tuple[float, float, float]] = {}
        evals: dict[int, float] = {}
        for line in (d / "out.log").read_text(encoding="utf-8").splitlines():
            if m := STEP_RE.match(line):
                steps[int(m[1])] = (float(m[3]), float(m[4]), float(m[6]))
            elif m := EVAL_RE.match(line):
                evals[int(m[1])] = float(m[2])
        assert len(steps) == 2500, rid
        metrics = read_jsonl(d / "metrics.jsonl")
        train = [m for m in metrics if "train_loss" in m]
        assert [m["step"] for m in train] == list(range(10, 2501, 10))
        for m in train:
            assert (m["train_loss"], m["lr"], m["tokens_per_s"]) == steps[m["step"]], rid
        for m in metrics:
            if "holdout_ppl" in m:
                assert evals[m["step"]] == m["holdout_ppl"], rid
        final = metrics[-1]
        assert set(final) == {"step", "mmlu_acc", "holdout_ppl"}
        assert final["step"] == 2500
        assert f"mmlu_acc {final['mmlu_acc']:.4f}" in (d / "out.log").read_text()


def test_cosine_runs_decay_lr_and_constant_runs_do_not(runs: dict[str, Path]) -> None:
    for rid, d in runs.items():
        last_lr = [m["lr"] for m in read_jsonl(d / "metrics.jsonl") if "lr" in m][-1]
        if "-cosine-" in rid:
            assert last_lr == pytest.approx(1e-5)
        else:
            assert last_lr == pytest.approx(1e-4)


def test_final_mmlu_equals_mean_of_items(
    items: dict[str, dict[int, int]], final_mmlu: dict[str, float]
) -> None:
    for rid, accs in items.items():
        assert set(accs.values()) <= {0, 1}
        assert final_mmlu[rid] == round(sum(accs.values()) / len(accs), 4), rid
        assert 0.43 <= final_mmlu[rid] <= 0.46


def test_all_runs_share_the_same_2000_items(runs: dict[str, Path]) -> None:
    doc_id_sets = []
    for d in runs.values():
        rows = read_jsonl(d / "eval_items.jsonl")
        assert {row["task"] for row in rows} == {"mmlu"}
        ids = [row["doc_id"] for row in rows]
        assert len(ids) == len(set(ids)) == 2000
        doc_id_sets.append(set(ids))
    assert all(s == doc_id_sets[0] for s in doc_id_sets)


def main_effects(final_mmlu: dict[str, float]) -> dict[str, float]:
    effects = {}
    for index, (name, (low, high)) in enumerate(FACTORS.items()):
        at = {low: [], high: []}
        for rank, sched, wd in itertools.product(*FACTORS.values()):
            at[(rank, sched, wd)[index]].append(final_mmlu[run_id(rank, sched, wd)])
        effects[name] = sum(at[high]) / 4 - sum(at[low]) / 4
    return effects


def test_rank_is_the_largest_positive_main_effect(final_mmlu: dict[str, float]) -> None:
    effects = main_effects(final_mmlu)
    assert max(effects, key=lambda k: abs(effects[k])) == "rank"
    assert 0.010 <= effects["rank"] <= 0.015
    assert abs(effects["weight_decay"]) < 0.002


def mcnemar_p(a: dict[int, int], b: dict[int, int]) -> float:
    only_a = sum(1 for k in a if a[k] and not b[k])
    only_b = sum(1 for k in a if b[k] and not a[k])
    n = only_a + only_b
    tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2**n
    return min(1.0, 2 * tail)


def test_paired_test_finds_rank_but_not_weight_decay(items: dict[str, dict[int, int]]) -> None:
    for sched, wd in itertools.product(FACTORS["scheduler"], FACTORS["weight_decay"]):
        # Significant even after a Bonferroni correction over the 7 runs vs. the baseline.
        assert mcnemar_p(items[run_id(128, sched, wd)], items[run_id(64, sched, wd)]) < 0.05 / 7
    for rank, sched in itertools.product(FACTORS["rank"], FACTORS["scheduler"]):
        assert mcnemar_p(items[run_id(rank, sched, 0.1)], items[run_id(rank, sched, 0.2)]) > 0.2
    # Fine-tunes of one base model agree on most items.
    base, other = items["doe-r128-none-wd0.1"], items["doe-r64-cosine-wd0.2"]
    assert sum(base[k] == other[k] for k in base) / len(base) > 0.9


def test_ideas_have_the_ai_scientist_shape() -> None:
    ideas = read_json(SAMPLE / "ideas.json")
    assert isinstance(ideas, list)
    assert 6 <= len(ideas) <= 8
    for idea in ideas:
        assert set(idea) == set(IDEA_KEYS)
        for key, typ in IDEA_KEYS.items():
            assert type(idea[key]) is typ, (idea["Name"], key)
        for key in ("Interestingness", "Feasibility", "Novelty"):
            assert 1 <= idea[key] <= 10
    assert {idea["novel"] for idea in ideas} == {True, False}
    assert len({idea["Name"] for idea in ideas}) == len(ideas)


def test_paper_versions_differ_and_v3_matches_metrics(
    runs: dict[str, Path], final_mmlu: dict[str, float]
) -> None:
    versions = read_json(SAMPLE / "paper" / "versions.json")
    assert [v["version"] for v in versions] == [1, 2, 3]
    texts = [(SAMPLE / "paper" / v["file"]).read_text(encoding="utf-8") for v in versions]
    assert len(set(texts)) == 3
    stamps = [datetime.fromisoformat(v["created_at"]) for v in versions]
    assert stamps == sorted(stamps)
    for text in texts:
        assert text.startswith("\\documentclass")
        assert text.rstrip().endswith("\\end{document}")
        assert "\\begin{abstract}" in text and "\\cite{" in text
        assert "@@" not in text

    def quoted(text: str, rid: str) -> float:
        m = re.search(rf"\\texttt\{{{re.escape(rid)}\}} &[^&]*&[^&]*&[^&]*& ([\d.]+)", text)
        assert m, rid
        return float(m[1])

    stale = []
    for rid in runs:
        truth = f"{100 * final_mmlu[rid]:.2f}"
        assert f"{quoted(texts[2], rid):.2f}" == truth, rid
        if f"{quoted(texts[1], rid):.2f}" != truth:
            stale.append(rid)
    assert stale == ["doe-r64-cosine-wd0.1"]  # the one stale number v3 fixes
    assert "doe-r" not in texts[0]  # v1 predates the sweep


def test_generator_reproduces_committed_files(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(GENERATOR), str(tmp_path)], check=True, capture_output=True)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert len(generated) == 8 * 6 + 2 + 4  # run files, sweep + ideas, 3 drafts + versions
    for rel in generated:
        assert (tmp_path / rel).read_bytes() == (SAMPLE / rel).read_bytes(), rel
