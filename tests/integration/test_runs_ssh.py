"""Runs on two loopback SSH hosts (real sshd), each with 2 stand-in GPUs (fake nvidia-smi).

Each "host" keeps its runs in its own root, as two machines would. The runs are tiny
Python "training" scripts that wait for a gate file, so the test decides when they end
without sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.runners.ssh import SshRunner
from backends.ssh.connection import SshPool
from cockpit.bus import CommandBus
from cockpit.models import Host, HostKind, Run, RunState
from cockpit.registry import CommandRegistry, host_target
from cockpit.runs import RunCommandHandler, run_to_payload, sweep_to_payload
from cockpit.scheduler import plan_runs
from cockpit.store import Store
from cockpit.sweep import expand, parse_spec, sweep_record
from tests.integration.runs_helpers import agent_options, make_run, wait_states
from tests.sshd_server import SshdInstance, make_key, start_sshd

pytestmark = pytest.mark.sshd

TRAIN = """
import json, os, sys, time
gate, starts = sys.argv[1], sys.argv[2]
with open(starts, "a") as fh:
    fh.write(os.environ["COCKPIT_RUN_ID"] + " " + os.environ["CUDA_VISIBLE_DEVICES"] + "\\n")
while not os.path.exists(gate):
    time.sleep(0.05)
lr, wd, seed = (float(x) for x in sys.argv[3:6])
with open(os.environ["COCKPIT_METRICS"], "a") as fh:
    fh.write(json.dumps({"step": 1, "acc": 0.5 + lr - wd + seed / 1000}) + "\\n")
"""


class TwoHosts:
    def __init__(self, tmp: Path, a: SshdInstance, b: SshdInstance) -> None:
        self.tmp = tmp
        self.servers = {"gpu-a": a, "gpu-b": b}
        self.hosts = {
            name: server.host(name, kind=HostKind.SSH) for name, server in self.servers.items()
        }
        known = tmp / "known_hosts"
        known.write_text(f"{a.known_hosts_line}\n{b.known_hosts_line}\n")
        self.settings = a.settings(known_hosts=known)

    def root(self, host: Host) -> str:
        return str(self.tmp / "roots" / host.name)

    def runner(self, pool: SshPool) -> SshRunner:
        return SshRunner(pool, self.hosts.__getitem__, agent_options(self.root))

    def run_dir(self, run: Run) -> Path:
        return Path(self.root(self.hosts[run.host or ""])) / "runs" / run.id


@pytest.fixture
def two_hosts(tmp_path: Path) -> Iterator[TwoHosts]:
    key = make_key(tmp_path / "userkey")
    a = start_sshd(tmp_path / "a", user_key=key)
    try:
        b = start_sshd(tmp_path / "b", user_key=key)
    except BaseException:
        a.stop()
        raise
    try:
        yield TwoHosts(tmp_path, a, b)
    finally:
        b.stop()
        a.stop()


def sweep_runs(two: TwoHosts, gate: Path, starts: Path) -> tuple[list[Run], dict]:
    script = two.tmp / "train.py"
    script.write_text(TRAIN)
    spec = parse_spec(
        {
            "name": "tiny",
            "command": f"{sys.executable} {script} {gate} {starts} {{lr}} {{wd}} {{seed}}",
            "factors": {"lr": [0.1, 0.3], "wd": [0.0, 0.01]},
            "seeds": [1, 2],
            "gpus": 1,
            "time_limit": "5m",
            "primary_metric": "acc",
            "direction": "max",
        }
    )
    runs = plan_runs(expand(spec), list(two.hosts.values()), higher_is_better={"acc": True})
    return runs, sweep_to_payload(sweep_record(spec, runs[0].id, 1.0))


def start_sweep(two: TwoHosts, store: Store) -> tuple[list[Run], dict, Path, Path]:
    """The hosts recorded, and the 8 runs of a 2^2 x 2-seed sweep planned on them."""
    gate, starts = two.tmp / "gate", two.tmp / "starts"
    for host in two.hosts.values():
        store.add_host(host)
    runs, sweep = sweep_runs(two, gate, starts)
    return runs, sweep, gate, starts


def gpu_intervals(two: TwoHosts, runs: list[Run]) -> dict[tuple[str, int], list[tuple]]:
    """(host, gpu) -> [(start, end, run)] from the run folders' own records."""
    out: dict[tuple[str, int], list[tuple]] = {}
    for run in runs:
        prov = json.loads((two.run_dir(run) / "provenance.json").read_text())
        for gpu in prov["gpus"]:
            out.setdefault((run.host or "", gpu), []).append(
                (prov["started_at"], prov["ended_at"], run.id)
            )
    return out


