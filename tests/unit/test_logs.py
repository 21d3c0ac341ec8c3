"""Following a log by byte offset: every line once, whatever the chunk boundaries, and from
the start again when the log is truncated under the reader."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from backends.runners.local import LocalRunner
from backends.runners.log_polling import follow_by_polling
from cockpit.logs import LogFollower, ResumePolicy, follow_resuming
from cockpit.models import Host, HostKind, Run, RunSpec, RunState
from cockpit.ports import LogChunk

TEXT = "step 1 loss=2.31\nétape 2 perte=1.97 ✓\n\nstep 3 训练 loss=1.5\npartial"


def feed_in_pieces(data: bytes, cuts: list[int]) -> tuple[list[str], LogFollower]:
    follower, lines, offset = LogFollower(), [], 0
    for end in [*cuts, len(data)]:
        assert follower.offset("r") == offset
        lines += follower.feed("r", LogChunk(data[offset:end], end, eof=False))
        offset = end
    return lines, follower


def test_lines_come_out_once_whatever_the_cuts_even_inside_a_character() -> None:
    data = TEXT.encode()
    expected = TEXT.split("\n")[:-1]  # the last line has no newline yet
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 12)))
        lines, follower = feed_in_pieces(data, cuts)
        assert lines == expected
        assert follower.offset("r") == len(data)
    # Every single-byte cut, including the middle of each multi-byte character.
    for cut in range(1, len(data)):
        assert feed_in_pieces(data, [cut])[0] == expected


def test_the_partial_last_line_is_completed_by_the_next_chunk() -> None:
    follower = LogFollower()
    assert follower.feed("r", LogChunk(b"epoch 1 acc=0.", 14, eof=False)) == []
    assert follower.feed("r", LogChunk(b"91\n", 17, eof=False)) == ["epoch 1 acc=0.91"]


def test_reset_reads_a_run_again_from_its_first_byte_and_runs_are_apart() -> None:
    follower = LogFollower()
    follower.feed("a", LogChunk(b"one\ntw", 6, eof=False))
    follower.feed("b", LogChunk(b"x\n", 2, eof=False))
    follower.reset("a")
    assert follower.offset("a") == 0 and follower.offset("b") == 2
    assert follower.feed("a", LogChunk(b"one\n", 4, eof=False)) == ["one"]


def test_a_chunk_from_before_the_offset_read_to_is_a_truncation_the_cut_line_ends_there() -> None:
    follower = LogFollower()
    assert follower.feed("r", LogChunk(b"one\ntw", 6, eof=False)) == ["one"]
    # the log was truncated and is read again from its first byte
    assert follower.feed("r", LogChunk(b"new\n", 4, eof=False)) == ["tw", "new"]
    assert follower.offset("r") == 4
    assert follower.feed("r", LogChunk(b"more\n", 9, eof=False)) == ["more"]


def test_a_chunk_knows_when_the_log_is_shorter_than_the_offset_read_from() -> None:
    assert LogChunk(b"", 10, eof=False, size=4).truncated_before(10)
    assert not LogChunk(b"", 10, eof=False, size=10).truncated_before(10)
    assert not LogChunk(b"", 10, eof=False).truncated_before(10)  # a backend that cannot tell


@pytest.fixture
def local_run(tmp_path: Path) -> tuple[LocalRunner, Run, Path]:
    """A run folder of the real local runner; the test writes its out.log and exit_code."""
    host = Host(name="me", kind=HostKind.LOCAL, address="localhost")
    runner = LocalRunner(lambda name: host, tmp_path / "data")
    run = Run(id="r1", spec=RunSpec(name="t", command="x"), host="me", state=RunState.RUNNING)
    folder = runner.runs_dir / run.id
    folder.mkdir(parents=True)
    return runner, run, folder


FAST = ResumePolicy(poll_s=0.001, retry_initial_s=0.001, retry_max_s=0.001)


async def test_follow_resuming_goes_on_from_the_start_of_a_truncated_log(
    local_run: tuple[LocalRunner, Run, Path],
) -> None:
    runner, run, folder = local_run
    log = folder / "out.log"
    before, after = b"step 1\nstep 2\nhalf a li", b"reopened\nwith 'w'\n"
    log.write_bytes(before)
    told: list[tuple[int, int]] = []
    got: list[LogChunk] = []
    chunks = follow_resuming(
        lambda at: runner.read_log(run, at, 8),
        0,
        FAST,
        on_truncated=lambda o, s: told.append((o, s)),
    )
    async for chunk in chunks:
        got.append(chunk)
        if chunk.next_offset == len(before):
            # what a script reopening its log with 'w' does, then it ends
            with log.open("wb") as fh:
                fh.write(after)
            (folder / "exit_code").write_text("0")
    assert b"".join(c.data for c in got) == before + after
    assert told == [(len(before), len(after))]
    assert got[-1].eof and got[-1].next_offset == len(after)


async def test_a_log_truncated_to_nothing_by_a_run_that_then_ends_is_still_said(
    local_run: tuple[LocalRunner, Run, Path],
) -> None:
    runner, run, folder = local_run
    (folder / "out.log").write_bytes(b"all of it\n")
    (folder / "exit_code").write_text("0")
    first = await runner.read_log(run, 0)
    (folder / "out.log").write_bytes(b"")
    told: list[tuple[int, int]] = []
    chunks = follow_resuming(
        lambda at: runner.read_log(run, at),
        first.next_offset,
        FAST,
        on_truncated=lambda o, s: told.append((o, s)),
    )
    assert [c async for c in chunks] == []
    assert told == [(10, 0)]


async def test_a_log_that_cannot_be_read_for_a_moment_is_no_truncation(
    local_run: tuple[LocalRunner, Run, Path],
) -> None:
    """A passing read error (NFS, permissions) says nothing of the log's size."""
    runner, run, folder = local_run
    log = folder / "out.log"
    log.write_bytes(b"step 1\nstep 2\n")
    first = await runner.read_log(run, 0)
    log.chmod(0)  # unreadable (run as root, a folder moved away does the same)
    hidden = folder.rename(folder.with_name("away"))
    chunk = await runner.read_log(run, first.next_offset)
    assert chunk.size is None and not chunk.truncated_before(first.next_offset)
    assert chunk.data == b"" and not chunk.eof
    hidden.rename(folder)
    (folder / "out.log").chmod(0o644)
    log.write_bytes(b"step 1\nstep 2\nstep 3\n")
    assert (await runner.read_log(run, first.next_offset)).data == b"step 3\n"


async def test_a_polled_stream_restarts_at_zero_and_says_so_with_an_empty_chunk(
    local_run: tuple[LocalRunner, Run, Path],
) -> None:
    runner, run, folder = local_run
    log = folder / "out.log"
    log.write_bytes(b"old line\n")
    got: list[LogChunk] = []
    async for chunk in follow_by_polling(lambda at: runner.read_log(run, at), 0, 0.001):
        got.append(chunk)
        if len(got) == 1:
            log.write_bytes(b"new\n")
            (folder / "exit_code").write_text("0")
    assert [(c.data, c.next_offset) for c in got] == [
        (b"old line\n", 9),
        (b"", 0),  # the restart
        (b"new\n", 4),
    ]
