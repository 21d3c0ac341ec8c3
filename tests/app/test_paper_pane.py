"""The Paper pane at 80x24: jump between the changes of a diff, switch to side by side,
list the claim check, accept or reject an LLM edit's hunks with a key, ask for an LLM edit
of a paragraph (estimate first, streamed, esc cancels) against the loopback OpenAI-compatible
server, see and start reviews, and snapshot a draft that changes on disk."""

from __future__ import annotations

import json
import os
from pathlib import Path

from textual.widgets import DataTable, Input, Static

from cockpit.app.demo import DemoWiring
from cockpit.app.paper import PaperController
from cockpit.app.shell import CockpitApp
from cockpit.models import CommandStatus, LlmBackend, LlmCallStatus, Review
from cockpit.paper import drafts
from cockpit.paper.claims import check_claims
from cockpit.paper.review import draft_edit_targets, find_target, hunks_between
from cockpit.store import Store
from tests.app.test_app_triage import screen_text
from tests.conftest import wait_until
from tests.llm_server import ChatServer, Reply, llm_server
from widgets.dialogs import ConfirmScreen, HelpScreen
from widgets.paper import EditScreen, PaperPane, ReviewScreen

__all__ = ["llm_server"]

SIZE = (80, 24)


def demo_app(store: Store) -> CockpitApp:
    return CockpitApp(store, demo=DemoWiring.create(duration_s=600.0), open_triage=False)


def blocks(pane: PaperPane) -> list[Static]:
    return list(pane.changes.query(".paper-change").results(Static))


async def test_keys_jump_between_changes_and_switch_layout(store: Store) -> None:
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("5")
        pane = app.query_one(PaperPane)
        await wait_until(lambda: len(blocks(pane)) > 2)
        count = len(blocks(pane))
        await pilot.press("n", "n")
        assert pane.current == 1
        assert [b.has_class("-current") for b in blocks(pane)][:3] == [False, True, False]
        await pilot.press("N")
        assert pane.current == 0
        await pilot.press("s")
        await wait_until(lambda: blocks(pane) and blocks(pane)[0].has_class("-current"))
        assert pane.side_by_side and len(blocks(pane)) == count
        for _ in range(count + 2):  # past the end stays on the last change
            await pilot.press("n")
        assert pane.current == count - 1


async def test_claim_check_lists_problems_first(store: Store) -> None:
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("5")
        pane = app.query_one(PaperPane)
        await wait_until(lambda: len(blocks(pane)) > 0)
        draft, version = pane.selected() or ("", 0)
        await pilot.press("c")
        await wait_until(lambda: "claim check" in str(pane.status.render()))
        text = next(v.text for v in store.list_draft_versions(draft) if v.version == version)
        report = check_claims(store, text, draft=draft, remember=False)
        await wait_until(lambda: len(blocks(pane)) == len(report.claims))
        shown = [str(b.render()).split()[0] for b in blocks(pane)]
        problems = len(report.problems)
        assert all(s in ("unmatched", "stale", "unbacked", "contradicts") for s in shown[:problems])
        assert f"{problems} problem(s)" in str(pane.status.render())


async def test_hunks_are_accepted_and_rejected_with_keys(store: Store, tmp_path: Path) -> None:
    main = tmp_path / "main.tex"
    old = "\\section{Method}\nline one\nline two\nline three\n"
    main.write_text(old)
    drafts.register(store, "mine", main)
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("5")
        pane = app.query_one(PaperPane)
        controller = next(c for c in app.controllers if isinstance(c, PaperController))
        target = find_target(draft_edit_targets(main), "Method", 1)
        controller.propose(
            "mine", target, hunks_between(target.text, "LINE ONE\nline two\nLINE THREE\n")
        )
        await wait_until(lambda: len(blocks(pane)) == 2 and pane.current == 0)
        pane.focus()
        await pilot.press("x")  # reject the first hunk
        assert "[rejected]" in str(blocks(pane)[0].render())
        # A reload of the versions (as when a draft changes on disk) leaves the hunks be.
        pane.show_versions(store.list_draft_versions())
        await pilot.pause()
        # A diff it asked for would have landed once the pane's workers are done.
        await wait_until(
            lambda: not any(w.group == "paper" and not w.is_finished for w in app.workers)
        )
        await pilot.pause()
        assert len(blocks(pane)) == 2 and "[rejected]" in str(blocks(pane)[0].render())
        await pilot.press("y")  # accept the second: every hunk decided, the file is written
        await wait_until(lambda: main.read_text() != old)
        assert main.read_text() == "\\section{Method}\nline one\nline two\nLINE THREE\n"
        sources = [v.message for v in store.list_draft_versions("mine")]
        assert sources == ["added", "edit accepted"]


