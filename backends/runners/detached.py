"""Detached runs on any host with a shell, through the host agent (host_agent.py).

Every operation is one command on the host, whatever the number of runs: a launch sends
the agent's source and all of the host's runs on stdin (nothing is installed, no value
ever reaches a shell: the command line is constant and quoted), and a poll asks for the
state of all the host's runs at once. The host is reached through RemoteShell, so the
same code serves this machine (LocalRunner) and SSH hosts over the pool (SshRunner).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from backends.remote_shell import RemoteShell, command_line, env_prefix, quote_remote_path
from backends.runners.agent_session import AgentSessions
from backends.runners.log_polling import follow_by_polling
from cockpit.models import Host, Run, RunState
from cockpit.ports import ByteReader, LogChunk, QueueView, RunStatus

AGENT_PATH = Path(__file__).with_name("host_agent.py")
# The one-line program that runs the agent sent on stdin (the login shell may be csh:
# one line, no newlines inside quotes). The agent installs a copy of itself for the
# detached wrapper and queue runner, which outlive this command.
BOOTSTRAP = (
    "import sys,json;d=json.loads(sys.stdin.read());g={'__name__':'cockpit_agent'};"
    "exec(compile(d['agent'],'cockpit_agent','exec'),g);sys.exit(g['main'](sys.argv[1:],d))"
)
# What the agent's states mean here; "missing" is decided per run (see _status).
AGENT_STATES = {
    "queued": RunState.QUEUED,
    "starting": RunState.STARTING,
    "running": RunState.RUNNING,
    "succeeded": RunState.SUCCEEDED,
    "failed": RunState.FAILED,
    "timeout": RunState.TIMEOUT,
    "cancelled": RunState.CANCELLED,
    "lost": RunState.LOST,
    "rejected": RunState.FAILED,
}


class RunnerError(Exception):
    """The host agent could not do what was asked (one line for the audit log)."""


@cache
def agent_source() -> tuple[str, str]:
    """The agent's text and the name its installed copy gets (by content hash)."""
    text = AGENT_PATH.read_text(encoding="utf-8")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return text, f"agent-{digest}.py"


@dataclass(frozen=True)
class RunnerOptions:
    """How the runner reaches the agent. Tests point env/python/root at fakes."""

    python: str = "python3"
    env: Mapping[str, str] = field(default_factory=dict)  # for the agent and so the runs
    root: Callable[[Host], str] = lambda host: "~/.cockpit"
    grace_s: float = 10.0  # TERM, then KILL after this long
    cpu_slots: int = 2  # CPU-only runs (gpus = 0) at once per host
    queue_poll_s: float = 5.0  # how often a host's queue runner looks for free GPUs
    timeout_s: float = 60.0
    log_poll_s: float = 1.0


