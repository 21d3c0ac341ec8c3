"""Benchmarks of launching and polling runs over SSH, each against a baseline in the same run.

Run by hand (pytest does not collect this file: its name does not start with ``test_``):

    /work/main/.venv/bin/python tests/bench/bench_runs.py launch [--hosts 4] [--runs 64]
    /work/main/.venv/bin/python tests/bench/bench_runs.py poll [--hosts 16] [--runs 500]
        [--interval 5] [--polls 12]

One private OpenSSH sshd on 127.0.0.1 (tests/sshd_server.py) stands in for every host: the
hosts are distinct names on its port, each with its own run root (its own ~/.cockpit), and
2 stand-in GPUs (tests/fake_gpu's nvidia-smi). It is stopped at the end, with every run.

launch: a sweep of R runs over H hosts, launched as `cockpit launch` does (one run.launch
  command per host on the bus, all at once, cold connections). Counts the agent round trips
  per host (target <= 2: upload + start) and compares the wall time, connects included, with
  H bare `ssh host true` run one after another, measured before and after (target <= 3x;
  the ratio to the H bare ssh run at once is printed too, for context).
poll: R live runs on H hosts (2 running per host on its 2 GPUs, the rest in the host's
  queue), polled every I seconds by RunCommandHandler.poll_active, as the app's poller does.
  Client CPU (this process, less the harness's sshd log reader) over the polling window,
  target <= 1 % of one core, and exactly one status command per host per poll (counted),
  with the SSH sessions sshd started meanwhile (0: the hosts' serve agents answered).
  Baseline: the client CPU (with the ssh children) of H bare `ssh host true` per poll.

Exit status 0 when every target is met.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from backends.runners.ssh import SshRunner  # noqa: E402
from backends.ssh.connection import SshPool  # noqa: E402
from cockpit.bus import CommandBus  # noqa: E402
from cockpit.models import Host, HostKind  # noqa: E402
from cockpit.registry import CommandRegistry, host_target  # noqa: E402
from cockpit.runs import RunCommandHandler, launch_payload, sweep_to_payload  # noqa: E402
from cockpit.scheduler import plan_sweep, runs_by_host  # noqa: E402
from cockpit.store import Store  # noqa: E402
from cockpit.sweep import parse_spec  # noqa: E402
from tests.integration.runs_helpers import agent_options  # noqa: E402
from tests.sshd_server import SshdInstance, start_sshd  # noqa: E402

TARGET_LAUNCH_RATIO = 3.0
TARGET_ROUND_TRIPS = 2
TARGET_CPU_PCT = 1.0


@dataclass
class Bench:
    """The sshd, the hosts on it, a store that knows them, and a runner over one pool."""

    tmp: Path
    server: SshdInstance
    hosts: dict[str, Host]
    store: Store
    pool: SshPool
    runner: SshRunner
    handler: RunCommandHandler
    bus: CommandBus

    def ssh_argv(self, command: str = "true") -> list[str]:
        s = self.server
        return [
            "ssh",
            "-p",
            str(s.port),
            "-i",
            str(s.user_key),
            "-o",
            f"UserKnownHostsFile={s.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-F",
            "/dev/null",
            f"{s.user}@127.0.0.1",
            command,
        ]


@contextlib.contextmanager
def bench_hosts(n_hosts: int) -> Iterator[tuple[Path, SshdInstance, dict[str, Host]]]:
    with tempfile.TemporaryDirectory(prefix="bench-runs-", ignore_cleanup_errors=True) as tmp_name:
        tmp = Path(tmp_name)
        # INFO, not VERBOSE: the log reader thread in this process should have little to do.
        server = start_sshd(tmp / "sshd", log_level="INFO")
        try:
            hosts = {
                f"h{i:02d}": server.host(f"h{i:02d}", kind=HostKind.SSH, gpus=2)
                for i in range(n_hosts)
            }
            yield tmp, server, hosts
        finally:
            server.stop()


def make_bench(tmp: Path, server: SshdInstance, hosts: dict[str, Host]) -> Bench:
    store = Store.open(tmp / "cockpit.db")
    for host in hosts.values():
        store.add_host(host)
    pool = SshPool(server.settings())
    options = agent_options(lambda h: str(tmp / "roots" / h.name), queue_poll_s=2.0)
    runner = SshRunner(pool, hosts.__getitem__, options)
    handler = RunCommandHandler(store, {HostKind.SSH: runner})
    bus = CommandBus(store, CommandRegistry(store.list_hosts()))
    bus.registry.register("run", handler)
    return Bench(tmp, server, hosts, store, pool, runner, handler, bus)


def sweep_spec(n_runs: int, command: str) -> dict[str, object]:
    """A spec with exactly n_runs runs: one factor with n_runs levels."""
    return {
        "name": "bench",
        "command": command + " # {i}",
        "factors": {"i": list(range(n_runs))},
        "gpus": 1,
        "time_limit": "15m",
    }


async def launch_sweep(b: Bench, n_runs: int, command: str) -> tuple[float, dict[str, int]]:
    """Wall seconds of the launch, and agent round trips per host."""
    spec = parse_spec(sweep_spec(n_runs, command))
    plan = plan_sweep(spec, list(b.hosts.values()), (), time.time())
    assert plan.sweep is not None
    sweep = sweep_to_payload(plan.sweep)
    before = dict(b.runner.calls)
    t0 = time.perf_counter()
    commands = await asyncio.gather(
        *(
            b.bus.submit(
                "bench",
                host_target(b.hosts[name]),
                "run.launch",
                launch_payload(group, sweep),
            )
            for name, group in runs_by_host(plan.runs).items()
        )
    )
    wall = time.perf_counter() - t0
    failed = [c.error for c in commands if c.status != "done"]
    if failed:
        raise SystemExit(f"launch failed: {failed[0]}")
    trips = {h: b.runner.calls.get(h, 0) - before.get(h, 0) for h in b.hosts}
    return wall, trips


async def cancel_all(b: Bench) -> None:
    live = [r for r in b.store.list_runs() if not r.state.terminal]
    if live:
        for name, group in runs_by_host(live).items():
            with contextlib.suppress(Exception):
                await b.bus.submit(
                    "bench",
                    host_target(b.hosts[name]),
                    "run.cancel",
                    {"run_ids": [r.id for r in group]},
                )


def bare_ssh_sequential(b: Bench, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run(b.ssh_argv(), check=True, stdin=subprocess.DEVNULL, timeout=30)
    return time.perf_counter() - t0


def bare_ssh_parallel(b: Bench, n: int) -> float:
    t0 = time.perf_counter()
    procs = [subprocess.Popen(b.ssh_argv(), stdin=subprocess.DEVNULL) for _ in range(n)]
    for proc in procs:
        if proc.wait(timeout=30) != 0:
            raise SystemExit("bare ssh failed")
    return time.perf_counter() - t0


def bench_launch(args: argparse.Namespace) -> bool:
    with bench_hosts(args.hosts) as (tmp, server, hosts):
        b = make_bench(tmp, server, hosts)
        seq = [bare_ssh_sequential(b, args.hosts)]
        par = [bare_ssh_parallel(b, args.hosts)]

        async def go() -> tuple[float, dict[str, int]]:
            try:
                return await launch_sweep(b, args.runs, "true")
            finally:
                await wait_all_ended(b, 120.0)
                await b.pool.close()

        wall, trips = asyncio.run(go())
        seq.append(bare_ssh_sequential(b, args.hosts))
        par.append(bare_ssh_parallel(b, args.hosts))
        b.store.close()
    base_seq, base_par = statistics.mean(seq), statistics.mean(par)
    ratio = wall / base_seq
    most = max(trips.values())
    print(f"launch {args.runs} runs over {args.hosts} hosts (cold connections): {wall:.3f} s")
    print(f"  {args.hosts} bare `ssh host true`, one after another: {base_seq:.3f} s {seq}")
    print(f"  {args.hosts} bare `ssh host true`, all at once:       {base_par:.3f} s {par}")
    print(f"  ratio to sequential: {ratio:.2f}x (target <= {TARGET_LAUNCH_RATIO}x)")
    print(f"  ratio to parallel:   {wall / base_par:.2f}x (context)")
    print(f"  agent round trips per host: {trips} (target <= {TARGET_ROUND_TRIPS})")
    return ratio <= TARGET_LAUNCH_RATIO and most <= TARGET_ROUND_TRIPS


async def wait_all_ended(b: Bench, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await b.handler.poll_active()
        if all(r.state.terminal for r in b.store.list_runs()):
            return
        await asyncio.sleep(0.5)
    print("warning: runs still live at the end; cancelling them", file=sys.stderr)
    await cancel_all(b)


def harness_cpu() -> float:
    """CPU seconds of the sshd log reader threads (tests/sshd_server.py) in this process."""
    total = 0.0
    for t in threading.enumerate():
        if "_drain" in t.name and t.ident is not None:
            with contextlib.suppress(OSError, ValueError):
                total += time.clock_gettime(time.pthread_getcpuclockid(t.ident))
    return total


def client_cpu() -> float:
    return time.process_time() - harness_cpu()


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def bench_poll(args: argparse.Namespace) -> bool:
    with bench_hosts(args.hosts) as (tmp, server, hosts):
        b = make_bench(tmp, server, hosts)

        async def go() -> tuple[float, float, list[dict[str, int]], int, int]:
            try:
                await launch_sweep(b, args.runs, "exec sleep 900")
                await b.handler.poll_active()  # connections warm, states recorded
                live = sum(not r.state.terminal for r in b.store.list_runs())
                per_poll: list[dict[str, int]] = []
                sessions0 = b.server.log_text().count("Starting session")
                cpu0, wall0 = client_cpu(), time.monotonic()
                for i in range(args.polls):
                    before = dict(b.runner.calls)
                    await b.handler.poll_active()
                    per_poll.append({h: b.runner.calls[h] - before.get(h, 0) for h in b.hosts})
                    # Sleep to the next tick, as a poller on a fixed period does.
                    await asyncio.sleep(
                        max(0.0, wall0 + (i + 1) * args.interval - time.monotonic())
                    )
                cpu, wall = client_cpu() - cpu0, time.monotonic() - wall0
                sessions = b.server.log_text().count("Starting session") - sessions0
                return cpu, wall, per_poll, live, sessions
            finally:
                await cancel_all(b)
                await b.pool.close()

        cpu, wall, per_poll, live, sessions = asyncio.run(go())
        # Baseline: the naive poller, one fresh ssh per host per tick (a few ticks).
        base_ticks = min(3, args.polls)
        c0, k0, w0 = client_cpu(), children_cpu(), time.monotonic()
        for i in range(base_ticks):
            bare_ssh_parallel(b, args.hosts)
            time.sleep(max(0.0, w0 + (i + 1) * args.interval - time.monotonic()))
        base_cpu = (client_cpu() - c0) + (children_cpu() - k0)
        b.store.close()
    # A poll can take longer than the interval here (all hosts' agents share this box's
    # cores); the CPU a poll costs, once per interval, is the figure that the target bounds.
    per_poll_s = cpu / args.polls
    pct = 100 * per_poll_s / args.interval
    base_pct = 100 * base_cpu / base_ticks / args.interval
    exact = all(set(p.values()) == {1} for p in per_poll)
    print(
        f"poll {live} live runs on {args.hosts} hosts every {args.interval:g} s, {args.polls} polls"
    )
    print(
        f"  client CPU: {1000 * per_poll_s:.1f} ms per poll = {pct:.3f} % of one core at one "
        f"poll per {args.interval:g} s (target <= {TARGET_CPU_PCT} %); measured "
        f"{cpu:.3f} s over {wall:.1f} s of polling = {100 * cpu / wall:.3f} %"
    )
    print(
        f"  status commands per host per poll: "
        f"{sorted({n for p in per_poll for n in p.values()})} (target: exactly 1); "
        f"new SSH sessions (sshd's log) over the {args.polls} polls: {sessions}"
    )
    print(
        f"  baseline, {args.hosts} bare `ssh host true` per tick: {base_pct:.3f} % of one core "
        f"({1000 * base_cpu / base_ticks:.1f} ms per tick, with the ssh children)"
    )
    print(f"  ratio ours / baseline: {pct / base_pct:.3f}")
    return pct <= TARGET_CPU_PCT and exact


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="which", required=True)
    launch = sub.add_parser("launch")
    launch.add_argument("--hosts", type=int, default=4)
    launch.add_argument("--runs", type=int, default=64)
    poll = sub.add_parser("poll")
    poll.add_argument("--hosts", type=int, default=16)
    poll.add_argument("--runs", type=int, default=500)
    poll.add_argument("--interval", type=float, default=5.0)
    poll.add_argument("--polls", type=int, default=12)
    args = parser.parse_args(argv)
    ok = bench_launch(args) if args.which == "launch" else bench_poll(args)
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