TEX = """\\documentclass{article}
\\begin{document}
\\section{Intro}
We study things.

\\section{Method}
We use a V100 GPU.
Our method is very very good and it is good.

A second paragraph stays.
\\end{document}
"""


def register_draft(store: Store, tmp_path: Path, server: ChatServer) -> Path:
    main = tmp_path / "paper" / "main.tex"
    main.parent.mkdir()
    main.write_text(TEX)
    drafts.register(store, "mine", main)
    store.add_llm_backend(LlmBackend("loop", "openai/gpt-4o-mini", api_base=server.url))
    return main


async def ask_for_edit(app: CockpitApp, pilot: object, label: str) -> str:
    """Open the edit screen on the draft "mine", choose `label` with the arrows, press enter:
    the question with the cost estimate that comes back (nothing is sent before a yes)."""
    pane = app.query_one(PaperPane)
    pane.select_version("mine", 1)
    pane.table.focus()
    await pilot.press("e")  # type: ignore[attr-defined]
    await wait_until(lambda: isinstance(app.screen, EditScreen))
    screen = app.screen
    assert isinstance(screen, EditScreen)
    table = screen.query_one("#paper-edit-targets", DataTable)
    while screen.targets[table.cursor_row].label != label:
        await pilot.press("down")  # type: ignore[attr-defined]
    screen.query_one("#paper-edit-llm", Input).value = "loop"
    await pilot.press("enter")  # type: ignore[attr-defined]
    try:
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), timeout=60)
    except AssertionError:
        # Say why: an error the cockpit notified, or the screen it is stuck on.
        said = [n.message for n in app._notifications]
        raise AssertionError(f"no estimate to confirm; screen {app.screen!r}; {said}") from None
    return str(app.screen.question)  # type: ignore[attr-defined]


async def test_llm_edit_of_a_paragraph_estimated_streamed_and_written_by_hunk(
    store: Store, tmp_path: Path, llm_server: ChatServer
) -> None:
    main = register_draft(store, tmp_path, llm_server)
    llm_server.script = [Reply(text="We use an H100 GPU.\nOur method is good.", chunk_delay_s=0.01)]
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("5")
        pane = app.query_one(PaperPane)
        question = await ask_for_edit(app, pilot, "Method ¶1")
        assert "Method ¶1" in question and "1 call(s)" in question
        assert llm_server.received == []
        await pilot.press("y")
        await wait_until(lambda: len(blocks(pane)) == 2 and pane.current == 0, timeout=30)
        sent = llm_server.received[0].body["messages"][-1]["content"]
        assert "Our method is very very good" in sent and "A second paragraph" not in sent
        pane.focus()
        await pilot.press("x")  # the GPU line: rejected
        await pilot.press("y")  # the tightened sentence: accepted, then the file is written
        await wait_until(lambda: main.read_text() != TEX)
        assert main.read_text() == TEX.replace(
            "Our method is very very good and it is good.", "Our method is good."
        )
        messages = [v.message for v in store.list_draft_versions("mine")]
        assert messages == ["added", "edit accepted"]  # "before edit" equalled v1
        (call,) = store.llm_calls()
        assert (call.purpose, call.status, call.pane) == ("paper.edit", LlmCallStatus.OK, "paper")


async def test_escape_cancels_the_edit_and_writes_nothing(
    store: Store, tmp_path: Path, llm_server: ChatServer
) -> None:
    main = register_draft(store, tmp_path, llm_server)
    words = " ".join(f"word{i}" for i in range(300))
    llm_server.script = [Reply(text=words, chunk_delay_s=0.03)]
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("5")
        pane = app.query_one(PaperPane)
        assert "Intro" in await ask_for_edit(app, pilot, "Intro")
        await pilot.press("y")
        await wait_until(
            lambda: pane.stream is not None and "word5" in "\n".join(pane.stream.lines),
            timeout=30,
        )
        pane.focus()
        await pilot.press("escape")
        await wait_until(lambda: not pane.streaming, timeout=10)
        assert "stopped" in str(pane.status.render())
        command = store.list_commands()[0]
        assert command.kind == "llm.paper_edit" and command.status is CommandStatus.FAILED
        assert "cancelled" in (command.error or "")
        assert [c.status for c in store.llm_calls()] == [LlmCallStatus.CANCELLED]
        assert main.read_text() == TEX
        assert len(store.list_draft_versions("mine")) == 1


