"""litellm against a real OpenAI-compatible HTTP server on loopback: the calls the cockpit
makes, what they cost, how they fail, stop and cancel, and what is written down."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from backends.llm import LitellmClient
from cockpit.bus import CommandBus
from cockpit.cli.main import main
from cockpit.ideas import wire_llm
from cockpit.llm_jobs import JobProgress, LlmCommandHandler
from cockpit.models import CommandStatus, LlmBackend, LlmCallStatus
from cockpit.registry import CommandRegistry, llm_target
from cockpit.store import Store
from tests.conftest import wait_until
from tests.llm_server import ChatServer, Reply, llm_server

__all__ = ["llm_server"]

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-test-7c1d9e2f-never-stored"
MODEL = "openai/gpt-4o-mini"  # priced in litellm's shipped map


@pytest.fixture
def backend(store: Store, llm_server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> LlmBackend:
    monkeypatch.setenv("COCKPIT_TEST_KEY", KEY)
    b = LlmBackend("loop", MODEL, api_base=llm_server.url, api_key_env="COCKPIT_TEST_KEY")
    store.add_llm_backend(b)
    return b


def litellm_price(prompt: int, completion: int) -> float:
    """The reference: litellm's own price map, read directly."""
    import litellm

    entry = litellm.model_cost["gpt-4o-mini"]
    return prompt * entry["input_cost_per_token"] + completion * entry["output_cost_per_token"]


def wired(store: Store) -> tuple[CommandBus, LlmCommandHandler]:
    registry = CommandRegistry()
    handler = wire_llm(registry, store, LitellmClient(), None)
    return CommandBus(store, registry), handler


