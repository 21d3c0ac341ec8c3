"""The idea queue's core: ideas.json round-trips, model JSON repair, near-duplicates, status
moves, the numbers an answer quotes, and the schema step that added them."""

from __future__ import annotations

import json
import sqlite3
import tomllib
from pathlib import Path

import pytest

from cockpit.ideas import (
    IdeaError,
    move,
    near_duplicates,
    parse_model_json,
    read_ideas_file,
    sweep_proposal_payload,
    sweep_spec_template,
    write_ideas_file,
)
from cockpit.llm_jobs import check_numbers
from cockpit.models import Idea, IdeaStatus
from cockpit.store import MIGRATIONS, Store

IDEAS = Path(__file__).resolve().parents[1] / "data" / "formats" / "ai-scientist-ideas"


@pytest.mark.parametrize("file", ["ideas.json", "seed_ideas.json"])
def test_real_ideas_files_round_trip_through_the_store(store: Store, file: str) -> None:
    original = json.loads((IDEAS / file).read_text())
    ideas, problems = read_ideas_file((IDEAS / file).read_text())
    store.import_ideas(ideas)
    exported = json.loads(write_ideas_file(store.list_ideas()))
    assert exported == original  # same records, same order, the repeated Names kept
    assert [list(r) for r in exported] == [list(r) for r in original]  # same key order
    assert problems == []


def test_repeated_names_become_distinct_queue_entries(store: Store) -> None:
    ideas, _ = read_ideas_file((IDEAS / "ideas.json").read_text())
    names = [i.name for i in ideas]
    assert len(names) == len(set(names)) == 52
    assert "recency_effect_gpt-2" in names
    # Importing the same file again replaces, never duplicates, and keeps a person's edits.
    store.import_ideas(ideas)
    first = store.get_idea("adaptive_block_size")
    store.save_idea(move(first, "approved"))
    store.import_ideas(read_ideas_file((IDEAS / "ideas.json").read_text())[0])
    assert len(store.list_ideas()) == 52
    assert store.get_idea("adaptive_block_size").status == IdeaStatus.APPROVED


def test_v2_fields_are_kept_and_written_back() -> None:
    v2 = [
        {
            "Name": "compositional_regularization",
            "Title": "Compositional Regularization",
            "Short Hypothesis": "Explicit regularization helps compositional generalization.",
            "Related Work": "Prior work uses architectures, not losses.",
            "Abstract": "We add a loss term.",
            "Experiments": ["Train with the term", "Compare on SCAN"],
            "Risk Factors and Limitations": ["May not scale"],
        }
    ]
    ideas, problems = read_ideas_file(json.dumps(v2))
    assert ideas[0].experiment == "Train with the term\nCompare on SCAN"
    assert ideas[0].status == IdeaStatus.NEW  # no scores yet
    assert json.loads(write_ideas_file(ideas)) == v2
    assert any("Interestingness" in p for p in problems) is False  # missing scores are no error


def test_a_bad_ideas_file_is_one_line_not_a_crash() -> None:
    with pytest.raises(IdeaError, match="not valid JSON"):
        read_ideas_file("[{")
    ideas, problems = read_ideas_file('[{"Experiment": "x"}, 3, {"Title": "T"}]')
    assert [i.name for i in ideas] == ["t"]
    assert problems[0].startswith("entry 1: an idea has neither")
    assert problems[1] == "entry 2: not an object, skipped"


@pytest.mark.parametrize(
    ("answer", "repair"),
    [
        (
            'THOUGHT: good\n\nNEW IDEA JSON:\n```json\n{"Name": "a", "Title": "A"}\n```\nDone.',
            "took the fenced block",
        ),
        (
            'Sure! Here it is: {"Name": "a", "Title": "A"} Hope it helps.',
            "dropped prose around the JSON",
        ),
        ('{"Name": "a", "Title": "A",}', "removed trailing commas"),
        ('```json\n{"Name": "a", "Title": "A", "Experiment": "cut of', "closed a truncated object"),
        (
            "{\u201cName\u201d: \u201ca\u201d, \u201cTitle\u201d: \u201cA\u201d}",
            "replaced curly quotes",
        ),
    ],
)
def test_model_json_is_repaired_and_the_repair_is_said(answer: str, repair: str) -> None:
    parsed = parse_model_json(answer)
    assert parsed.value["Name"] == "a"
    assert repair in parsed.repairs


