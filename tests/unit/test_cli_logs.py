"""How `cockpit logs` writes a log: raw bytes for pipes, cleaned lines for terminals."""

from __future__ import annotations

import io
import re
import sys
import tracemalloc
from pathlib import Path

import pytest

from backends.runners.local import local_root
from cockpit.cli.logs import LogWriter
from cockpit.cli.main import main
from cockpit.logparse import terminal_text
from cockpit.models import Host, HostKind, Run, RunSpec, RunState
from cockpit.paths import data_dir
from cockpit.store import Store

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


class TtyBytes(io.BytesIO):
    def isatty(self) -> bool:
        return True


def logs_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log: bytes, *args: str, tty: bool
) -> bytes:
    """`cockpit logs RUN ARGS` on a finished local run whose out.log is `log`: its stdout."""
    tmp_path.mkdir(exist_ok=True)
    db = tmp_path / "c.db"
    with Store.open(db) as store:
        store.add_host(Host(name="me", kind=HostKind.LOCAL, address="localhost"))
        spec = RunSpec(name="r1", command="true", host="me", gpus=0)
        run = Run(id="r1", spec=spec, state=RunState.SUCCEEDED, host="me", exit_code=0)
        store.upsert_run(run)
    folder = Path(local_root(data_dir())) / "runs" / "r1"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "out.log").write_bytes(log)
    out = TtyBytes() if tty else io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out))
    assert main(["--db", str(db), "logs", "r1", *args]) == 0
    return out.getvalue()


BAR = b"".join(b"\r%3d%%|#| %d/100 [00:01, 3.0it/s]" % (i, i) for i in range(101))


@pytest.mark.parametrize("tty", [True, False])
def test_a_last_line_without_newline_is_shown_without_follow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tty: bool
) -> None:
    # A bar still being drawn, as `cat` would show it; it went missing unless following.
    log = b"epoch 1\r\n" + BAR
    grep = logs_of(tmp_path, monkeypatch, log, "--grep", "it/s", tty=tty)
    shown = logs_of(tmp_path / "2", monkeypatch, log, tty=tty) if tty else b""
    if tty:
        assert grep == b"100%|#| 100/100 [00:01, 3.0it/s]\n"
        assert shown == b"epoch 1\n100%|#| 100/100 [00:01, 3.0it/s]\n"  # CRLF: a line
    else:
        assert grep == BAR + b"\n"  # the line's bytes, ended as grep ends it


def test_to_a_terminal_a_hostile_log_is_inert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = (
        b"dcs \x1bP1$r0m\x1b\\ apc \x1b_secret\x1b\\ pm \x1b^x\x1b\\ osc \x1b]52;c;aGk=\x07 end\n"
        + "c1 \u009b2J \u0085 bidi \u202eevil\u2069 end\n".encode()
        + b"raw \x9b31m \x07 \x1b[10;10H\x1b[2J \x1b[32mgreen\x1b[0m end\n"
    )
    out = logs_of(tmp_path, monkeypatch, log, tty=True).decode()
    assert out.split("\n") == [
        "dcs  apc  pm  osc  end",  # a DCS/APC string's text is swallowed, as a terminal does
        "c1 2J  bidi evil end",
        "raw \ufffd31m   \x1b[32mgreen\x1b[0m end",  # only colours go out
        "",
    ]


def test_to_a_terminal_a_huge_line_is_streamed_not_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = b"\x1b[2J" + b"x" * (12 * 1024 * 1024) + b"\x1b]0;t\x07 end"
    log = b"first\n" + line + b"\nlast\n"
    tracemalloc.start()
    try:
        out = logs_of(tmp_path, monkeypatch, log, tty=True)
        peak = tracemalloc.get_traced_memory()[1] - len(log) - len(out)
    finally:
        tracemalloc.stop()
    assert out == b"first\n" + terminal_text(line.decode()).encode() + b"\nlast\n"
    assert peak < 8 * 1024 * 1024  # held whole, the line cost three times its size
