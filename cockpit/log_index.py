"""Huge logs without loading them: a sparse line-offset index, reads on demand, streamed search.

A multi-GB log never enters memory. `LogIndex` keeps the byte offset of every
`every`-th line start (8 bytes per 64 lines: 1.25 MB for 10 million lines), built in the
background a chunk at a time with progress, and extended as a live log grows. A screenful
is one seek and a short read away; the end of the log is read backwards from the last byte,
so it shows at once, before the index is done. Search streams the file in chunks and stops
when asked to.

Reads go through a `ByteReader` (cockpit.ports): a local file or an SFTP file for a remote
run (backends.runners.log_readers), or the bytes a stream brought (MemoryReader, for
backends that can only stream), so the same index serves all.
"""

from __future__ import annotations

import re
import threading
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cockpit.ports import ByteReader

CHUNK_BYTES = 4 * 1024 * 1024
# A regex runs over this much text per call: the call holds the GIL throughout, and an
# IGNORECASE alternation costs ~0.2 s a megabyte, so bigger slices freeze the UI's thread.
SEARCH_SLICE_CHARS = 64 * 1024
EVERY = 64
# A screenful's read: over SFTP each is a round trip, and only what is asked for travels.
WINDOW_BYTES = 16 * 1024
# Of one line, what is read into memory to be drawn or searched: a 200 MB line (a tensor
# printed whole, a progress bar that never ends) is skipped past, never held. The view
# draws 20,000 characters of a line at most.
MAX_LINE_BYTES = 64 * 1024
# Reads inside a long line grow to this (fewer round trips over SFTP, little memory).
LONG_LINE_WINDOW = 1024 * 1024
# How much the view's tail (shown while a big log is indexed) reads back from the end.
TAIL_MAX_BYTES = 4 * 1024 * 1024
Progress = Callable[[int, int], None]  # (bytes indexed, bytes in the file)


class MemoryReader:
    """A log held in memory, growing as chunks arrive: for backends that can only stream a
    log (the demo's replay), so the same index, window reads and search serve them too."""

    def __init__(self, data: bytes = b"") -> None:
        self._data = bytearray(data)
        self._lock = threading.Lock()  # appends on the event loop, reads in a worker

    def append(self, data: bytes) -> None:
        with self._lock:
            self._data += data

    def clear(self) -> None:
        """The log was truncated: its stream starts again from the first byte."""
        with self._lock:
            self._data = bytearray()

    def size(self) -> int:
        return len(self._data)

    def read_at(self, offset: int, size: int) -> bytes:
        with self._lock:
            return bytes(self._data[offset : offset + size])

    def close(self) -> None:
        pass


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
        window = WINDOW_BYTES
        while skip:
            data = self.reader.read_at(start, window)
            if not data:
                return start
            pos = 0
            while skip:
                nl = data.find(b"\n", pos)
                if nl < 0:
                    window = min(window * 2, LONG_LINE_WINDOW)  # a long line: fewer round trips
                    break
                pos = nl + 1
                skip -= 1
            start += pos if not skip else len(data)
        return start

    def read_lines(self, first: int, count: int) -> list[str]:
        """Lines first .. first+count-1 (as many as exist), decoded, without newlines.

        Each is what a terminal would leave of it, at most MAX_LINE_BYTES: a line redrawn
        with carriage returns from its last one, and a longer line cut there (its rest is
        read past in growing blocks, never held)."""
        if count <= 0 or first >= self.line_count:
            return []
        start = self._line_start_exact(first)
        out: list[str] = []
        kept = LineHead()
        end = self.indexed_to
        window = WINDOW_BYTES
        while len(out) < count and start < end:
            data = self.reader.read_at(start, min(window, end - start))
            if not data:
                break
            start += len(data)
            pos = 0
            while len(out) < count:
                nl = data.find(b"\n", pos)
                kept.add(data[pos : nl if nl >= 0 else len(data)])
                if nl < 0:
                    break
                out.append(kept.take())
                pos = nl + 1
            if kept.full:
                window = min(window * 2, LONG_LINE_WINDOW)
        if len(out) < count and kept.started:
            out.append(kept.take())
        return out

    def search(
        self,
        pattern: re.Pattern[str],
        first: int = 0,
        cancel: threading.Event | None = None,
        chunk: int = CHUNK_BYTES,
        end: int | None = None,
        progress: Progress | None = None,
        state: SearchState | None = None,
    ) -> Iterator[SearchHit]:
        """Lines matching `pattern` from line `first` on, streamed as the file is read.

        end: the byte to stop at (default: as far as the index goes); a search may run
        ahead of the index, as it counts lines itself. progress(bytes scanned, end) after
        each chunk. state: where to start instead of `first`, kept up to date as the search
        goes, so a cancelled search or a grown log is searched on from where it stopped
        (a last line without its newline is searched again once it is whole).
        """
        if state is not None:
            line, pos = state.line, state.byte
        else:
            line, pos = first, self._line_start_exact(first) if first else 0
        end = self.indexed_to if end is None else end
        inside_long_line = False  # its head searched: the rest is read past to its end
        while pos < end:
            if cancel is not None and cancel.is_set():
                return
            data = self.reader.read_at(pos, min(chunk, end - pos))
            if not data:
                break  # the file shrank under us (truncated): the feed indexes it again
            if inside_long_line:
                nl = data.find(b"\n")
                pos += len(data) if nl < 0 else nl + 1
                if nl >= 0:
                    inside_long_line = False
                    line += 1
                    if state is not None:
                        state.line, state.byte = line, pos
                if progress is not None:
                    progress(pos, end)
                continue
            last = pos + len(data) >= end
            # Whole lines only, but for the last block (a long line may fill a block).
            cut = len(data) if last else data.rfind(b"\n") + 1
            if cut == 0 and chunk <= MAX_LINE_BYTES:
                chunk *= 2  # a line longer than a block: read it whole, up to a point
                continue
            if cut == 0:
                # A line longer than MAX_LINE_BYTES (a tensor printed whole, a bar that never
                # ends): searched in its head, as the view shows it; the rest is read past.
                text = LineHead.of(data)
                if not (cancel is not None and cancel.is_set()) and pattern.search(text):
                    yield SearchHit(line, text)
                inside_long_line = True
                pos += len(data)
                continue
            text = data[:cut].decode("utf-8", "replace")
            at, counted, last_begin = line, 0, -1
            for m in _matches(pattern, text, cancel):
                begin = text.rfind("\n", 0, m.start()) + 1
                if begin == last_begin:
                    continue  # one hit per line, however many matches it holds
                at += text.count("\n", counted, begin)
                counted = last_begin = begin
                stop = text.find("\n", m.start())
                stop = min(stop if stop >= 0 else len(text), begin + MAX_LINE_BYTES)
                yield SearchHit(at, text[begin:stop])
            if cancel is not None and cancel.is_set():
                return
            newlines = data.count(b"\n", 0, cut)
            line += newlines
            # The next search starts at the line after the last newline read.
            after_newline = data.rfind(b"\n", 0, cut) + 1 if newlines else 0
            if state is not None and newlines:
                state.line, state.byte = line, pos + after_newline
            pos += cut
            if progress is not None:
                progress(pos, end)


