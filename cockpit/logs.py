"""Run logs, without Textual: following them by byte offset, and reading how a run ended.

A reader remembers, per run, the byte offset it has read up to and the bytes of a last line
that has no newline yet. Chunks from a backend go in; whole lines come out, each exactly
once, whatever the chunk boundaries (a multi-byte UTF-8 character or a line split across
two chunks is held back until it is whole). Resuming is asking the backend for the log from
`offset(run)`. A log truncated under the reader (shorter than the offset read to) is
followed again from its first byte, as `tail -F` does.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cockpit.models import RunState
from cockpit.ports import LogChunk
from cockpit.render.text import duration

LOG_TAIL_BYTES = 64 * 1024
LOG_TAIL_LINES = 40


@dataclass
class LogCursor:
    """Where one run's log has been read to."""

    offset: int = 0
    partial: bytes = b""


@dataclass
class LogFollower:
    """Byte offsets and partial last lines of the logs being followed."""

    cursors: dict[str, LogCursor] = field(default_factory=dict)

    def offset(self, run_id: str) -> int:
        cursor = self.cursors.get(run_id)
        return cursor.offset if cursor is not None else 0

    def reset(self, run_id: str) -> None:
        """Forget a run: the next read starts again from its first byte."""
        self.cursors.pop(run_id, None)

    def feed(self, run_id: str, chunk: LogChunk) -> list[str]:
        """Take a chunk read at `offset(run_id)` (or at 0, the log having been truncated
        since); return the lines it completes."""
        cursor = self.cursors.setdefault(run_id, LogCursor())
        before: list[str] = []
        if chunk.start < cursor.offset:
            # Read from the start again: the line cut short by the truncation ends there.
            if cursor.partial:
                before = [cursor.partial.decode("utf-8", "replace")]
            cursor.partial = b""
        cursor.offset = chunk.next_offset
        data = cursor.partial + chunk.data
        text, sep, rest = data.rpartition(b"\n")
        if not sep:
            cursor.partial = data
            return before
        cursor.partial = rest
        # Splitting on b"\n" before decoding never cuts a UTF-8 character in two.
        return before + text.decode("utf-8", "replace").split("\n")


ReadLog = Callable[[int], Awaitable[LogChunk]]
# Told each failed read (the error, the seconds until the next try), e.g. to say so once.
OnReadError = Callable[[Exception, float], None]
# Told the log was truncated: (the offset read to, the log's size now); reads go on from 0.
OnTruncated = Callable[[int, int], None]


@dataclass(frozen=True)
class ResumePolicy:
    """How a follower waits: for new bytes, and after a read that failed (a dropped link)."""

    poll_s: float = 1.0
    retry_initial_s: float = 0.5
    retry_max_s: float = 15.0


DEFAULT_RESUME = ResumePolicy()


async def follow_resuming(
    read: ReadLog,
    offset: int,
    policy: ResumePolicy | None = None,
    on_error: OnReadError | None = None,
    *,
    follow: bool = True,
    on_truncated: OnTruncated | None = None,
) -> AsyncIterator[LogChunk]:
    """The log from `offset`, chunk after chunk, surviving failed reads.

    A read that raises (the SSH link dropped, the host rebooting) is retried from the same
    byte offset with a growing delay, so no byte is lost or repeated however often the link
    drops. A log found shorter than `offset` was truncated: on_truncated is told, and the
    chunks go on from its first byte (the one after the truncation has start == 0). With
    follow=False it ends at the current end of the log; else once the run is over and all
    is read.
    """
    policy = policy or DEFAULT_RESUME
    delay = policy.retry_initial_s
    while True:
        try:
            chunk = await read(offset)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure of the link: try again from the same offset
            if on_error is not None:
                on_error(exc, delay)
            await asyncio.sleep(delay)
            delay = min(policy.retry_max_s, delay * 2)
            continue
        delay = policy.retry_initial_s
        if chunk.truncated_before(offset):
            if on_truncated is not None:
                on_truncated(offset, chunk.size or 0)
            offset = 0
            continue  # (checked before eof: a run that ended after truncating is read too)
        if chunk.data:
            offset = chunk.next_offset
            yield chunk
        if chunk.eof or (not chunk.data and not follow):
            return
        if not chunk.data:
            await asyncio.sleep(policy.poll_s)


# -- how a run ended ----------------------------------------------------------------

_OOM = re.compile(
    r"CUDA out of memory|OutOfMemoryError|out of memory|\bOOM\b|oom-kill|Killed process", re.I
)
_NAN = re.compile(r"\bnan\b|non-finite|\binf(inity)?\b.*\bloss\b|\bloss\b.*\binf\b", re.I)
_ERROR = re.compile(r"error|exception|traceback|fatal|killed|abort", re.I)


def classify_ending(
    state: RunState, exit_code: int | None, log_tail: Sequence[str], timeout_s: int | None = None
) -> tuple[str, str]:
    """(kind, one-line reason) of how a run ended.

    The state and exit code are the wrapper's own record and come first; the log is read
    for what only it knows (CUDA out of memory, a NaN loss).
    """
    lines = [line.strip() for line in log_tail if line.strip()]
    if state is RunState.SUCCEEDED:
        return "ok", "succeeded"
    if state in (RunState.RUNNING, RunState.STARTING, RunState.QUEUED, RunState.UNREACHABLE):
        return "running", str(state)
    if state is RunState.TIMEOUT or exit_code == 124:
        limit = f" after {duration(timeout_s)}" if timeout_s else ""
        return "timeout", f"timed out{limit} (exit {exit_code if exit_code is not None else 124})"
    oom = _last(lines, _OOM)
    if oom is not None:
        return "oom", f"out of memory: {oom}"
    if exit_code == 137:
        return "killed", "killed by SIGKILL (exit 137): host out of memory, or the scheduler"
    nan = _last(lines, _NAN)
    if nan is not None:
        return "nan", f"NaN/inf: {nan}"
    if state is RunState.CANCELLED:
        return "cancelled", "cancelled"
    if state is RunState.LOST:
        return "lost", "lost: no exit code (process gone, host rebooted?)"
    error = _last(lines, _ERROR) or (lines[-1] if lines else "")
    code = f"exit code {exit_code}" if exit_code is not None else "failed"
    return "exit", f"{code}: {error}" if error else code


def _last(lines: Sequence[str], pattern: re.Pattern[str]) -> str | None:
    for line in reversed(lines):
        if pattern.search(line):
            return line[:160]
    return None


def read_log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last lines of a log, reading at most LOG_TAIL_BYTES from its end."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - LOG_TAIL_BYTES))
            data = fh.read()
    except OSError:
        return []
    text = data.decode("utf-8", "replace")
    return text.splitlines()[-lines:]
