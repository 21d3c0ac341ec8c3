"""`cockpit …` subcommands: happy paths; bad input exits 2 in one line and changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cockpit.cli.main import main
from cockpit.store import Store
from cockpit.validate import parse_ssh_target

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own exits (--help, --version, usage errors)
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str) -> None:
    assert code == 2
    assert err.startswith("cockpit") and "error:" in err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cockpit.db"


def hosts_json(capsys: pytest.CaptureFixture[str], db: Path) -> list[dict[str, object]]:
    code, out, _ = run(capsys, "--db", str(db), "host", "list", "--json")
    assert code == 0
    return list(json.loads(out))


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("cockpit ")
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for sub in ("demo", "host", "llm"):
        assert sub in out


def test_host_add_list_remove(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    code, out, _ = run(
        capsys,
        "--db",
        str(db),
        "host",
        "add",
        "gpubox",
        "--ssh",
        "alice@10.1.2.3:2222",
        "--label",
        "a100",
        "--read-only",
    )
    assert code == 0 and "gpubox" in out
    code, _, _ = run(
        capsys,
        "--db",
        str(db),
        "host",
        "add",
        "login",
        "--slurm",
        "bob@login.hpc",
        "--jump",
        "bastion",
    )
    assert code == 0
    hosts = {h["name"]: h for h in hosts_json(capsys, db)}
    assert hosts["gpubox"]["user"] == "alice"
    assert hosts["gpubox"]["port"] == 2222
    assert hosts["gpubox"]["read_only"] is True
    assert hosts["login"]["kind"] == "slurm" and hosts["login"]["jump"] == "bastion"
    code, out, _ = run(capsys, "--db", str(db), "host", "list")
    assert "alice@10.1.2.3:2222" in out and "read-only" in out
    code, _, _ = run(capsys, "--db", str(db), "host", "remove", "gpubox")
    assert code == 0
    assert [h["name"] for h in hosts_json(capsys, db)] == ["login"]


@pytest.mark.parametrize(
    "argv",
    [
        ("host", "add", "gpubox", "--ssh", "a@b"),  # duplicate name
        ("host", "remove", "nosuchhost"),
        ("host", "add", "x", "--ssh", "a@b:99999"),
        ("host", "add", "x", "--ssh", "a@b", "--port", "http"),
        ("host", "add", "x", "--ssh", "a@b;rm -rf ~"),
        ("host", "add", "x", "--ssh", "$(reboot)@b"),
        ("host", "add", "bad name", "--ssh", "a@b"),
        ("host", "add", "x"),  # no target
        ("host", "frobnicate"),
        ("llm", "add", "m", "--model", "openai/gpt-4o", "--api-key-env", "sk-live-123"),
        ("llm", "add", "m", "--model", "openai/gpt-4o", "--api-base", "file:///etc/passwd"),
        ("llm", "add", "m", "--model", "openai/gpt-4o", "--budget", "-3"),
        ("llm", "remove", "nosuch"),
        ("demo", "--replay-seconds", "0"),
        ("demo", "--replay-seconds", "nan"),
    ],
)
def test_bad_input_exits_2_in_one_line_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], db: Path, argv: tuple[str, ...]
) -> None:
    assert run(capsys, "--db", str(db), "host", "add", "gpubox", "--ssh", "alice@10.0.0.5")[0] == 0
    before = db.read_bytes()
    hosts_before = hosts_json(capsys, db)
    code, _, err = run(capsys, "--db", str(db), *argv)
    assert_one_line_error(code, err)
    assert hosts_json(capsys, db) == hosts_before
    with Store.open(db) as store:
        assert store.list_llm_backends() == []
    assert len(db.read_bytes()) == len(before)


def test_not_a_database_and_unusable_paths(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n" * 100)
    code, _, err = run(capsys, "--db", str(notes), "host", "list")
    assert_one_line_error(code, err)
    assert "not a cockpit database" in err
    assert notes.read_text() == "my notes\n" * 100
    for path in (tmp_path, tmp_path / "missing" / "x.db"):
        code, _, err = run(capsys, "--db", str(path), "host", "list")
        assert_one_line_error(code, err)


def test_llm_backends_store_the_env_var_name_never_a_key(
    capsys: pytest.CaptureFixture[str], db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_LLM_KEY", "sk-secret-value")
    code, _, _ = run(
        capsys,
        "--db",
        str(db),
        "llm",
        "add",
        "qwen-box",
        "--model",
        "openai/qwen",
        "--api-base",
        "http://127.0.0.1:8000/v1",
        "--api-key-env",
        "MY_LLM_KEY",
        "--budget",
        "5",
    )
    assert code == 0
    code, out, _ = run(capsys, "--db", str(db), "llm", "list")
    assert "qwen-box" in out and "$MY_LLM_KEY" in out and "5.00" in out
    assert b"sk-secret-value" not in db.read_bytes()
    code, _, err = run(capsys, "--db", str(db), "llm", "add", "qwen-box", "--model", "x/y")
    assert_one_line_error(code, err)
    assert run(capsys, "--db", str(db), "llm", "remove", "qwen-box")[0] == 0
    code, out, _ = run(capsys, "--db", str(db), "llm", "list", "--json")
    assert json.loads(out) == []


def test_default_db_lives_in_the_user_data_dir(
    capsys: pytest.CaptureFixture[str], isolated_data_dir: Path
) -> None:
    assert run(capsys, "host", "add", "box", "--ssh", "box.lab")[0] == 0
    assert (isolated_data_dir / "lab-cockpit" / "cockpit.db").is_file()
    assert not (isolated_data_dir / "lab-cockpit" / "demo.db").exists()


def test_import_ssh_config(capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host *\n  ServerAliveInterval 30\n\n"
        "Host gpu1 gpu1-alias\n  HostName 10.0.0.11\n  User alice\n  Port 2201\n"
        "  IdentityFile ~/.ssh/id_lab\n\n"
        "Host inner\n  HostName 192.168.5.5\n  ProxyJump gpu1\n\n"
        "Host *.example.org\n  User nobody\n"
    )
    code, out, _ = run(
        capsys, "--db", str(db), "host", "import-ssh-config", "--config", str(config), "--dry-run"
    )
    assert code == 0 and "would add gpu1" in out
    assert hosts_json(capsys, db) == []
    code, out, _ = run(
        capsys, "--db", str(db), "host", "import-ssh-config", "--config", str(config)
    )
    assert code == 0
    hosts = {h["name"]: h for h in hosts_json(capsys, db)}
    assert set(hosts) == {"gpu1", "gpu1-alias", "inner"}  # wildcard patterns are not hosts
    assert hosts["gpu1"]["user"] == "alice" and hosts["gpu1"]["port"] == 2201
    assert hosts["inner"]["jump"] == "gpu1"
    # Running it again adds nothing and says so.
    code, out, _ = run(
        capsys, "--db", str(db), "host", "import-ssh-config", "--config", str(config)
    )
    assert code == 0 and "skipped" in out
    code, _, err = run(
        capsys, "--db", str(db), "host", "import-ssh-config", "--config", str(tmp_path / "nope")
    )
    assert_one_line_error(code, err)


def test_ssh_target_parsing() -> None:
    assert parse_ssh_target("alice@10.0.0.5:2222") == ("alice", "10.0.0.5", 2222)
    assert parse_ssh_target("gpubox") == (None, "gpubox", None)
    assert parse_ssh_target("root@[::1]:22") == ("root", "::1", 22)


def test_console_script_reports_errors_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"\x00garbage" * 100)
    proc = subprocess.run(
        [sys.executable, "-m", "cockpit.cli", "--db", str(bad), "host", "list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
