"""Following a run's log by polling its byte offset: what every file-backed runner does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from cockpit.ports import LogChunk

ReadLog = Callable[[int], Awaitable[LogChunk]]


async def follow_by_polling(read: ReadLog, offset: int, poll_s: float) -> AsyncIterator[LogChunk]:
    """Chunks from `offset` as the log grows; ends once the run is over and all is read.

    read(offset) returns what is there now; when it returns nothing, wait poll_s.
    """
    while True:
        chunk = await read(offset)
        if chunk.data:
            offset = chunk.next_offset
            yield chunk
        if chunk.eof:
            return
        if not chunk.data:
            await asyncio.sleep(poll_s)
