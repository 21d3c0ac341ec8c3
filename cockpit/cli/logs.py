"""`cockpit logs RUN [--follow] [--tail N] [--grep REGEX]`: a run's log, for people and scripts.

Into a pipe or a file the log's bytes go out unchanged, byte for byte what the run wrote,
however often the link to its host drops (reads resume from their byte offset). To a
terminal, each line is shown as the terminal would leave it: progress bars in their last
state, colours kept, every other escape sequence dropped. `--follow` ends when the run
does, with the run's exit code. A log truncated while it is read (a script reopening it
with 'w', logrotate's copytruncate) is read again from its start, as `tail -F` does, after
one line on stderr; into a pipe that is the bytes read before the truncation, then the
log's bytes from its first.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, BinaryIO

from cockpit.cli.common import Subcommands, add_command, open_store
from cockpit.log_index import tail_offset
from cockpit.logparse import clean_text, terminal_text
from cockpit.logs import DEFAULT_RESUME, ResumePolicy, follow_resuming
from cockpit.models import Run, RunState
from cockpit.ports import LogChunk, LogReaderBackend, RunBackend
from cockpit.render.safe import printable
from cockpit.store import Store
from cockpit.validate import valid_count, valid_regex

if TYPE_CHECKING:
    from backends.runners.detached import RunnerOptions
    from backends.ssh.connection import SshSettings

READ_BYTES = 1024 * 1024  # per round trip to the host
STREAM_LINE_BYTES = 1024 * 1024  # of a line with no newline yet, held for a terminal
EXIT_NO_CODE = 1  # a run that ended without an exit code (lost, cancelled)
ENDED_CHECK_S = 5.0  # how often a quiet followed log asks whether its run ended without a code


@dataclass
class LogWriter:
    """Where the log goes, and in what form.

    Raw (a pipe or a file, no --grep): bytes as they come. Otherwise whole lines: those
    matching --grep, and for a terminal cleaned of what a terminal would act on.
    """

    out: BinaryIO
    terminal: bool = False
    grep: re.Pattern[str] | None = None
    tail: int | None = None
    partial: bytearray = field(default_factory=bytearray)  # a line without its newline yet
    held: deque[bytes] | None = None  # the last --tail lines, until the end is reached
    written: int = 0
    streamed: bool = False  # a long line's start went to the terminal: its rest goes after

    def __post_init__(self) -> None:
        if self.tail is not None:
            self.held = deque(maxlen=self.tail)

    @property
    def raw(self) -> bool:
        return not self.terminal and self.grep is None

    def feed(self, data: bytes) -> None:
        if self.raw and self.held is None:
            self._emit(data)
            return
        first = data.find(b"\n") + 1
        if not first:
            self._hold(data)
            return
        # (The partial line grows in place: a 200 MB line copied at each chunk was 10 s.)
        self.partial += data[:first]
        line, self.partial = bytes(self.partial), bytearray()
        self._line(line)
        end = data.rfind(b"\n") + 1
        if end > first:
            # (not splitlines: a \r inside a progress bar's line does not end the line)
            for line in data[first : end - 1].split(b"\n"):
                self._line(line + b"\n")
        self._hold(data[end:])

    def _hold(self, data: bytes) -> None:
        """Keep the start of a line until its newline comes. To a terminal a line shows as a
        terminal leaves it, so only what follows its last carriage return (not its last
        byte: it may be a CRLF's) is kept, and a tqdm bar redrawn for hours is not held
        whole; a line past STREAM_LINE_BYTES goes out in pieces."""
        self.partial += data
        if not self.terminal:
            return  # into a pipe the lines --tail or --grep keep go out as their bytes
        # (only the new bytes are looked at, and the byte before them: a \r it ended with)
        after = max(0, len(self.partial) - len(data) - 1)
        redraw = self.partial.rfind(b"\r", after, len(self.partial) - 1)
        if redraw >= 0:
            del self.partial[: redraw + 1]
            self.partial[:0] = b"\r"  # (still a redraw for the cleaning)
        if self.grep is None and self.held is None and len(self.partial) > STREAM_LINE_BYTES:
            piece, self.partial = bytes(self.partial), bytearray()
            self._emit(terminal_text(piece.decode("utf-8", "replace")).encode("utf-8"))
            self.streamed = True

    def from_tail(self) -> None:
        """The reads start where the last --tail lines start: nothing to hold back."""
        self.held = None

    def caught_up(self) -> None:
        """The end of the log as it was when the command started: --tail lines go out."""
        if self.held is None:
            return
        lines, self.held = list(self.held), None
        for line in lines:
            self._show(line)
        if self.raw and self.partial:  # raw from here on: the partial line goes as it is
            rest, self.partial = bytes(self.partial), bytearray()
            self._emit(rest)

    def truncated(self) -> None:
        """The log was truncated and is read again from its start: a line it cut short ends
        here (as it is into a pipe; as a line of its own otherwise)."""
        if self.raw and self.held is None:
            return
        rest, self.partial = bytes(self.partial), bytearray()
        if rest or self.streamed:
            self._line(rest if self.raw else rest + b"\n")

    def finish(self) -> None:
        """The run is over: a last line without a newline counts too."""
        rest, self.partial = bytes(self.partial), bytearray()
        if rest or self.streamed:
            self._line(rest + b"\n" if self.grep is not None else rest)  # as grep ends it
        self.caught_up()
        self.out.flush()

    def _line(self, line: bytes) -> None:
        if self.grep is not None:
            text = clean_text(line.decode("utf-8", "replace"))
            if not self.grep.search(text):
                return
        if self.held is not None:
            self.held.append(line)
        else:
            self._show(line)

    def _show(self, line: bytes) -> None:
        if not self.terminal:
            self._emit(line)
            return
        self.streamed = False
        text = terminal_text(line.decode("utf-8", "replace").rstrip("\n"))
        self._emit(text.encode("utf-8") + b"\n")

    def _emit(self, data: bytes) -> None:
        self.out.write(data)
        self.out.flush()
        self.written += len(data)


@dataclass
class Reconnects:
    """Says on stderr, once per outage, that the link dropped and is being retried."""

    run: Run
    failures: int = 0
    reported: bool = field(default=False)

    def failed(self, exc: Exception, retry_in_s: float) -> None:
        self.failures += 1
        if not self.reported:
            self.reported = True
            reason = printable(str(exc) or type(exc).__name__)[:160]
            print(
                f"cockpit: lost the log of {self.run.id} on {self.run.host}: {reason}; "
                f"retrying from where it stopped",
                file=sys.stderr,
            )

    def recovered(self) -> None:
        self.reported = False


@dataclass
class EndWatch:
    """Whether a followed run is over though its log will never say so: the log ends only
    when the run's exit code is written, and a run that was lost (its wrapper killed, its
    host rebooted) or refused before it started never writes one. Asked only while the
    log is quiet, at most every ENDED_CHECK_S."""

    backend: RunBackend
    run: Run
    every_s: float = ENDED_CHECK_S
    checked_at: float | None = None
    ended: bool = False

    async def ended_without_code(self) -> bool:
        if self.ended or (self.run.state.terminal and self.run.started_at is None):
            return True  # (the latter: refused at launch, so it has no folder at all)
        now = time.monotonic()
        if self.checked_at is not None and now - self.checked_at < self.every_s:
            return False
        self.checked_at = now
        try:
            status = await self.backend.poll(self.run)
        except Exception:  # the link dropped: the follower's own retries say so
            return False
        self.ended = status.state.terminal and status.exit_code is None
        return self.ended


@dataclass
class Truncations:
    """Says on stderr that the log was truncated, and ends the line it cut short."""

    run: Run
    writer: LogWriter
    follow: bool

    def truncated(self) -> None:
        self.writer.truncated()
        self.writer.out.flush()  # what came before goes out before the notice
        going_on = "following" if self.follow else "reading it"
        print(
            f"cockpit: out.log of {printable(self.run.id)} was truncated; "
            f"{going_on} from its start",
            file=sys.stderr,
            flush=True,
        )


async def write_log(
    store: Store,
    run: Run,
    writer: LogWriter,
    *,
    follow: bool,
    policy: ResumePolicy = DEFAULT_RESUME,
    settings: SshSettings | None = None,
    options: RunnerOptions | None = None,
) -> int:
    """Copy the run's log to the writer; with follow, until the run ends. The exit code:
    0, or with follow the run's own."""
    from cockpit.cli.runs import runtime

    async with runtime(store, settings=settings, options=options) as rt:
        backend = await rt.handler.backend_for(run)
        reconnects = Reconnects(run)
        truncations = Truncations(run, writer, follow)
        end_watch = EndWatch(backend, run)

        async def read(offset: int) -> LogChunk:
            chunk = await backend.read_log(run, offset, READ_BYTES)
            reconnects.recovered()
            if follow and not chunk.eof and not chunk.data and await end_watch.ended_without_code():
                return replace(chunk, eof=True)
            return chunk

        offset = 0
        if writer.tail is not None and writer.grep is None:
            offset = await _tail_start(backend, run, writer.tail)
            if offset:
                writer.from_tail()

        def on_truncated(at: int, size: int) -> None:
            nonlocal offset  # the follower reads from 0 now, and so must the next one
            offset = 0
            truncations.truncated()

        async for chunk in follow_resuming(
            read, offset, policy, reconnects.failed, follow=False, on_truncated=on_truncated
        ):
            writer.feed(chunk.data)
            offset = chunk.next_offset
        if not follow:
            writer.finish()  # the line being written counts too, as `cat` shows it
            return 0
        writer.caught_up()
        async for chunk in follow_resuming(
            read, offset, policy, reconnects.failed, on_truncated=on_truncated
        ):
            writer.feed(chunk.data)
        writer.finish()
        return await _exit_code(backend, run, policy, reconnects)


