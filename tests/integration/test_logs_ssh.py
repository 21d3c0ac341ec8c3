"""`cockpit logs --follow` over a real loopback sshd while its SSH sessions are killed.

The run is a script writing a log in phases (multi-byte UTF-8, tqdm bars redrawn with \\r,
ANSI colours, a last line with no newline); between phases the test kills every sshd
session serving the cockpit, so reads fail mid-follow and the connection comes back. What
the follower wrote must equal the run's out.log byte for byte, and it exits with the run's
exit code.
"""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

import pytest

from backends.runners.ssh import SshRunner
from backends.ssh.connection import SshPool
from cockpit.cli.logs import LogWriter, write_log
from cockpit.logs import ResumePolicy
from cockpit.models import HostKind
from cockpit.store import Store
from tests.integration.runs_helpers import agent_options, make_run
from tests.sshd_server import SshdInstance, sshd  # noqa: F401

pytestmark = pytest.mark.sshd

PHASES = 4
SCRIPT = """
import os, sys, time
gates = sys.argv[1]
out = sys.stdout.buffer
for phase in range(PHASES):
    for i in range(200):
        line = "step %d | loss=%.4f lr=3e-4 ünï 日本語 \\u00e9\\n" % (phase * 200 + i, 1 / (i + 1))
        out.write(line.encode())
        if i % 50 == 0:
            out.write(b"\\x1b[32mcoloured\\x1b[0m\\x1b]0;title\\x07\\n")
            out.write(b"  40%|####      | 4/10 [00:01<00:01, 3.9it/s]\\r 100%|##########| 10/10\\n")
        out.flush()
    out.write(("phase %d done\\n" % phase).encode())
    out.flush()
    while not os.path.exists(os.path.join(gates, str(phase))):
        time.sleep(0.02)
out.write("tail without newline é".encode())
out.flush()
sys.exit(3)
""".replace("PHASES", str(PHASES))


async def wait_for(path: Path, needle: bytes, timeout: float = 30.0) -> None:
    """Until the file holds `needle` (the run writes it: another process, no event)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (path.is_file() and needle in path.read_bytes()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path} never held {needle!r}")
        await asyncio.sleep(0.02)


async def test_follow_survives_killed_sessions_byte_for_byte(
    sshd: SshdInstance,  # noqa: F811
    tmp_path: Path,
) -> None:
    host = sshd.host("gpu-a", kind=HostKind.SSH)
    root = tmp_path / "root"
    options = agent_options(lambda h: str(root), gpus=False)
    store = Store.open(tmp_path / "c.db")
    store.add_host(host)
    script, gates = tmp_path / "train.py", tmp_path / "gates"
    script.write_text(SCRIPT)
    gates.mkdir()
    pool = SshPool(sshd.settings())
    runner = SshRunner(pool, {"gpu-a": host}.__getitem__, options)
    try:
        (run,) = await runner.launch_many([make_run("gpu-a", f"{sys.executable} {script} {gates}")])
        store.upsert_run(run)
        log = root / "runs" / run.id / "out.log"
        sink = io.BytesIO()
        writer = LogWriter(sink)
        policy = ResumePolicy(poll_s=0.05, retry_initial_s=0.05, retry_max_s=0.2)
        follow = asyncio.create_task(
            write_log(
                store,
                run,
                writer,
                follow=True,
                policy=policy,
                settings=sshd.settings(),
                options=options,
            )
        )
        accepted_before = sshd.log_text().count("Accepted publickey")
        for phase in range(PHASES):
            await wait_for(log, f"phase {phase} done".encode())
            while f"phase {phase} done".encode() not in sink.getvalue():
                await asyncio.sleep(0.02)  # the follower is back and has read this phase
            # drop every session serving the follower: the next reads fail mid-follow
            assert sshd.kill_sessions(), "no SSH session was open to kill"
            (gates / str(phase)).touch()
        code = await asyncio.wait_for(follow, 60)
    finally:
        await pool.close()
        store.close()
    assert code == 3
    assert sink.getvalue() == log.read_bytes()
    assert log.read_bytes().endswith("tail without newline é".encode())
    # the follower came back after each kill: a new login each time
    assert sshd.log_text().count("Accepted publickey") - accepted_before >= PHASES
