"""Following a log by byte offset: every line once, whatever the chunk boundaries."""

from __future__ import annotations

import random

from cockpit.logs import LogFollower
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
