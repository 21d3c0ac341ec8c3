"""Bad input and odd files: one line on stderr, exit 2, nothing changed, no traceback.

Every case here once ended in a traceback, hung, or changed a file it must not touch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cockpit.models import Host, HostKind
from cockpit.store import APPLICATION_ID, SCHEMA_VERSION, Store, StoreError
from tests.unit.test_cli import run

ROOT = Path(__file__).resolve().parents[2]
FORMATS = ROOT / "tests" / "data" / "formats"


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert err.startswith("cockpit") and "error:" in err, err
    assert err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def foreign_db(path: Path, *tables: str) -> Path:
    conn = sqlite3.connect(path)
    for table in tables:
        conn.execute(f"CREATE TABLE {table} (x TEXT)")
        conn.execute(f"INSERT INTO {table} VALUES ('theirs')")
    conn.commit()
    conn.close()
    return path


# -- tracebacks ---------------------------------------------------------------------------


def test_empty_slurm_target_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    code, _, err = run(capsys, "--db", str(db), "host", "add", "h", "--slurm", "")
    assert_one_line_error(code, err, "address")
    code, out, _ = run(capsys, "--db", str(db), "host", "list", "--json")
    assert code == 0 and out.strip() == "[]"


@pytest.mark.parametrize("kind", ["dev-null", "fifo", "socket"])
def test_import_of_neither_file_nor_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    if kind == "dev-null":
        path = Path("/dev/null")
    elif kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    else:
        import socket

        path = tmp_path / "s.sock"
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    db = tmp_path / "c.db"
    code, _, err = run(capsys, "--db", str(db), "import", str(path))
    assert_one_line_error(code, err, "not a file or a folder")
    assert not db.exists()


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN"])
def test_results_with_non_finite_seed_values(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, value: str
) -> None:
    """An AI-Scientist run whose seeds hold Infinity/NaN: every format prints, none crashes."""
    for run_name, seed0 in (("run_0", "1.0"), ("run_1", value)):
        folder = tmp_path / "exp" / run_name
        folder.mkdir(parents=True)
        # json.dumps cannot write these literals; Python's json module reads them back.
        block = f'"means": {{"loss_mean": {seed0}, "kl_mean": 1.0}}'
        seeds = f'"final_info_dict": {{"loss": [{seed0}, 1.0, 2.0], "kl": [1.0, 1.5, 2.0]}}'
        (folder / "final_info.json").write_text(f'{{"circle": {{{block}, {seeds}}}}}')
    db = str(tmp_path / "c.db")
    assert run(capsys, "--db", db, "import", str(tmp_path / "exp"))[0] == 0
    for fmt in ("table", "csv", "json", "latex"):
        code, out, err = run(capsys, "--db", db, "results", "--format", fmt)
        assert code == 0, err
        assert "run_1" in out.replace("\\_", "_")


def test_export_to_a_folder_that_cannot_be_made(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = str(tmp_path / "c.db")
    assert run(capsys, "--db", db, "import", str(FORMATS / "lm-eval-asdiv"))[0] == 0
    code, out, _ = run(capsys, "--db", db, "results", "--format", "json")
    sweep = json.loads(out)["sweeps"][0]["sweep"]
    for out_dir in ("/proc/cockpit-export", "/proc/self/cockpit-export"):
        code, _, err = run(capsys, "--db", db, "export", "--sweep", sweep, "--out", out_dir)
        assert_one_line_error(code, err, "--out", "cannot write")


def test_export_of_an_unknown_sweep_leaves_no_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_dir = tmp_path / "out"
    code, _, err = run(
        capsys, "--db", str(tmp_path / "c.db"), "export", "--sweep", "nope", "--out", str(out_dir)
    )
    assert_one_line_error(code, err, "nope")
    assert not out_dir.exists()


# -- the store refuses what is not its own ------------------------------------------------


def test_fifo_as_db_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "db.fifo"
    os.mkfifo(fifo)
    # In a child with a timeout: a hang must fail the test, not stall the suite.
    proc = subprocess.run(
        [sys.executable, "-m", "cockpit.cli", "--db", str(fifo), "host", "list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert_one_line_error(proc.returncode, proc.stderr, "not a regular file")


def test_device_as_db_is_refused() -> None:
    with pytest.raises(StoreError, match="not a regular file"):
        Store.open("/dev/null")


@pytest.mark.parametrize("tables", [("hosts",), ("notes", "hosts"), ("notes",)])
def test_another_applications_db_is_left_untouched(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tables: tuple[str, ...]
) -> None:
    db = foreign_db(tmp_path / "theirs.db", *tables)
    before = digest(db)
    code, _, err = run(capsys, "--db", str(db), "host", "list")
    assert_one_line_error(code, err, "another application", "not a cockpit database")
    assert digest(db) == before
    assert not Path(f"{db}-wal").exists()


def test_db_marked_by_another_application_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "marked.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA application_id = 7")
    conn.commit()
    conn.close()
    before = digest(db)
    with pytest.raises(StoreError, match="another application"):
        Store.open(db)
    assert digest(db) == before


def test_empty_file_becomes_a_marked_cockpit_db(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    db.touch()
    with Store.open(db) as store:
        assert store.schema_version == SCHEMA_VERSION
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()


def test_unmarked_cockpit_db_from_before_the_mark_opens_and_gets_marked(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with Store.open(db) as store:
        store.add_host(Host(name="h", kind=HostKind.LOCAL))
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA application_id = 0")
    conn.commit()
    conn.close()
    with Store.open(db) as store:
        assert [h.name for h in store.list_hosts()] == ["h"]
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()


# -- a database the user may read but not write --------------------------------------------


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder another user can enter (pytest's tmp_path is private to its owner)."""
    path = Path(tempfile.mkdtemp(prefix="cockpit-ro-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        path.chmod(0o755)
        shutil.rmtree(path, ignore_errors=True)


def as_reader(*argv: str) -> subprocess.CompletedProcess[str]:
    """The CLI run by a user who may read but not write: ourselves, or `nobody` under root
    (root writes through any permission bits, so it could not show the case)."""
    cmd = [sys.executable, "-m", "cockpit.cli", *argv]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    env = {**os.environ, "HOME": "/tmp", "XDG_DATA_HOME": "/tmp/cockpit-ro-nobody-data"}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.parametrize("folder_writable", [True, False])
def test_read_only_db_reads_and_refuses_writes_in_one_line(
    capsys: pytest.CaptureFixture[str], shared_dir: Path, folder_writable: bool
) -> None:
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.fail("running as root needs setpriv (util-linux) to test as another user")
    db = shared_dir / "c.db"
    assert run(capsys, "--db", str(db), "host", "add", "gpubox", "--ssh", "a@10.0.0.1")[0] == 0
    assert run(capsys, "--db", str(db), "import", str(FORMATS / "lm-eval-asdiv"))[0] == 0
    db.chmod(0o444)
    if not folder_writable:
        shared_dir.chmod(0o555)
    before = digest(db)

    listed = as_reader("--db", str(db), "host", "list")
    assert listed.returncode == 0, listed.stderr
    assert "gpubox" in listed.stdout
    results = as_reader("--db", str(db), "results")
    assert results.returncode == 0, results.stderr
    assert "asdiv/acc" in results.stdout
    peek = as_reader("--db", str(db), "triage", "--peek")
    assert peek.returncode == 0 and peek.stdout.strip(), peek.stderr
    triage = as_reader("--db", str(db), "triage")
    assert triage.returncode == 0 and triage.stdout.strip(), triage.stderr
    assert "read-only database" in triage.stderr and "Traceback" not in triage.stderr

    for argv in (("host", "add", "x", "--local"), ("host", "remove", "gpubox")):
        refused = as_reader("--db", str(db), *argv)
        assert_one_line_error(refused.returncode, refused.stderr, "read-only database")
    assert digest(db) == before


# -- one validation per field, from every entry point --------------------------------------


@pytest.mark.parametrize(
    "identity", ["", "$(touch /tmp/pwned)", "-oProxyCommand=sh", "`id`", "a;b", "k\x1b[2J"]
)
def test_identity_is_validated(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, identity: str
) -> None:
    db = tmp_path / "c.db"
    code, _, err = run(
        capsys, "--db", str(db), "host", "add", "h", "--ssh", "a@x.org", "--identity", identity
    )
    assert_one_line_error(code, err, "--identity")
    assert "\x1b" not in err
    assert not db.exists()


def test_identity_paths_people_use_are_kept(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = str(tmp_path / "c.db")
    for name, key in (("a", "~/.ssh/id_ed25519"), ("b", "/home/me/My Keys/id_rsa")):
        assert (
            run(capsys, "--db", db, "host", "add", name, "--ssh", "x.org", "--identity", key)[0]
            == 0
        )
    _, out, _ = run(capsys, "--db", db, "host", "list", "--json")
    assert [h["identity_file"] for h in json.loads(out)] == [
        "~/.ssh/id_ed25519",
        "/home/me/My Keys/id_rsa",
    ]


@pytest.mark.parametrize(
    "model", ['gpt"4', "gpt\u202e4o", "x" * 100_000, "a;b", "a b", "", "'quoted'"]
)
def test_llm_model_is_validated_and_a_huge_value_is_echoed_short(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, model: str
) -> None:
    db = tmp_path / "c.db"
    code, _, err = run(capsys, "--db", str(db), "llm", "add", "m", "--model", model)
    assert_one_line_error(code, err, "--model")
    assert len(err) < 300 and "\u202e" not in err
    assert not db.exists()


@pytest.mark.parametrize(
    "model", ["openai/gpt-4o-mini", "ollama/llama3:8b", "bedrock/anthropic.claude-v2:1"]
)
def test_llm_models_people_use_are_accepted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, model: str
) -> None:
    assert run(capsys, "--db", str(tmp_path / "c.db"), "llm", "add", "m", "--model", model)[0] == 0


def test_ssh_config_import_checks_each_field_as_host_add_does(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host good\n  HostName 10.0.0.1\n  Port 2222\n  User alice\n"
        "Host badport\n  HostName 10.0.0.2\n  Port 99999\n"
        "Host badkey\n  HostName 10.0.0.3\n  IdentityFile -oProxyCommand=sh\n"
        "Host baduser\n  HostName 10.0.0.4\n  User $(id)\n"
        "Host hops\n  HostName 10.0.0.5\n  ProxyJump a@jump1:2200,jump2\n"
    )
    db = str(tmp_path / "c.db")
    code, out, _ = run(capsys, "--db", db, "host", "import-ssh-config", "--config", str(config))
    assert code == 0
    assert "skipped 'badport' (invalid port" in out
    assert "skipped 'badkey' (invalid --identity" in out
    assert "skipped 'baduser' (invalid user" in out
    code, out, _ = run(capsys, "--db", db, "host", "list", "--json")
    hosts = {h["name"]: h for h in json.loads(out)}
    assert set(hosts) == {"good", "hops"}
    assert hosts["good"]["port"] == 2222 and hosts["hops"]["jump"] == "a@jump1:2200,jump2"
    # host add refuses what the import refused.
    code, _, err = run(capsys, "--db", db, "host", "add", "p", "--ssh", "x.org", "--port", "99999")
    assert_one_line_error(code, err, "port")
