"""Runs and their logs: the table polled from the backends, the selected run's log followed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cockpit.app.controller import Controller, RequestHandler, Shell, report_command
from cockpit.bus import CommandBus, CommandError
from cockpit.logs import LogFollower
from cockpit.models import Command, Run
from cockpit.registry import host_target
from cockpit.runs import RunCommandHandler
from cockpit.store import NotFoundError, Store
from widgets.requests import PaneRequest
from widgets.runs import RunsPane

RUN_POLL_S = 2.0
LOG_CHUNK_BYTES = 256 * 1024

RunsListener = Callable[[list[Run]], Awaitable[None]]


class RunsController(Controller):
    def __init__(
        self,
        store: Store,
        bus: CommandBus,
        pane: RunsPane,
        shell: Shell,
        handler: RunCommandHandler,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.bus = bus
        self.pane = pane
        self.shell = shell
        self.handler = handler
        self.clock = clock  # the demo's runs live on the demo's clock
        self.runs: list[Run] = []
        self.logs = LogFollower()
        self._listeners: list[RunsListener] = []
        bus.subscribe(self._on_command)

    def _on_command(self, command: Command) -> None:
        # A run or GPU command that ended (from any pane, or confirmed later) moves runs.
        if command.status.terminal and command.kind.startswith(("run.", "gpu.")):
            self.shell.start(self.reload, group="runs-reload", exclusive=True)

    def on_runs_changed(self, listener: RunsListener) -> None:
        """Called with the runs after every reload (results and triage follow them)."""
        self._listeners.append(listener)

    def routes(self) -> dict[type[PaneRequest], RequestHandler]:
        return {
            RunsPane.RunSelected: self._on_selected,
            RunsPane.CancelRequested: self._on_cancel,
            RunsPane.RelaunchRequested: self._on_relaunch,
        }

    async def load(self) -> None:
        await self.reload()

    async def reload(self) -> None:
        self.runs = await asyncio.to_thread(self.store.list_runs)
        self.pane.show_runs(self.runs, now=self.clock())
        for listener in self._listeners:
            await listener(self.runs)

    def start(self) -> None:
        self.shell.every(RUN_POLL_S, self._poll)
        if self.pane.log_run is not None:
            self._follow_selected()

    async def _poll(self) -> None:
        if await self.handler.poll_active():
            await self.reload()
        elif self.runs:
            self.pane.show_runs(self.runs, now=self.clock())  # keep elapsed times moving

    def run(self, run_id: str) -> Run | None:
        return next((r for r in self.runs if r.id == run_id), None)

    # -- the log of the selected run ------------------------------------------------------

    def _on_selected(self, event: RunsPane.RunSelected) -> None:
        # The log view was cleared: read the run again from its first byte.
        self.logs.reset(event.run_id)
        self._follow_selected()

    def _follow_selected(self) -> None:
        self.shell.start(self._follow, group="log-follow", exclusive=True)

    async def _follow(self) -> None:
        run = self.run(self.pane.log_run or "")
        if run is None:
            return
        try:
            backend = await self.handler.backend_for(run)
        except CommandError:
            return  # a host whose kind runs nothing here has no log to follow
        async for chunk in backend.follow(run, self.logs.offset(run.id)):
            lines = self.logs.feed(run.id, chunk)
            if lines:
                self.pane.append_log(run.id, lines)

    # -- commands -------------------------------------------------------------------------

    def _on_cancel(self, event: RunsPane.CancelRequested) -> None:
        self._confirm_run_command(
            event.run_id,
            f"Cancel run {event.run_id}? Its process group gets TERM, then KILL.",
            "run.cancel",
        )

    def _on_relaunch(self, event: RunsPane.RelaunchRequested) -> None:
        self._confirm_run_command(
            event.run_id, f"Relaunch run {event.run_id} with the same spec?", "run.relaunch"
        )

    def _confirm_run_command(self, run_id: str, question: str, kind: str) -> None:
        run = self.run(run_id)
        if run is None:
            return
        self.shell.confirm(question, lambda: self.submit(run, kind, {"run_id": run.id}))

    def submit(self, run: Run, kind: str, payload: dict[str, Any]) -> None:
        async def work() -> None:
            try:
                host = await asyncio.to_thread(self.store.get_host, run.host or "")
            except NotFoundError:
                self.shell.notify(f"run {run.id}: no host named {run.host!r}", severity="error")
                return
            command = await self.bus.submit("runs", host_target(host), kind, payload)
            report_command(self.shell, command)
            if kind == "run.relaunch" and self.pane.log_run == run.id:
                # A new attempt writes its log from the start: follow it from there.
                self.logs.reset(run.id)
                self.pane.restart_log()
                self._follow_selected()

        self.shell.start(work, group="bus")
