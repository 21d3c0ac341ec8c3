"""A hostile (or unlucky) user of the run commands on a real local host: runs its host
refuses, runs that die with their wrapper, runs whose host was removed. Real processes;
each `cockpit` that once hung runs as a process with a timeout, so a regression fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.cli.main import main as cli
from cockpit.models import RunState
from cockpit.store import Store
from tests.integration.runs_helpers import WAIT_S
from tests.unit.test_bad_input import assert_one_line_error
from tests.unit.test_cli_hostile import cockpit_process

ROOT = Path(__file__).resolve().parents[2]
# More GPUs than any machine the tests run on has: the host refuses the run.
MORE_GPUS_THAN_ANY_HOST = "64"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "c.db"
    assert cli(["--db", str(path), "host", "add", "me", "--local"]) == 0
    return path


def test_a_run_its_host_refuses_is_said_not_just_listed(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cockpit run` printed the id and exit 0 for a run that had already failed: the
    host had fewer GPUs than asked (every run asks for 1 by default)."""
    capsys.readouterr()
    code = cli(
        ["--db", str(db), "run", "--host", "me", "--gpus", MORE_GPUS_THAN_ANY_HOST, "--", "true"]
    )
    out, err = capsys.readouterr()
    assert code == 1
    (run_id,) = out.split()
    assert err.count("\n") == 1 and f"run {run_id} did not start on me: needs 64 GPU(s)" in err
    with Store.open(db) as store:
        assert store.get_run(run_id).state is RunState.FAILED
    # Its log, followed, ends at once: nothing will ever be written (it waited forever).
    done = cockpit_process(db, "logs", run_id, "--follow")
    assert done.returncode == 1 and done.stdout == ""


def test_following_a_run_whose_wrapper_died_ends_with_exit_1(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lost run never writes its exit code, and the log said 'more to come' forever."""
    capsys.readouterr()
    assert (
        cli(
            [
                "--db",
                str(db),
                "run",
                "--host",
                "me",
                "--gpus",
                "0",
                "--json",
                "--",
                "sh",
                "-c",
                "echo started; exec sleep 300",
            ]
        )
        == 0
    )
    (launched,) = json.loads(capsys.readouterr().out)
    folder = Path(launched["remote_dir"])
    follow = subprocess.Popen(
        [sys.executable, "-m", "cockpit.cli", "--db", str(db), "logs", launched["id"], "-f"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline() == "started\n"  # following, the run alive
        wrapper_pid = int((folder / "pid").read_text().split()[0])
        run_group = int((folder / "pgid").read_text().split()[0])
        os.kill(wrapper_pid, signal.SIGKILL)  # the wrapper dies (OOM killer, kill -9)
        os.killpg(run_group, signal.SIGKILL)
        out, err = follow.communicate(timeout=WAIT_S)
    finally:
        if follow.poll() is None:
            follow.kill()
    assert follow.returncode == 1, err
    assert out == "" and "Traceback" not in err


def test_the_log_of_a_run_whose_host_was_removed_is_one_line(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert (
        cli(["--db", str(db), "run", "--host", "me", "--gpus", "0", "--name", "r", "--", "true"])
        == 0
    )
    assert cli(["--db", str(db), "logs", "r", "--follow"]) == 0  # (it ends with the run)
    assert cli(["--db", str(db), "host", "remove", "me"]) == 0
    assert cli(["--db", str(db), "llm", "add", "l", "--model", "openai/x"]) == 0
    capsys.readouterr()
    for argv in (
        ["logs", "r"],
        ["logs", "r", "-f"],
        ["llm", "explain", "r", "--llm", "l", "--dry-run"],
    ):
        code = cli(["--db", str(db), *argv])
        assert_one_line_error(code, capsys.readouterr().err, "no host named 'me'")
