"""The Paper pane at 80x24: jump between the changes of a diff, switch to side by side,
list the claim check, and accept or reject an LLM edit's hunks with a key."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from cockpit.app.demo import DemoWiring
from cockpit.app.paper import PaperController
from cockpit.app.shell import CockpitApp
from cockpit.paper import drafts
from cockpit.paper.claims import check_claims
from cockpit.store import Store
from tests.conftest import wait_until
from widgets.paper import PaperPane

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
        start = old.index("line one")
        controller.propose("mine", main, start, len(old), "LINE ONE\nline two\nLINE THREE\n")
        await wait_until(lambda: len(blocks(pane)) == 2 and pane.current == 0)
        pane.focus()
        await pilot.press("x")  # reject the first hunk
        assert "[rejected]" in str(blocks(pane)[0].render())
        await pilot.press("y")  # accept the second: every hunk decided, the file is written
        await wait_until(lambda: main.read_text() != old)
        assert main.read_text() == "\\section{Method}\nline one\nline two\nLINE THREE\n"
        sources = [v.message for v in store.list_draft_versions("mine")]
        assert sources == ["added", "edit accepted"]
