"""The Ideas pane at 80x24, by keyboard: editing, generation streamed and cancelled, and a
proposed sweep that waits for a person."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import DataTable, Input, TextArea

from cockpit.app.demo import DemoWiring
from cockpit.app.shell import CockpitApp
from cockpit.models import Command, CommandStatus, Idea, LlmBackend, LlmCall, LlmCallStatus
from cockpit.store import Store
from tests.conftest import wait_until
from tests.literature_server import S2_HIT, Canned, PaperServer, papers
from tests.llm_server import ChatServer, Reply, llm_server
from widgets.dialogs import ConfirmScreen
from widgets.ideas import IdeaForm, IdeasPane, SpecEditScreen, UsageScreen

__all__ = ["llm_server", "papers"]
SIZE = (80, 24)


def demo_app(store: Store) -> CockpitApp:
    return CockpitApp(store, demo=DemoWiring.create(duration_s=600.0), open_triage=False)


async def fill(app: CockpitApp, values: dict[str, str]) -> None:
    await wait_until(lambda: isinstance(app.screen, IdeaForm))
    for key, value in values.items():
        app.screen.query_one(f"#form-{key}", Input).value = value


async def test_add_edit_and_delete_an_idea(store: Store) -> None:
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("1")
        table = app.query_one("#ideas-table", DataTable)
        before = table.row_count
        await pilot.press("a")
        await fill(app, {"name": "warmup_sweep", "title": "Warmup length", "priority": "9"})
        await pilot.press("enter")
        await wait_until(lambda: table.row_count == before + 1)
        assert str(table.get_row_at(0)[0]) == "Warmup length"  # highest priority first
        # Edit: a bad status is refused in one line and nothing changes.
        table.move_cursor(row=0)
        await pilot.press("e")
        await fill(app, {"status": "done"})
        await pilot.press("enter")
        await wait_until(lambda: not isinstance(app.screen, IdeaForm))
        await pilot.pause()
        assert store.get_idea("warmup_sweep").status == "new"
        await pilot.press("e")
        await fill(app, {"status": "approved", "notes": "ask Ana · 2 GPUs"})
        await pilot.press("enter")
        await wait_until(lambda: store.get_idea("warmup_sweep").status == "approved")
        assert store.get_idea("warmup_sweep").notes == "ask Ana\n2 GPUs"
        await pilot.press("d")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(lambda: table.row_count == before)
        assert "warmup_sweep" not in {i.name for i in store.list_ideas()}


async def test_generation_streams_into_the_pane_and_esc_cancels(
    store: Store, llm_server: ChatServer, tmp_path: Path
) -> None:
    store.add_llm_backend(LlmBackend("loop", "openai/gpt-4o-mini", api_base=llm_server.url))
    context = tmp_path / "context.md"
    context.write_text("nanoGPT on shakespeare_char; baseline val loss 1.47")
    record = {"Name": "x", "Title": "Slow idea", "Experiment": "e" * 10}
    # A minute of streaming: the escape below lands mid-answer however loaded the machine.
    text = "THOUGHT: " + " ".join(f"word{i}" for i in range(2000)) + json.dumps(record)
    llm_server.script = [Reply(text, chunk_delay_s=0.03)]
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("1")
        pane = app.query_one(IdeasPane)
        await pilot.press("g")
        await fill(app, {"llm": "loop", "context": str(context), "n": "2", "reflections": "1"})
        await pilot.press("enter")
        # The estimate comes first and nothing is sent until a person says yes.
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), timeout=60)
        assert "4 call(s)" in app.screen.question and "up to $" in app.screen.question
        assert llm_server.received == []
        await pilot.press("y")
        await wait_until(lambda: "word5" in "\n".join(pane.stream.lines), timeout=30)
        assert "calls]" in str(pane.progress.render())
        await pilot.press("escape")
        await wait_until(lambda: not pane.generating, timeout=10)
        assert "stopped" in str(pane.progress.render())
        command = store.list_commands()[0]
        assert command.kind == "llm.generate" and command.status is CommandStatus.FAILED
        assert "cancelled" in (command.error or "")
        assert [c.status for c in store.llm_calls()] == [LlmCallStatus.CANCELLED]
        assert len(llm_server.received) == 1


async def test_a_proposed_sweep_waits_for_a_person(store: Store) -> None:
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("1")
        table = app.query_one("#ideas-table", DataTable)
        name = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        runs_before = len(store.list_runs())

        def proposals() -> list[Command]:
            return [c for c in store.list_commands() if c.pane == "ideas"]

        await pilot.press("p")  # not approved yet: refused
        await pilot.pause()
        assert proposals() == []
        await pilot.press("e")
        await fill(app, {"status": "approved"})
        await pilot.press("enter")
        await wait_until(lambda: store.get_idea(name).status == "approved")
        # The spec opens for editing first; escape drops it, a broken spec is refused.
        await pilot.press("p")
        await wait_until(lambda: isinstance(app.screen, SpecEditScreen))
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, SpecEditScreen))
        await pilot.press("p")
        await wait_until(lambda: isinstance(app.screen, SpecEditScreen))
        editor = app.screen.query_one(TextArea)
        template = editor.text
        editor.text = "name = "
        await pilot.press("ctrl+s")
        await wait_until(lambda: not isinstance(app.screen, SpecEditScreen))
        await pilot.pause()
        assert proposals() == []
        await pilot.press("p")
        await wait_until(lambda: isinstance(app.screen, SpecEditScreen))
        app.screen.query_one(TextArea).text = template.replace("[0, 1, 2]", "[0, 1, 2, 3, 4]")
        await pilot.press("ctrl+s")
        await wait_until(lambda: len(proposals()) == 1)
        (command,) = proposals()
        assert command.status is CommandStatus.NEEDS_CONFIRM
        assert command.kind == "run.sweep" and f'"{name}"' in command.payload["spec_toml"]
        assert "seeds = [0, 1, 2, 3, 4]" in command.payload["spec_toml"]  # the edit is kept
        assert len(store.list_runs()) == runs_before  # nothing ran
        await pilot.press("6")
        commands = app.query_one("#commands-table", DataTable)
        await wait_until(lambda: commands.row_count >= 1)
        commands.move_cursor(row=commands.get_row_index(str(command.id)))
        await pilot.press("n")  # a person says no
        await wait_until(lambda: proposals()[0].status is CommandStatus.REJECTED)
        assert len(store.list_runs()) == runs_before


@pytest.fixture(autouse=True)
def _no_real_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def literature(
    store: Store, llm_server: ChatServer, papers: PaperServer, monkeypatch: pytest.MonkeyPatch
) -> PaperServer:
    """The app's Semantic Scholar at the replay server, one hit; one LLM backend."""
    monkeypatch.setenv("COCKPIT_S2_URL", papers.url)
    papers.script = [Canned(200, S2_HIT)]
    store.add_llm_backend(LlmBackend("loop", "openai/gpt-4o-mini", api_base=llm_server.url))
    return papers


