"""LLM calls as the cockpit makes them: budgeted, logged, priced, cancellable, on the bus.

Every call goes through `MeteredLlm`: before anything is sent the backend's budget is held
against what it has spent plus the most this call can cost; afterwards (and after a failure
or a cancel) one row goes to `llm_calls`. Jobs of several calls (ideas x reflections) show
their estimate first. `LlmCommandHandler` is the registry's handler for `llm.*` commands,
so each call a pane or the CLI asks for is a command in the audit log; feature modules add
their own jobs to it (cockpit/ideas.py adds generation, novelty checks and sweep proposals).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from cockpit.logparse import clean_text
from cockpit.models import (
    ChatMessage,
    Command,
    CostEstimate,
    LlmBackend,
    LlmCall,
    LlmCallStatus,
    LlmReply,
    Run,
    UsageReport,
    UsageRow,
)
from cockpit.ports import DeltaSink, LlmCallError, LlmClient, LogChunk
from cockpit.registry import LLM, Target
from cockpit.store import Store
from cockpit.validate import ValidationError

CHARS_PER_TOKEN = 4
TEST_PROMPT = "Reply with the single word: pong"


class BudgetExceeded(Exception):
    """A call was stopped before it was sent: its backend's budget would be crossed."""


class JobCancelled(Exception):
    """A person cancelled the job (esc); the calls made so far are logged and priced."""


@dataclass(frozen=True)
class JobProgress:
    """What a running LLM job reports: a line of progress, or a piece of streamed answer."""

    command: Command
    message: str = ""
    delta: str = ""
    calls_done: int = 0
    calls_total: int = 0


ProgressSink = Callable[[JobProgress], None]


@dataclass
class MeteredLlm:
    """One backend's calls for one command: budget first, log always."""

    store: Store
    client: LlmClient
    backend: LlmBackend
    pane: str = ""
    command_id: int | None = None
    calls: int = 0
    spent_usd: float = 0.0

    async def worst_case_cost(self, messages: Sequence[ChatMessage], max_tokens: int) -> float:
        prompt = await self.client.count_tokens(
            self.backend.model, "\n".join(m.content for m in messages)
        )
        return await self.client.price(self.backend.model, prompt, max_tokens) or 0.0

    async def reserve(self, base: LlmCall, messages: Sequence[ChatMessage], max_tokens: int) -> int:
        """Hold this call's worst case against the budget (one atomic write), or refuse it.

        Checking and then logging after the call would let two calls in flight at once each
        see room for itself and together overspend; the reservation makes the second wait
        for, and count, the first.
        """
        worst = await self.worst_case_cost(messages, max_tokens)
        held = dataclasses.replace(base, cost_usd=worst, created_at=time.time())
        reserving = asyncio.ensure_future(asyncio.to_thread(self.store.reserve_llm_call, held))
        try:
            reservation = await asyncio.shield(reserving)
        except asyncio.CancelledError:
            # Cancelled while the write ran in its thread: it still lands, so it is settled
            # as cancelled, never left holding the budget.
            reservation = await reserving
            if reservation.call_id is not None:
                await self._log(base, reservation.call_id, status=LlmCallStatus.CANCELLED)
            raise
        if reservation.call_id is not None:
            return reservation.call_id
        message = (
            f"LLM backend {self.backend.name} has spent ${reservation.spent_usd:.4f} of its "
            f"${reservation.budget_usd or 0:.2f} budget (calls in flight at their most) and "
            f"this call could cost up to ${worst:.4f}; nothing was sent (raise it with "
            "`cockpit llm budget NAME USD`)"
        )
        await self._log(base, None, status=LlmCallStatus.REFUSED, error=message)
        raise BudgetExceeded(message)

    async def call(
        self,
        messages: Sequence[ChatMessage],
        *,
        purpose: str,
        max_tokens: int = 1024,
        idea: str | None = None,
        draft: str | None = None,
        on_delta: DeltaSink | None = None,
    ) -> LlmReply:
        base = LlmCall(
            backend=self.backend.name,
            model=self.backend.model,
            status=LlmCallStatus.OK,
            pane=self.pane,
            purpose=purpose,
            idea=idea,
            draft=draft,
            command_id=self.command_id,
        )
        row = await self.reserve(base, messages, max_tokens)
        received: list[str] = []

        def delta(piece: str) -> None:
            received.append(piece)
            if on_delta is not None:
                on_delta(piece)

        started = time.monotonic()
        try:
            reply = await self.client.complete(
                self.backend, messages, max_tokens=max_tokens, on_delta=delta
            )
        except asyncio.CancelledError:
            await self._log_partial(base, row, messages, "".join(received), started, "cancelled")
            raise
        except LlmCallError as exc:
            await self._log_partial(base, row, messages, exc.partial, started, str(exc))
            raise
        await self._log(
            base,
            row,
            status=LlmCallStatus.OK,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            cost_usd=reply.cost_usd,
            latency_s=reply.latency_s,
        )
        return reply

    async def _log_partial(
        self,
        base: LlmCall,
        row: int,
        messages: Sequence[ChatMessage],
        partial: str,
        started: float,
        error: str,
    ) -> None:
        """A broken or cancelled call still cost what was sent and what streamed back."""
        prompt = await self.client.count_tokens(
            self.backend.model, "\n".join(m.content for m in messages)
        )
        completion = math.ceil(len(partial) / CHARS_PER_TOKEN)
        cost = await self.client.price(self.backend.model, prompt, completion) if partial else None
        status = LlmCallStatus.CANCELLED if error == "cancelled" else LlmCallStatus.FAILED
        await self._log(
            base,
            row,
            status=status,
            prompt_tokens=prompt if partial else 0,
            completion_tokens=completion,
            cost_usd=cost,
            latency_s=time.monotonic() - started,
            error=None if status is LlmCallStatus.CANCELLED else error,
        )

    async def _log(self, base: LlmCall, row: int | None, **changes: Any) -> None:
        """Settle the call's reservation (`row`) with how it ended, or log a refused one."""
        call = LlmCall(**{**asdict(base), **changes, "created_at": time.time()})
        self.calls += 1
        self.spent_usd += call.cost_usd or 0.0
        write = (
            functools.partial(self.store.add_llm_call, call)
            if row is None
            else functools.partial(self.store.settle_llm_call, row, call)
        )
        # Shielded: a cancel that arrives while the row is written must not lose it.
        await asyncio.shield(asyncio.to_thread(write))


