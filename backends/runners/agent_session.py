"""Long-lived `agent serve` processes on SSH hosts, one per host, for the frequent reads.

A poller asks every host for the state of its runs every few seconds, and a followed log
is read every second. As one command each, every ask opens an SSH channel, starts a
Python on the host and closes the channel again: about seventeen packets, each encrypted
and parsed in this process. A serve session is one request line and one answer line over
a channel kept open.

A session is only a shortcut: when it cannot be opened or fails mid-ask, the caller runs
the same request as a command of its own, which also re-installs a removed agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backends.remote_shell import LineChannel, RemoteShell
from cockpit.models import Host, HostKind

SERVED_COMMANDS = frozenset({"status", "read-log"})  # as the agent's SERVED
# The agent exits after 120 s without a request; a session idle for most of that is
# reopened rather than found dead on its next ask.
REOPEN_AFTER_IDLE_S = 100.0


@dataclass
class AgentSession:
    channel: LineChannel
    holder: asyncio.Task[None]  # owns the channel: it is opened and closed in that task
    closing: asyncio.Event
    lock: asyncio.Lock
    last_used: float


class AgentSessions:
    """At most one serve session per SSH host, opened on first use."""

    def __init__(self, shell: Callable[[], RemoteShell]) -> None:
        self._shell = shell
        self._sessions: dict[str, AgentSession] = {}
        self._opening: dict[str, asyncio.Lock] = {}
        self.opened = 0  # sessions started, for the tests and benchmarks

    @staticmethod
    def serves(host: Host, command: str) -> bool:
        return host.kind in (HostKind.SSH, HostKind.SLURM) and command in SERVED_COMMANDS

    async def ask(
        self, host: Host, serve_line: str, command: str, request: dict[str, Any], timeout_s: float
    ) -> dict[str, Any] | None:
        """The agent's answer through the host's session; None when the session could not
        answer (the caller then runs the request as its own command).

        serve_line: the shell command that starts `agent serve ROOT` on the host.
        """
        session = await self._session(host, serve_line)
        if session is None:
            return None
        async with session.lock:
            if self._sessions.get(host.name) is not session:
                return None  # closed while this ask waited for the lock
            try:
                await session.channel.send(json.dumps({"command": command, "request": request}))
                line = await asyncio.wait_for(session.channel.receive(), timeout=timeout_s)
                answer = json.loads(line)
            except (Exception, asyncio.CancelledError) as exc:
                # A cancelled ask leaves its answer unread in the channel: the session
                # cannot be trusted to pair the next request with its answer.
                await self._drop(host.name, session)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                return None
            session.last_used = time.monotonic()
        return answer if isinstance(answer, dict) else None

    async def _session(self, host: Host, serve_line: str) -> AgentSession | None:
        lock = self._opening.setdefault(host.name, asyncio.Lock())
        async with lock:
            session = self._sessions.get(host.name)
            if session is not None:
                if time.monotonic() - session.last_used < REOPEN_AFTER_IDLE_S:
                    return session
                await self._drop(host.name, session)
            ready: asyncio.Future[LineChannel] = asyncio.get_running_loop().create_future()
            closing = asyncio.Event()
            holder = asyncio.create_task(self._hold(host, serve_line, ready, closing))
            try:
                channel = await ready
            except Exception:
                return None
            session = AgentSession(channel, holder, closing, asyncio.Lock(), time.monotonic())
            self._sessions[host.name] = session
            self.opened += 1
            return session

    async def _hold(
        self,
        host: Host,
        serve_line: str,
        ready: asyncio.Future[LineChannel],
        closing: asyncio.Event,
    ) -> None:
        """Open the session's channel, keep it until told to close (or until the loop
        ends and cancels this task), and close it, all in this one task."""
        try:
            async with self._shell().open_lines(host, serve_line) as channel:
                ready.set_result(channel)
                await closing.wait()
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)

    async def _drop(self, name: str, session: AgentSession) -> None:
        if self._sessions.get(name) is session:
            del self._sessions[name]
        session.closing.set()
        with contextlib.suppress(Exception):
            await session.holder

    async def close(self) -> None:
        for name, session in list(self._sessions.items()):
            await self._drop(name, session)