def cli(capsys: pytest.CaptureFixture[str], db: Path, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["--db", str(db), *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_llm_test_reports_latency_tokens_and_cost(
    store: Store, backend: LlmBackend, llm_server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_server.script = [Reply("pong", prompt_tokens=13, completion_tokens=2)]
    code, out, err = cli(capsys, store.path, "llm", "test", "loop")
    assert code == 0, err
    assert "13 prompt + 2 answer tokens" in out and "'pong'" in out
    sent = llm_server.received[-1]
    assert sent.headers["authorization"] == f"Bearer {KEY}"  # read from the env at call time
    assert sent.body["stream"] is True
    (call,) = store.llm_calls()
    assert call.status is LlmCallStatus.OK
    assert (call.prompt_tokens, call.completion_tokens) == (13, 2)
    assert call.cost_usd == pytest.approx(litellm_price(13, 2))
    assert f"${litellm_price(13, 2):.6f}" in out


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (Reply(status=401, error=f"Incorrect API key provided: {KEY}"), "AuthenticationError"),
        (Reply(status=429, error="Rate limit reached", retry_after="20"), "RateLimitError"),
        (Reply(status=500, error="upstream exploded"), "upstream exploded"),
    ],
)
def test_provider_errors_exit_1_in_one_line_and_are_logged(
    store: Store,
    backend: LlmBackend,
    llm_server: ChatServer,
    capsys: pytest.CaptureFixture[str],
    reply: Reply,
    words: str,
) -> None:
    llm_server.script = [reply]
    code, out, err = cli(capsys, store.path, "llm", "test", "loop")
    assert code == 1
    assert err.count("\n") == 1 and words in err and "Traceback" not in err
    assert KEY not in err + out
    assert len(llm_server.received) == 1  # no silent retries on the user's money
    (call,) = store.llm_calls()
    assert call.status is LlmCallStatus.FAILED and words in (call.error or "")
    command = store.list_commands()[0]
    assert command.status is CommandStatus.FAILED


def test_the_key_is_nowhere_in_the_database_file(
    store: Store, backend: LlmBackend, llm_server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_server.script = [Reply("fine"), Reply(status=401, error=f"bad key {KEY}")]
    cli(capsys, store.path, "llm", "test", "loop")
    cli(capsys, store.path, "llm", "test", "loop")
    cli(capsys, store.path, "llm", "usage", "--json")
    store.close()
    blob = b"".join(p.read_bytes() for p in store.path.parent.glob(store.path.name + "*"))
    assert KEY.encode() not in blob
    assert b"COCKPIT_TEST_KEY" in blob  # the variable's name is what is stored


def test_a_missing_key_says_so_without_calling(
    store: Store,
    backend: LlmBackend,
    llm_server: ChatServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COCKPIT_TEST_KEY")
    code, _, err = cli(capsys, store.path, "llm", "test", "loop")
    assert code == 1 and "COCKPIT_TEST_KEY is not set" in err
    assert llm_server.received == []


def test_the_budget_stops_a_call_before_it_is_sent(
    store: Store, backend: LlmBackend, llm_server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_server.script = [Reply("pong", prompt_tokens=2000, completion_tokens=2000)]
    assert cli(capsys, store.path, "llm", "test", "loop")[0] == 0
    spent = store.llm_spent("loop")
    assert spent == pytest.approx(litellm_price(2000, 2000))
    cli(capsys, store.path, "llm", "budget", "loop", str(spent * 1.0001))
    code, _, err = cli(capsys, store.path, "llm", "test", "loop")
    assert code == 1 and "budget" in err and "nothing was sent" in err
    assert len(llm_server.received) == 1
    assert [c.status for c in store.llm_calls()] == [LlmCallStatus.OK, LlmCallStatus.REFUSED]


async def test_streaming_arrives_piece_by_piece_and_cancel_stops_a_slow_answer(
    store: Store, backend: LlmBackend, llm_server: ChatServer
) -> None:
    words = " ".join(f"w{i}" for i in range(40))
    llm_server.script = [Reply(words, chunk_delay_s=0.05)]
    bus, handler = wired(store)
    seen: list[JobProgress] = []
    handler.watch(seen.append)
    messages = [{"role": "user", "content": "talk"}]
    task = asyncio.create_task(
        bus.submit("ideas", llm_target("loop"), "llm.ask", {"messages": messages})
    )
    await wait_until(lambda: sum(1 for e in seen if e.delta) >= 3)
    assert "".join(e.delta for e in seen).startswith("w0 w1 w2")
    (command_id,) = handler.running()
    assert handler.cancel(command_id)
    command = await task
    assert command.status is CommandStatus.FAILED and "cancelled" in (command.error or "")
    (call,) = store.llm_calls()
    assert call.status is LlmCallStatus.CANCELLED
    assert 0 < call.completion_tokens < 40  # what had streamed is counted and priced
    assert call.cost_usd is not None and call.cost_usd > 0


async def test_a_disconnect_mid_stream_fails_the_call_with_what_arrived(
    store: Store, backend: LlmBackend, llm_server: ChatServer
) -> None:
    llm_server.script = [Reply("one two three four five six", disconnect_after=3)]
    bus, _ = wired(store)
    command = await bus.submit(
        "cli", llm_target("loop"), "llm.ask", {"messages": [{"role": "user", "content": "x"}]}
    )
    assert command.status is CommandStatus.FAILED
    assert "Connection" in (command.error or "") or "connect" in (command.error or "").lower()
    (call,) = store.llm_calls()
    assert call.status is LlmCallStatus.FAILED and call.completion_tokens >= 1


async def test_a_slow_provider_times_out_in_one_line(
    store: Store, backend: LlmBackend, llm_server: ChatServer
) -> None:
    llm_server.script = [Reply("late", delay_s=2.0)]
    client = LitellmClient()
    from cockpit.models import ChatMessage
    from cockpit.ports import LlmCallError

    with pytest.raises(LlmCallError) as failure:
        await client.complete(backend, [ChatMessage("user", "x")], max_tokens=5, timeout_s=0.5)
    assert "\n" not in str(failure.value) and "time" in str(failure.value).lower()


async def test_ask_marks_numbers_that_are_not_in_the_data(
    store: Store, backend: LlmBackend, llm_server: ChatServer
) -> None:
    llm_server.script = [Reply("r64 drops to 0.4512, a 3.1% fall, unlike 0.99")]
    bus, _ = wired(store)
    data = "r64 0.4512\nbaseline 0.4743"
    command = await bus.submit(
        "results",
        llm_target("loop"),
        "llm.ask",
        {"messages": [{"role": "user", "content": data}], "data": data, "purpose": "summarize"},
    )
    assert command.result is not None
    assert command.result["unverified_numbers"] == ["3.1%", "0.99"]
    assert store.llm_calls()[0].purpose == "summarize"


def test_usage_totals_per_day_pane_and_idea(
    store: Store, backend: LlmBackend, llm_server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from cockpit.models import LlmCall

    for pane, idea, cost in (("ideas", "a", 0.5), ("ideas", "b", 0.25), ("paper", None, 1.0)):
        store.add_llm_call(LlmCall("loop", MODEL, LlmCallStatus.OK, pane, "x", idea, cost_usd=cost))
    store.add_llm_call(LlmCall("loop", MODEL, LlmCallStatus.FAILED, "ideas", "x", "a"))
    code, out, _ = cli(capsys, store.path, "llm", "usage", "--since", "7d", "--json")
    assert code == 0
    usage = json.loads(out)
    assert usage["total"]["cost_usd"] == pytest.approx(1.75) and usage["failed"] == 1
    assert {r["key"]: r["cost_usd"] for r in usage["by_pane"]} == {"paper": 1.0, "ideas": 0.75}
    assert {r["key"]: r["calls"] for r in usage["by_idea"]} == {"a": 2, "b": 1}
    assert len(usage["by_day"]) == 1
    code, out, _ = cli(capsys, store.path, "llm", "usage")
    assert "per idea" in out and "$1.7500" in out


def test_litellm_is_not_imported_at_start_up() -> None:
    code = "import cockpit.app.shell, cockpit.cli.main, sys; print('litellm' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "False", result.stderr


async def test_two_calls_at_once_never_overspend_the_budget_together(
    store: Store, backend: LlmBackend, llm_server: ChatServer
) -> None:
    """Two cockpit processes (two connections to one file) each ask at the same moment; the
    budget holds room for one call at its worst. Checking the spend first and logging after
    would let both through; the reservation lets exactly one be sent."""
    from cockpit.llm_jobs import MeteredLlm
    from cockpit.models import ChatMessage

    messages = [{"role": "user", "content": "summarize " + "data " * 50}]
    worst = await MeteredLlm(store, LitellmClient(), backend).worst_case_cost(
        [ChatMessage(**m) for m in messages], 800
    )
    assert worst > 0
    store.set_llm_budget("loop", worst * 1.5)
    # Slow enough that both calls are in flight together before either is answered.
    llm_server.script = [Reply("fine", delay_s=0.5, prompt_tokens=60, completion_tokens=2)]
    other = Store.open(store.path)
    try:
        (bus_a, _), (bus_b, _) = wired(store), wired(other)
        commands = await asyncio.gather(
            *(
                bus.submit("cli", llm_target("loop"), "llm.ask", {"messages": messages})
                for bus in (bus_a, bus_b)
            )
        )
    finally:
        other.close()
    assert sorted(str(c.status) for c in commands) == ["done", "failed"]
    (refused,) = [c for c in commands if c.error]
    assert "budget" in (refused.error or "") and "nothing was sent" in (refused.error or "")
    assert len(llm_server.received) == 1
    calls = store.llm_calls()
    assert sorted(str(c.status) for c in calls) == ["ok", "refused"]
    assert store.llm_spent("loop") == pytest.approx(litellm_price(60, 2))
    assert store.llm_spent("loop") <= worst * 1.5


async def test_a_call_in_flight_holds_its_worst_case_until_it_is_settled(
    store: Store, backend: LlmBackend, llm_server: ChatServer
) -> None:
    llm_server.script = [Reply("fine", chunk_delay_s=0.3, prompt_tokens=5, completion_tokens=1)]
    bus, handler = wired(store)
    seen: list[JobProgress] = []
    handler.watch(seen.append)
    task = asyncio.create_task(
        bus.submit(
            "cli", llm_target("loop"), "llm.ask", {"messages": [{"role": "user", "content": "x"}]}
        )
    )
    await wait_until(lambda: bool(store.llm_calls()))
    (pending,) = store.llm_calls()
    assert pending.status is LlmCallStatus.PENDING and (pending.cost_usd or 0) > 0
    await task
    (settled,) = store.llm_calls()
    assert settled.id == pending.id and settled.status is LlmCallStatus.OK
    assert settled.cost_usd == pytest.approx(litellm_price(5, 1))
