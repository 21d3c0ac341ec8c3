"""`cockpit gpus` and `cockpit host trust` against a real sshd on loopback (fake NVML)."""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
from pathlib import Path

import pytest

from cockpit.cli.gpus import gpu_report
from cockpit.cli.main import main
from cockpit.models import Host
from tests.integration.test_gpu_remote import FAKE, options
from tests.sshd_server import SshdInstance, sshd  # noqa: F401
from tests.unit.test_gpu_sampler import nvml_scenario


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def report_args(**overrides: object) -> argparse.Namespace:
    values: dict[str, object] = {"json": True, "watch": None, "timeout": 15.0}
    values.update(overrides)
    return argparse.Namespace(**values)


@pytest.mark.sshd
async def test_gpus_json_reports_live_and_unreachable_hosts(
    sshd: SshdInstance,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hosts = [
        sshd.host("gpu-box"),
        Host(
            name="dead-box",
            address="127.0.0.1",
            port=free_port(),
            user=sshd.user,
            identity_file=str(sshd.user_key),
        ),
    ]
    code = await gpu_report(
        hosts, report_args(), options(tmp_path, nvml_scenario()), sshd.settings()
    )
    report = {h["host"]: h for h in json.loads(capsys.readouterr().out)}
    assert code == 1  # one host could not be reached
    live = report["gpu-box"]
    assert live["state"] == "live" and live["source"] == "nvml"
    assert live["driver_version"] == "550.54.15"
    assert [g["index"] for g in live["gpus"]] == [0, 1]
    first = live["gpus"][0]
    for key in (
        "name",
        "utilization_pct",
        "memory_used_mib",
        "memory_total_mib",
        "temperature_c",
        "power_w",
        "power_limit_w",
        "sm_clock_mhz",
        "pstate",
        "ecc_volatile_uncorrected",
        "mig_mode",
        "idle",
        "processes",
    ):
        assert key in first
    # The one-shot waits for the first process sample: the busy GPU lists its process.
    assert [p["pid"] for p in first["processes"]] == [os.getpid()]
    assert first["processes"][0]["used_memory_mib"] == 71000.0
    assert report["dead-box"]["state"] == "down"
    assert report["dead-box"]["reason"]

    code = await gpu_report(
        [sshd.host("gpu-box")],
        report_args(json=False),
        options(tmp_path, nvml_scenario()),
        sshd.settings(),
    )
    assert code == 0
    table = capsys.readouterr().out
    assert "gpu-box:0" in table and "gpu-box:1" in table


@pytest.mark.sshd
def test_host_trust_shows_the_fingerprint_and_writes_known_hosts(
    sshd: SshdInstance,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    db = str(tmp_path / "c.db")
    assert (
        main(
            [
                "--db",
                db,
                "host",
                "add",
                "box",
                "--ssh",
                f"{sshd.user}@127.0.0.1:{sshd.port}",
                "--identity",
                str(sshd.user_key),
            ]
        )
        == 0
    )
    capsys.readouterr()
    # No person and no fingerprint: refuse, and write nothing.
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["--db", db, "host", "trust", "box"]) == 2
    out, err = capsys.readouterr()
    assert "fingerprint SHA256:" in out and "--fingerprint" in err
    known = home / ".ssh" / "known_hosts"
    assert not known.exists()
    real = out.split("fingerprint ")[1].split()[0]
    # A wrong fingerprint is refused.
    assert main(["--db", db, "host", "trust", "box", "--fingerprint", "SHA256:bogus"]) == 2
    assert not known.exists()
    assert main(["--db", db, "host", "trust", "box", "--fingerprint", real]) == 0
    assert f"[127.0.0.1]:{sshd.port} ssh-ed25519" in known.read_text()
    assert oct(known.stat().st_mode & 0o777) == "0o600"


def test_gpus_without_hosts_or_with_unknown_host(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = str(tmp_path / "c.db")
    assert main(["--db", db, "gpus"]) == 2
    assert "no hosts" in capsys.readouterr().err
    assert main(["--db", db, "host", "add", "box", "--ssh", "box"]) == 0
    assert main(["--db", db, "gpus", "--host", "nope"]) == 2
    assert "unknown host" in capsys.readouterr().err


@pytest.mark.sshd
async def test_gpus_json_one_shot_lists_processes_on_the_nvidia_smi_path(
    sshd: SshdInstance,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    apps = f"GPU-5a8f1c3e-0b6d-4a1e-9f00-1d2c3b4a5e60, {os.getpid()}, 40960, python\n"
    opts = options(tmp_path, pythonpath=FAKE / "no_pynvml", smi_csv="a100x2.csv", apps=apps)
    code = await gpu_report([sshd.host("gpu-box")], report_args(), opts, sshd.settings())
    (host,) = json.loads(capsys.readouterr().out)
    assert code == 0 and host["source"] == "nvidia-smi"
    busy = [g for g in host["gpus"] if g["processes"]]
    assert len(busy) == 1
    assert [p["pid"] for p in busy[0]["processes"]] == [os.getpid()]
    assert busy[0]["processes"][0]["used_memory_mib"] == 40960
