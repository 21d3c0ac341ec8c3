"""Huge logs: the sparse index, reads on demand and streamed search, against grep and tail."""

from __future__ import annotations

import random
import re
import subprocess
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from backends.runners.log_readers import FileReader
from cockpit.log_index import (
    CHUNK_BYTES,
    MAX_LINE_BYTES,
    LogIndex,
    SearchState,
    read_tail,
    tail_offset,
)
from widgets.run_log import LEVEL_FILTERS, compile_pattern


def make_log(path: Path, n: int, seed: int = 1, partial: bool = True) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        extra = "é✓" * rng.randint(0, 3) + " x" * rng.randint(0, 40)
        tag = " ERROR cuda" if rng.random() < 0.01 else ""
        lines.append(f"{i:07d} step={i} loss={rng.random():.4f}{tag}{extra}")
    if rng.random() < 0.5:
        lines.insert(n // 2, "")  # an empty line is a line too
    text = "\n".join(lines) + ("\npartial tail" if partial else "\n")
    path.write_text(text)
    return [*lines, "partial tail"] if partial else lines


@pytest.fixture
def log(tmp_path: Path) -> tuple[Path, list[str]]:
    path = tmp_path / "out.log"
    return path, make_log(path, 20_000)


@pytest.mark.parametrize("every,chunk", [(1, 4096), (64, 4096), (64, 1 << 20), (7, 333)])
def test_any_line_reads_as_the_file_says(
    log: tuple[Path, list[str]], every: int, chunk: int
) -> None:
    path, lines = log
    index = LogIndex(FileReader(path), every=every)
    seen: list[int] = []
    assert index.build(progress=lambda done, size: seen.append(done), chunk=chunk)
    assert seen[-1] == path.stat().st_size and seen == sorted(seen)
    assert index.line_count == len(lines) == len(path.read_text().splitlines())
    rng = random.Random(every)
    for first in [0, 1, len(lines) - 1, len(lines) - 3, *rng.sample(range(len(lines)), 50)]:
        count = rng.randint(1, 40)
        assert index.read_lines(first, count) == lines[first : first + count]
    assert index.read_lines(len(lines), 5) == []


def test_search_finds_what_grep_finds(log: tuple[Path, list[str]]) -> None:
    path, lines = log
    index = LogIndex(FileReader(path))
    index.build()
    grep = subprocess.run(
        ["grep", "-n", "-E", "ERROR|loss=0\\.99", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    expected = [
        (int(n) - 1, text)
        for n, _, text in (line.partition(":") for line in grep.stdout.splitlines())
    ]
    hits = [(h.line, h.text) for h in index.search(re.compile(r"ERROR|loss=0\.99"), chunk=5000)]
    assert hits == expected
    # The file (~1.3 MB) in one read, the regex run a slice of whole lines at a time.
    whole = [(h.line, h.text) for h in index.search(re.compile(r"ERROR|loss=0\.99"))]
    assert whole == expected
    starts = re.compile(r"^\d+5 step", re.MULTILINE)  # ^ at every slice's first line too
    assert [h.line for h in index.search(starts)] == [
        n for n, line in enumerate(lines) if re.match(r"\d+5 step", line)
    ]
    later = [h.line for h in index.search(re.compile("ERROR"), first=10_000)]
    assert later and min(later) >= 10_000
    assert later == [n for n, text in expected if n >= 10_000 and "ERROR" in text]


def test_search_stops_when_cancelled(log: tuple[Path, list[str]]) -> None:
    path, _ = log
    index = LogIndex(FileReader(path))
    index.build()
    cancel = threading.Event()
    hits = []
    for hit in index.search(re.compile("step"), cancel=cancel, chunk=4096):
        hits.append(hit)
        cancel.set()
    assert 1 <= len(hits) < 200  # the rest of the chunk at most, never the whole file


def test_the_tail_shows_before_any_index_and_matches_tail(log: tuple[Path, list[str]]) -> None:
    path, lines = log
    tail = subprocess.run(["tail", "-n", "30", str(path)], capture_output=True, check=True)
    assert read_tail(FileReader(path), 30) == tail.stdout.decode().split("\n")[:30]
    assert read_tail(FileReader(path), 30, block=100) == lines[-30:]


def test_a_growing_log_extends_its_index(tmp_path: Path) -> None:
    path = tmp_path / "live.log"
    path.write_text("a\nb\nhalf")
    index = LogIndex(FileReader(path), every=2)
    index.build()
    assert index.line_count == 3 and index.read_lines(0, 5) == ["a", "b", "half"]
    with path.open("a") as fh:
        fh.write(" line\nc\nd\n")
    index.build()
    assert index.line_count == 5
    assert index.read_lines(0, 10) == ["a", "b", "half line", "c", "d"]
    assert index.read_lines(4, 1) == ["d"]


def test_a_search_goes_on_from_its_state_as_the_log_grows(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    path.write_bytes(b"a loss\nb\nc loss")  # the last line is not whole yet
    index = LogIndex(FileReader(path))
    index.build()
    state = SearchState()
    pattern = re.compile("loss")
    assert [h.line for h in index.search(pattern, state=state)] == [0, 2]
    assert (state.line, state.byte) == (2, 9)  # the partial line is searched again
    with path.open("ab") as fh:
        fh.write(b" done\nd\ne loss\n")
    index.build()
    assert [(h.line, h.text) for h in index.search(pattern, state=state)] == [
        (2, "c loss done"),
        (4, "e loss"),
    ]
    assert [h.line for h in index.search(pattern, state=state)] == []


def test_a_line_longer_than_a_block_is_one_hit(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    long = "x" * 5000 + " loss " + "y" * 5000
    path.write_text(f"first\n{long}\nlast loss\n")
    index = LogIndex(FileReader(path))
    index.build()
    hits = list(index.search(re.compile("loss|first"), chunk=1024))
    assert [(h.line, len(h.text)) for h in hits] == [(0, 5), (1, len(long)), (2, 9)]


@pytest.mark.parametrize("block", [1, 7, 65536])
def test_tail_offset_reads_only_the_end(tmp_path: Path, block: int) -> None:
    path = tmp_path / "out.log"
    lines = make_log(path, 2000, partial=False)
    data = path.read_bytes()
    reader = CountingReader(FileReader(path))
    for count in (1, 5, 30):
        start = tail_offset(reader, count, block=block)
        assert data[start:].decode().splitlines() == lines[-count:]
    assert tail_offset(reader, 10**6, block=block) == 0
    reader.read = 0
    tail_offset(reader, 5, block=65536)
    assert reader.read <= 65536  # five lines of a 600 kB log: one block


class CountingReader:
    def __init__(self, inner: FileReader) -> None:
        self.inner, self.read = inner, 0

    def size(self) -> int:
        return self.inner.size()

    def read_at(self, offset: int, size: int) -> bytes:
        data = self.inner.read_at(offset, size)
        self.read += len(data)
        return data

    def close(self) -> None:
        self.inner.close()


HUGE = 24 * 1024 * 1024  # a line of tensors printed whole; far over MAX_LINE_BYTES


@pytest.fixture
def huge_line_log(tmp_path: Path) -> tuple[Path, list[bytes]]:
    """A log whose second line is 24 MB without a newline, then more lines; the file's own
    lines are the reference."""
    path = tmp_path / "out.log"
    with path.open("wb") as fh:
        fh.write(b"step 1 loss=2.5\n" + b"loss " + b"x" * HUGE + b" tail loss\n")
        fh.write(b"".join(b"step %d loss=%d\n" % (i, i) for i in range(2, 300)))
        fh.write(b"bar 1%\rbar 50%\r" + b"z" * (2 * MAX_LINE_BYTES) + b"\rbar 100%\n")
    return path, path.read_bytes().split(b"\n")[:-1]


def peak_bytes(work: Callable[[], object]) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_huge_line_is_never_held_to_be_shown(huge_line_log: tuple[Path, list[bytes]]) -> None:
    path, lines = huge_line_log
    index = LogIndex(FileReader(path))
    index.build()
    assert index.line_count == len(lines) == 301
    shown, peak = peak_bytes(lambda: index.read_lines(0, 301))
    assert isinstance(shown, list) and len(shown) == 301
    assert peak < 4 * 1024 * 1024  # a 24 MB line: its head, not the line
    assert shown[0] == "step 1 loss=2.5"
    assert shown[1] == lines[1][:MAX_LINE_BYTES].decode()
    assert shown[2:-1] == [line.decode() for line in lines[2:-1]]
    assert shown[-1] == "bar 100%"  # a redrawn bar in its last state, not its first
    assert index.read_lines(5, 2) == ["step 5 loss=5", "step 6 loss=6"]  # seeks past it


def test_the_tail_of_a_log_with_a_huge_line_reads_a_bounded_end(
    huge_line_log: tuple[Path, list[bytes]],
) -> None:
    path, lines = huge_line_log
    reader = CountingReader(FileReader(path))
    tail, peak = peak_bytes(lambda: read_tail(reader, 400, limit=HUGE // 4))
    assert isinstance(tail, list)
    assert reader.read <= HUGE // 4 and peak < HUGE  # neither the line nor a copy per block
    assert tail[-1] == "bar 100%" and tail[-2] == "step 299 loss=299"
    assert all(len(line) <= MAX_LINE_BYTES for line in tail)
    assert tail[-299:-1] == [line.decode() for line in lines[2:-1]]
    assert read_tail(reader, 5) == [line.decode() for line in lines[-5:-1]] + ["bar 100%"]


def test_a_search_reads_past_a_huge_line_with_its_head_searched(
    huge_line_log: tuple[Path, list[bytes]],
) -> None:
    path, lines = huge_line_log
    index = LogIndex(FileReader(path))
    index.build()
    pattern = re.compile(r"loss=2\d\b|^loss|tail loss", re.MULTILINE)
    hits, peak = peak_bytes(lambda: [(h.line, h.text[:20]) for h in index.search(pattern)])
    # The reference: the lines, each searched in its first MAX_LINE_BYTES as it is shown.
    expected = [
        (n, line[:20].decode())
        for n, line in enumerate(lines)
        if pattern.search(line[:MAX_LINE_BYTES].decode())
    ]
    assert hits == expected and (1, "loss xxxxxxxxxxxxxxx") in hits
    assert peak < 3 * CHUNK_BYTES  # a few blocks, never the whole line
    state = SearchState()  # a live search goes on from after the huge line
    assert [h.line for h in index.search(re.compile("step 299"), state=state)] == [299]
    assert state.line == 301


def test_the_error_filter_is_linear_on_a_long_word(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    path.write_bytes(b"a" * 100_000 + b"\nValueError: boom\nno errors here\n")
    index = LogIndex(FileReader(path))
    index.build()
    pattern = compile_pattern(LEVEL_FILTERS["error"])
    started = time.perf_counter()
    assert [h.line for h in index.search(pattern)] == [1]
    assert time.perf_counter() - started < 2.0  # \w*error: 20 s, holding the GIL