def assert_never_shared(intervals: dict[tuple[str, int], list[tuple]]) -> None:
    for key, spans in intervals.items():
        spans.sort()
        for (_, end, first), (start, _, second) in itertools.pairwise(spans):
            assert end <= start, f"{first} and {second} overlapped on {key}"


async def test_sweep_lands_on_distinct_gpus_and_the_queue_moves_with_the_cockpit_gone(
    two_hosts: TwoHosts, store: Store
) -> None:
    two = two_hosts
    runs, sweep, gate, starts = start_sweep(two, store)
    assert len(runs) == 8 and {r.host for r in runs} == {"gpu-a", "gpu-b"}
    pool = SshPool(two.settings)
    runner = two.runner(pool)
    handler = RunCommandHandler(store, {HostKind.SSH: runner})
    bus = CommandBus(store, CommandRegistry(store.list_hosts()))
    bus.registry.register("run", handler)
    for i, name in enumerate(two.hosts):
        group = [run_to_payload(r) for r in runs if r.host == name]
        payload = {"runs": group, **({"sweep": sweep} if i == 0 else {})}
        command = await bus.submit("test", host_target(two.hosts[name]), "run.launch", payload)
        assert command.status == "done", command.error
    assert runner.calls == {"gpu-a": 1, "gpu-b": 1}  # one round trip per host
    states = await wait_states(runner, runs, lambda s: s in (RunState.RUNNING, RunState.QUEUED))
    statuses = await runner.poll_many(runs)
    running = [r for r in runs if statuses[r.id].state is RunState.RUNNING]
    assert len(running) == 4 and list(states.values()).count(RunState.QUEUED) == 4
    placed = {(r.host, statuses[r.id].gpu_ids) for r in running}
    assert placed == {("gpu-a", (0,)), ("gpu-a", (1,)), ("gpu-b", (0,)), ("gpu-b", (1,))}
    await handler.poll_active()
    assert {r.state for r in store.list_runs()} == {RunState.RUNNING, RunState.QUEUED}
    # The cockpit goes away; the gate opens; the hosts' queue runners do the rest.
    await pool.close()
    gate.touch()
    for run in runs:
        folder = two.run_dir(run)
        while not (folder / "exit_code").exists():
            await asyncio.sleep(0.05)
    # A new cockpit, hours later: true states from the hosts, results in the store.
    pool = SshPool(two.settings)
    try:
        handler = RunCommandHandler(store, {HostKind.SSH: two.runner(pool)})
        await handler.poll_active()
    finally:
        await pool.close()
    final = store.list_runs(sweep="tiny")
    assert {r.state for r in final} == {RunState.SUCCEEDED}
    assert all(r.results_at is not None for r in final)
    finals = store.final_metrics([r.id for r in final])
    for run in final:
        lr, wd, seed = (run.spec.config[k] for k in ("lr", "wd", "seed"))
        assert finals[run.id]["acc"] == pytest.approx(0.5 + lr - wd + seed / 1000)
    lines = starts.read_text().split("\n")[:-1]
    assert sorted(line.split()[0] for line in lines) == sorted(r.id for r in runs)  # once each
    assert_never_shared(gpu_intervals(two, runs))


