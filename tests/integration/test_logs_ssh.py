"""`cockpit logs --follow` over a real loopback sshd while its SSH sessions are killed.

The run is a script writing a log in phases (multi-byte UTF-8, tqdm bars redrawn with \\r,
ANSI colours, a last line with no newline); between phases the test kills every sshd
session serving the cockpit, so reads fail mid-follow and the connection comes back. What
the follower wrote must equal the run's out.log byte for byte, and it exits with the run's
exit code. A script that truncates its log mid-run is followed from the log's new start,
as `tail -F` does, and its metrics are parsed again from there.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import NamedTuple

import pytest

from backends.runners.detached import RunnerOptions
from backends.runners.ssh import SshRunner
from backends.ssh.connection import SshPool
from cockpit.cli.logs import LogWriter, write_log
from cockpit.log_metrics import LogMetrics
from cockpit.logs import ResumePolicy
from cockpit.models import HostKind, Run, RunState
from cockpit.store import Store
from tests.integration.runs_helpers import GATED_SCRIPT, agent_options, make_run
from tests.sshd_server import SshdInstance, sshd  # noqa: F401
from tests.unit.logparse_reference import reference_scan

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


class RemoteRun(NamedTuple):
    store: Store
    pool: SshPool
    runner: SshRunner
    options: RunnerOptions
    run: Run
    log: Path  # its out.log, as the host sees it
    gates: Path  # the script is given this folder: it waits for files there


async def launch_remote(
    sshd: SshdInstance,  # noqa: F811
    tmp_path: Path,
    script_text: str,
) -> RemoteRun:
    """The script as a run of the SSH host gpu-a (the sshd), in a store of its own, its
    folder under tmp_path/root."""
    host = sshd.host("gpu-a", kind=HostKind.SSH)
    root = tmp_path / "root"
    options = agent_options(lambda h: str(root), gpus=False)
    store = Store.open(tmp_path / "c.db")
    store.add_host(host)
    script, gates = tmp_path / "train.py", tmp_path / "gates"
    script.write_text(script_text)
    gates.mkdir()
    pool = SshPool(sshd.settings())
    runner = SshRunner(pool, {"gpu-a": host}.__getitem__, options)
    try:
        (run,) = await runner.launch_many([make_run("gpu-a", f"{sys.executable} {script} {gates}")])
    except BaseException:
        await pool.close()
        raise
    store.upsert_run(run)
    return RemoteRun(store, pool, runner, options, run, root / "runs" / run.id / "out.log", gates)


def follow_into(
    writer: LogWriter,
    remote: RemoteRun,
    sshd: SshdInstance,  # noqa: F811
) -> asyncio.Task[int]:
    """`cockpit logs RUN --follow` into the writer, as a task; its result is the exit code."""
    policy = ResumePolicy(poll_s=0.05, retry_initial_s=0.05, retry_max_s=0.2)
    return asyncio.create_task(
        write_log(
            remote.store,
            remote.run,
            writer,
            follow=True,
            policy=policy,
            settings=sshd.settings(),
            options=remote.options,
        )
    )


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
    remote = await launch_remote(sshd, tmp_path, SCRIPT)
    store, pool, log, gates = remote.store, remote.pool, remote.log, remote.gates
    try:
        sink = io.BytesIO()
        follow = follow_into(LogWriter(sink), remote, sshd)
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


async def until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Until the follower (a task of this loop, writing to memory) got somewhere."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.02)


TRUNCATING = (
    GATED_SCRIPT
    + """
out = sys.stdout.buffer
for i in range(300):
    out.write(("step %d | loss=%.4f tokens/s %d ünï\\n" % (i, 9 - i / 100, 2000 + i)).encode())
out.write("cut before its newline é".encode())
out.flush()
wait("truncate")
# what a script reopening its log with 'w' does (stdout still appends to the same file)
with open(os.readlink("/proc/self/fd/1"), "wb") as log:
    log.write(b"reopened\\n")
out.write(b"step 0 | loss=5.0\\n")
out.flush()
wait("go on")
for i in range(1, 50):
    out.write(("step %d | loss=%.4f\\n" % (i, 5 - i / 100)).encode())
out.write(b"last")
out.flush()
sys.exit(5)
"""
)


async def test_a_log_truncated_mid_run_is_followed_from_its_start_over_ssh(
    sshd: SshdInstance,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    remote = await launch_remote(sshd, tmp_path, TRUNCATING)
    store, pool, runner, run, log = remote.store, remote.pool, remote.runner, remote.run, remote.log
    gates = remote.gates
    metrics = LogMetrics(store)
    try:
        sink = io.BytesIO()
        follow = follow_into(LogWriter(sink), remote, sshd)
        await wait_for(log, "cut before its newline é".encode())
        before = log.read_bytes()  # the script waits: this is all it wrote before truncating
        await until(lambda: sink.getvalue() == before, "the follower read it all")
        first = await metrics.scan(run, partial(runner.read_log, run), now=1.0)
        assert first is not None and not first.truncated
        (gates / "truncate").touch()
        # the follower noticed and read the log's new start
        await until(lambda: b"step 0 | loss=5.0\n" in sink.getvalue(), "the log's new start")
        scan = await metrics.scan(run, partial(runner.read_log, run), now=2.0)
        assert scan is not None and scan.truncated  # the agent's size said so over SSH
        (gates / "go on").touch()
        code = await asyncio.wait_for(follow, 60)
        await metrics.scan(replace(run, state=RunState.FAILED), partial(runner.read_log, run), 3.0)
    finally:
        await runner.sessions.close()  # the agent session the scans read through
        await pool.close()
    after = log.read_bytes()
    assert code == 5
    # like tail -F: the bytes read before the truncation, then the log from its first byte
    assert sink.getvalue() == before + after
    assert after.startswith(b"reopened\nstep 0 | loss=5.0\n") and after.endswith(b"\nlast")
    err = capsys.readouterr().err
    notice = f"cockpit: out.log of {run.id} was truncated; following from its start\n"
    assert err == notice
    # the metric points: the whole lines before, then the new log, a step's later value kept
    expected: dict[int, float] = {}
    for part in (before[: before.rindex(b"\n") + 1], after):
        for step, name, value in reference_scan(part)[0]:
            if name == "loss":
                expected[step] = value
    assert store.metric_series(run.id, "loss") == sorted(expected.items())
    assert len(store.metric_series(run.id, "tokens_per_s")) == 300  # kept from before
    store.close()
