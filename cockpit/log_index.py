"""Huge logs without loading them: a sparse line-offset index, reads on demand, streamed search.

A multi-GB log never enters memory. `LogIndex` keeps the byte offset of every
`every`-th line start (8 bytes per 64 lines: 1.25 MB for 10 million lines), built in the
background a chunk at a time with progress, and extended as a live log grows. A screenful
is one seek and a short read away; the end of the log is read backwards from the last byte,
so it shows at once, before the index is done. Search streams the file in chunks and stops
when asked to.

Reads go through a `ByteReader` (cockpit.ports): a local file here, an SFTP file for a
remote run, so the same index serves both.
"""

from __future__ import annotations

import re
import threading
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cockpit.ports import ByteReader

CHUNK_BYTES = 4 * 1024 * 1024
EVERY = 64
Progress = Callable[[int, int], None]  # (bytes indexed, bytes in the file)


class FileReader:
    """A local file as a ByteReader; it reopens nothing and holds one handle."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = path.open("rb")
        self._lock = threading.Lock()  # one seek+read at a time: the index and the view share it

    def size(self) -> int:
        return self.path.stat().st_size

    def read_at(self, offset: int, size: int) -> bytes:
        with self._lock:
            self._fh.seek(offset)
            return self._fh.read(size)

    def close(self) -> None:
        self._fh.close()


@dataclass(frozen=True)
class SearchHit:
    line: int  # 0-based line number
    text: str


class LogIndex:
    """Line starts of a log, every `every`-th one, so any line is one seek away."""

    def __init__(self, reader: ByteReader, every: int = EVERY) -> None:
        self.reader = reader
        self.every = every
        self.offsets = array("q", [0])  # start of line k * every
        self.newlines = 0  # newlines seen: whole lines indexed
        self.indexed_to = 0  # bytes scanned
        self.last_line_start = 0  # where the line after the last newline starts

    @property
    def line_count(self) -> int:
        """Lines so far, a last one without its newline included."""
        return self.newlines + (1 if self.indexed_to > self.last_line_start else 0)

    @property
    def complete(self) -> bool:
        return self.indexed_to >= self.reader.size()

    def build(
        self,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        chunk: int = CHUNK_BYTES,
    ) -> bool:
        """Index up to the end of the file as it is now; False if cancelled first."""
        import numpy as np  # lazily: only a worker building an index needs it

        size = self.reader.size()
        while self.indexed_to < size:
            if cancel is not None and cancel.is_set():
                return False
            data = self.reader.read_at(self.indexed_to, min(chunk, size - self.indexed_to))
            if not data:
                break
            ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
            if len(ends):
                # Line number of each new line start (after each newline), and where it is.
                numbers = np.arange(self.newlines + 1, self.newlines + 1 + len(ends))
                keep = numbers % self.every == 0
                self.offsets.extend((ends[keep] + 1 + self.indexed_to).tolist())
                self.newlines += len(ends)
                self.last_line_start = int(ends[-1]) + 1 + self.indexed_to
            self.indexed_to += len(data)
            if progress is not None:
                progress(self.indexed_to, size)
        return True

    def _line_start_exact(self, line: int) -> int:
        base = line // self.every
        start = self.offsets[base]
        skip = line - base * self.every
        while skip:
            data = self.reader.read_at(start, CHUNK_BYTES // 16)
            if not data:
                return start
            pos = 0
            while skip:
                nl = data.find(b"\n", pos)
                if nl < 0:
                    break
                pos = nl + 1
                skip -= 1
            start += pos if not skip else len(data)
        return start

    def read_lines(self, first: int, count: int) -> list[str]:
        """Lines first .. first+count-1 (as many as exist), decoded, without newlines."""
        if count <= 0 or first >= self.line_count:
            return []
        start = self._line_start_exact(first)
        out: list[str] = []
        rest = b""
        end = self.indexed_to
        while len(out) < count and start < end:
            data = self.reader.read_at(start, min(64 * 1024, end - start))
            if not data:
                break
            start += len(data)
            parts = (rest + data).split(b"\n")
            rest = parts.pop()
            out.extend(p.decode("utf-8", "replace") for p in parts)
        if len(out) < count and rest:
            out.append(rest.decode("utf-8", "replace"))
        return out[:count]

    def search(
        self,
        pattern: re.Pattern[str],
        first: int = 0,
        cancel: threading.Event | None = None,
        chunk: int = CHUNK_BYTES,
    ) -> Iterator[SearchHit]:
        """Lines matching `pattern` from line `first` on, streamed as the file is read."""
        line = first
        pos = self._line_start_exact(first) if first else 0
        end = self.indexed_to
        rest = b""
        while pos < end:
            if cancel is not None and cancel.is_set():
                return
            data = rest + self.reader.read_at(pos, min(chunk, end - pos))
            pos += len(data) - len(rest)
            cut = data.rfind(b"\n") + 1 if pos < end else len(data)
            block, rest = data[:cut], data[cut:]
            text = block.decode("utf-8", "replace")
            at, counted, last_begin = line, 0, -1
            for m in pattern.finditer(text):
                begin = text.rfind("\n", 0, m.start()) + 1
                if begin == last_begin:
                    continue  # one hit per line, however many matches it holds
                at += text.count("\n", counted, begin)
                counted = last_begin = begin
                stop = text.find("\n", m.start())
                yield SearchHit(at, text[begin : stop if stop >= 0 else len(text)])
            line += text.count("\n")


def read_tail(reader: ByteReader, count: int, block: int = 64 * 1024) -> list[str]:
    """The last `count` lines, read backwards from the end: instant on any size of log."""
    size = reader.size()
    pos, data = size, b""
    while pos > 0 and data.count(b"\n") <= count:
        step = min(block, pos)
        pos -= step
        data = reader.read_at(pos, step) + data
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if pos > 0:
        lines = lines[1:]  # the first one may be cut
    return [line.decode("utf-8", "replace") for line in lines[-count:]]
