"""The selected run's log behind the Runs pane's log view, for logs of any size.

The log is never loaded: a line-offset index (cockpit.log_index) is built in a worker
thread over a ByteReader (a local file, or SFTP on the host's pooled connection), and the
view is sent the text of the lines it is about to draw. A log over INDEX_PROGRESS_BYTES
shows its last lines at once and the index's progress while it is built; a smaller one is
indexed before anything shows (a few milliseconds). Searches and filters stream over the
file in a thread, their matches sent as they are found, `escape` stops them, and a growing
log's new lines are searched as they arrive, so a filter keeps following. Backends that
can only stream a log (the demo) fill an in-memory reader that the same index serves.
A log truncated under the view (a script reopening it with 'w', logrotate's copytruncate)
is shown again from its first line, as `tail -F` would, with a notice; its search and
filter run again over what it holds now.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from cockpit.app.controller import RequestHandler, Shell
from cockpit.bus import CommandError
from cockpit.log_index import LogIndex, MemoryReader, SearchState, read_tail
from cockpit.logparse import terminal_text
from cockpit.models import Run
from cockpit.ports import ByteReader, LogReaderBackend, RunBackend
from widgets.requests import PaneRequest
from widgets.run_log import MAX_MATCHES, LinesWanted, RunLogView, ScanRequested, ScanStopped

INDEX_PROGRESS_BYTES = 8 * 1024 * 1024  # above: the tail first, then the index with progress
TAIL_LINES = 200
GROW_POLL_S = 1.0  # how often a file-backed log is looked at for new bytes
RETRY_MAX_S = 15.0
MATCH_BATCH_S = 0.1  # matches and progress go to the view at most this often
MAX_LINE_CHARS = 20_000  # of one line, drawn (a \r progress bar may run to megabytes)

BackendFor = Callable[[Run], Awaitable[RunBackend]]
RunOf = Callable[[str], Run | None]


@dataclass
class LogScan:
    """A search, filter or error jump running (or waiting for new lines) over one log."""

    token: int
    pattern: re.Pattern[str]
    live: bool  # searched on as the log grows (find, filter); an error jump is one-off
    first: int = 0
    state: SearchState | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    running: bool = False
    found: int = 0


@dataclass
class OpenLog:
    """One run's log as the view sees it."""

    run_id: str
    reader: ByteReader
    index: LogIndex
    memory: MemoryReader | None = None
    scans: dict[int, LogScan] = field(default_factory=dict)
    closed: threading.Event = field(default_factory=threading.Event)