async def estimate_job(
    client: LlmClient,
    backend: LlmBackend,
    prompts: Iterable[tuple[str, int]],
) -> CostEstimate:
    """The most a job may cost: each call's prompt text and its max answer tokens."""
    calls = prompt_tokens = completion_tokens = 0
    for text, max_tokens in prompts:
        calls += 1
        prompt_tokens += await client.count_tokens(backend.model, text)
        completion_tokens += max_tokens
    cost = await client.price(backend.model, prompt_tokens, completion_tokens)
    return CostEstimate(calls, prompt_tokens, completion_tokens, cost)


# -- usage ---------------------------------------------------------------------------------


def usage_report(calls: Sequence[LlmCall]) -> UsageReport:
    groups: dict[str, dict[str, UsageRow]] = {"day": {}, "pane": {}, "idea": {}, "backend": {}}
    total = UsageRow("total")
    report = UsageReport(total)
    for call in calls:
        total.add(call)
        day = datetime.fromtimestamp(call.created_at).strftime("%Y-%m-%d")
        keys = {"day": day, "pane": call.pane or "cli", "backend": call.backend}
        if call.idea:
            keys["idea"] = call.idea
        for group, key in keys.items():
            groups[group].setdefault(key, UsageRow(key)).add(call)
        if call.status is LlmCallStatus.FAILED:
            report.failed += 1
        elif call.status is LlmCallStatus.REFUSED:
            report.refused += 1
        elif call.status is LlmCallStatus.CANCELLED:
            report.cancelled += 1
        elif call.status is LlmCallStatus.PENDING:
            report.pending += 1
    report.by_day = sorted(groups["day"].values(), key=lambda r: r.key)
    for name in ("pane", "idea", "backend"):
        rows = sorted(groups[name].values(), key=lambda r: (-r.cost_usd, r.key))
        setattr(report, f"by_{name}", rows)
    return report


# -- numbers an answer quotes, checked against the data it was given -----------------------

NUMBER_RE = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?(%?)")


@dataclass(frozen=True)
class QuotedNumber:
    text: str
    start: int
    end: int
    found: bool  # the number (at its quoted precision, or as a percentage) is in the data


def _numbers(text: str) -> list[tuple[str, float, int, int, bool]]:
    out = []
    for match in NUMBER_RE.finditer(text):
        raw = match.group(0)
        percent = raw.endswith("%")
        digits = raw.rstrip("%").replace(",", "")
        try:
            out.append((raw, float(digits), match.start(), match.end(), percent))
        except ValueError:
            continue
    return out