async def start_check(app: CockpitApp, pilot: object, store: Store, rounds: str) -> IdeasPane:
    store.add_idea(Idea("layer_lr", "Layer-wise learning rates", "Per layer.", priority=99))
    await app.loaded.wait()
    await pilot.press("1")  # type: ignore[attr-defined]
    pane = app.query_one(IdeasPane)
    await wait_until(lambda: pane.selected is not None and pane.selected.name == "layer_lr")
    await pilot.press("k")  # type: ignore[attr-defined]
    await wait_until(lambda: isinstance(app.screen, IdeaForm))
    # The only backend is the pane's default: the form offers it.
    assert app.screen.query_one("#form-llm", Input).value == "loop"
    await fill(app, {"rounds": rounds})
    await pilot.press("enter")  # type: ignore[attr-defined]
    await wait_until(lambda: isinstance(app.screen, ConfirmScreen), timeout=60)
    return pane


async def test_novelty_check_from_the_pane_shows_papers_and_records_the_decision(
    store: Store, llm_server: ChatServer, literature: PaperServer
) -> None:
    papers = literature
    llm_server.script = [
        Reply('THOUGHT: look.\n```json\n{"Query": "layer-wise learning rate"}\n```'),
        Reply('```json\n{"Decision": "not novel", "Reasons": "LARS (2017) does this."}\n```'),
    ]
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        pane = await start_check(app, pilot, store, "2")
        question = app.screen.question  # type: ignore[attr-defined]
        assert "Check layer_lr against semantic_scholar in up to 2 round(s) on loop" in question
        assert "2 call(s)" in question and "up to $" in question
        assert llm_server.received == [] and papers.queries == []
        await pilot.press("y")
        await wait_until(lambda: not pane.generating and len(llm_server.received) == 2, 30)
        await wait_until(lambda: "not novel after 1 search" in str(pane.progress.render()))
        assert papers.queries[0]["query"] == ["layer-wise learning rate"]
        # The paper streamed into the pane as it was found ...
        streamed = "\n".join(pane.stream.lines)
        assert "· Layer-wise Adaptive Rate Scaling (2017, arXiv, 900 citations)" in streamed
        # ... and the decision, its reasons and the papers are in the idea's detail.
        await wait_until(lambda: "LARS (2017) does this." in str(pane.detail.render()))
        detail = str(pane.detail.render())
        assert "novelty: not novel" in detail and "searched: layer-wise learning rate" in detail
        assert "(2017, arXiv, 900 citations) https://www.semanticscholar.org/paper/abc" in detail
        idea = store.get_idea("layer_lr")
        assert idea.novel is False and idea.novelty_check is not None


