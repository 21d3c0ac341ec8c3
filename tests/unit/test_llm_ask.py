"""The pure parts of asking about what is on screen, and the budget's reservation: what a
failed run's log gives the prompt, which numbers get marked, and what the store holds."""

from __future__ import annotations

import pytest

from cockpit.llm_jobs import (
    PROMPT_LINE_BYTES,
    TAIL_LINES,
    TRACEBACK_MAX_LINES,
    explain_plan,
    missing_key,
    read_failure_log,
    unverified_spans,
)
from cockpit.models import LlmBackend, LlmCall, LlmCallStatus, Run, RunSpec, RunState
from cockpit.ports import LogChunk
from cockpit.render.llm import UNVERIFIED_MARK, marked_answer
from cockpit.store import Store


def reader(log: bytes, size: int, eof: bool = True):  # type: ignore[no-untyped-def]
    """A backend's read_log over bytes, handing out at most `size` bytes per call."""

    async def read(offset: int, max_bytes: int) -> LogChunk:
        data = log[offset : offset + min(size, max_bytes)]
        end = offset + len(data)
        return LogChunk(data, end, eof and end >= len(log))

    return read


TRACEBACK = (
    "[rank3]: Traceback (most recent call last):\n"
    '[rank3]:   File "train.py", line 9, in step\n'
    "[rank3]:     x = model(batch)\n"
    "[rank3]: RuntimeError: shape '[64, 3]' is invalid\n"
)


@pytest.mark.parametrize("size", [1, 7, 4096])
async def test_the_first_traceback_and_the_tail_whatever_the_chunks(size: int) -> None:
    log = (
        "boot\n" + TRACEBACK + "".join(f"line {i}\n" for i in range(200)) + "Traceback (most "
        "recent call last):\n  later\nValueError: second\n" + "no newline at the end"
    ).encode()
    found = await read_failure_log(reader(log, size))
    assert found.traceback == [
        "Traceback (most recent call last):",
        '  File "train.py", line 9, in step',
        "    x = model(batch)",
        "RuntimeError: shape '[64, 3]' is invalid",
    ]
    assert len(found.tail) == TAIL_LINES and found.tail[-1] == "no newline at the end"
    assert found.tail[-2] == "ValueError: second" and found.bytes_read == len(log)
    excerpt = found.excerpt()
    assert excerpt.index("RuntimeError: shape") < excerpt.index("ValueError: second")


async def test_a_traceback_in_the_tail_is_not_sent_twice_and_escapes_are_dropped() -> None:
    log = ("step 1\n\x1b[31m" + TRACEBACK.replace("[rank3]: ", "") + "\x1b[0m").encode()
    found = await read_failure_log(reader(log, 5))
    assert found.traceback[-1] == "RuntimeError: shape '[64, 3]' is invalid"
    excerpt = found.excerpt()
    assert excerpt.count("RuntimeError") == 1 and "first traceback" not in excerpt
    assert "\x1b" not in excerpt


async def test_a_runaway_traceback_is_cut() -> None:
    log = ("Traceback (most recent call last):\n" + "  frame\n" * 500).encode()
    found = await read_failure_log(reader(log, 4096))
    assert len(found.traceback) == TRACEBACK_MAX_LINES


async def test_the_plan_holds_the_run_and_its_data() -> None:
    run = Run("r1", RunSpec("n", "python t.py --lr 3e-4"), state=RunState.FAILED, exit_code=2)
    found = await read_failure_log(reader(TRACEBACK.encode(), 64))
    plan = explain_plan(run, found)
    assert "python t.py --lr 3e-4" in plan.data and "exit code 2" in plan.data
    assert plan.data in plan.messages[-1].content and plan.purpose == "runs.explain"
    # 3e-4 and 64 are the data's; 128 is not.
    answer = "Shape [64, 3] with lr 3e-4 fails; use 128."
    spans = unverified_spans(answer, plan.data)
    assert [answer[a:b] for a, b in spans] == ["128"]


def test_marks_stay_on_their_numbers_when_control_characters_are_escaped() -> None:
    answer = "\x1b[Hloss 9.5 then \x07 12"
    spans = unverified_spans(answer, "loss 9.5")
    text = marked_answer(answer, spans)
    assert text.plain.endswith(f" 12{UNVERIFIED_MARK}") and "\x1b" not in text.plain
    underlined = [text.plain[s.start : s.end] for s in text.spans if "underline" in str(s.style)]
    assert underlined == ["12"]