def _matches(quoted: str, value: float, percent: bool, data: Sequence[float]) -> bool:
    body = quoted.rstrip("%").replace(",", "")
    decimals = len(body.partition(".")[2]) if "." in body and "e" not in body.lower() else 0
    tolerance = 0.5 * 10**-decimals + 1e-9
    for x in data:
        # A percentage may quote a fraction (45.1 % for 0.451); a magnitude may drop its
        # sign ("fell by 0.05" for -0.05).
        for candidate in (x, x * 100) if percent else (x,):
            if abs(abs(candidate) - abs(value)) <= tolerance:
                return True
    return False


def check_numbers(answer: str, data: str) -> list[QuotedNumber]:
    """Each number in `answer`, marked found when the data holds it at the quoted precision.

    A percentage matches a fraction in the data (45.1 % and 0.451) and a rounded number
    matches its unrounded source (0.44 and 0.4415). A number the model computed (a
    difference, a mean) is not in the data and is marked: the reader checks it.
    """
    values = [v for _, v, _, _, _ in _numbers(data)]
    return [
        QuotedNumber(raw, start, end, _matches(raw, value, percent, values))
        for raw, value, start, end, percent in _numbers(answer)
    ]


# -- prompts for "ask about what is on screen" ---------------------------------------------


def explain_failure_prompt(run_id: str, log_tail: str) -> list[ChatMessage]:
    return [
        ChatMessage(
            "system",
            "You help an ML researcher understand why a training run failed. Answer in at "
            "most 8 short lines: the cause, the evidence (quote the log), and the fix. Quote "
            "only numbers that appear in the log.",
        ),
        ChatMessage("user", f"Run {run_id} failed. The end of its log:\n\n{log_tail}"),
    ]


def summarize_results_prompt(sweep: str, table: str) -> list[ChatMessage]:
    return [
        ChatMessage(
            "system",
            "You summarize an ML experiment's results for its researcher. Say only what the "
            "table supports: call a config better or worse only where its verdict says so. "
            "Quote numbers exactly as the table gives them. At most 10 short lines.",
        ),
        ChatMessage("user", f"Results of sweep {sweep}:\n\n{table}"),
    ]


TRACEBACK_START = "Traceback (most recent call last):"
TAIL_LINES = 80
TRACEBACK_MAX_LINES = 60
MAX_LOG_READ_BYTES = 64 * 1024 * 1024  # a failure is explained from at most this much log
# Of one log line, what goes to the model: a tensor printed whole (megabytes on one line)
# would be the whole prompt, and its cost.
PROMPT_LINE_BYTES = 2048
READ_CHUNK_BYTES = 256 * 1024
MAX_DATA_CHARS = 24_000  # what one prompt carries of a log or a table
ASK_MAX_TOKENS = 800

LogReader = Callable[[int, int], Awaitable[LogChunk]]


@dataclass
class FailureLog:
    """What a failed run's log says: its first traceback and its last lines."""

    traceback: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)
    bytes_read: int = 0
    cut: bool = False  # the log was longer than MAX_LOG_READ_BYTES: its tail is not its end

    def excerpt(self) -> str:
        parts = []
        tail_text = "\n".join(self.tail)
        if self.traceback and "\n".join(self.traceback) not in tail_text:
            # The first error is usually the cause; ranks and retries repeat it later on.
            parts.append("The first traceback in the log:\n" + "\n".join(self.traceback))
        cut = f" (only the first {self.bytes_read} bytes were read)" if self.cut else ""
        parts.append(f"The last {len(self.tail)} lines{cut}:\n{tail_text}")
        return "\n\n".join(parts)[-MAX_DATA_CHARS:]