class RunLogFeed:
    """Feeds the log view: index, window reads, streamed scans; one log at a time."""

    def __init__(
        self,
        shell: Shell,
        view: RunLogView,
        backend_for: BackendFor,
        run_of: RunOf,
        poll_s: float = GROW_POLL_S,
    ) -> None:
        self.shell = shell
        self.view = view
        self.backend_for = backend_for
        self.run_of = run_of
        self.poll_s = poll_s
        self.log: OpenLog | None = None
        self.following: str | None = None  # the run whose log the worker is on
        # Tests wrap the reader to hold a read at a known point (the file stays real).
        self.wrap_reader: Callable[[ByteReader], ByteReader] | None = None

    def routes(self) -> dict[type[PaneRequest], RequestHandler]:
        return {
            LinesWanted: self._on_lines_wanted,
            ScanRequested: self._on_scan,
            ScanStopped: self._on_scan_stopped,
        }

    # -- following one run's log ------------------------------------------------------------

    async def follow(self, run: Run) -> None:
        """Show the run's log, growing until the run is over, and keep it open for the
        view (the one exclusive log worker: selecting another run cancels it)."""
        self.following = run.id
        try:
            backend = await self.backend_for(run)
        except CommandError:
            return  # a host whose kind runs nothing here has no log to follow
        reader = await self._seekable(backend, run)
        memory: MemoryReader | None = None
        if reader is None:
            reader = memory = MemoryReader()
        if self.wrap_reader is not None:
            reader = self.wrap_reader(reader)
        log = OpenLog(run.id, reader, LogIndex(reader), memory)
        self.log = log
        try:
            if memory is not None:
                async for chunk in backend.follow(run, 0):
                    if chunk.start < memory.size():
                        self._truncated(log)  # the stream went back to the first byte
                    memory.append(chunk.data)
                    await self._index(log)
            else:
                await self._open_file(log)
                await self._grow_by_polling(log)
            # The run is over: its log stays open for scrolling and searching until the
            # view leaves it (another run selected cancels this worker).
            await asyncio.Future()
        finally:
            log.closed.set()
            for scan in log.scans.values():
                scan.cancel.set()
            if self.log is log:
                self.log = None
                self.following = None
            reader.close()

    async def _seekable(self, backend: RunBackend, run: Run) -> ByteReader | None:
        """A reader that seeks in the run's log, or None to stream it into memory (a
        backend that cannot seek; a host whose SSH server has no SFTP)."""
        if not isinstance(backend, LogReaderBackend):
            return None
        reader = await backend.open_log_reader(run)
        try:
            await asyncio.to_thread(reader.size)
        except Exception:  # no SFTP there, or the link is down: the stream still works
            await asyncio.to_thread(reader.close)
            return None
        return reader

    def _current(self, log: OpenLog) -> bool:
        return self.log is log and self.view.run_id == log.run_id

    async def _open_file(self, log: OpenLog) -> None:
        size = await asyncio.to_thread(log.reader.size)
        if size > INDEX_PROGRESS_BYTES:
            # The end of the log at once, read backwards: the index takes longer.
            tail = await asyncio.to_thread(read_tail, log.reader, TAIL_LINES)
            if self._current(log):
                self.view.lines.show_tail([_shown(line) for line in tail])
        await self._index(log, progress=size > INDEX_PROGRESS_BYTES)

    async def _index(self, log: OpenLog, progress: bool = False) -> None:
        """Index the new bytes (in a thread), then search them for the live scans."""
        loop = asyncio.get_running_loop()
        last = [0.0]

        def report(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= MATCH_BATCH_S or done >= total:
                last[0] = now
                lines = log.index.newlines
                loop.call_soon_threadsafe(self._progress, log, done, total, lines)

        await asyncio.to_thread(log.index.build, report if progress else None, log.closed)
        if not self._current(log):
            return
        self.view.lines.set_line_count(log.index.line_count)
        for scan in log.scans.values():
            if scan.live and not scan.running:
                self._start_scan(log, scan)

    def _progress(self, log: OpenLog, done: int, total: int, lines: int) -> None:
        if self._current(log) and done < total:
            self.view.lines.set_progress(done, total, lines)

    async def _grow_by_polling(self, log: OpenLog) -> None:
        """Look for new bytes every poll_s until the run is over and all is read; a read
        that fails (the link dropped) is tried again with a growing delay."""
        delay = self.poll_s
        reported = False
        while True:
            await asyncio.sleep(delay)
            run = self.run_of(log.run_id)
            try:
                size = await asyncio.to_thread(log.reader.size)
                if size < log.index.indexed_to:
                    self._truncated(log)
                if size != log.index.indexed_to:
                    await self._index(log)
            except Exception as exc:  # the link dropped: the view keeps what it has
                if not reported:
                    reported = True
                    self.shell.notify(f"log of {log.run_id}: {exc}; retrying", severity="warning")
                delay = min(RETRY_MAX_S, delay * 2)
                continue
            delay, reported = self.poll_s, False
            if run is None or (run.state.terminal and size == log.index.indexed_to):
                return

    def _truncated(self, log: OpenLog) -> None:
        """The log is shorter than what was indexed: it was truncated, and is indexed again
        from its first byte; live searches and the filter start over, an error jump ends."""
        for scan in log.scans.values():
            scan.cancel.set()
        log.scans = {
            token: LogScan(token, scan.pattern, live=True, state=SearchState())
            for token, scan in log.scans.items()
            if scan.live
        }
        if log.memory is not None:
            log.memory.clear()
        log.index = LogIndex(log.reader)
        if self._current(log):
            self.view.lines.restart()
        self.shell.notify(
            f"out.log of {log.run_id} was truncated; following from its start", severity="warning"
        )

    # -- what the view asks for ---------------------------------------------------------------

    def _on_lines_wanted(self, request: LinesWanted) -> None:
        log = self.log
        if log is None or log.run_id != request.run_id:
            return

        async def read() -> None:
            index = log.index
            texts = await asyncio.to_thread(read_numbered, index, request.numbers)
            if self._current(log) and log.index is index:  # (not from before a truncation)
                self.view.lines.put_lines(texts)

        self.shell.start(read, group="log-lines", exclusive=True)

    def _on_scan(self, request: ScanRequested) -> None:
        log = self.log
        if log is None or log.run_id != request.run_id:
            return
        live = request.kind != "error"
        scan = LogScan(
            request.token,
            request.pattern,
            live,
            first=request.first,
            state=SearchState() if live else None,
        )
        log.scans[scan.token] = scan
        self._start_scan(log, scan)

    def _on_scan_stopped(self, request: ScanStopped) -> None:
        log = self.log
        if log is None or log.run_id != request.run_id:
            return
        scan = log.scans.pop(request.token, None)
        if scan is not None:
            scan.cancel.set()

    def _start_scan(self, log: OpenLog, scan: LogScan) -> None:
        scan.running = True

        async def work() -> None:
            try:
                await asyncio.to_thread(self._scan, log, scan, asyncio.get_running_loop())
            finally:
                scan.running = False
                if not scan.live:
                    log.scans.pop(scan.token, None)

        self.shell.start(work, group="log-scan")

    def _scan(self, log: OpenLog, scan: LogScan, loop: asyncio.AbstractEventLoop) -> None:
        """In a thread: the matches, sent in batches with the bytes scanned."""
        end = log.reader.size()
        batch: list[int] = []
        flushed = [0.0]  # the first chunk's progress shows at once
        scanned = [0]

        def send(done: bool) -> None:
            numbers = batch.copy()
            batch.clear()
            flushed[0] = time.monotonic()
            loop.call_soon_threadsafe(self._matches, log, scan, numbers, scanned[0], end, done)

        def progress(at: int, total: int) -> None:
            scanned[0] = at
            if time.monotonic() - flushed[0] >= MATCH_BATCH_S:
                send(False)

        limit = MAX_MATCHES if scan.live else 1
        hits = log.index.search(
            scan.pattern,
            first=scan.first,
            cancel=scan.cancel,
            end=end,
            progress=progress,
            state=scan.state,
        )
        for hit in hits:
            batch.append(hit.line)
            scan.found += 1
            if scan.found >= limit:
                break
            if len(batch) >= 10_000 or time.monotonic() - flushed[0] >= MATCH_BATCH_S:
                send(False)
        scanned[0] = end
        if not scan.cancel.is_set():
            send(True)

    def _matches(
        self,
        log: OpenLog,
        scan: LogScan,
        numbers: list[int],
        scanned: int,
        total: int,
        done: bool,
    ) -> None:
        if self._current(log) and log.scans.get(scan.token) is scan:  # (not a restarted one)
            self.view.lines.add_matches(scan.token, numbers, scanned, total, done)


def read_numbered(index: LogIndex, numbers: Sequence[int]) -> dict[int, str]:
    """The text of these lines, as the view draws it; runs of consecutive lines are read
    in one go (a screenful: one seek and one read)."""
    out: dict[int, str] = {}
    wanted = sorted(set(numbers))
    i = 0
    while i < len(wanted):
        j = i
        while j + 1 < len(wanted) and wanted[j + 1] == wanted[j] + 1:
            j += 1
        for k, line in enumerate(index.read_lines(wanted[i], j - i + 1)):
            out[wanted[i] + k] = _shown(line)
        i = j + 1
    return out


def _shown(line: str) -> str:
    # As a terminal would leave it: bars in their last state, no escapes, and neither C1
    # controls (U+009B is CSI to some terminals) nor bidi overrides, which Textual passes on.
    return terminal_text(line, colours=False)[:MAX_LINE_CHARS]