def review_reply(overall: int, decision: str = "reject") -> Reply:
    fields = dict.fromkeys(("summary", "strengths", "weaknesses", "questions", "limitations"), "t")
    scores = {"soundness": 2, "presentation": 3, "contribution": 2, "confidence": 4}
    return Reply(text=json.dumps({**fields, **scores, "overall": overall, "decision": decision}))


async def test_reviews_show_how_scores_moved_and_a_review_starts_after_its_estimate(
    store: Store, tmp_path: Path, llm_server: ChatServer
) -> None:
    main = register_draft(store, tmp_path, llm_server)
    main.write_text(TEX.replace("very very good", "good"))
    drafts.snapshot_if_changed(store, store.get_draft("mine"))  # version 2
    for i, overall in enumerate((3, 5)):
        store.add_review(Review("mine", 1, i, {"overall": overall}, "loop", 0.0, 1.0))
    store.add_review(Review("mine", 1, -1, {"overall": 4, "decision": "reject"}, "loop"))
    llm_server.script = [review_reply(6), review_reply(7), review_reply(7, "accept")]
    app = demo_app(store)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.loaded.wait()
        await pilot.press("5")
        pane = app.query_one(PaperPane)
        pane.select_version("mine", 2)
        pane.table.focus()
        await pilot.press("R")
        await wait_until(lambda: isinstance(app.screen, ReviewScreen))
        app.screen.query_one("#paper-review-llm", Input).value = "loop"
        app.screen.query_one("#paper-review-n", Input).value = "2"
        app.screen.query_one("#paper-review-n", Input).focus()
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), timeout=60)
        assert "3 call(s)" in app.screen.question  # type: ignore[attr-defined]
        assert llm_server.received == []
        await pilot.press("y")
        await wait_until(lambda: "reviews of mine v2" in str(pane.status.render()), timeout=30)
        assert len(llm_server.received) == 3
        await pilot.pause()
        history = screen_text(app)
        # v1: mean 4 (3 and 5), meta 4; v2: mean 6.5, meta 7; the overall moved by +2.5.
        assert "4/4" in history and "6.5/7" in history and "+2.5" in history
        assert "meta-review of v2" in str(blocks(pane)[1].render())
        assert "accept" in str(blocks(pane)[1].render())
        pane.select_version("mine", 1)
        await pilot.press("r")
        await wait_until(lambda: "reviews of mine v1" in str(pane.status.render()))
        assert "2 review(s) and a meta-review" in str(pane.status.render())


async def test_a_draft_changed_on_disk_is_snapshot_and_d_diffs_it(
    store: Store, tmp_path: Path, llm_server: ChatServer
) -> None:
    main = register_draft(store, tmp_path, llm_server)
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("5")
        pane = app.query_one(PaperPane)
        section = main.parent / "extra.tex"
        section.write_text("\\section{Extra}\nAn included section.\n")
        main.write_text(TEX.replace("\\end{document}", "\\input{extra}\n\\end{document}"))
        await wait_until(lambda: pane.changed_on_disk == ("mine", 2), timeout=15)
        (_, v2) = store.list_draft_versions("mine")
        assert "An included section." in v2.text and v2.message == "changed on disk"
        # An edit of the included file alone is seen too (its mtime is watched).
        section.write_text("\\section{Extra}\nAn included section, edited.\n")
        stamp = section.stat().st_mtime_ns + 1_000_000_000
        os.utime(section, ns=(stamp, stamp))
        await wait_until(lambda: pane.changed_on_disk == ("mine", 3), timeout=15)
        pane.table.focus()
        await pilot.press("d")
        await wait_until(lambda: "edited" in " ".join(str(b.render()) for b in blocks(pane)))
        assert pane.selected() == ("mine", 3)


async def test_help_lists_the_paper_keys(store: Store) -> None:
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("question_mark")
        await wait_until(lambda: isinstance(app.screen, HelpScreen))
        rows = {(r.key, r.scope) for r in app.screen.rows}  # type: ignore[attr-defined]
        for key in ("n", "N", "s", "b", "c", "e", "y", "x", "r", "R", "d", "escape"):
            assert (key, "Paper") in rows, key
