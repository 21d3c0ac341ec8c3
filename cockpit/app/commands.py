"""The Commands pane: the audit log, and the confirm gate for what an LLM proposed."""

from __future__ import annotations

import asyncio

from cockpit.app.controller import Controller, RequestHandler, Shell, report_command
from cockpit.bus import CommandBus, CommandError
from cockpit.models import Command
from cockpit.store import Store
from widgets.commands import CommandsPane
from widgets.requests import PaneRequest


class CommandsController(Controller):
    def __init__(self, store: Store, bus: CommandBus, pane: CommandsPane, shell: Shell) -> None:
        self.store = store
        self.bus = bus
        self.pane = pane
        self.shell = shell
        bus.subscribe(self._on_command)

    def routes(self) -> dict[type[PaneRequest], RequestHandler]:
        return {
            CommandsPane.ConfirmRequested: self._on_confirm,
            CommandsPane.RejectRequested: self._on_reject,
        }

    async def load(self) -> None:
        self.pane.show_commands(await asyncio.to_thread(self.store.list_commands))

    def _on_command(self, command: Command) -> None:
        self.shell.start(self.load, group="commands", exclusive=True)

    def _on_confirm(self, event: CommandsPane.ConfirmRequested) -> None:
        command_id = event.command_id

        async def confirm() -> None:
            try:
                report_command(self.shell, await self.bus.confirm(command_id))
            except CommandError as exc:
                self.shell.notify(str(exc), severity="error")

        self.shell.confirm(
            f"Run command #{command_id}, proposed by an LLM?",
            lambda: self.shell.start(confirm, group="bus"),
        )

    def _on_reject(self, event: CommandsPane.RejectRequested) -> None:
        command_id = event.command_id

        async def reject() -> None:
            try:
                await self.bus.reject(command_id)
            except CommandError as exc:
                self.shell.notify(str(exc), severity="error")

        self.shell.start(reject, group="bus")
