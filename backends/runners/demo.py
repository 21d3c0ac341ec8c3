"""The demo run backend: replays a recorded run from sample_runs/ on the clock.

It speaks RunBackend like the real backends (a detached wrapper over SSH, Slurm), and a
run "goes on" while the cockpit is closed, exactly as a detached remote run would.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from backends.runners.log_polling import follow_by_polling
from cockpit.models import Run, RunState
from cockpit.ports import LogChunk, RunStatus


class LineIndex:
    """Byte offsets of line starts in a file, built once, so any line is one seek away."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size
        starts = [0]
        with path.open("rb") as fh:
            pos = 0
            for line in fh:
                pos += len(line)
                starts.append(pos)
        if starts[-1] == self.size and len(starts) > 1:
            starts.pop()
        self._starts = starts
        self._line_ends = [*starts[1:], self.size]

    @property
    def line_count(self) -> int:
        return len(self._starts)

    def offset_after_lines(self, n: int) -> int:
        """Byte offset just past the first `n` lines."""
        if n <= 0:
            return 0
        return self._line_ends[min(n, self.line_count) - 1]

    def align_end(self, start: int, end: int) -> int:
        """Move `end` back to a line boundary, but always past at least one line after `start`."""
        line = bisect.bisect_right(self._starts, end) - 1
        if self._starts[line] == end:
            return end
        if self._starts[line] > start:
            return self._starts[line]
        return self._line_ends[line]


class DemoRunner:
    """Replays the recorded logs of sample_runs/ as if the runs were live.

    A run's progress is (now - started_at) / duration; its visible log is that fraction of
    the recorded lines. Nothing is kept in memory between calls but line indexes, so the
    state survives the cockpit closing: reopen and the run has moved on.
    """

    def __init__(
        self,
        runs_dir: Path,
        duration_s: float = 240.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.runs_dir = runs_dir
        self.duration_s = duration_s
        self._clock = clock
        self._indexes: dict[str, LineIndex] = {}

    def _log_path(self, run: Run) -> Path:
        return self.runs_dir / run.id / "out.log"

    def _index(self, run: Run) -> LineIndex:
        index = self._indexes.get(run.id)
        if index is None:
            index = LineIndex(self._log_path(run))
            self._indexes[run.id] = index
        return index

    def _recorded_exit_code(self, run: Run) -> int:
        try:
            return int((self.runs_dir / run.id / "exit_code").read_text().strip())
        except (OSError, ValueError):
            return 0

    def progress(self, run: Run, at: float | None = None) -> float:
        if run.started_at is None:
            return 0.0
        if run.state.terminal and run.state is not RunState.CANCELLED:
            return 1.0
        now = at if at is not None else (run.ended_at or self._clock())
        return min(1.0, max(0.0, (now - run.started_at) / self.duration_s))

    async def launch(self, run: Run) -> Run:
        if not self._log_path(run).is_file():
            raise FileNotFoundError(f"no recorded log for demo run {run.id}")
        run.state = RunState.RUNNING
        run.started_at = self._clock()
        run.ended_at = None
        run.exit_code = None
        run.remote_dir = f"~/.cockpit/runs/{run.id}"
        return run

    async def poll(self, run: Run) -> RunStatus:
        if run.state.terminal:
            return RunStatus(run.state, run.exit_code, run.ended_at, self.progress(run))
        progress = self.progress(run)
        if progress < 1.0:
            return RunStatus(RunState.RUNNING, progress=progress)
        code = self._recorded_exit_code(run)
        state = RunState.SUCCEEDED if code == 0 else RunState.FAILED
        assert run.started_at is not None
        return RunStatus(state, code, run.started_at + self.duration_s, 1.0)

    async def cancel(self, run: Run) -> RunStatus:
        if run.state.terminal:
            return RunStatus(run.state, run.exit_code, run.ended_at)
        return RunStatus(RunState.CANCELLED, 143, self._clock(), self.progress(run))

    async def read_log(self, run: Run, offset: int, max_bytes: int = 65536) -> LogChunk:
        return await asyncio.to_thread(self._read_log, run, offset, max_bytes)

    async def follow(
        self, run: Run, offset: int, *, poll_s: float = 0.5, max_bytes: int = 256 * 1024
    ) -> AsyncIterator[LogChunk]:
        """The replayed log from `offset` as it "grows"; ends when the replay is over."""
        async for chunk in follow_by_polling(
            lambda at: self.read_log(run, at, max_bytes), offset, poll_s
        ):
            yield chunk

    def _read_log(self, run: Run, offset: int, max_bytes: int) -> LogChunk:
        index = self._index(run)
        progress = self.progress(run)
        visible = index.offset_after_lines(round(progress * index.line_count))
        end = min(visible, offset + max_bytes)
        if end < visible:
            # Never hand out half a line, so the reader can split on newlines.
            end = index.align_end(offset, end)
        data = b""
        if end > offset:
            with self._log_path(run).open("rb") as fh:
                fh.seek(offset)
                data = fh.read(end - offset)
        finished = run.state.terminal or progress >= 1.0
        return LogChunk(data, offset + len(data), eof=finished and offset + len(data) >= visible)
