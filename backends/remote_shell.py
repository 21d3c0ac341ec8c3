"""Shell quoting for commands sent to hosts, and the one way to run a command on a host.

Every command that reaches a shell is built here or with shlex: config values (paths,
environment, a process's command line) are quoted, never spliced into script text. The
remote side is the user's login shell, which may be csh-family: one-line scripts only.

RemoteShell runs a command to completion on any cockpit host: a local subprocess for
HostKind.LOCAL, the host's pooled SSH connection for ssh and slurm hosts. Streaming
commands (a GPU sampler) open their own channel on the connection instead; open_lines
keeps a command running on an SSH host to talk to it a line at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cockpit.models import Host, HostKind

if TYPE_CHECKING:
    from backends.ssh.connection import CommandResult, SshPool

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_prefix(env: Mapping[str, str]) -> str:
    """`env K=V ...` with every pair quoted; empty when there is nothing to set."""
    if not env:
        return ""
    for key in env:
        if not _ENV_NAME.match(key):
            raise ValueError(f"bad environment variable name {key!r}")
    pairs = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    return f"env {pairs} "


def quote_remote_path(path: str) -> str:
    """shlex.quote, except that a leading ~/ still means the remote home directory."""
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def command_line(argv: Sequence[str]) -> str:
    """argv as one shell command line, every word quoted (argv[0] may start with ~/)."""
    program, *args = argv
    return " ".join([quote_remote_path(program), *(shlex.quote(a) for a in args)])


class RemoteShell:
    """Runs one command to completion on a host, wherever the host is.

    `command` is either a shell command line (already quoted, e.g. by command_line) or an
    argv list, which is quoted here. pool: the SshPool for ssh/slurm hosts; None when only
    local hosts are used.
    """

    def __init__(self, pool: SshPool | None = None) -> None:
        self.pool = pool

    async def run(
        self,
        host: Host,
        command: str | Sequence[str],
        *,
        timeout_s: float = 30.0,
        input: str | None = None,
        wait: bool = True,
    ) -> CommandResult:
        """Run `command` on `host`; stdin gets `input` then EOF (nothing: /dev/null locally).

        A command still running after timeout_s is killed and comes back timed_out.
        wait=False: a person is waiting, so an SSH host in reconnect backoff fails at once
        with its last SshError instead of after the backoff.
        """
        line = command if isinstance(command, str) else command_line(command)
        if host.kind is HostKind.LOCAL:
            return await _run_local(line, timeout_s=timeout_s, input=input)
        if host.kind in (HostKind.SSH, HostKind.SLURM):
            if self.pool is None:
                raise ValueError("an SshPool is needed for a remote host")
            return await self.pool.connection(host).run(
                line, timeout_s=timeout_s, input=input, wait=wait
            )
        raise ValueError(f"{host.name} is a {host.kind} host: it has no shell")

    @contextlib.asynccontextmanager
    async def open_lines(self, host: Host, command: str) -> AsyncIterator[LineChannel]:
        """A command kept running on an SSH or Slurm host, spoken to a line at a time;
        its channel is closed on exit. Raises ValueError for other hosts."""
        if host.kind not in (HostKind.SSH, HostKind.SLURM) or self.pool is None:
            raise ValueError(f"{host.name}: line sessions need an SSH host and a pool")
        connection = self.pool.connection(host)
        async with connection.open_process(command, encoding="utf-8", errors="replace") as proc:
            yield LineChannel(proc)


class LineChannel:
    """A running remote command's stdin and stdout, a line at a time."""

    def __init__(self, process: Any) -> None:
        self._process = process  # an asyncssh SSHClientProcess opened with utf-8 text

    async def send(self, line: str) -> None:
        self._process.stdin.write(line if line.endswith("\n") else line + "\n")
        await self._process.stdin.drain()

    async def receive(self) -> str:
        """The next line without its newline; EOFError once the command has ended."""
        line = await self._process.stdout.readline()
        if not line.endswith("\n"):
            raise EOFError("the remote command ended")
        return str(line[:-1])


async def _run_local(line: str, *, timeout_s: float, input: str | None) -> CommandResult:
    # Imported here: CommandResult lives with the SSH connection, and asyncssh (slow to
    # import) must not load with the quoting helpers above.
    from backends.ssh.connection import CommandResult

    proc = await asyncio.create_subprocess_shell(
        line,
        stdin=asyncio.subprocess.DEVNULL if input is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # Its own process group, so that a timeout ends the command's children too (they
        # hold its output pipes open) and a Ctrl-C meant for the cockpit does not reach it.
        start_new_session=True,
    )
    data = None if input is None else input.encode("utf-8")
    try:
        out, err = await asyncio.wait_for(proc.communicate(data), timeout=timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        # A child that left the group may keep the pipes open: do not wait on it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), timeout=1.0)
        return CommandResult(None, "", "", timed_out=True)
    code = proc.returncode
    signal_name = None
    if code is not None and code < 0:
        # As over SSH: a command ended by a signal has no exit status, only the signal.
        signal_name = _signal_name(-code)
        code = None
    return CommandResult(
        exit_status=code,
        stdout=out.decode("utf-8", errors="replace"),
        stderr=err.decode("utf-8", errors="replace"),
        exit_signal=signal_name,
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name.removeprefix("SIG")
    except ValueError:
        return str(number)
