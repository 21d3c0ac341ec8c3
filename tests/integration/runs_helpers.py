"""What the run tests share: fake-GPU agent options, run builders and event waits."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from backends.runners.detached import DetachedRunner, RunnerOptions
from cockpit.models import Run, RunSpec, RunState
from cockpit.scheduler import new_run_id

FAKE = Path(__file__).parents[1] / "fake_gpu"
WAIT_S = 30.0
# The start of a test script that waits at gates: wait(NAME) returns once the test has made
# the file NAME in the folder given as its first argument.
GATED_SCRIPT = """
import os, sys, time
gates = sys.argv[1]
def wait(name):  # (a test that failed touches no gate: the script ends anyway)
    deadline = time.time() + 120
    while not os.path.exists(os.path.join(gates, name)) and time.time() < deadline:
        time.sleep(0.02)
"""


def agent_options(
    root: Callable[[object], str], *, gpus: bool = True, **overrides: object
) -> RunnerOptions:
    """The agent with this interpreter, and the fake nvidia-smi with 2 idle GPUs."""
    path = [str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]
    env = {}
    if gpus:
        path.insert(0, str(FAKE / "bin"))
        env["FAKE_SMI_CSV"] = str(FAKE / "smi" / "idle_a100x2.csv")
    env["PATH"] = ":".join(path)
    values: dict[str, object] = {
        "python": sys.executable,
        "env": env,
        "root": root,
        "grace_s": 1.0,
        "queue_poll_s": 0.2,
        "log_poll_s": 0.05,
        "timeout_s": 30.0,
    }
    values.update(overrides)
    return RunnerOptions(**values)  # type: ignore[arg-type]


def make_run(
    host: str,
    command: str,
    *,
    name: str = "t",
    gpus: int = 0,
    timeout_s: int | None = None,
    workdir: str | None = None,
    env: dict[str, str] | None = None,
) -> Run:
    spec = RunSpec(
        name=name,
        command=command,
        host=host,
        gpus=gpus,
        timeout_s=timeout_s,
        workdir=workdir,
        env=env or {},
    )
    return Run(id=new_run_id(name), spec=spec, host=host)


async def wait_states(
    runner: DetachedRunner,
    runs: Sequence[Run],
    done: Callable[[RunState], bool] = lambda s: s.terminal,
    timeout: float = WAIT_S,
) -> dict[str, RunState]:
    """Poll (one batched status per host) until every run's state satisfies `done`."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = await runner.poll_many(runs)
        states = {k: v.state for k, v in statuses.items()}
        if all(done(s) for s in states.values()):
            return states
        if time.monotonic() > deadline:
            raise AssertionError(f"runs did not get there in {timeout}s: {states}")
        await asyncio.sleep(0.05)


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
