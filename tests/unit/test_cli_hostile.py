"""A hostile user at the CLI: each case here once hung, ended in a traceback, printed a
10 kB error, wrote NaN into --json, or took bad input as a wish for the default.

Cases that used to hang run `cockpit` as a process with a timeout, so a regression fails
instead of holding the test run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cockpit.store import Store
from cockpit.sweep import SpecError, parse_spec_text
from tests.unit.test_bad_input import assert_one_line_error
from tests.unit.test_cli import run

ROOT = Path(__file__).resolve().parents[2]
HANG_LIMIT_S = 30


def cockpit_process(db: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`cockpit --db DB ARGV` as a user runs it; a hang fails the test."""
    return subprocess.run(
        [sys.executable, "-m", "cockpit.cli", "--db", str(db), *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG_LIMIT_S,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture
def db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A database with one local host, as `cockpit host add me --local` makes it."""
    path = tmp_path / "c.db"
    assert run(capsys, "--db", str(path), "host", "add", "me", "--local")[0] == 0
    return path


# -- what used to hang ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["gpus", "--watch", "nan"], "--watch"),  # NaN > 0 is False: it slept forever
        (["gpus", "--watch", "inf"], "--watch"),
        (["gpus", "--timeout", "-1"], "--timeout"),
        (["gpus", "--timeout", "nan"], "--timeout"),
    ],
)
def test_gpus_waits_that_never_end_are_refused(db: Path, argv: list[str], needle: str) -> None:
    done = cockpit_process(db, *argv)
    assert_one_line_error(done.returncode, done.stderr, needle)


def test_files_that_are_fifos_are_refused_not_read(db: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for argv in (
        ["launch", str(fifo), "--dry-run"],
        ["ideas", "import", str(fifo)],
        ["ideas", "generate", "--llm", "x", "--context", str(fifo), "--dry-run"],
    ):
        done = cockpit_process(db, *argv)
        assert_one_line_error(done.returncode, done.stderr, "not a regular file")


def test_an_ssh_config_that_includes_a_fifo_is_read_without_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    config = tmp_path / "config"
    config.write_text(f"Include {fifo}\nHost box\n  HostName 10.0.0.7\n")
    done = cockpit_process(tmp_path / "c.db", "host", "import-ssh-config", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "added box" in done.stdout


def test_a_sweep_of_a_million_runs_is_refused_at_once(db: Path, tmp_path: Path) -> None:
    spec = tmp_path / "big.toml"
    factors = "".join(f"f{i} = [0, 1]\n" for i in range(20))
    spec.write_text(f'name = "big"\ncommand = "echo"\ngpus = 0\n[factors]\n{factors}')
    done = cockpit_process(db, "launch", str(spec), "--dry-run")
    assert_one_line_error(done.returncode, done.stderr, "1048576 runs")


# -- sweep specs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "thresholds",
    [
        'acc = { max_drop = "a" }',
        "acc = { max_drop = nan }",
        "acc = { min = inf }",
        "acc = { max_dorp = 0.1 }",
        "acc = { max = true }",
    ],
)
def test_spec_thresholds_are_checked_as_results_reads_them(thresholds: str) -> None:
    text = f'name = "s"\ncommand = "echo"\n[thresholds]\n{thresholds}\n'
    with pytest.raises(SpecError, match=r"^spec\.toml: thresholds\.acc: "):
        parse_spec_text(text, "spec.toml")


def test_spec_thresholds_people_write_are_kept() -> None:
    text = 'name = "s"\ncommand = "echo"\n[thresholds]\nacc = { max_drop = 0.05, min = 0 }\n'
    assert parse_spec_text(text, "s.toml").thresholds == {"acc": {"max_drop": 0.05, "min": 0}}


def test_a_bad_threshold_stored_before_is_one_line_in_every_results_view(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database written before specs were checked: results and the paper check say
    what is wrong in one line (the paper check ended in a traceback)."""
    db = tmp_path / "c.db"
    source = str(ROOT / "tests" / "data" / "formats" / "lm-eval-asdiv")
    assert run(capsys, "--db", str(db), "import", source, "--sweep", "old")[0] == 0
    with Store.open(db) as store:
        (sweep,) = store.list_sweeps()
        store.upsert_sweep(dataclasses.replace(sweep, thresholds={"*": {"max_drop": "a"}}))
    draft = tmp_path / "main.tex"
    draft.write_text("\\section{Results}\nWe reach 0.43 accuracy.\n")
    for argv in (["results"], ["paper", "check", str(draft)]):
        code, _, err = run(capsys, "--db", str(db), *argv)
        assert_one_line_error(code, err, "sweep old")
        assert "Traceback" not in err


# -- `cockpit run`: empty and out-of-range values ---------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--gpus", "99999"),
        ("--name", ""),
        ("--time-limit", ""),
        ("--workdir", ""),
        ("--env", "é=1"),
        ("--proposed-by", ""),
    ],
)
def test_run_refuses_empty_and_out_of_range_values(
    db: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    code, out, err = run(
        capsys, "--db", str(db), "run", "--host", "me", flag, value, "--dry-run", "--", "true"
    )
    assert_one_line_error(code, err, flag)
    assert out == ""


def test_an_empty_proposed_by_is_no_way_round_the_confirmation(
    db: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text('name = "s"\ncommand = "echo"\ngpus = 0\n')
    code, _, err = run(capsys, "--db", str(db), "launch", str(spec), "--proposed-by", "")
    assert_one_line_error(code, err, "--proposed-by")
    with Store.open(db) as store:
        assert store.list_runs() == [] and store.list_commands() == []


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--time-limit", "x" * 10_000], "--time-limit"),
        (["--env", "x" * 10_000], "--env"),
    ],
)
def test_a_huge_value_is_quoted_short(
    db: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code, _, err = run(
        capsys, "--db", str(db), "run", "--host", "me", *argv, "--dry-run", "--", "true"
    )
    assert_one_line_error(code, err, needle, "(10000 chars)")
    assert len(err) < 300


@pytest.mark.parametrize(
    "argv",
    [
        ["ideas", "add", "i", "--title", "t", "--feasibility", "x" * 10_000],
        ["results", "--direction", "x" * 10_000 + "=lower"],
        ["llm", "add", "l", "--model", "a/b", "--budget", "x" * 10_000],
    ],
)
def test_huge_values_of_other_fields_are_quoted_short(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, _, err = run(capsys, "--db", str(tmp_path / "c.db"), *argv)
    assert_one_line_error(code, err, "(10000 chars)")
    assert len(err) < 300


# -- confirm, reject, queue ------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["confirm", "reject"])
@pytest.mark.parametrize("number", ["99999999999999999999999999", "0", "-1"])
def test_confirm_or_reject_of_a_number_no_command_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: str, number: str
) -> None:
    code, _, err = run(capsys, "--db", str(tmp_path / "c.db"), verb, number)
    assert_one_line_error(code, err, f"no command #{number}")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--to", "0"], "--move RUN and --to"),  # --to alone listed the queue, exit 0
        (["--move", "r"], "--move RUN and --to"),
        (["--drop", "r", "--move", "r", "--to", "1"], "not both"),
        (["--move", "r", "--to", "-1"], "invalid --to -1"),
    ],
)
def test_queue_options_that_do_not_go_together(
    db: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code, _, err = run(capsys, "--db", str(db), "queue", "me", *argv)
    assert_one_line_error(code, err, needle)


# -- --since, budgets, paths -----------------------------------------------------------------


def test_since_far_in_the_past_means_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "c.db")
    code, out, err = run(capsys, "--db", db, "triage", "--since", "99999999999999d", "--peek")
    assert code == 0 and "Traceback" not in err, err  # (time.localtime overflowed)
    code, out, _ = run(capsys, "--db", db, "llm", "usage", "--since", "99999999999999d", "--json")
    assert code == 0 and json.loads(out)["since"] == 0