def test_a_missing_key_is_said_before_anything_else() -> None:
    backend = LlmBackend("b", "openai/x", api_key_env="B_KEY")
    assert "set the environment variable B_KEY" in (missing_key(backend, {}) or "")
    assert missing_key(backend, {"B_KEY": "k"}) is None
    assert missing_key(LlmBackend("local", "ollama/x"), {}) is None


def test_a_reservation_is_refused_whole_and_settled_in_place(store: Store) -> None:
    store.add_llm_backend(LlmBackend("b", "openai/x", budget_usd=1.0))
    call = LlmCall("b", "openai/x", LlmCallStatus.OK, cost_usd=0.75)
    held = store.reserve_llm_call(call)
    assert held.call_id is not None and held.spent_usd == 0.0
    assert store.llm_spent("b") == 0.75  # in flight, at its most
    refused = store.reserve_llm_call(call)
    assert refused.refused and refused.spent_usd == 0.75 and len(store.llm_calls()) == 1
    store.settle_llm_call(held.call_id, LlmCall("b", "openai/x", LlmCallStatus.OK, cost_usd=0.1))
    assert store.llm_spent("b") == pytest.approx(0.1)
    assert store.reserve_llm_call(call).call_id is not None  # room again
    (first, second) = store.llm_calls()
    assert (first.status, second.status) == (LlmCallStatus.OK, LlmCallStatus.PENDING)


class PricedClient:
    """Prices and counts like litellm's map would; never answers (the call is cancelled
    before it is sent)."""

    async def count_tokens(self, model: str, text: str) -> int:
        return len(text) // 4

    async def price(self, model: str, prompt: int, completion: int) -> float:
        return (prompt + completion) * 1e-6

    async def complete(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("nothing may be sent")


async def test_a_call_cancelled_while_it_reserves_leaves_no_budget_held(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import threading

    from cockpit.llm_jobs import MeteredLlm
    from cockpit.models import ChatMessage

    backend = LlmBackend("b", "openai/x", budget_usd=1.0)
    store.add_llm_backend(backend)
    entered, release = threading.Event(), threading.Event()
    reserve = store.reserve_llm_call

    def slow_reserve(call: LlmCall):  # type: ignore[no-untyped-def]
        entered.set()
        release.wait(10)
        return reserve(call)

    monkeypatch.setattr(store, "reserve_llm_call", slow_reserve)
    llm = MeteredLlm(store, PricedClient(), backend)  # type: ignore[arg-type]
    task = asyncio.create_task(llm.call([ChatMessage("user", "x" * 400)], purpose="t"))
    while not entered.is_set():
        await asyncio.sleep(0.01)
    task.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    (call,) = store.llm_calls()
    assert call.status is LlmCallStatus.CANCELLED and store.llm_spent("b") == 0.0


def test_a_call_in_flight_when_the_cockpit_died_ends_failed_at_its_most(store: Store) -> None:
    from cockpit.models import CommandOrigin, CommandStatus

    store.add_llm_backend(LlmBackend("b", "openai/x", budget_usd=1.0))
    command = store.insert_command(
        "ideas", "llm:b", "llm.ask", {}, CommandStatus.RUNNING, CommandOrigin.USER
    )
    call = LlmCall("b", "openai/x", LlmCallStatus.OK, cost_usd=0.25, command_id=command.id)
    store.reserve_llm_call(call)
    assert store.mark_interrupted([command.id]) == [command.id]
    (settled,) = store.llm_calls()
    assert settled.status is LlmCallStatus.FAILED and "interrupted" in (settled.error or "")
    assert store.llm_spent("b") == 0.25


async def test_a_huge_line_reaches_the_prompt_by_its_head() -> None:
    # A tensor printed whole: 8 MB on one line, twice, the second one the log's last.
    huge = b"tensor([" + b"0.1, " * (8 * 1024 * 1024 // 5)
    log = huge + b"\n" + TRACEBACK.encode() + huge
    found = await read_failure_log(reader(log, 256 * 1024))
    assert found.traceback[-1] == "RuntimeError: shape '[64, 3]' is invalid"
    assert found.tail[0].startswith("tensor([0.1, ") and found.bytes_read == len(log)
    assert max(len(line) for line in found.tail) <= PROMPT_LINE_BYTES
    assert len(found.excerpt()) < 20_000  # (it was 16 MB: the prompt, and what it costs)
