"""Commands: the audit log of everything the cockpit was asked to do, newest first.

LLM-proposed commands wait here in `needs-confirm` until a person confirms (y) or rejects (n).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from cockpit.models import Command, CommandStatus
from cockpit.render.safe import printable_fields
from widgets.requests import PaneRequest

STATUS_STYLE = {
    CommandStatus.PENDING: "dim",
    CommandStatus.NEEDS_CONFIRM: "bold yellow",
    CommandStatus.RUNNING: "cyan",
    CommandStatus.DONE: "green",
    CommandStatus.FAILED: "bold red",
    CommandStatus.REJECTED: "dim",
    CommandStatus.INTERRUPTED: "bold magenta",
}


def _outcome(command: Command) -> str:
    if command.error:
        return command.error
    if command.result:
        return json.dumps(command.result, separators=(",", ":"))[:80]
    if command.status is CommandStatus.NEEDS_CONFIRM:
        return str(command.payload.get("reason", "proposed by an LLM: confirm with y"))
    return ""


class CommandsPane(Vertical):
    BINDINGS = [
        Binding("y", "confirm", "Confirm", id="commands.confirm"),
        Binding("n", "reject", "Reject", id="commands.reject"),
    ]

    class ConfirmRequested(PaneRequest):
        def __init__(self, command_id: int) -> None:
            super().__init__()
            self.command_id = command_id

    class RejectRequested(PaneRequest):
        def __init__(self, command_id: int) -> None:
            super().__init__()
            self.command_id = command_id

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._commands: dict[int, Command] = {}
        # Children are built here and held, never looked up: updates that arrive while
        # the app tears down must not fail on a query.
        self.summary = Static("", id="commands-summary")
        self.table: DataTable[object] = DataTable(id="commands-table", cursor_type="row")
        for key, label in (
            ("id", "#"),
            ("when", "When"),
            ("origin", "From"),
            ("kind", "Command"),
            ("status", "Status"),
            ("outcome", "Outcome"),
        ):
            self.table.add_column(label, key=key)

    def compose(self) -> ComposeResult:
        yield self.summary
        yield self.table

    def show_commands(self, commands: Sequence[Command]) -> None:
        commands = printable_fields(list(commands))  # results and errors come from hosts/LLMs
        self._commands = {c.id: c for c in commands}
        table = self.table
        cursor = table.cursor_row
        table.clear()
        for c in commands:
            target = c.payload.get("run_id") or c.payload.get("pid") or ""
            table.add_row(
                str(c.id),
                datetime.fromtimestamp(c.created_at).strftime("%H:%M:%S"),
                f"{c.pane}/{c.origin}",
                f"{c.backend}: {c.kind} {target}".rstrip(),
                Text(str(c.status), style=STATUS_STYLE.get(c.status, "")),
                _outcome(c),
                key=str(c.id),
            )
        if commands:
            table.move_cursor(row=min(cursor, len(commands) - 1))
        waiting = sum(1 for c in commands if c.status is CommandStatus.NEEDS_CONFIRM)
        summary = Text(f"{len(commands)} commands")
        if waiting:
            summary.append(
                f"  {waiting} waiting for your confirmation (y / n)", style="bold yellow"
            )
        self.summary.update(summary)

    def selected(self) -> Command | None:
        table = self.table
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self._commands.get(int(str(key)))

    def action_confirm(self) -> None:
        command = self.selected()
        if command is not None and command.status is CommandStatus.NEEDS_CONFIRM:
            self.post_message(self.ConfirmRequested(command.id))

    def action_reject(self) -> None:
        command = self.selected()
        if command is not None and command.status is CommandStatus.NEEDS_CONFIRM:
            self.post_message(self.RejectRequested(command.id))