class LineHead:
    """The part of one line worth keeping, fed piece by piece: from just after its last
    carriage return (a progress bar in its last state), at most MAX_LINE_BYTES of it."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.started = False

    @property
    def full(self) -> bool:
        return len(self.data) >= MAX_LINE_BYTES

    def add(self, piece: bytes) -> None:
        if not piece:
            return
        self.started = True
        if self.data.endswith(b"\r"):
            del self.data[:]  # more of the line after it: the \r was a redraw, not a CRLF
        redraw = piece.rfind(b"\r", 0, len(piece) - 1)
        if redraw >= 0:
            del self.data[:]
            piece = piece[redraw + 1 :]
        room = MAX_LINE_BYTES - len(self.data)
        if room > 0:
            self.data += piece[:room]

    def take(self) -> str:
        text = self.data.decode("utf-8", "replace")
        self.data = bytearray()
        self.started = False
        return text

    @classmethod
    def of(cls, line: bytes) -> str:
        """What is kept of one whole line."""
        head = cls()
        head.add(line)
        return head.take()


@dataclass
class SearchState:
    """Where a search got to: the line after its last newline, and that line's byte."""

    line: int = 0
    byte: int = 0


def read_tail(
    reader: ByteReader, count: int, block: int = 64 * 1024, limit: int = TAIL_MAX_BYTES
) -> list[str]:
    """The last `count` lines, read backwards from the end: instant on any size of log.
    At most `limit` bytes are read (fewer lines where lines are huge), and each line is
    kept as read_lines keeps it."""
    size = reader.size()
    pos, blocks, newlines = size, [], 0
    while pos > 0 and newlines <= count and size - pos < limit:
        step = min(block, pos, limit - (size - pos))
        pos -= step
        blocks.append(reader.read_at(pos, step))
        newlines += blocks[-1].count(b"\n")
    lines = b"".join(reversed(blocks)).split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if pos > 0:
        lines = lines[1:]  # the first one may be cut
    return [LineHead.of(line) for line in lines[-count:]]


def tail_offset(reader: ByteReader, count: int, block: int = 64 * 1024) -> int:
    """The byte where the last `count` lines start, found by reading backwards from the end:
    over a link only the end of the log travels, however big the log is."""
    size = reader.size()
    if count <= 0:
        return size
    pos, seen, first_block = size, 0, True
    while pos > 0:
        step = min(block, pos)
        pos -= step
        data = reader.read_at(pos, step)
        # A newline that ends the file ends the last line; it starts none.
        end = len(data) - 1 if first_block else len(data)
        first_block = False
        while (nl := data.rfind(b"\n", 0, end)) >= 0:
            seen += 1
            if seen == count:
                return pos + nl + 1
            end = nl
        block = min(block * 2, 8 * 1024 * 1024)  # long lines: fewer round trips
    return 0


def _matches(
    pattern: re.Pattern[str], text: str, cancel: threading.Event | None
) -> Iterator[re.Match[str]]:
    """pattern.finditer(text), run over slices of whole lines (a match never spans lines
    in a line search), so no one regex call holds the GIL for long."""
    start = 0
    while start < len(text):
        if cancel is not None and cancel.is_set():
            return
        stop = text.find("\n", start + SEARCH_SLICE_CHARS) + 1 or len(text)
        if stop - start > 2 * SEARCH_SLICE_CHARS:
            # A line of megabytes (the last block's, which may not end): its head only, as
            # in a line longer than a block; one regex call over it all would hold the GIL.
            yield from pattern.finditer(text, start, start + 2 * SEARCH_SLICE_CHARS)
            start = stop
            continue
        yield from pattern.finditer(text, start, stop)
        start = stop
