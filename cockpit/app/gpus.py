"""GPUs: snapshots streamed from the hosts, batched per flush, kept as history, kills asked."""

from __future__ import annotations

import asyncio
import getpass
import importlib
import time
from collections.abc import Callable
from typing import Any

from cockpit.app.controller import Controller, RequestHandler, Shell, report_command
from cockpit.bus import CommandBus
from cockpit.demo import DEMO_USER
from cockpit.gpu_watch import GpuWatch
from cockpit.models import Host, HostKind
from cockpit.ports import GpuSource
from cockpit.registry import CommandRegistry, host_target
from cockpit.store import Store
from widgets.gpu import GpuPane
from widgets.requests import PaneRequest

GPU_FLUSH_S = 1.0
GPU_HISTORY_S = 60.0
KILL_GRACE_S = 10.0
# The kinds of host whose GPUs are watched over SSH (or locally) and whose processes we kill.
WATCHED_KINDS = (HostKind.SSH, HostKind.SLURM, HostKind.LOCAL)


def login_on(host: Host) -> str:
    """Whom the cockpit acts as on `host`: the user given for it, the demo's user, else the
    local user (ssh logs in as the local user unless told otherwise)."""
    if host.user:
        return host.user
    if host.kind is HostKind.DEMO:
        return DEMO_USER
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return ""


class GpusController(Controller):
    def __init__(
        self,
        store: Store,
        bus: CommandBus,
        pane: GpuPane,
        shell: Shell,
        source: GpuSource | None = None,
        ssh_pool: Callable[[], Any] | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.pane = pane
        self.shell = shell
        self.source = source
        self.watch = GpuWatch()
        self.hosts: dict[str, Host] = {}
        self._ssh_pool: Any = None  # backends.ssh.connection.SshPool, imported lazily
        # The app's shared pool (runs use it too), when the app has one.
        self._shared_pool = ssh_pool

    @property
    def registry(self) -> CommandRegistry:
        return self.bus.registry

    def routes(self) -> dict[type[PaneRequest], RequestHandler]:
        return {GpuPane.KillRequested: self._on_kill}

    async def load(self) -> None:
        hosts = await asyncio.to_thread(self.store.list_hosts)
        self.hosts = {h.name: h for h in hosts}
        self.registry.set_hosts(hosts)
        if self.source is None:
            await self._connect_real_hosts()

    async def _connect_real_hosts(self) -> None:
        hosts = [h for h in self.hosts.values() if h.kind in WATCHED_KINDS]
        if not hosts:
            self.pane.show_message(
                "No hosts yet. Add one: cockpit host add NAME --ssh user@address (or cockpit demo)"
            )
            return
        # asyncssh and its crypto take a while to import: do it off the event loop.
        remote = await asyncio.to_thread(importlib.import_module, "backends.gpu.remote")
        kill = await asyncio.to_thread(importlib.import_module, "backends.gpu.kill")
        ssh = await asyncio.to_thread(importlib.import_module, "backends.ssh.connection")
        self._ssh_pool = self._shared_pool() if self._shared_pool else ssh.SshPool()
        self.source = remote.gpu_source_for(hosts, self._ssh_pool)
        killer = kill.GpuKillHandler(self._ssh_pool, hosts)
        for kind in WATCHED_KINDS:
            self.registry.register("gpu", killer, host_kind=kind)

    def start(self) -> None:
        if self.source is None:
            return
        self.shell.start(self._stream, group="gpu-stream")
        self.shell.every(GPU_FLUSH_S, self._flush)
        self.shell.every(GPU_HISTORY_S, self._save_history)

    async def _stream(self) -> None:
        # Samples are only buffered here; the pane is redrawn once per flush, not per sample.
        assert self.source is not None
        async for snapshot in self.source.stream():
            self.watch.add(snapshot)

    async def _flush(self) -> None:
        batch = self.watch.take()
        if batch:
            self.pane.apply_snapshots(batch)

    async def _save_history(self) -> None:
        rows = self.watch.history.drain(time.time())
        if rows:
            await asyncio.to_thread(self.store.add_gpu_samples, rows)

    def _on_kill(self, event: GpuPane.KillRequested) -> None:
        host = self.hosts.get(event.host)
        if host is None:
            return
        if host.read_only:
            self.shell.notify(
                f"{event.host} is read-only: the cockpit never kills there.", severity="warning"
            )
            return
        p = event.process
        payload = {
            "host": event.host,
            "pid": p.pid,
            "gpu": event.gpu_index,
            "command": p.command,
            "grace_s": KILL_GRACE_S,
        }

        async def kill() -> None:
            report_command(
                self.shell, await self.bus.submit("gpus", host_target(host), "gpu.kill", payload)
            )

        me = login_on(host)
        owner = ""
        if p.user and me and p.user != me:
            # The confirm must say so: a colleague's job is not ours to stop lightly.
            owner = f" It belongs to another user, {p.user} (you are {me} on {event.host})."
        self.shell.confirm(
            f"Kill pid {p.pid} ({p.user or '?'}: {p.command or '?'}) on {event.host} "
            f"GPU {event.gpu_index}?{owner} It gets TERM, then KILL after {KILL_GRACE_S:.0f} s.",
            lambda: self.shell.start(kill, group="bus"),
        )

    async def close(self) -> None:
        if self.source is not None:
            await self.source.close()
        if self._ssh_pool is not None:
            await self._ssh_pool.close()
