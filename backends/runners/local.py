"""Runs on the machine the cockpit runs on (`cockpit host add NAME --local`).

The same agent, wrapper and queue as on an SSH host, run as local subprocesses; the run
folders live under the user data dir (<data dir>/host/runs/<run_id>/), so a user without
a server can try everything, and closing the cockpit leaves the runs going.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from backends.remote_shell import RemoteShell
from backends.runners.detached import DetachedRunner, RunnerOptions
from backends.runners.log_readers import FileReader
from cockpit.models import Host, Run
from cockpit.ports import ByteReader, LogChunk


def local_root(data_dir: Path) -> str:
    return str(data_dir / "host")


class LocalRunner(DetachedRunner):
    def __init__(
        self, host_of: Callable[[str], Host], data_dir: Path, options: RunnerOptions | None = None
    ) -> None:
        root = local_root(data_dir)
        opts = replace(options or RunnerOptions(), root=lambda host: root)
        super().__init__(lambda: RemoteShell(None), host_of, opts)
        self.runs_dir = Path(root) / "runs"

    async def read_log(self, run: Run, offset: int, max_bytes: int = 65536) -> LogChunk:
        # The file is right here: read it without starting the agent for every chunk.
        return await asyncio.to_thread(self._read_log, run.id, offset, max_bytes)

    async def open_log_reader(self, run: Run) -> ByteReader:
        return FileReader(self.runs_dir / Path(run.id).name / "out.log")

    def _read_log(self, run_id: str, offset: int, max_bytes: int) -> LogChunk:
        folder = self.runs_dir / Path(run_id).name
        done = (folder / "exit_code").is_file()
        try:
            with (folder / "out.log").open("rb") as fh:
                fh.seek(offset)
                data = fh.read(max_bytes)
                size = fh.seek(0, 2)
        except OSError:  # (a passing NFS error is no truncation: the size is unknown)
            data, size = b"", None
        end = offset + len(data)
        return LogChunk(data, end, eof=done and (size is None or end >= size), size=size)
