"""Several GPU sources streamed as one (remote hosts over SSH plus this machine)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from cockpit.models import HostSnapshot
from cockpit.ports import GpuSource


class MergedGpuSource:
    """Several sources (remote hosts, this machine) streamed as one."""

    def __init__(self, sources: Sequence[GpuSource]) -> None:
        self.sources = list(sources)
        self._queue: asyncio.Queue[HostSnapshot | None] = asyncio.Queue(maxsize=1024)
        self._tasks: list[asyncio.Task[None]] = []

    async def _pump(self, source: GpuSource) -> None:
        async for snapshot in source.stream():
            if self._queue.full():  # a stalled consumer loses old samples, not memory
                self._queue.get_nowait()
            self._queue.put_nowait(snapshot)

    async def stream(self) -> AsyncIterator[HostSnapshot]:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._pump(s)) for s in self.sources]
        while True:
            snapshot = await self._queue.get()
            if snapshot is None:
                return
            yield snapshot

    async def close(self) -> None:
        for source in self.sources:
            await source.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._queue.put_nowait(None)
