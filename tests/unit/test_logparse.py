"""Metrics and flags out of plain logs, on the shapes real training scripts print."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from cockpit.logparse import FlagKind, LogScanner, clean_text

LOGS = Path(__file__).parents[1] / "data" / "logs"


def scan(data: bytes, cuts: list[int] | None = None) -> tuple[list[tuple[int, str, float]], list]:
    scanner, points, flags, pos = LogScanner(), [], [], 0
    for end in [*(cuts or []), len(data)]:
        result = scanner.feed(data[pos:end])
        points += result.points()
        flags += result.flags
        pos = end
    last = scanner.finish()
    points += last.points()
    flags += last.flags
    # Each series in log order; series come in no particular order.
    return sorted(points, key=lambda point: point[1]), flags


def series(points: list[tuple[int, str, float]], name: str) -> list[tuple[int, float]]:
    return [(step, value) for step, n, value in points if n == name]


def test_hugging_face_trainer_dicts_become_series_and_config_echo_does_not() -> None:
    points, flags = scan((LOGS / "hf_trainer.log").read_bytes())
    assert series(points, "loss") == [(0, 2.3026), (1, 1.8712), (2, 1.5531)]
    assert series(points, "learning_rate") == [(0, 4.9e-05), (1, 4.8e-05), (2, 4.7e-05)]
    assert series(points, "eval_accuracy") == [(0, 0.4113)]
    assert series(points, "train_loss") == [(0, 1.909)]
    names = {n for _, n, _ in points}
    # "[INFO|trainer.py:2134]", "Num examples = 12,000", "Total optimization steps = 750"
    assert not names & {"trainer.py", "examples", "steps"}
    assert flags == []


def test_lightning_bars_count_once_in_their_last_state_with_the_iteration_as_step() -> None:
    points, _ = scan((LOGS / "lightning.log").read_bytes())
    assert series(points, "train_loss") == [(20, 1.92), (120, 1.1)]
    assert series(points, "it_per_s") == [(20, 9.81), (120, 9.9)]
    assert series(points, "val_acc") == [(120, 0.612)]
    assert "v_num" not in {n for _, n, _ in points}


def test_plain_prints_with_colours_markers_and_bare_metric_words() -> None:
    points, flags = scan((LOGS / "plain.log").read_bytes())
    assert series(points, "loss") == [(200, 1.0312), (300, 0.9876)]
    assert series(points, "lr") == [(200, 2.5e-4), (400, 2.0e-4)]
    assert series(points, "mfu") == [(300, 38.12)]
    assert series(points, "train_loss") == [(300, 0.512)]
    assert series(points, "val_acc") == [(300, 0.8123)]
    assert [(f.kind, f.line) for f in flags] == [(FlagKind.NAN_LOSS, 4)]


def test_bracketed_steps_as_the_pytorch_tutorials_print_them() -> None:
    log = (
        b"Epoch [1/2], Step [100/600], Loss: 0.2314\n"
        b"Epoch [1/2], Step [200/600], Loss: 0.1987\n"
        b"Iter [300/600] loss=0.15\n"
    )
    points, _ = scan(log)
    assert series(points, "Loss") == [(100, 0.2314), (200, 0.1987)]
    assert series(points, "loss") == [(300, 0.15)]
    assert "Epoch" not in {n for _, n, _ in points}


def test_time_left_is_no_metric_and_num_updates_is_the_step() -> None:
    log = (
        b"mmdet - INFO - Epoch [1][50/7330]\tlr: 1.000e-02, eta: 1 day, 2:03:04, loss: 1.5\n"
        b"epoch=1 num_updates=400 loss=1.25\n"
    )
    points, _ = scan(log)
    assert series(points, "loss") == [(0, 1.5), (400, 1.25)]
    assert {n for _, n, _ in points} == {"lr", "loss", "epoch"}


def test_throughput_written_word_slash_s_then_the_number_is_a_per_second_metric() -> None:
    log = (
        b"step 10 | loss=2.5 | tokens/s 2834 | tok/s 45\n"
        b"step 11 loss=2.4 tokens/s 2835\n"  # no unit after an = value
        b"step 20 samples/s 12.5 it/s 3.1 samples/sec 13\n"
        b"  5/10 [00:01<00:01, 3.9it/s]\n"  # a bar: its own it_per_s, at its own step
        b"see https://host/s 5, x/s 1e3 in 0.5h/s 7 12/s 8\n"
        b"tokens/s: 99\n"  # key: value keeps its key as written
        b"throughput 2834 tokens/s 12.3 TFLOPS | speed: 512. samples/s 3 gpus\n"  # units
    )
    points, _ = scan(log, cuts=[17, 60])
    assert series(points, "tokens_per_s") == [(10, 2834.0), (10, 45.0), (11, 2835.0)]
    assert series(points, "samples_per_s") == [(20, 12.5), (20, 13.0)]
    assert series(points, "it_per_s") == [(20, 3.1), (5, 3.9)]
    assert series(points, "x_per_s") == [(5, 1000.0)]
    assert series(points, "tokens/s") == [(5, 99.0)]
    # a path, a unit after a number, a bare number: no throughput
    assert {n for _, n, _ in points} == {
        "loss",
        "tokens_per_s",
        "samples_per_s",
        "it_per_s",
        "x_per_s",
        "tokens/s",
        "speed",  # speed: 512. (its unit, samples/s, makes no rate of the 3 after it)
    }


def test_lm_eval_tables_give_task_and_metric_including_a_tasks_second_row() -> None:
    points, _ = scan((LOGS / "lm_eval_table.log").read_bytes())
    got = {name: value for _, name, value in points if "/" in name}
    assert got == {"arc_easy/acc": 0.4364, "arc_easy/acc_norm": 0.3994, "hellaswag/acc": 0.2834}


def test_json_lines_agree_with_json_itself() -> None:
    text = (LOGS / "jsonl.log").read_text()
    points, _ = scan(text.encode())
    expected = [
        (rec["step"], k, float(v))
        for rec in map(json.loads, text.splitlines())
        for k, v in rec.items()
        if k != "step"
    ]
    assert points == sorted(expected, key=lambda point: point[1])


@pytest.mark.parametrize("name", sorted(p.name for p in LOGS.glob("*.log")))
def test_any_chunking_gives_the_same_points_and_never_parses_a_line_twice(name: str) -> None:
    data = (LOGS / name).read_bytes()
    whole = scan(data)
    rng = random.Random(name)
    for _ in range(100):
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 9))))
        assert scan(data, cuts) == whole
    for cut in range(1, len(data)):  # every byte, inside multi-byte characters too
        assert scan(data, [cut]) == whole


def test_oom_traceback_and_a_loss_spike_are_flagged_with_their_line() -> None:
    lines = [f"step {i} loss={1.0 - i * 0.01:.3f}" for i in range(30)]
    lines += ["step 30 loss=9.5", "Traceback (most recent call last):", '  File "train.py"']
    lines += ["torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"]
    lines += ["Traceback (most recent call last):"]  # another rank: the same problem
    _, flags = scan(("\n".join(lines) + "\n").encode())
    assert [(f.kind, f.line) for f in flags] == [
        (FlagKind.LOSS_SPIKE, 31),
        (FlagKind.TRACEBACK, 32),
        (FlagKind.OOM, 34),
    ]
    assert "CUDA out of memory" in flags[2].text


def test_progress_bars_collapse_and_colours_go() -> None:
    assert clean_text("a 10%\rb 50%\rc 100%\n") == "c 100%\n"
    assert clean_text("ok\r\nnext\n") == "ok\nnext\n"  # a Windows line end is no redraw
    # Colours, a window title (OSC), a bell and a backspace: nothing reaches a terminal.
    assert clean_text("\x1b[1;31mred\x1b[0m \x1b]0;pwned\x07x\x07\x08\ttab\n") == "red x\ttab\n"


def test_binary_garbage_gives_no_metric_and_no_flag() -> None:
    # `cat checkpoint.pt` or a core dump into the log: random bytes hold "AB=6", "OOM" …
    garbage = random.Random(7).randbytes(8 * 1024 * 1024)
    points, flags = scan(garbage, cuts=list(range(1 << 20, len(garbage), 1 << 20)))
    assert points == [] and flags == []


def test_text_around_a_binary_blob_reads_as_without_it() -> None:
    before = b"".join(b"step %d loss=%d\n" % (i, 100 - i) for i in range(1, 50))
    odd_text = (
        "step 50 caf\xe9 loss=50\n".encode("latin-1")  # Latin-1, not UTF-8: text still
        + b"\x00" * 4096
        + b"step 51 loss=49\n"  # after NUL padding (a file hole after a crash)
        + b"\x1b(B\x1b[m\x0fstep 52 loss=48\n"  # tput sgr0's shift-in
        + "step 53 日本語 loss=47\n".encode()
    )
    after = b"".join(b"step %d loss=%d\n" % (i, 100 - i) for i in range(60, 80))
    blob = random.Random(3).randbytes(2 * 1024 * 1024)
    blob = b"\n" + blob.replace(b"\n", b"\n\n") + b"\n\n"  # blank lines around it
    without, flags_without = scan(before + odd_text + after)
    with_blob, flags_with = scan(before + odd_text + blob + after)
    assert len(series(without, "loss")) == 49 + 4 + 20
    assert with_blob == without and flags_with == flags_without == []