async def test_connection_killed_five_times_during_a_sweep(
    two_hosts: TwoHosts, store: Store
) -> None:
    two = two_hosts
    runs, sweep, gate, starts = start_sweep(two, store)
    pool = SshPool(two.settings)
    runner = two.runner(pool)
    handler = RunCommandHandler(store, {HostKind.SSH: runner})
    bus = CommandBus(store, CommandRegistry(store.list_hosts()))
    bus.registry.register("run", handler)
    try:
        for i, name in enumerate(two.hosts):
            group = [run_to_payload(r) for r in runs if r.host == name]
            payload = {"runs": group, **({"sweep": sweep} if i == 0 else {})}
            await bus.submit("test", host_target(two.hosts[name]), "run.launch", payload)
            two.servers[name].kill_sessions()  # mid-launch: the next poll resubmits
        kills = 2
        while kills < 5:
            await handler.poll_active()
            for server in two.servers.values():
                server.kill_sessions()
            kills += 1
            if kills == 4:
                gate.touch()  # runs end while the link is being cut
        deadline = asyncio.get_running_loop().time() + 60
        while not all(r.state.terminal for r in store.list_runs()):
            assert asyncio.get_running_loop().time() < deadline, store.list_runs()
            await handler.poll_active()
            await asyncio.sleep(0.05)
    finally:
        await pool.close()
    final = store.list_runs()
    assert len(final) == 8 and {r.state for r in final} == {RunState.SUCCEEDED}
    lines = starts.read_text().split("\n")[:-1]
    assert sorted(line.split()[0] for line in lines) == sorted(r.id for r in runs)
    assert_never_shared(gpu_intervals(two, runs))


async def test_cancel_over_ssh_and_never_on_a_read_only_host(
    two_hosts: TwoHosts, store: Store
) -> None:
    two = two_hosts
    host = two.hosts["gpu-a"]
    store.add_host(host)
    pool = SshPool(two.settings)
    runner = two.runner(pool)
    handler = RunCommandHandler(store, {HostKind.SSH: runner})
    try:
        run = make_run("gpu-a", "exec sleep 60", name="sleepy", gpus=1)
        store.insert_new_runs([run])
        await handler.submit([run])
        await wait_states(runner, [run], lambda s: s is RunState.RUNNING)
        ro = two.servers["gpu-a"].host("gpu-a", kind=HostKind.SSH, read_only=True)
        store.add_host(ro, replace=True)
        with pytest.raises(Exception, match="read-only"):
            await _cancel(handler, run)
        store.add_host(host, replace=True)
        result = await _cancel(handler, run)
        assert result["states"] == {run.id: "cancelled"}
        assert store.get_run(run.id).state is RunState.CANCELLED
    finally:
        await pool.close()


async def _cancel(handler: RunCommandHandler, run: Run) -> dict:
    from cockpit.models import Command, CommandStatus

    command = Command(
        0, "test", f"host:{run.host}", "run.cancel", {"run_ids": [run.id]}, CommandStatus.RUNNING
    )
    return await handler.handle(command)


