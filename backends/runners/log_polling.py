"""Following a run's log by polling its byte offset: what every file-backed runner does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from cockpit.ports import LogChunk

ReadLog = Callable[[int], Awaitable[LogChunk]]


async def follow_by_polling(read: ReadLog, offset: int, poll_s: float) -> AsyncIterator[LogChunk]:
    """Chunks from `offset` as the log grows; ends once the run is over and all is read.

    read(offset) returns what is there now; when it returns nothing, wait poll_s. A log
    found shorter than `offset` was truncated: it is followed again from its first byte,
    which the consumer is told at once by an empty chunk at offset 0 (a chunk whose start
    is before the last one's end is a restart).
    """
    while True:
        chunk = await read(offset)
        if chunk.truncated_before(offset):
            offset = 0
            yield LogChunk(b"", 0, False, chunk.size)
            continue
        if chunk.data:
            offset = chunk.next_offset
            yield chunk
        if chunk.eof:
            return
        if not chunk.data:
            await asyncio.sleep(poll_s)