async def _tail_start(backend: RunBackend, run: Run, count: int) -> int:
    """Where the last `count` lines start, read backwards from the end of the log (over
    SFTP for a remote run): only the end travels. 0 (read it all) where the backend
    cannot seek."""
    if not isinstance(backend, LogReaderBackend):
        return 0
    reader = await backend.open_log_reader(run)
    try:
        return await asyncio.to_thread(tail_offset, reader, count)
    finally:
        await asyncio.to_thread(reader.close)


async def _exit_code(
    backend: RunBackend, run: Run, policy: ResumePolicy, reconnects: Reconnects
) -> int:
    delay = policy.retry_initial_s
    while True:
        try:
            status = await backend.poll(run)
        except Exception as exc:  # the link dropped again: the answer is still owed
            reconnects.failed(exc, delay)
            await asyncio.sleep(delay)
            delay = min(policy.retry_max_s, delay * 2)
            continue
        if status.exit_code is not None:
            return int(status.exit_code)
        return 0 if status.state is RunState.SUCCEEDED else EXIT_NO_CODE


def cmd_logs(args: argparse.Namespace) -> int:
    grep = valid_regex(args.grep) if args.grep is not None else None
    tail = valid_count(args.tail, "tail", 0, 10_000_000) if args.tail is not None else None
    out = sys.stdout.buffer
    writer = LogWriter(out, terminal=out.isatty(), grep=grep, tail=tail)
    with open_store(args) as store:
        run = store.find_run(args.run)
        return asyncio.run(write_log(store, run, writer, follow=args.follow))


def register(sub: Subcommands) -> None:
    logs = add_command(sub, "logs", cmd_logs, "a run's log: all of it, its end, or live")
    logs.add_argument("run", metavar="RUN", help="a run id or a unique prefix")
    logs.add_argument(
        "-f", "--follow", action="store_true", help="keep going until the run ends (its exit code)"
    )
    logs.add_argument("-n", "--tail", metavar="N", help="start from the last N lines")
    logs.add_argument("--grep", metavar="REGEX", help="only lines matching REGEX")
