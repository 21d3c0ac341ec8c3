"""The fast scanner against the plain line-by-line reader, on generated logs that mix every
shape the issue names, fed in chunks cut at random bytes, resumed from saved state."""

from __future__ import annotations

import json
import random

import pytest

from cockpit.logparse import LogFlag, LogScanner
from tests.unit.logparse_reference import Point, reference_scan


def number(rng: random.Random) -> str:
    """A value whose digits vary in count, so one template gives many line shapes."""
    return rng.choice(
        [
            f"{rng.random() * 10 ** rng.randint(-3, 4):.{rng.randint(0, 5)}f}",
            f"{rng.random():.2e}",
            str(rng.randint(0, 10 ** rng.randint(1, 6))),
        ]
    )


def log_line(rng: random.Random, i: int) -> str:
    def n() -> str:
        return number(rng)

    loss = f"{2.0 / (1 + i / 50):.4f}" if rng.random() > 0.03 else "50.0"  # now and then a spike
    lines = [
        f"step {i} | loss={loss} lr={n()} grad_norm={n()} tok/s {n()}",
        f"{{'loss': {loss}, 'grad_norm': {n()}, 'learning_rate': {n()}, 'epoch': {n()}}}",
        json.dumps({"step": i, "loss": float(loss), "val/acc": float(n())}),
        "\r".join(
            f"Epoch 0:  {k}%|████▌     | {i + k}/1000 [00:10<00:12, {n()}it/s, loss={n()}, v_num=1]"
            for k in range(rng.randint(1, 4))
        ),
        f" {i}/500 [01:00<10:00, {n()}s/it]",
        f"val_acc: {n()}",
        f"train loss={loss} val acc {n()}",
        rng.choice(["eval_loss: nan", "loss=inf", "val_loss=-Infinity", "step=nan loss=1.5"]),
        f"iter {i}: loss {loss}, time {n()}ms, mfu {n()}%",
        "|  Tasks  |Version|Filter|n-shot| Metric |   |Value |   |Stderr|",
        f"|arc_easy |      1|none  |     0|acc     |↑  |{n()}|±  |0.0100|",
        f"|         |       |none  |     0|acc_norm|↑  |{n()}|±  |0.0100|",
        f"\x1b[32mINFO\x1b[0m step={i} loss=\x1b[1m{loss}\x1b[0m lr {n()}",
        f"\x1b]0;title {i}\x07loss={loss}",
        f"top{rng.choice([1, 5])}_acc={n()} f1={n()}",
        "Traceback (most recent call last):",
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
        f"saving checkpoint to /ckpt/step_{i}.pt at 12:30:{i % 60:02d}",
        "Num examples = 12,000",
        f"é loss={loss} ünïcode=1",
        f"acc=٣ loss={loss}",
        f"loss=1e{rng.choice(['9', '99', '999'])} step {i}",
        f"loss={loss} step={i}",
        f"step {i} loss={loss}\r",
        "{" + ", ".join(f"'m{k}': {n()}" for k in range(3)) + "}",
        f"Step {i}/1000 val_loss={loss}",
        f"iter {i} | tokens/s {n()} | samples/sec {n()} | it/s {n()} | tok/s: {n()}",
        f"\x1b[2mthroughput\x1b[0m token/s {n()} ex2/s {n()} gb/s nan",
    ]
    return rng.choice(lines)


def generated_log(seed: int, lines: int) -> bytes:
    rng = random.Random(seed)
    out = []
    if rng.random() < 0.5:  # no step yet: the first points are counted
        out += [f"{{'loss': {1.5 + k / 10}, 'acc': {k}}}" for k in range(rng.randint(1, 20))]
    out += [log_line(rng, i) for i in range(lines)]
    # more values on a line than a line's positions can tell apart
    out.insert(rng.randrange(len(out)), json.dumps({f"m{k}": k / 7 for k in range(300)}))
    data = "\n".join(out).encode()
    if rng.random() < 0.2:
        data += b"\nloss=\xff\xfe 1.5 \xe2\x82 step 3"  # bytes that are not UTF-8
    if rng.random() < 0.5:
        data += b"\n"  # or the last line ends without a newline
    return data


def fast_scan(data: bytes, rng: random.Random, resume: bool) -> tuple[list[Point], list[LogFlag]]:
    """Feed `data` in random pieces; with `resume`, now and then restart from the saved state
    at the offset a store would keep (the start of the partial line)."""
    scanner = LogScanner()
    points: list[Point] = []
    flags: list[LogFlag] = []
    pos = 0
    while pos < len(data):
        end = min(len(data), pos + rng.choice([1, 2, 3, 7, 64, 1000, 5000, 100_000]))
        result = scanner.feed(data[pos:end])
        points += result.points()
        flags += result.flags
        pos = end
        if resume and rng.random() < 0.2:
            pos -= len(scanner.partial)
            scanner = LogScanner.from_state(json.loads(json.dumps(scanner.state())))
    last = scanner.finish()
    points += last.points()
    flags += last.flags
    return points, flags


def by_series(points: list[Point]) -> list[Point]:
    """Each series in log order; series come in no particular order."""
    return sorted(points, key=lambda point: point[1])


@pytest.mark.parametrize("seed", range(40))
def test_fast_scanner_gives_what_the_line_by_line_reader_gives(seed: int) -> None:
    data = generated_log(seed, lines=random.Random(seed).choice([5, 50, 400]))
    expected_points, expected_flags = reference_scan(data)
    assert expected_points, "the generated log holds metrics"
    rng = random.Random(f"chunks {seed}")
    for resume in (False, True):
        points, flags = fast_scan(data, rng, resume)
        assert by_series(points) == by_series(expected_points)
        assert flags == expected_flags


def test_every_shape_of_the_generator_is_read_the_same_way() -> None:
    """All shapes at once, many lines each, with the partial line cut at every byte of a
    multi-byte character."""
    data = generated_log(1234, lines=1500)
    expected = reference_scan(data)
    whole = LogScanner()
    points = [*whole.feed(data).points(), *whole.finish().points()]
    assert by_series(points) == by_series(expected[0])
    cut = data.index("████".encode()) + 1
    for at in range(cut, cut + 6):
        scanner = LogScanner()
        first, second, last = scanner.feed(data[:at]), scanner.feed(data[at:]), scanner.finish()
        points = [*first.points(), *second.points(), *last.points()]
        assert by_series(points) == by_series(expected[0])
        assert first.flags + second.flags + last.flags == expected[1]


def test_a_bar_redrawn_forever_is_not_held_back_whole() -> None:
    scanner = LogScanner()
    for k in range(1, 2000):
        scanner.feed(f"\r {k}/2000 [00:01<00:10, 9.5it/s, loss={1 / k:.4f}]".encode())
    assert len(scanner.partial) < 100  # only the last state of the bar is kept
    result = scanner.feed(b"\n")
    assert by_series(list(result.points())) == [(1999, "it_per_s", 9.5), (1999, "loss", 0.0005)]
