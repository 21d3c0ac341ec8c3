"""Random access to a run's log (cockpit.ports.ByteReader), wherever the log is.

FileReader reads a local out.log; SftpReader seeks and reads a remote one over SFTP on the
host's pooled SSH connection (the one connection per host everything else uses), so a
multi-GB log is read a window at a time and never copied whole. Both are called from
worker threads: the log index and search run there, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

if TYPE_CHECKING:
    import asyncssh

    from backends.ssh.connection import SshConnection

T = TypeVar("T")
SFTP_TIMEOUT_S = 60.0


class FileReader:
    """A local file as a ByteReader, holding one handle. A log not written yet reads as
    empty until it appears (a queued run has no out.log)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: BinaryIO | None = None
        self._lock = threading.Lock()  # one seek+read at a time: the index and the view share it
        self._closed = False

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def read_at(self, offset: int, size: int) -> bytes:
        with self._lock:
            if self._closed:
                return b""  # a worker still reading a log the view has left
            if self._fh is None:
                try:
                    self._fh = self.path.open("rb")
                except OSError:
                    return b""
            self._fh.seek(offset)
            return self._fh.read(size)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._fh is not None:
                self._fh.close()
                self._fh = None


def sftp_path(remote_path: str) -> str:
    """SFTP starts in the home directory and does not expand `~`."""
    return remote_path[2:] if remote_path.startswith("~/") else remote_path


class SftpReader:
    """A remote file read over SFTP: each read is one seek+read, only the bytes asked for.

    The SFTP channel and the file handle are opened on first use and again after the
    connection was lost (a read then fails once; the caller's next read reconnects).
    size() and read_at() are for worker threads: they hand the work to the event loop
    the connection lives on and wait for it.
    """

    def __init__(
        self,
        connection: SshConnection,
        path: str,
        loop: asyncio.AbstractEventLoop,
        timeout_s: float = SFTP_TIMEOUT_S,
    ) -> None:
        self.connection = connection
        self.path = sftp_path(path)
        self.loop = loop
        self.timeout_s = timeout_s
        self.bytes_read = 0  # what came over the link, for tests and benchmarks
        self._sftp: asyncssh.SFTPClient | None = None
        self._file: asyncssh.SFTPClientFile | None = None
        self._conn: object | None = None
        self._lock: asyncio.Lock | None = None

    # -- on the event loop ---------------------------------------------------------------

    async def _client(self) -> asyncssh.SFTPClient:
        conn = await self.connection.connect()
        if self._sftp is None or self._conn is not conn:
            await self._drop()
            self._sftp = await conn.start_sftp_client()
            self._conn = conn
        return self._sftp

    async def _drop(self) -> None:
        file, self._file, self._sftp, self._conn = self._file, None, None, None
        if file is not None:
            with contextlib.suppress(Exception):  # the channel is already gone
                await file.close()

    async def asize(self) -> int:
        import asyncssh

        sftp = await self._client()
        try:
            attrs = await sftp.stat(self.path)
        except asyncssh.SFTPNoSuchFile:
            return 0
        except (OSError, asyncssh.Error):
            await self._drop()
            raise
        return int(attrs.size or 0)

    async def aread_at(self, offset: int, size: int) -> bytes:
        import asyncssh

        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one open of the file, however many readers at once
            sftp = await self._client()
            try:
                if self._file is None:
                    self._file = await sftp.open(self.path, "rb")
                data = await self._file.read(size, offset)
            except asyncssh.SFTPNoSuchFile:
                return b""
            except (OSError, asyncssh.Error):
                await self._drop()
                raise
        out = data if isinstance(data, bytes) else bytes(data, "utf-8")
        self.bytes_read += len(out)
        return out

    async def aclose(self) -> None:
        await self._drop()

    # -- from a worker thread ------------------------------------------------------------

    def _wait(self, work: Coroutine[Any, Any, T]) -> T:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            work.close()
            raise RuntimeError("SftpReader: blocking read on the event loop; use a worker")
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(self.timeout_s)

    def size(self) -> int:
        return self._wait(self.asize())

    def read_at(self, offset: int, size: int) -> bytes:
        return self._wait(self.aread_at(offset, size))

    def close(self) -> None:
        if self.loop.is_closed():
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._wait(self.aclose())
        else:
            self.loop.create_task(self.aclose())
