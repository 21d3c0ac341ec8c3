"""LLM edits and reviews of a draft against the loopback OpenAI-compatible server: the cost
is said before the call, accepted hunks only are written, reviews are kept per version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cockpit.cli.main import main
from cockpit.models import LlmBackend, LlmCallStatus
from cockpit.store import Store
from tests.llm_server import ChatServer, Reply, llm_server

__all__ = ["llm_server"]

MODEL = "openai/gpt-4o-mini"
TEX = """\\documentclass{article}
\\begin{document}
\\section{Intro}
We study things.
\\section{Method}
We use a V100 GPU.
Our method is very very good and it is good.
\\section{End}
Bye.
\\end{document}
"""


@pytest.fixture
def db(tmp_path: Path, llm_server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COCKPIT_TEST_KEY", "sk-test-paper")
    path = tmp_path / "c.db"
    (tmp_path / "main.tex").write_text(TEX)
    with Store.open(path) as store:
        store.add_llm_backend(
            LlmBackend("loop", MODEL, api_base=llm_server.url, api_key_env="COCKPIT_TEST_KEY")
        )
    assert main(["--db", str(path), "paper", "add", "d", str(tmp_path / "main.tex")]) == 0
    return path


def test_edit_writes_only_the_accepted_hunk(
    db: Path, tmp_path: Path, llm_server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_server.script = [
        Reply(text="\nWe use an H100 GPU.\nOur method is good.\n"),
    ]
    capsys.readouterr()
    assert (
        main(
            [
                "--db",
                str(db),
                "paper",
                "edit",
                "d",
                "--section",
                "Method",
                "--llm",
                "loop",
                "--dry-run",
            ]
        )
        == 0
    )
    assert "estimate: 1 call(s)" in capsys.readouterr().err
    assert llm_server.received == []  # the estimate is said before anything is sent
    rc = main(
        [
            "--db",
            str(db),
            "paper",
            "edit",
            "d",
            "--section",
            "Method",
            "--llm",
            "loop",
            "--accept",
            "2",
        ]
    )
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "hunk 2" in out.out and "accepted hunk(s) 2 of 2" in out.out
    assert (tmp_path / "main.tex").read_text() == TEX.replace(
        "Our method is very very good and it is good.", "Our method is good."
    )
    sent = llm_server.received[0].body["messages"][-1]["content"]
    assert "We use a V100 GPU." in sent and "We study things." not in sent
    with Store.open(db) as store:
        versions = store.list_draft_versions("d")
        calls = store.llm_calls()
    assert [v.source for v in versions] == ["snapshot", "snapshot"]  # before edit == v1
    assert versions[-1].message == "edit accepted"
    assert [(c.purpose, c.status, c.draft) for c in calls] == [
        ("paper.edit", LlmCallStatus.OK, "d")
    ]


def test_review_ensemble_and_meta_review_are_stored_per_version(
    db: Path, llm_server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    def review(overall: int) -> Reply:
        return Reply(
            text=json.dumps(
                {
                    "summary": "s",
                    "strengths": "a",
                    "weaknesses": "w",
                    "questions": "q",
                    "limitations": "l",
                    "soundness": 2,
                    "presentation": 3,
                    "contribution": 2,
                    "overall": overall,
                    "confidence": 4,
                    "decision": "reject",
                }
            )
        )

    llm_server.script = [review(3), review(5), review(4)]
    capsys.readouterr()
    rc = main(["--db", str(db), "paper", "review", "d@1", "--llm", "loop", "--n", "2", "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "estimate: 3 call(s)" in captured.err
    result = json.loads(captured.out)
    assert [r["overall"] for r in result["reviews"]] == [3, 5]
    assert result["meta"]["overall"] == 4
    assert len(llm_server.received) == 3
    assert main(["--db", str(db), "paper", "reviews", "d", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["version"] == 1 and row["reviews"] == 2
    assert row["overall_mean"] == 4.0 and row["overall_meta"] == 4
    # a bad --n is one line and exit 2, before any call
    assert main(["--db", str(db), "paper", "review", "d", "--llm", "loop", "--n", "0"]) == 2
    assert len(llm_server.received) == 3


def test_edit_of_one_paragraph_and_a_missing_one(
    db: Path, tmp_path: Path, llm_server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_server.script = [Reply(text="Bye now.")]
    args = ["--db", str(db), "paper", "edit", "d", "--section", "end", "--llm", "loop"]
    assert main([*args, "--paragraph", "2"]) == 2  # no such paragraph: one line, no call
    err = capsys.readouterr().err
    assert "no paragraph 2 in section 'end'" in err and len(err.strip().splitlines()) == 1
    assert llm_server.received == []
    assert main([*args, "--paragraph", "1", "--accept", "all"]) == 0
    assert (tmp_path / "main.tex").read_text() == TEX.replace("Bye.", "Bye now.")
    assert llm_server.received[0].body["messages"][-1]["content"].endswith("Text:\nBye.\n")
