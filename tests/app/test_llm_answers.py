"""A in Runs and Results at 80x24: the cost is confirmed before anything is sent, the answer
streams into a panel, escape cancels it, and the numbers it quotes that the data does not
hold are marked. litellm against the loopback server."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from cockpit.app.demo import DemoWiring
from cockpit.app.shell import CockpitApp
from cockpit.models import LlmBackend, LlmCallStatus
from cockpit.store import Store
from tests.conftest import wait_until
from tests.integration.test_llm_ask import failed_run
from tests.llm_server import ChatServer, Reply, llm_server
from widgets.dialogs import ConfirmScreen
from widgets.llm_answer import AnswerScreen

__all__ = ["llm_server"]
SIZE = (80, 24)
MODEL = "openai/gpt-4o-mini"


@pytest.fixture(autouse=True)
def backend(store: Store, llm_server: ChatServer) -> LlmBackend:
    b = LlmBackend("loop", MODEL, api_base=llm_server.url)
    store.add_llm_backend(b)
    return b


async def open_runs(app: CockpitApp, pilot: object) -> None:
    await app.loaded.wait()
    await pilot.press("3")  # type: ignore[attr-defined]
    table = app.query_one("#runs-table", DataTable)
    await wait_until(lambda: table.row_count == 1)


async def ask(app: CockpitApp, pilot: object, llm_server: ChatServer) -> AnswerScreen:
    await pilot.press("A")  # type: ignore[attr-defined]
    await wait_until(lambda: isinstance(app.screen, ConfirmScreen), timeout=60)
    assert "1 call(s)" in app.screen.question and "up to $" in app.screen.question
    assert llm_server.received == []  # nothing is sent before the yes
    await pilot.press("y")  # type: ignore[attr-defined]
    await wait_until(lambda: isinstance(app.screen, AnswerScreen))
    screen = app.screen
    assert isinstance(screen, AnswerScreen)
    return screen


async def test_explain_a_failed_run_streams_the_answer_with_its_numbers_checked(
    store: Store, llm_server: ChatServer
) -> None:
    failed_run(store)
    llm_server.script = [Reply("OOM at line 88 asking 2.50 GiB; use batch 32.", chunk_delay_s=0.02)]
    app = CockpitApp(store, open_triage=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_runs(app, pilot)
        screen = await ask(app, pilot, llm_server)
        assert "Ask loop to explain the failure of run oom-run" in app.ask.last_question
        await wait_until(lambda: "OOM at" in screen.text)  # streamed before the end
        await wait_until(lambda: not screen.in_flight, timeout=30)
        body = str(screen.body.render())
        assert "line 88 asking 2.50 GiB; use batch 32[?]." in body
        footer = str(screen.footer.render())
        assert "[?] a number not in the data" in footer and "$0.0" in footer
        prompt = llm_server.received[0].body["messages"][-1]["content"]
        assert "torch.OutOfMemoryError" in prompt
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, AnswerScreen))
        (call,) = store.llm_calls()
        assert (call.pane, call.status) == ("runs", LlmCallStatus.OK)


async def test_escape_cancels_an_answer_in_flight(store: Store, llm_server: ChatServer) -> None:
    failed_run(store)
    words = " ".join(f"w{i}" for i in range(3000))
    llm_server.script = [Reply(words, chunk_delay_s=0.03)]
    app = CockpitApp(store, open_triage=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_runs(app, pilot)
        screen = await ask(app, pilot, llm_server)
        await wait_until(lambda: "w3" in screen.text, timeout=30)
        await pilot.press("escape")
        await wait_until(lambda: not screen.in_flight, timeout=10)
        assert "cancelled" in str(screen.footer.render())
        assert isinstance(app.screen, AnswerScreen)  # what came is still there to read
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, AnswerScreen))
        assert [c.status for c in store.llm_calls()] == [LlmCallStatus.CANCELLED]


async def test_summarize_the_results_on_screen(store: Store, llm_server: ChatServer) -> None:
    llm_server.script = [Reply("Holm over 6 comparisons; 4242 runs in all.")]
    app = CockpitApp(store, demo=DemoWiring.create(duration_s=600.0), open_triage=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("4")
        table = app.query_one("#results-table", DataTable)
        await wait_until(lambda: table.row_count > 0, timeout=30)
        screen = await ask(app, pilot, llm_server)
        await wait_until(lambda: not screen.in_flight, timeout=30)
        prompt = llm_server.received[0].body["messages"][-1]["content"]
        assert "Holm correction" in prompt and "galore-doe" in prompt
        assert "over the 6 tested comparisons" in prompt and "4242" not in prompt
        assert "Holm over 6 comparisons; 4242[?] runs in all." in str(screen.body.render())
        assert store.llm_calls()[0].pane == "results"


async def test_a_backend_without_its_key_is_refused_before_any_estimate(
    store: Store, llm_server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cockpit.llm_jobs import set_default_backend

    monkeypatch.delenv("LOOP_KEY", raising=False)
    store.add_llm_backend(
        LlmBackend("keyed", MODEL, api_base=llm_server.url, api_key_env="LOOP_KEY")
    )
    set_default_backend(store, "keyed", "runs")
    failed_run(store)
    app = CockpitApp(store, open_triage=False)
    said: list[str] = []
    notify = app.notify

    def noted(message: str, **kwargs: object) -> None:
        said.append(message)
        notify(message, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(app, "notify", noted)
    async with app.run_test(size=SIZE) as pilot:
        await open_runs(app, pilot)
        await pilot.press("A")
        await wait_until(lambda: any("set the environment variable LOOP_KEY" in m for m in said))
        assert not isinstance(app.screen, ConfirmScreen) and llm_server.received == []