class DetachedRunner:
    """RunBackend (and BatchRunBackend) for local and SSH hosts, via the host agent."""

    def __init__(
        self,
        shell: Callable[[], RemoteShell],
        host_of: Callable[[str], Host],
        options: RunnerOptions | None = None,
    ) -> None:
        # Made on first use: an SSH pool imports asyncssh, which start-up should not wait on.
        self._make_shell = shell
        self._shell: RemoteShell | None = None
        self.host_of = host_of  # the Host of a run's host name (a store lookup)
        self.options = options or RunnerOptions()
        # Hosts where this process installed the agent: later calls run the copy.
        self._installed: set[str] = set()
        self.calls: dict[str, int] = {}  # round trips per host, for the benchmarks
        # Status and log reads on SSH hosts go through one long-lived agent per host.
        self.sessions = AgentSessions(lambda: self.shell)

    @property
    def shell(self) -> RemoteShell:
        if self._shell is None:
            self._shell = self._make_shell()
        return self._shell

    # -- the agent -----------------------------------------------------------------------

    def root(self, host: Host) -> str:
        return self.options.root(host)

    def remote_dir(self, host: Host, run_id: str) -> str:
        return f"{self.root(host).rstrip('/')}/runs/{run_id}"

    async def call(self, host: Host, command: str, request: dict[str, Any]) -> dict[str, Any]:
        """One round trip: run an agent command on the host; its JSON answer."""
        source, installed = agent_source()
        opts = self.options
        root = self.root(host)
        if host.name in self._installed and command != "submit":
            agent = f"{root.rstrip('/')}/bin/{installed}"

            def agent_line(*words: str) -> str:
                argv = [opts.python, agent, *words]
                return env_prefix(opts.env) + " ".join(quote_remote_path(w) for w in argv)

            if self.sessions.serves(host, command):
                served = await self.sessions.ask(
                    host, agent_line("serve", root), command, request, opts.timeout_s
                )
                if served is not None:
                    self.calls[host.name] = self.calls.get(host.name, 0) + 1
                    if "error" in served:
                        raise RunnerError(f"{host.name}: {served['error']}")
                    return served
            line = agent_line(command, root)
            stdin = json.dumps(request)
        else:
            # The agent expands a leading ~ of ROOT itself: it goes as a plain quoted word.
            line = env_prefix(opts.env) + command_line(
                [opts.python, "-c", BOOTSTRAP, command, root]
            )
            stdin = json.dumps({"agent": source, "request": request})
        self.calls[host.name] = self.calls.get(host.name, 0) + 1
        result = await self.shell.run(
            host, line, input=stdin, timeout_s=opts.timeout_s + opts.grace_s
        )
        if result.timed_out:
            raise RunnerError(f"{host.name}: the run agent did not answer in time")
        if result.exit_status == 2 and "No such file" in result.stderr:
            self._installed.discard(host.name)  # its copy was removed: send it again
            return await self.call(host, command, request)
        answer = _last_json_line(result.stdout)
        if answer is None:
            detail = (result.stderr.strip().splitlines() or ["no answer"])[-1][:200]
            raise RunnerError(f"{host.name}: run agent failed: {detail}")
        if "error" in answer:
            raise RunnerError(f"{host.name}: {answer['error']}")
        self._installed.add(host.name)
        return answer

    async def _per_host(
        self, runs: Sequence[Run], work: Callable[[Host, list[Run]], Any]
    ) -> list[Any]:
        """work(host, runs) once per host, all hosts at once."""
        by_host: dict[str, list[Run]] = {}
        for run in runs:
            by_host.setdefault(run.host or "", []).append(run)
        hosts = await asyncio.gather(*(asyncio.to_thread(self.host_of, name) for name in by_host))
        return list(
            await asyncio.gather(
                *(work(host, group) for host, group in zip(hosts, by_host.values(), strict=True))
            )
        )

    # -- launching -----------------------------------------------------------------------

    def _request(self, run: Run) -> dict[str, Any]:
        spec = run.spec
        return {
            "id": run.id,
            "name": spec.name,
            "sweep": spec.sweep,
            "config": spec.config,
            "command": spec.command,
            "env": dict(spec.env),
            "gpus": spec.gpus,
            "time_limit_s": spec.timeout_s,
            "grace_s": self.options.grace_s,
            "workdir": spec.workdir,
            "attempt": run.attempt,
        }

    async def launch_many(self, runs: Sequence[Run]) -> list[Run]:
        async def submit(host: Host, group: list[Run]) -> list[Run]:
            answer = await self.call(
                host,
                "submit",
                {
                    "runs": [self._request(r) for r in group],
                    "cpu_slots": self.options.cpu_slots,
                    "poll_s": self.options.queue_poll_s,
                },
            )
            out = []
            for run in group:
                status = _status(answer["runs"].get(run.id, {}), launched=True)
                out.append(
                    replace(
                        run,
                        state=status.state,
                        remote_dir=self.remote_dir(host, run.id),
                        gpu_ids=status.gpu_ids or (),
                        started_at=status.started_at,
                        exit_code=status.exit_code,
                        ended_at=status.ended_at,
                        provenance={**run.provenance, "placement": status.detail}
                        if status.detail
                        else run.provenance,
                    )
                )
            return out

        return [run for group in await self._per_host(runs, submit) for run in group]

    async def launch(self, run: Run) -> Run:
        return (await self.launch_many([run]))[0]

    # -- state ---------------------------------------------------------------------------

    async def poll_many(self, runs: Sequence[Run]) -> dict[str, RunStatus]:
        async def status(host: Host, group: list[Run]) -> dict[str, RunStatus]:
            try:
                answer = await self.call(host, "status", {"ids": [r.id for r in group]})
            except Exception as exc:  # a host that cannot answer: its runs go on, unseen
                detail = str(exc)[:200] or type(exc).__name__
                return {r.id: RunStatus(RunState.UNREACHABLE, detail=detail) for r in group}
            return {
                r.id: _status(answer["runs"].get(r.id, {}), launched=r.started_at is not None)
                for r in group
            }

        merged: dict[str, RunStatus] = {}
        for part in await self._per_host(runs, status):
            merged.update(part)
        return merged

    async def poll(self, run: Run) -> RunStatus:
        return (await self.poll_many([run]))[run.id]

    async def cancel_many(self, runs: Sequence[Run]) -> dict[str, RunStatus]:
        async def cancel(host: Host, group: list[Run]) -> dict[str, RunStatus]:
            if host.read_only:
                raise RunnerError(f"{host.name} is read-only: nothing is cancelled there")
            answer = await self.call(
                host, "cancel", {"ids": [r.id for r in group], "grace_s": self.options.grace_s}
            )
            return {r.id: _status(answer["runs"].get(r.id, {}), launched=True) for r in group}

        merged: dict[str, RunStatus] = {}
        for part in await self._per_host(runs, cancel):
            merged.update(part)
        return merged

    async def cancel(self, run: Run) -> RunStatus:
        return (await self.cancel_many([run]))[run.id]

    async def queue(
        self, host: str, op: str = "list", run_id: str | None = None, position: int = 0
    ) -> QueueView:
        h = await asyncio.to_thread(self.host_of, host)
        answer = await self.call(h, "queue", {"op": op, "id": run_id, "position": position})
        return QueueView(host, tuple(answer.get("order", ())), dict(answer.get("held", {})))

    async def run_files(
        self, runs: Sequence[Run], names: Sequence[str]
    ) -> dict[str, dict[str, bytes]]:
        async def files(host: Host, group: list[Run]) -> dict[str, dict[str, bytes]]:
            answer = await self.call(
                host, "files", {"ids": [r.id for r in group], "names": list(names)}
            )
            return {
                run_id: {name: base64.b64decode(f["data"]) for name, f in got.items()}
                for run_id, got in answer["runs"].items()
            }

        merged: dict[str, dict[str, bytes]] = {}
        for part in await self._per_host(runs, files):
            merged.update(part)
        return merged

    # -- logs ----------------------------------------------------------------------------

    async def read_log(self, run: Run, offset: int, max_bytes: int = 65536) -> LogChunk:
        host = await asyncio.to_thread(self.host_of, run.host or "")
        answer = await self.call(
            host, "read-log", {"id": run.id, "offset": offset, "max_bytes": max_bytes}
        )
        size = answer.get("size")  # (an agent from before sizes were sent has none)
        return LogChunk(
            base64.b64decode(answer["data"]),
            int(answer["next_offset"]),
            bool(answer["eof"]),
            int(size) if size is not None else None,
        )

    async def open_log_reader(self, run: Run) -> ByteReader:
        """The run's out.log over SFTP on the host's pooled connection: seeks, not copies."""
        from backends.runners.log_readers import SftpReader

        host = await asyncio.to_thread(self.host_of, run.host or "")
        pool = self.shell.pool
        if pool is None:
            raise RunnerError(f"{host.name}: no SSH connection to read the log over")
        path = f"{self.remote_dir(host, run.id)}/out.log"
        return SftpReader(pool.connection(host), path, asyncio.get_running_loop())

    async def follow(
        self, run: Run, offset: int, *, max_bytes: int = 256 * 1024
    ) -> AsyncIterator[LogChunk]:
        """The log from `offset` as it grows; ends once the run is over and all is read."""
        async for chunk in follow_by_polling(
            lambda at: self.read_log(run, at, max_bytes), offset, self.options.log_poll_s
        ):
            yield chunk


def _last_json_line(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        return value if isinstance(value, dict) else None
    return None


def _status(answer: Mapping[str, Any], *, launched: bool) -> RunStatus:
    """The agent's answer about one run as a RunStatus.

    A run folder that is missing was never created (a launch that did not get through:
    the run is still to be launched, so queued) or was removed after it started (lost).
    """
    name = str(answer.get("state", "missing"))
    if name == "missing":
        state = RunState.LOST if launched else RunState.QUEUED
        detail = "its run folder is gone" if launched else "not on the host yet"
    else:
        state = AGENT_STATES.get(name, RunState.LOST)
        detail = answer.get("reason")
    gpus = answer.get("gpus")
    return RunStatus(
        state=state,
        exit_code=answer.get("exit_code"),
        ended_at=answer.get("ended_at"),
        started_at=answer.get("started_at"),
        gpu_ids=tuple(gpus) if isinstance(gpus, list) else None,
        detail=str(detail) if detail else None,
    )