async def test_a_launch_that_never_reached_its_host_is_sent_on_the_next_poll_once(
    tmp_path: Path, store: Store
) -> None:
    server = start_sshd(tmp_path / "sshd")
    host = server.host("gpu-a", kind=HostKind.SSH)
    store.add_host(host)
    starts = tmp_path / "starts"
    runs = [
        make_run("gpu-a", f'echo "$COCKPIT_RUN_ID" >> {starts}', name=f"r{i}") for i in range(3)
    ]
    payload = {"runs": [run_to_payload(r) for r in runs]}
    pool = SshPool(server.settings())
    runner = SshRunner(pool, {"gpu-a": host}.__getitem__, agent_options(lambda h: str(tmp_path)))
    handler = RunCommandHandler(store, {HostKind.SSH: runner})
    bus = CommandBus(store, CommandRegistry(store.list_hosts()))
    bus.registry.register("run", handler)
    try:
        server.stop()  # the host is down when the launch is sent
        failed = await bus.submit("test", host_target(host), "run.launch", payload)
        assert failed.status == "failed" and "stay queued" in (failed.error or "")
        recorded = store.list_runs()
        assert {(r.state, r.remote_dir) for r in recorded} == {(RunState.QUEUED, None)}
        await handler.poll_active()  # still down: nothing lost, nothing marked sent
        assert {(r.state, r.remote_dir) for r in store.list_runs()} == {(RunState.QUEUED, None)}
        mark = len(server.log_lines)
        server.start()
        await asyncio.to_thread(server.wait_for_log, "Server listening", start=mark)
        pool.retry_now("gpu-a")
        await handler.poll_active()  # the next poll sends them
        assert all(r.remote_dir for r in store.list_runs())
        # The same launch retried by hand, and more polls, start nothing twice.
        again = await bus.submit("test", host_target(host), "run.launch", payload)
        assert again.status == "done", again.error
        deadline = asyncio.get_running_loop().time() + 30
        while not all(r.state.terminal for r in store.list_runs()):
            assert asyncio.get_running_loop().time() < deadline, store.list_runs()
            await handler.poll_active()
            await asyncio.sleep(0.05)
    finally:
        await pool.close()
        server.stop()
    assert {r.state for r in store.list_runs()} == {RunState.SUCCEEDED}
    assert len(store.list_runs()) == 3
    assert sorted(starts.read_text().split()) == sorted(r.id for r in runs)  # once each


async def test_polls_and_log_reads_share_one_agent_session_per_host(
    two_hosts: TwoHosts, store: Store
) -> None:
    # sshd's own log is the reference: after the first poll, polling and reading a log
    # start no new SSH session; a serve process that dies is replaced, and the poll that
    # found it dead still gets the true states (as a command of its own).
    two = two_hosts
    host, server = two.hosts["gpu-a"], two.servers["gpu-a"]
    store.add_host(host)
    pool = SshPool(two.settings)
    runner = two.runner(pool)
    runs = [make_run("gpu-a", f"echo hello {i}; exec sleep 60", name=f"s{i}") for i in range(2)]
    try:
        await runner.launch_many(runs)
        await wait_states(runner, runs, lambda s: s is RunState.RUNNING)
        log = (await runner.read_log(runs[0], 0)).data
        sessions = server.log_text().count("Starting session")
        for _ in range(10):
            statuses = await runner.poll_many(runs)
            assert {s.state for s in statuses.values()} == {RunState.RUNNING}
            assert (await runner.read_log(runs[0], 0)).data == log == b"hello 0\n"
        # A big chunk (a followed log catching up) comes through the session whole.
        big = bytes(range(256)) * 1200
        with (two.run_dir(runs[1]) / "out.log").open("ab") as fh:
            fh.write(big)
        chunk = await runner.read_log(runs[1], len(b"hello 1\n"), max_bytes=256 * 1024)
        assert chunk.data == big[: 256 * 1024]
        assert server.log_text().count("Starting session") == sessions
        assert runner.sessions.opened == 1
        # The serve process dies (an admin, an OOM killer): nothing is lost.
        root = two.root(host)
        killed = subprocess.run(["pkill", "-f", f"serve {root}"], check=False)
        assert killed.returncode == 0
        statuses = await runner.poll_many(runs)
        assert {s.state for s in statuses.values()} == {RunState.RUNNING}
        await runner.poll_many(runs)
        assert runner.sessions.opened == 2
        await runner.cancel_many(runs)  # not served: a command of its own, as before
        statuses = await runner.poll_many(runs)
        assert {s.state for s in statuses.values()} == {RunState.CANCELLED}
    finally:
        await pool.close()
