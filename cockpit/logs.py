"""Following run logs by byte offset, without Textual.

A reader remembers, per run, the byte offset it has read up to and the bytes of a last line
that has no newline yet. Chunks from a backend go in; whole lines come out, each exactly
once, whatever the chunk boundaries (a multi-byte UTF-8 character or a line split across
two chunks is held back until it is whole). Resuming is asking the backend for the log from
`offset(run)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cockpit.ports import LogChunk


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
        """Take a chunk read at `offset(run_id)`; return the lines it completes."""
        cursor = self.cursors.setdefault(run_id, LogCursor())
        cursor.offset = chunk.next_offset
        data = cursor.partial + chunk.data
        text, sep, rest = data.rpartition(b"\n")
        if not sep:
            cursor.partial = data
            return []
        cursor.partial = rest
        # Splitting on b"\n" before decoding never cuts a UTF-8 character in two.
        return text.decode("utf-8", "replace").split("\n")