def test_empty_values_are_mistakes_not_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty path was the working folder: `import ''` imported what lay there and
    `export --out ''` wrote into it; an empty --since counted every call."""
    work = tmp_path / "work"
    shutil.copytree(ROOT / "tests" / "data" / "formats" / "lm-eval-asdiv", work)
    monkeypatch.chdir(work)
    before = sorted(p.name for p in work.iterdir())
    db = str(tmp_path / "c.db")
    assert run(capsys, "--db", db, "import", str(work), "--sweep", "s")[0] == 0
    for argv, needle in (
        (["llm", "usage", "--since", ""], "--since"),
        (["import", ""], "empty"),
        (["export", "--sweep", "s", "--out", ""], "--out"),
    ):
        code, _, err = run(capsys, "--db", db, *argv)
        assert_one_line_error(code, err, needle)
    assert sorted(p.name for p in work.iterdir()) == before


def test_a_budget_that_is_no_number_is_quoted_as_typed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "c.db")
    assert run(capsys, "--db", db, "llm", "add", "l", "--model", "openai/x")[0] == 0
    code, _, err = run(capsys, "--db", db, "llm", "budget", "l", "abc")
    assert_one_line_error(code, err, "'abc'")  # (it said "invalid --budget nan")


# -- ideas ------------------------------------------------------------------------------------


def test_ideas_json_nested_too_deeply_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = tmp_path / "ideas.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = run(capsys, "--db", str(tmp_path / "c.db"), "ideas", "import", str(deep))
    assert_one_line_error(code, err, "nested too deeply")


def test_ideas_json_output_is_json_when_the_file_had_nan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Python's json reads and writes NaN and Infinity; strict parsers (jq, JSON.parse)
    refuse them, so --json says null (as `ideas export` already wrote them)."""
    db = str(tmp_path / "c.db")
    ideas = tmp_path / "ideas.json"
    ideas.write_text(
        '[{"Name": "n", "Title": "t", "Experiment": "e", "Interestingness": NaN, '
        '"Feasibility": Infinity, "Novelty": 3}]'
    )
    assert run(capsys, "--db", db, "ideas", "import", str(ideas))[0] == 0

    def strict(text: str) -> object:
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in --json"))

    for argv in (["ideas", "show", "n", "--json"], ["ideas", "list", "--json"]):
        code, out, _ = run(capsys, "--db", db, *argv)
        assert code == 0
        shown = strict(out)
        record = shown if isinstance(shown, dict) else shown[0]
        assert record["fields"]["Interestingness"] is None
        assert record["fields"]["Novelty"] == 3