def test_hopeless_model_output_is_reported() -> None:
    with pytest.raises(IdeaError, match="no JSON object"):
        parse_model_json("I cannot help with that.")
    with pytest.raises(IdeaError, match="cannot be repaired"):
        parse_model_json('{"Name": "a" "Title": "b"}')


def test_near_duplicates_in_the_real_file() -> None:
    ideas, _ = read_ideas_file((IDEAS / "ideas.json").read_text())
    by_name = {i.name: i for i in ideas}
    # The file's own repeats (same Name, reworded) are flagged...
    for name in (
        "availability_heuristic_gpt",
        "recency_effect_gpt",
        "syntactic_complexity_aware_gpt",
    ):
        similar = dict(near_duplicates(by_name[f"{name}-2"], ideas))
        assert name in similar
    # ...while most ideas have no near-duplicate at all.
    flagged = [i for i in ideas if near_duplicates(i, ideas)]
    assert len(flagged) <= 12


def test_status_moves_follow_the_queue() -> None:
    idea = Idea("x", "X")
    approved = move(move(idea, "scored"), "approved")
    assert move(move(approved, "running"), "done").status == IdeaStatus.DONE
    assert move(idea, "rejected").status == IdeaStatus.REJECTED
    with pytest.raises(IdeaError, match="cannot move to done"):
        move(idea, "done")
    with pytest.raises(IdeaError, match="invalid status"):
        move(idea, "queued")


def test_numbers_quoted_are_checked_against_the_data() -> None:
    data = "config  mmlu_acc  delta\nr64  0.4512  -0.0231\nbaseline 0.4743"
    answer = "r64 reaches 45.1% (0.451), 2.3 points below; baseline 0.47; overall 0.62."
    found = {q.text: q.found for q in check_numbers(answer, data)}
    assert found == {
        "45.1%": True,
        "0.451": True,
        "2.3": False,
        "0.47": True,
        "0.62": False,
    }


def test_the_sweep_template_is_valid_toml_for_the_sweep_spec() -> None:
    idea = Idea("layerwise_lr", 'A "quoted" title\nwith a newline')
    text = sweep_spec_template(idea, "gpu-box")
    spec = tomllib.loads(text)
    assert spec["hosts"] == ["gpu-box"]
    assert spec["factors"]["variant"] == ["baseline", "layerwise_lr"]
    assert spec["baseline"] == {"variant": "baseline"}
    assert sweep_proposal_payload(idea, text)["spec_toml"] == text
    with pytest.raises(IdeaError, match="no command"):
        sweep_proposal_payload(idea, 'name = "x"\n')


def test_migration_from_version_2_keeps_ideas_and_calls(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path)
    for step in MIGRATIONS[:2]:
        for statement in step:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    conn.execute(
        "INSERT INTO ideas(name, title, status, created_at) VALUES ('old', 'Old idea', 'queued', 1)"
    )
    conn.execute(
        "INSERT INTO llm_calls(backend, model, prompt_tokens, completion_tokens, cost_usd, "
        "latency_s, created_at) VALUES ('b', 'm', 5, 6, 0.5, 1.0, 2)"
    )
    conn.commit()
    conn.close()
    with Store.open(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        old = store.get_idea("old")
        assert (old.status, old.priority, old.notes, old.sweeps) == ("approved", 0, "", ())
        (call,) = store.llm_calls()
        assert (call.status, call.cost_usd, call.pane) == ("ok", 0.5, "")
        assert store.llm_spent("b") == 0.5
