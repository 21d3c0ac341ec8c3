"""Text from files never reaches the terminal as control sequences, and names from data never
become paths outside their folder."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from rich.text import Text

from cockpit.models import Idea, RunState
from cockpit.render.safe import printable, printable_fields, printable_text
from cockpit.store import Store
from cockpit.validate import ValidationError, path_inside
from tests.unit.test_cli import run
from tests.unit.test_triage import add_run

ROOT = Path(__file__).resolve().parents[2]
ASDIV = ROOT / "tests" / "data" / "formats" / "lm-eval-asdiv"
# Clear the screen, set the window title, ring the bell, a C1 CSI, an RTL override.
EVIL = "evil\x1b[2J\x1b]0;pwned\x07\x9b31m\u202eabc"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("a\x07b", "a\\x07b"),
        ("\x9b1m", "\\x9b1m"),
        ("\u202efdp.exe", "\\u202efdp.exe"),
        ("one\ntwo\rthree", "one\\x0atwo\\x0dthree"),
        ("tab\there", "tab here"),
        ("plain ünïcode ✓ ∑", "plain ünïcode ✓ ∑"),
    ],
)
def test_printable_escapes_every_control_character(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_printable_keeps_line_breaks_when_asked() -> None:
    assert printable("a\x1b[0m\nb\tc", newlines=True) == "a\\x1b[0m\nb\tc"


def test_printable_fields_cleans_nested_dataclasses_and_shares_clean_ones() -> None:
    clean = Idea(name="ok", title="fine")
    dirty = Idea(name="x", title=EVIL)
    out = printable_fields([clean, dirty])
    assert out[0] is clean
    assert "\x1b" not in out[1].title and "\\x1b" in out[1].title
    assert dirty.title == EVIL  # the original is not changed


def test_printable_text_keeps_styles_in_place() -> None:
    text = Text("a\x1bb")
    text.stylize("bold", 2, 3)
    out = printable_text(text)
    assert out.plain == "a\ufffdb"
    assert out.spans[0].start == 2 and out.spans[0].end == 3


def write_evil_lm_eval(folder: Path) -> Path:
    """The real lm-eval asdiv results, with ESC sequences in the model name."""
    shutil.copytree(ASDIV, folder)
    results = next(folder.glob("results_*.json"))
    data = json.loads(results.read_text())
    data["model_name"] = EVIL
    results.write_text(json.dumps(data))
    return folder


@pytest.fixture
def evil_lm_eval(tmp_path: Path) -> Path:
    return write_evil_lm_eval(tmp_path / "evil")


def test_results_and_triage_print_no_escape_sequences(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, evil_lm_eval: Path
) -> None:
    db = str(tmp_path / "c.db")
    code, out, _ = run(capsys, "--db", db, "import", str(evil_lm_eval))
    assert code == 0
    for fmt in ("table", "csv", "latex"):
        code, out, _ = run(capsys, "--db", db, "results", "--format", fmt)
        assert code == 0
        assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
        assert "\u202e" not in out
        assert "evil\\x1b[2J" in out.replace("\\textbackslash{}", "\\")
    code, out, _ = run(capsys, "--db", db, "results", "--format", "json")
    assert "\x1b" not in out  # JSON escapes it, and keeps the name exact for programs
    assert json.loads(out)["sweeps"][0]["configs"][0]["config"] == EVIL
    now = time.time()
    with Store.open(db) as store:  # a failed run whose id and log line came from a host
        add_run(store, EVIL, RunState.FAILED, started=now - 60, ended=now - 30, code=1)
        add_run(store, EVIL + "2", RunState.SUCCEEDED, started=now - 60, ended=now - 30)
    code, out, _ = run(capsys, "--db", db, "triage", "--since", "1h")
    assert code == 0 and "evil" in out and "Failed (1)" in out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out


@pytest.mark.parametrize(
    ("name", "component"),
    [
        ("/abs/path", "_abs_path"),
        ("../x", "_x"),
        ("..", "_"),
        ("a/../../b", "a_.._.._b"),
        ("dir\x1b]0;t\x07", "dir_0_t_"),
        ("galore-doe", "galore-doe"),
    ],
)
def test_path_inside_keeps_names_from_data_in_their_folder(
    tmp_path: Path, name: str, component: str
) -> None:
    path = path_inside(tmp_path, name)
    assert path == tmp_path / component
    assert path.resolve().parent == tmp_path.resolve()


def test_path_inside_refuses_a_symlink_out(tmp_path: Path) -> None:
    os.symlink("/tmp", tmp_path / "sweep")
    with pytest.raises(ValidationError, match="outside"):
        path_inside(tmp_path, "sweep")