# -- export ---------------------------------------------------------------------------------


def test_export_draws_escapes_from_imported_values_as_text(tmp_path: Path) -> None:
    """An ESC in an imported parameter reached the figure, and matplotlib's warning about
    the glyph it lacks printed it raw to the terminal."""
    mlruns = tmp_path / "mlruns"
    shutil.copytree(ROOT / "tests" / "data" / "formats" / "mlflow-mlruns", mlruns)
    alpha = sorted(mlruns.glob("0/*/params/alpha"))[0]
    alpha.write_text("0.5\x1b[2J")
    db = tmp_path / "c.db"
    done = cockpit_process(db, "import", str(mlruns), "--sweep", "esc")
    assert done.returncode == 0, done.stderr
    done = cockpit_process(db, "export", "--sweep", "esc", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout + done.stderr
    assert any((tmp_path / "out").glob("*.pdf"))


# -- --json is one JSON document, whatever else was asked --------------------------------------


def test_llm_default_with_json_prints_json_after_a_change_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "c.db")
    assert run(capsys, "--db", db, "llm", "add", "l", "--model", "openai/x")[0] == 0
    code, out, _ = run(capsys, "--db", db, "llm", "default", "l", "--pane", "ideas", "--json")
    assert code == 0 and json.loads(out) == {"ideas": "l"}
    code, out, _ = run(capsys, "--db", db, "llm", "default", "--clear", "--pane", "ideas", "--json")
    assert code == 0 and json.loads(out) == {}
    # NAME with --clear: which one was meant? (NAME was ignored, even an unknown one)
    code, _, err = run(capsys, "--db", db, "llm", "default", "nope", "--clear")
    assert_one_line_error(code, err, "not both")


