"""How `cockpit logs` writes a log: raw bytes for pipes, cleaned lines for terminals."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from cockpit.cli.logs import LogWriter
from cockpit.cli.main import main
from cockpit.logparse import terminal_text

LOG = (
    "step 1 loss=2.0\n"
    "\x1b[31mred error\x1b[0m\x1b]0;pwned\x07\x1b[2J\n"
    " 10%|#  | 1/10\r 100%|###| 10/10\n"
    "日本語 é\n"
    "Traceback (most recent call last):\n"
    "last without newline"
).encode()


def written(writer: LogWriter, data: bytes, chunk: int, *, end: bool = True) -> bytes:
    for i in range(0, len(data), chunk):
        writer.feed(data[i : i + chunk])
    writer.finish() if end else writer.caught_up()
    assert isinstance(writer.out, io.BytesIO)
    return writer.out.getvalue()


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000])
def test_into_a_pipe_the_bytes_are_unchanged(chunk: int) -> None:
    assert written(LogWriter(io.BytesIO()), LOG, chunk) == LOG


@pytest.mark.parametrize("chunk", [1, 5, 1000])
def test_to_a_terminal_colours_stay_and_other_escapes_go(chunk: int) -> None:
    out = written(LogWriter(io.BytesIO(), terminal=True), LOG, chunk).decode()
    assert "\x1b[31mred error\x1b[0m\n" in out  # colours kept
    assert "pwned" not in out and "\x07" not in out and "\x1b[2J" not in out
    assert " 100%|###| 10/10\n" in out and "10%|#  |" not in out  # the bar's last state
    assert "日本語 é\n" in out  # a character split across chunks comes out whole
    assert out.endswith("last without newline\n")


def test_terminal_text_drops_c1_and_bidi_controls() -> None:
    assert terminal_text("a\x9b2Jb\u202ec") == "a2Jbc"  # left inert
    assert terminal_text("\x1b[1;32mok\x1b[0m", colours=False) == "ok"


def test_grep_keeps_the_matching_lines_bytes() -> None:
    out = written(LogWriter(io.BytesIO(), grep=re.compile("error|Trace")), LOG, 4)
    red = b"\x1b[31mred error\x1b[0m\x1b]0;pwned\x07\x1b[2J\n"
    assert out == red + b"Traceback (most recent call last):\n"


def test_tail_writes_the_last_lines_then_goes_on_raw() -> None:
    writer = LogWriter(io.BytesIO(), tail=2)
    head = written(writer, LOG, 6, end=False)
    # the last 2 whole lines, then the line still being written
    assert head == "日本語 é\nTraceback (most recent call last):\nlast without newline".encode()
    writer.feed(b" now\n")
    assert writer.out.getvalue().endswith(b"last without newline now\n")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("writer", "expected"),
    [
        (LogWriter(io.BytesIO()), b"one\ntwo half" + b"new\n"),  # a pipe: the bytes
        (LogWriter(io.BytesIO(), terminal=True), b"one\ntwo half\nnew\n"),  # lines
        (LogWriter(io.BytesIO(), grep=re.compile("half|new")), b"two half\nnew\n"),
    ],
)
def test_a_line_cut_short_by_a_truncation_ends_where_the_log_starts_again(
    writer: LogWriter, expected: bytes
) -> None:
    writer.feed(b"one\ntwo half")
    writer.truncated()
    writer.feed(b"new\n")
    writer.finish()
    assert writer.out.getvalue() == expected  # type: ignore[attr-defined]


def test_bad_regex_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(tmp_path / "c.db"), "logs", "x", "--grep", "("]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cockpit: error: invalid --grep") and err.count("\n") == 1


def test_unknown_run_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(tmp_path / "c.db"), "logs", "nope"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