async def test_a_novelty_check_is_cancelled_with_escape_and_records_nothing(
    store: Store, llm_server: ChatServer, literature: PaperServer
) -> None:
    papers = literature
    slow = "THOUGHT: " + " ".join(f"word{i}" for i in range(2000))
    llm_server.script = [Reply(slow, chunk_delay_s=0.03)]
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        pane = await start_check(app, pilot, store, "3")
        await pilot.press("y")
        await wait_until(lambda: "word5" in "\n".join(pane.stream.lines), timeout=30)
        assert "round 1/3 [0/3 calls]" in str(pane.progress.render())
        await pilot.press("escape")
        await wait_until(lambda: not pane.generating, timeout=10)
        assert "stopped" in str(pane.progress.render())
        assert store.get_idea("layer_lr").novelty_check is None
        assert [c.status for c in store.llm_calls()] == [LlmCallStatus.CANCELLED]
        assert papers.queries == []


async def test_usage_view_totals_per_pane_and_idea(store: Store) -> None:
    for pane, idea, cost in (("ideas", "a", 0.5), ("runs", None, 0.25)):
        store.add_llm_call(
            LlmCall("loop", "m", LlmCallStatus.OK, pane, "x", idea, cost_usd=cost, created_at=1e9)
        )
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("1")
        await pilot.press("u")
        await wait_until(lambda: isinstance(app.screen, UsageScreen))
        screen = app.screen
        assert isinstance(screen, UsageScreen)
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(screen.usage)
        shown = console.export_text()
        assert "2 calls" in shown and "$0.7500" in shown
        assert "per pane" in shown and "per idea" in shown and "2001-09-09" in shown
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, UsageScreen))


async def test_the_llm_writes_a_spec_that_opens_for_editing_and_waits_for_a_person(
    store: Store, llm_server: ChatServer
) -> None:
    store.add_llm_backend(LlmBackend("loop", "openai/gpt-4o-mini", api_base=llm_server.url))
    store.add_idea(
        Idea("layer_lr", "Layer-wise learning rates", "Per layer.", priority=99, status="approved")
    )
    spec = (
        'name = "layer-lr"\ncommand = "python exp.py --lr-mode {mode} --seed {seed}"\n'
        'seeds = [0, 1]\nfactors = { mode = ["flat", "layer"] }\n'
    )
    llm_server.script = [Reply(f"Here it is:\n```toml\n{spec}```")]
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("1")
        pane = app.query_one(IdeasPane)
        await wait_until(lambda: pane.selected is not None and pane.selected.name == "layer_lr")
        await pilot.press("P")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), timeout=60)
        assert "write a sweep spec for layer_lr" in app.screen.question
        assert llm_server.received == []
        await pilot.press("y")
        await wait_until(lambda: isinstance(app.screen, SpecEditScreen), timeout=30)
        assert app.screen.query_one(TextArea).text == spec
        assert [c for c in store.list_commands() if c.kind == "run.sweep"] == []
        await pilot.press("ctrl+s")
        await wait_until(lambda: any(c.kind == "run.sweep" for c in store.list_commands()))
        (command,) = [c for c in store.list_commands() if c.kind == "run.sweep"]
        assert command.status is CommandStatus.NEEDS_CONFIRM
        assert command.payload["spec_toml"] == spec
        assert [c.purpose for c in store.llm_calls()] == ["ideas.sweep"]