def test_a_proposal_with_json_prints_the_command_as_json(
    db: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An agent passing --json got a sentence; it needs the command's id to wait on."""
    spec = tmp_path / "s.toml"
    spec.write_text('name = "s"\ncommand = "echo {a}"\ngpus = 0\n[factors]\na = [1, 2]\n')
    agent = ["--json", "--proposed-by", "agent"]
    for argv in (
        ["run", "--host", "me", "--gpus", "0", *agent, "--", "true"],
        ["launch", str(spec), *agent],
    ):
        code, out, _ = run(capsys, "--db", str(db), *argv)
        assert code == 0
        (proposal,) = json.loads(out)
        assert proposal["status"] == "needs-confirm" and proposal["proposed_by"] == "agent"
        with Store.open(db) as store:
            assert store.get_command(proposal["command"]).kind == "run.launch"
            assert store.list_runs() == []  # nothing ran


def test_a_dry_run_with_json_prints_the_estimate_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "c.db")
    context = tmp_path / "context.md"
    context.write_text("We study learning-rate warmup for small transformers.\n")
    draft = tmp_path / "main.tex"
    draft.write_text("\\section{Intro}\nWe reach 0.43 accuracy.\n")
    assert run(capsys, "--db", db, "llm", "add", "l", "--model", "openai/gpt-4o-mini")[0] == 0
    assert run(capsys, "--db", db, "paper", "add", "d", str(draft))[0] == 0
    for argv in (
        ["ideas", "generate", "--llm", "l", "--context", str(context), "--n", "1"],
        ["paper", "review", "d", "--llm", "l", "--n", "1"],
    ):
        code, out, err = run(capsys, "--db", db, *argv, "--dry-run", "--json")
        assert code == 0 and "estimate:" in err
        estimate = json.loads(out)  # (stdout was empty)
        assert estimate["dry_run"] is True and estimate["calls"] >= 1
        assert estimate["prompt_tokens"] > 0


# -- hosts ------------------------------------------------------------------------------------


def test_host_gpus_past_sqlite_integers_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "c.db")
    code, _, err = run(capsys, "--db", db, "host", "add", "h", "--local", "--gpus", "9" * 30)
    assert_one_line_error(code, err, "--gpus")  # (an OverflowError traceback)
    assert run(capsys, "--db", db, "host", "list", "--json")[1].strip() == "[]"


def test_a_malformed_fingerprint_is_refused_before_the_host_is_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "c.db")
    # (port 1 refuses: asked first, the user heard "connection refused" and exit 1)
    assert run(capsys, "--db", db, "host", "add", "h", "--ssh", "u@127.0.0.1:1")[0] == 0
    code, _, err = run(capsys, "--db", db, "host", "trust", "h", "--fingerprint", "garbage")
    assert_one_line_error(code, err, "--fingerprint")


