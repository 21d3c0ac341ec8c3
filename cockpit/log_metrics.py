"""Metrics and flags out of every live run's log, into the store, a few new bytes at a time.

Each run's log is parsed from where the last pass stopped (its byte offset and the
parser's state are in the store), so a poll reads only what the run wrote since, a cockpit
restart does not parse a log again, and a finished log is parsed to its end once. Points
go to the metrics table (results and triage see them); flags (NaN loss, OOM, traceback,
loss spike) to log_flags with their line. A running run whose log has not grown for
`stalled_after_s` is flagged stalled until it writes again.

A log found shorter than where parsing got to was truncated under it (a script reopening
it with 'w', logrotate's copytruncate): parsing starts again from the log's first byte with
a fresh scanner (steps, counts, the loss trend and which flags were raised all restart).
A last line the truncation cut short before its newline is not parsed: the store keeps
where it starts, not its bytes, and they are gone. Points and flags already stored stay:
a point the new log gives again at the same step and name replaces the old one (the store
keeps one value per run, metric and step), the others are kept, so a run restarted from
a checkpoint keeps the curve before it. Flags found before keep the line numbers they had
in the log as it was.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from cockpit.logparse import FlagKind, LogScanner, ScanResult, metric_rows, stalled_flag
from cockpit.models import Run, RunState
from cockpit.ports import LogChunk, RunBackend
from cockpit.runs import RunCommandHandler
from cockpit.store import Store

STALLED_ENV = "COCKPIT_STALLED_MIN"
STALLED_DEFAULT_MIN = 30.0
SCAN_CHUNK_BYTES = 1024 * 1024
SCAN_BYTES_PER_PASS = 16 * 1024 * 1024  # a huge backlog is caught up over several polls


def stalled_after_s(environ: dict[str, str] | None = None) -> float:
    """COCKPIT_STALLED_MIN: minutes without a new log line before a running run is stalled."""
    raw = (environ if environ is not None else os.environ).get(STALLED_ENV, "").strip()
    try:
        minutes = float(raw) if raw else STALLED_DEFAULT_MIN
    except ValueError:
        minutes = STALLED_DEFAULT_MIN
    return max(minutes, 0.1) * 60.0


@dataclass
class LogScanOutcome:
    """What one pass over one run's log found (for tests and the app's notices)."""

    run_id: str
    bytes_read: int
    result: ScanResult
    finished: bool
    stalled: bool
    truncated: bool = False  # the log was found truncated: parsed again from its start


BackendFor = Callable[[Run], Awaitable[RunBackend]]


@dataclass
class LogMetrics:
    store: Store
    stalled_after_s: float = STALLED_DEFAULT_MIN * 60.0

    async def scan_runs(
        self, runs: Iterable[Run], backend_for: BackendFor, now: float
    ) -> list[LogScanOutcome]:
        """One pass over every run whose log may hold something new; a host that cannot
        answer is skipped until the next pass."""
        out = []
        for run in runs:
            if run.state in (RunState.QUEUED, RunState.UNREACHABLE):
                continue
            try:
                backend = await backend_for(run)
                done = await self.scan(run, functools.partial(backend.read_log, run), now)
            except Exception:  # a host that is down or has no backend here: next time
                continue
            if done is not None:
                out.append(done)
        return out

    async def scan(
        self, run: Run, read: Callable[[int, int], Awaitable[LogChunk]], now: float
    ) -> LogScanOutcome | None:
        """Parse what the run's log gained since the last pass; None when it is done with."""
        saved = await asyncio.to_thread(self.store.log_scan, run.id)
        if saved is not None and saved["finished"]:
            return None
        if saved is None:
            scanner, offset, grew_at = LogScanner(), 0, None
        else:
            scanner = LogScanner.from_state(json.loads(saved["state"]))
            offset, grew_at = int(saved["byte_offset"]), saved["grew_at"]
        total = ScanResult()
        read_bytes = 0
        finished = truncated = False
        # The scanner holds (the last state of) a partial last line back; the saved offset
        # is where that starts.
        while read_bytes < SCAN_BYTES_PER_PASS:
            chunk = await read(offset + len(scanner.partial), SCAN_CHUNK_BYTES)
            if chunk.truncated_before(offset + len(scanner.partial)):
                scanner, offset, truncated = LogScanner(), 0, True
                continue
            if chunk.data:
                read_bytes += len(chunk.data)
                grew_at = now
                # Parsing a chunk is CPU work: a thread, so the app's loop keeps answering.
                total.extend(await asyncio.to_thread(scanner.feed, chunk.data))
                offset = chunk.next_offset - len(scanner.partial)
            if chunk.eof and run.state.terminal:
                offset += len(scanner.partial)  # the last line counts without its newline
                total.extend(await asyncio.to_thread(scanner.finish))
                finished = True
                break
            if not chunk.data:
                break
        if grew_at is None:
            grew_at = now  # nothing yet: the clock starts at the first look
        stalled = None
        if run.state is RunState.RUNNING and not finished:
            stalled = stalled_flag(grew_at, now, scanner.line, self.stalled_after_s)
        flags = [(str(f.kind), f.line, f.text) for f in total.flags]
        if stalled is not None:
            flags.append((str(stalled.kind), stalled.line, stalled.text))

        def save() -> None:  # in a thread: a pass may carry hundreds of thousands of points
            self.store.save_log_scan(
                run.id,
                offset,
                json.dumps(scanner.state()),
                grew_at,
                finished,
                metric_rows(run.id, total),
                flags,
                (str(FlagKind.STALLED),),  # stalled is a state, not an event: redrawn each pass
            )

        await asyncio.to_thread(save)
        return LogScanOutcome(run.id, read_bytes, total, finished, stalled is not None, truncated)


async def scan_logs(store: Store, handler: RunCommandHandler, now: float | None = None) -> None:
    """One pass over the logs of the runs the store knows (the CLI's `cockpit runs`)."""
    runs = await asyncio.to_thread(store.list_runs)
    metrics = LogMetrics(store, stalled_after_s())
    await metrics.scan_runs(runs, handler.backend_for, time.time() if now is None else now)
