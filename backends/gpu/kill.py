"""Killing a process on a GPU: TERM, then KILL after a grace, on any host.

The kill runs as a fixed shell script whose values arrive as positional parameters, through
backends.remote_shell.RemoteShell, so a local host and an SSH host are handled alike.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backends.remote_shell import RemoteShell
from backends.ssh.connection import SshError, SshPool
from cockpit.models import Command, Host


@dataclass(frozen=True)
class KillResult:
    pid: int
    outcome: str  # "terminated" | "killed" | "not-found" | "denied" | "mismatch" | "error"
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in ("terminated", "killed")


# TERM, wait up to the grace for the process to go, then KILL. Values arrive as positional
# parameters ($1 pid, $2 grace in tenths of a second, $3 expected command prefix), never
# spliced into the script text. One line, so that csh-family login shells accept it too.
KILL_SCRIPT = "; ".join(
    [
        "pid=$1",
        "tenths=$2",
        "expect=$3",
        # A zombie still answers kill -0; it is gone for our purposes.
        'alive() { kill -0 "$pid" 2>/dev/null'
        " && ! grep -q ') Z' \"/proc/$pid/stat\" 2>/dev/null; }",
        'if ! kill -0 "$pid" 2>/dev/null; then err=$(kill -0 "$pid" 2>&1); case $err in'
        " *ermit*) echo \"denied: $err\"; exit 4;; *) echo 'no such process'; exit 3;; esac; fi",
        'if [ -n "$expect" ]; then args=$(ps -ww -o args= -p "$pid" 2>/dev/null); case $args'
        ' in "$expect"*) ;; *) echo "command is now: $args"; exit 5;; esac; fi',
        'if ! err=$(kill -TERM "$pid" 2>&1); then echo "denied: $err"; exit 4; fi',
        "i=0",
        'while [ "$i" -lt "$tenths" ]; do alive || exit 0; sleep 0.1; i=$((i+1)); done',
        "alive || exit 0",
        'kill -KILL "$pid" 2>/dev/null',
        "i=0",
        'while [ "$i" -lt 50 ]; do alive || exit 2; sleep 0.1; i=$((i+1)); done',
        "echo 'still alive after KILL'",
        "exit 6",
    ]
)
_KILL_OUTCOMES = {0: "terminated", 2: "killed", 3: "not-found", 4: "denied", 5: "mismatch"}


def kill_command(pid: int, grace_s: float, expected_command: str | None = None) -> str:
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 1:
        raise ValueError(f"refusing to signal pid {pid!r}")
    tenths = max(0, round(grace_s * 10))
    args = [str(pid), str(tenths), expected_command or ""]
    return shlex.join(["sh", "-c", KILL_SCRIPT, "cockpit-kill", *args])


async def kill_gpu_process(
    pool: SshPool | None,
    host: Host,
    pid: int,
    grace_s: float = 10.0,
    *,
    expected_command: str | None = None,
) -> KillResult:
    """SIGTERM a GPU process, SIGKILL it if it is still there after grace_s.

    pool: the SshPool for ssh/slurm hosts; None will do for a local host.
    expected_command: the command line the pane showed; if the pid now runs something
    else (the process ended and the pid was reused), nothing is signalled.
    """
    command = kill_command(pid, grace_s, expected_command)
    try:
        # wait=False: a person is waiting; a host in backoff fails now, not in a minute.
        result = await RemoteShell(pool).run(host, command, timeout_s=grace_s + 15.0, wait=False)
    except SshError as err:
        return KillResult(pid, "error", err.reason)
    detail = (result.stdout + result.stderr).strip()
    if result.timed_out:
        return KillResult(pid, "error", f"timed out: {detail}" if detail else "timed out")
    status = result.exit_status
    outcome = _KILL_OUTCOMES.get(status if status is not None else -1, "error")
    return KillResult(pid, outcome, detail)


class GpuKillHandler:
    """The bus backend for `gpu.kill` on real hosts (TERM, then KILL after a grace)."""

    def __init__(self, pool: SshPool, hosts: Sequence[Host]) -> None:
        self.pool = pool
        self.hosts = {h.name: h for h in hosts}

    async def handle(self, command: Command) -> dict[str, Any]:
        if command.kind != "gpu.kill":
            raise ValueError(f"cannot do {command.kind!r} on a host")
        host = self.hosts.get(str(command.payload.get("host")))
        if host is None:
            raise ValueError(f"unknown host {command.payload.get('host')!r}")
        if host.read_only:
            raise PermissionError(f"{host.name} is read-only")
        result = await kill_gpu_process(
            self.pool,
            host,
            int(command.payload["pid"]),
            float(command.payload.get("grace_s", 10.0)),
            expected_command=command.payload.get("command"),
        )
        if not result.ok:
            raise RuntimeError(f"pid {result.pid}: {result.outcome} {result.detail}".strip())
        return {"host": host.name, "pid": result.pid, "outcome": result.outcome}