def test_a_failed_llm_command_with_json_prints_its_error_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ideas generate --json` printed {command, status, error} when the model failed;
    summarize and review printed nothing on stdout."""
    monkeypatch.delenv("COCKPIT_TEST_UNSET_KEY", raising=False)
    db = str(tmp_path / "c.db")
    draft = tmp_path / "main.tex"
    draft.write_text("\\section{Intro}\nWe reach 0.43 accuracy.\n")
    source = str(ROOT / "tests" / "data" / "formats" / "lm-eval-asdiv")
    for argv in (
        [
            "llm",
            "add",
            "l",
            "--model",
            "openai/gpt-4o-mini",
            "--api-key-env",
            "COCKPIT_TEST_UNSET_KEY",
        ],
        ["paper", "add", "d", str(draft)],
        ["import", source, "--sweep", "s"],
    ):
        assert run(capsys, "--db", db, *argv)[0] == 0
    for argv in (
        ["llm", "summarize", "--sweep", "s", "--llm", "l"],
        ["paper", "review", "d", "--llm", "l", "--n", "1"],
    ):
        code, out, err = run(capsys, "--db", db, *argv, "--json")
        assert code == 1 and "COCKPIT_TEST_UNSET_KEY" in err
        failed = json.loads(out)
        assert failed["status"] == "failed" and "COCKPIT_TEST_UNSET_KEY" in failed["error"]
        assert isinstance(failed["command"], int)


@pytest.mark.parametrize("accept", ["1,x", "0", ""])
def test_paper_edit_checks_accept_before_the_model_is_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, accept: str
) -> None:
    """--accept was read after the (paid) answer came back: a typo cost a call."""
    monkeypatch.delenv("COCKPIT_TEST_UNSET_KEY", raising=False)
    db = str(tmp_path / "c.db")
    draft = tmp_path / "main.tex"
    draft.write_text("\\section{Intro}\nWe reach 0.43 accuracy.\n")
    key = ["--api-key-env", "COCKPIT_TEST_UNSET_KEY"]
    assert run(capsys, "--db", db, "llm", "add", "l", "--model", "openai/gpt-4o-mini", *key)[0] == 0
    assert run(capsys, "--db", db, "paper", "add", "d", str(draft))[0] == 0
    argv = ["paper", "edit", "d", "--section", "Intro", "--llm", "l", "--accept", accept]
    code, _, err = run(capsys, "--db", db, *argv)
    assert_one_line_error(code, err, "--accept")
    with Store.open(db) as store:
        assert store.list_commands() == []  # nothing was sent


# -- the cockpit itself ---------------------------------------------------------------------


def cockpit_in_a_terminal(db: Path, *argv: str) -> tuple[int | None, str]:
    """`cockpit --db DB ARGV` in a pseudo-terminal: its exit code (None: it was still
    running after a few seconds, the app open) and what it wrote."""
    import pty
    import select

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cockpit.cli", "--db", str(db), *argv],
        cwd=ROOT,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color"},
        start_new_session=True,
    )
    os.close(slave)
    out = b""
    deadline = time.monotonic() + HANG_LIMIT_S  # (the app, once open, draws on and on)
    try:
        while time.monotonic() < deadline and select.select([master], [], [], 5)[0]:
            try:
                data = os.read(master, 65536)
            except OSError:  # the process ended and closed the terminal
                break
            if not data:
                break
            out += data
        code = proc.wait(timeout=5) if proc.poll() is None else proc.returncode
    except subprocess.TimeoutExpired:
        code = None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, out.decode("utf-8", "replace")


def test_demo_reset_keeps_a_database_that_holds_more_than_the_demo(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cockpit --db MY.db demo --reset` deleted MY.db, hosts and all."""
    before = db.read_bytes()
    code, out = cockpit_in_a_terminal(db, "demo", "--reset")
    assert code == 2 and "holds more than the demo" in out
    assert db.read_bytes() == before


@pytest.mark.parametrize("argv", [[], ["demo"]])
def test_the_cockpit_without_a_terminal_says_so(tmp_path: Path, argv: list[str]) -> None:
    """It ran on, drawing escape codes into the pipe and waiting for keys."""
    done = subprocess.run(
        [sys.executable, "-m", "cockpit.cli", "--db", str(tmp_path / "c.db"), *argv],
        cwd=ROOT,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=HANG_LIMIT_S,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert_one_line_error(done.returncode, done.stderr, "terminal")
    assert "\x1b" not in done.stdout + done.stderr
