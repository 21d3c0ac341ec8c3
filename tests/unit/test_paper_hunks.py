"""Edits as hunks: any subset applies exactly; writing is atomic with a snapshot first, and a
process killed between the snapshot and the write loses nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.paper import drafts
from cockpit.paper.drafts import DraftError
from cockpit.paper.review import (
    apply_hunks,
    edit_targets,
    find_target,
    fit_proposal,
    hunks_between,
    parse_review,
    write_edit,
)
from cockpit.store import Store

ROOT = Path(__file__).resolve().parents[2]
OLD = "intro\nWe use a V100.\nthe method\nresults are good\nend\n"
NEW = "intro\nWe use an H100.\nthe method\nresults are 0.43\nend\nmore\n"


def test_hunks_apply_in_any_subset() -> None:
    hunks = hunks_between(OLD, NEW)
    assert [(h.old, h.new) for h in hunks] == [
        ("We use a V100.\n", "We use an H100.\n"),
        ("results are good\n", "results are 0.43\n"),
        ("", "more\n"),
    ]
    assert apply_hunks(OLD, hunks, {0, 1, 2}) == NEW
    assert apply_hunks(OLD, hunks, set()) == OLD
    assert apply_hunks(OLD, hunks, {1}) == OLD.replace("results are good", "results are 0.43")
    assert apply_hunks(OLD, hunks, {0, 2}) == (
        "intro\nWe use an H100.\nthe method\nresults are good\nend\nmore\n"
    )


def test_write_with_snapshot_keeps_the_old_text_and_writes_the_new(tmp_path: Path) -> None:
    main = tmp_path / "main.tex"
    main.write_text(OLD)
    main.chmod(0o640)
    with Store.open(tmp_path / "c.db") as store:
        drafts.register(store, "d", main)
        main.write_text(OLD + "typed by hand\n")  # not yet snapshotted
        draft = store.get_draft("d")
        drafts.write_with_snapshot(store, draft, main, NEW)
        texts = [v.text for v in store.list_draft_versions("d")]
    assert main.read_text() == NEW
    assert oct(main.stat().st_mode & 0o777) == "0o640"
    assert texts == [OLD, OLD + "typed by hand\n", NEW]  # the hand edit was kept first
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


KILLER = """
import os, signal, sys
from pathlib import Path
from cockpit.paper import drafts
from cockpit.store import Store
store = Store.open(sys.argv[1])
draft = store.get_draft("d")
drafts.write_with_snapshot(
    store, draft, Path(draft.path), sys.argv[2],
    after_snapshot=lambda: os.kill(os.getpid(), signal.SIGKILL),
)
"""


def test_a_process_killed_between_snapshot_and_write_loses_nothing(tmp_path: Path) -> None:
    main = tmp_path / "main.tex"
    main.write_text(OLD)
    db = tmp_path / "c.db"
    with Store.open(db) as store:
        drafts.register(store, "d", main)
    main.write_text(OLD + "unsaved work\n")
    done = subprocess.run(
        [sys.executable, "-c", KILLER, str(db), NEW], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == -9, done.stderr
    assert main.read_text() == OLD + "unsaved work\n"  # the old file, whole
    with Store.open(db) as store:
        versions = store.list_draft_versions("d")
    assert versions[-1].text == OLD + "unsaved work\n" and versions[-1].source == "before edit"


def test_review_answers_are_validated_against_the_form() -> None:
    good = parse_review(
        'Sure! {"summary": "s", "strengths": ["a", "b"], "weaknesses": "w", "questions": "q",'
        ' "limitations": "l", "soundness": 3, "presentation": 2, "contribution": 2,'
        ' "overall": 5, "confidence": 4, "decision": "Reject"}'
    )
    assert good["strengths"] == "a\nb" and good["overall"] == 5 and good["decision"] == "reject"
    assert "problems" not in good
    bad = parse_review('{"soundness": 7, "overall": "high", "decision": "maybe"}')
    assert bad["soundness"] is None and bad["overall"] is None and bad["decision"] is None
    assert len(bad["problems"]) == 6  # soundness, presentation, contribution, overall, ...
    assert parse_review("no json here")["problems"] == ["the answer holds no JSON object"]


EDITABLE = """\\documentclass{article}
\\begin{document}
\\section{Intro}
We study things.
% \\section{Not a section}

\\section{Method}
We use a V100 GPU.
Our method is good.

Second paragraph.
\\subsection{Setup {with braces}}
Eight seeds.

\\bibliography{refs}
\\end{document}
"""


def test_edit_targets_are_sections_and_paragraphs_at_their_offsets() -> None:
    targets = edit_targets("main.tex", EDITABLE)
    assert [(t.kind, t.label) for t in targets] == [
        ("section", "Intro"),
        ("paragraph", "Intro ¶1"),
        ("section", "Method"),
        ("paragraph", "Method ¶1"),
        ("paragraph", "Method ¶2"),
        ("section", "Setup {with braces}"),
        ("paragraph", "Setup {with braces} ¶1"),
    ]
    for t in targets:
        assert EDITABLE[t.start : t.end] == t.text
    method = find_target(targets, "method", 1)  # any case
    assert method.text == "We use a V100 GPU.\nOur method is good.\n"
    last = find_target(targets, "Setup {with braces}", None)
    assert "bibliography" not in last.text and "Eight seeds." in last.text
    with pytest.raises(DraftError, match="no paragraph 3 in section 'Method'"):
        find_target(targets, "Method", 3)


def test_a_proposal_keeps_the_selection_s_own_blank_lines() -> None:
    assert fit_proposal("\nold text\n\n", "```\nnew text```") == "\n```\nnew text```\n\n"
    assert fit_proposal("old\n", "\n\nnew\n\n") == "new\n"


def test_write_edit_keeps_other_changes_and_refuses_a_changed_selection(tmp_path: Path) -> None:
    main = tmp_path / "main.tex"
    main.write_text(EDITABLE)
    with Store.open(tmp_path / "c.db") as store:
        drafts.register(store, "d", main)
        draft = store.get_draft("d")
        target = find_target(edit_targets(str(main), EDITABLE), "Method", 1)
        proposal = fit_proposal(target.text, "We use an H100 GPU.\nOur method is good.")
        hunks = hunks_between(target.text, proposal)
        # Someone typed elsewhere in the file meanwhile: kept.
        main.write_text(EDITABLE.replace("We study things.", "We study many things."))
        version = write_edit(store, draft, target, hunks, {0})
        expected = EDITABLE.replace("We study things.", "We study many things.").replace(
            "a V100", "an H100"
        )
        assert main.read_text() == expected
        assert version is not None and version.text == expected
        # The selection itself changed: nothing written.
        with pytest.raises(DraftError, match="changed on disk"):
            write_edit(store, draft, target, hunks, {0})
        assert main.read_text() == expected