class _TracebackFinder:
    """Finds the first Python traceback, as logparse flags it, in lines fed one by one.

    A prefix before `Traceback` (a rank tag like "[rank0]: ") is taken off the lines that
    follow; the traceback ends at its first unindented line, the exception itself.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.prefix: str | None = None
        self.done = False

    def feed(self, line: str) -> None:
        if self.done:
            return
        if self.prefix is None:
            at = line.find(TRACEBACK_START)
            if at >= 0:
                self.prefix = line[:at]
                self.lines.append(line[at:])
            return
        body = line.removeprefix(self.prefix)
        self.lines.append(body)
        if (body and not body[0].isspace()) or len(self.lines) >= TRACEBACK_MAX_LINES:
            self.done = True


async def read_failure_log(read: LogReader) -> FailureLog:
    """Read a run's log from its start (in chunks, through its backend) for the first
    traceback and the last lines, holding only those in memory."""
    finder = _TracebackFinder()
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    offset = 0
    pending = b""
    while offset < MAX_LOG_READ_BYTES:
        chunk = await read(offset, READ_CHUNK_BYTES)
        if not chunk.data:
            break
        offset = chunk.next_offset
        *lines, pending = (pending + chunk.data).split(b"\n")
        pending = pending[:PROMPT_LINE_BYTES]  # (a long line's head is all that is kept)
        for raw in lines:
            line = clean_text(raw[:PROMPT_LINE_BYTES].decode("utf-8", "replace"))
            finder.feed(line)
            tail.append(line)
        if chunk.eof:
            break
    if pending:
        line = clean_text(pending.decode("utf-8", "replace"))
        finder.feed(line)
        tail.append(line)
    if not finder.done:
        finder.lines = finder.lines[:TRACEBACK_MAX_LINES]
    return FailureLog(finder.lines, list(tail), offset, offset >= MAX_LOG_READ_BYTES)


@dataclass(frozen=True)
class AskPlan:
    """One "ask about what is on screen" call: the prompt, and the data it holds (which the
    answer's numbers are checked against)."""

    what: str  # for the confirm and the answer's title: "explain the failure of run X"
    purpose: str  # llm_calls.purpose
    messages: tuple[ChatMessage, ...]
    data: str
    max_tokens: int = ASK_MAX_TOKENS

    def payload(self) -> dict[str, Any]:
        return {
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "data": self.data,
            "purpose": self.purpose,
            "max_tokens": self.max_tokens,
        }

    async def estimate(self, client: LlmClient, backend: LlmBackend) -> CostEstimate:
        text = "\n".join(m.content for m in self.messages)
        return await estimate_job(client, backend, [(text, self.max_tokens)])


def explain_plan(run: Run, log: FailureLog) -> AskPlan:
    state = f"{run.state}" + (f", exit code {run.exit_code}" if run.exit_code is not None else "")
    data = f"Command: {run.spec.command}\nState: {state}\n\n{log.excerpt()}"
    return AskPlan(
        f"explain the failure of run {run.id}",
        "runs.explain",
        tuple(explain_failure_prompt(run.id, data)),
        data,
    )


def summarize_plan(sweep: str, table: str) -> AskPlan:
    data = table[:MAX_DATA_CHARS]
    return AskPlan(
        f"summarize the results of {sweep}",
        "results.summarize",
        tuple(summarize_results_prompt(sweep, data)),
        data,
    )


def unverified_spans(answer: str, data: str) -> list[tuple[int, int]]:
    """Where the answer quotes a number the data it was given does not hold."""
    return [(q.start, q.end) for q in check_numbers(answer, data) if not q.found]


# -- which backend a pane asks -------------------------------------------------------------

LLM_PANES = ("ideas", "runs", "results", "paper")
DEFAULT_SETTING = "llm.default"  # + ".PANE"; the key alone: every pane without its own


class NoLlmBackend(ValidationError):
    """No backend was named and none is set up as the default (one line for the user)."""


def default_backend(store: Store, pane: str) -> str:
    """The backend a pane asks when none is named: the pane's own default, the general one,
    or the only backend there is."""
    for key in (f"{DEFAULT_SETTING}.{pane}", DEFAULT_SETTING):
        name = store.get_setting(key)
        if isinstance(name, str) and name:
            return name
    backends = store.list_llm_backends()
    if len(backends) == 1:
        return backends[0].name
    if not backends:
        raise NoLlmBackend(
            "no LLM backend yet: cockpit llm add NAME --model PROVIDER/MODEL [--api-key-env VAR]"
        )
    raise NoLlmBackend(
        f"{len(backends)} LLM backends and no default for {pane}: "
        f"cockpit llm default NAME --pane {pane}"
    )


def missing_key(backend: LlmBackend, environ: Mapping[str, str]) -> str | None:
    """Why a backend cannot be called now (its key's variable is unset), said before any
    estimate or confirm; None when it can."""
    if backend.api_key_env and not environ.get(backend.api_key_env):
        return (
            f"LLM backend {backend.name} has no API key: set the environment variable "
            f"{backend.api_key_env}"
        )
    return None


def set_default_backend(store: Store, name: str | None, pane: str | None = None) -> None:
    """Make `name` the default of one pane, or of every pane without its own (None clears)."""
    if name is not None:
        store.get_llm_backend(name)  # an unknown name is refused
    key = f"{DEFAULT_SETTING}.{pane}" if pane else DEFAULT_SETTING
    store.set_setting(key, name or "")


def default_backends(store: Store) -> dict[str, str]:
    """Every default that is set: "" for the general one, else the pane's name."""
    found = {}
    for pane in ("", *LLM_PANES):
        name = store.get_setting(f"{DEFAULT_SETTING}.{pane}" if pane else DEFAULT_SETTING)
        if isinstance(name, str) and name:
            found[pane] = name
    return found


# -- the bus handler -----------------------------------------------------------------------


@dataclass
class JobContext:
    """What a job gets: its command, its metered LLM, and a way to report progress."""

    command: Command
    llm: MeteredLlm
    progress: Callable[..., None]


Job = Callable[[JobContext], Awaitable[dict[str, Any]]]


class LlmCommandHandler:
    """Carries out `llm.*` commands for targets `llm:NAME`.

    Built in: `llm.test` (a tiny prompt) and `llm.ask` (messages with data, the answer's
    numbers checked against the data). Feature modules add jobs with `add_job`. A job runs
    as its own task so that `cancel` stops it and the command ends `failed: cancelled`.
    """

    def __init__(self, store: Store, client: LlmClient) -> None:
        self.store = store
        self.client = client
        self._jobs: dict[str, Job] = {"llm.test": self._test, "llm.ask": self._ask}
        self._watchers: list[ProgressSink] = []
        self._running: dict[int, asyncio.Task[dict[str, Any]]] = {}
        self._panes: dict[int, str] = {}  # running command id -> the pane that asked

    def add_job(self, kind: str, job: Job) -> None:
        self._jobs[kind] = job

    def watch(self, sink: ProgressSink) -> None:
        """Called on the event loop with every job's progress and streamed text."""
        self._watchers.append(sink)

    def running(self) -> list[int]:
        return list(self._running)

    def cancel(self, command_id: int) -> bool:
        task = self._running.get(command_id)
        if task is None or task.done():
            return False
        task.cancel()
        return True

    def cancel_pane(self, pane: str) -> int:
        """Cancel every job a pane started (esc), even one that has not streamed yet."""
        return sum(self.cancel(i) for i, p in list(self._panes.items()) if p == pane)

    async def handle(self, command: Command) -> dict[str, Any]:
        target = Target.parse(command.backend)
        if target.namespace != LLM:
            raise ValueError(f"{command.kind} needs an llm:NAME target, not {command.backend}")
        job = self._jobs.get(command.kind)
        if job is None:
            raise ValueError(f"unknown LLM command {command.kind!r}")
        backend = await asyncio.to_thread(self.store.get_llm_backend, target.name)
        llm = MeteredLlm(self.store, self.client, backend, command.pane, command.id)

        def progress(**fields: Any) -> None:
            event = JobProgress(command, **fields)
            for sink in self._watchers:
                sink(event)

        task = asyncio.create_task(job(JobContext(command, llm, progress)))
        self._running[command.id] = task
        self._panes[command.id] = command.pane
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                task.cancel()  # the caller itself was cancelled: stop the job too
                raise
            raise JobCancelled(
                f"cancelled after {llm.calls} call(s) costing ${llm.spent_usd:.4f}"
            ) from None
        finally:
            self._running.pop(command.id, None)
            self._panes.pop(command.id, None)
        result.setdefault("calls", llm.calls)
        result.setdefault("cost_usd", round(llm.spent_usd, 6))
        return result

    async def _test(self, ctx: JobContext) -> dict[str, Any]:
        reply = await ctx.llm.call(
            [ChatMessage("user", TEST_PROMPT)],
            purpose="llm.test",
            max_tokens=16,
            on_delta=lambda piece: ctx.progress(delta=piece),
        )
        return reply_summary(reply)

    async def _ask(self, ctx: JobContext) -> dict[str, Any]:
        payload = ctx.command.payload
        messages = [ChatMessage(m["role"], m["content"]) for m in payload["messages"]]
        reply = await ctx.llm.call(
            messages,
            purpose=str(payload.get("purpose", "llm.ask")),
            max_tokens=int(payload.get("max_tokens", 800)),
            idea=payload.get("idea"),
            draft=payload.get("draft"),
            on_delta=lambda piece: ctx.progress(delta=piece),
        )
        checked = check_numbers(reply.text, str(payload.get("data", "")))
        return {
            **reply_summary(reply),
            "unverified_numbers": [q.text for q in checked if not q.found],
        }


def reply_summary(reply: LlmReply) -> dict[str, Any]:
    return {
        "text": reply.text,
        "model": reply.model,
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "cost_usd": reply.cost_usd,
        "latency_s": round(reply.latency_s, 3),
    }
