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
from textual.message import Message
from textual.widgets import DataTable, Static

from cockpit.models import Command, CommandStatus

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

    class ConfirmRequested(Message):
        def __init__(self, command_id: int) -> None:
            super().__init__()
            self.command_id = command_id

    class RejectRequested(Message):
        def __init__(self, command_id: int) -> None:
            super().__init__()
            self.command_id = command_id

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._commands: dict[int, Command] = {}

    def compose(self) -> ComposeResult:
        yield Static("", id="commands-summary")
        table: DataTable[object] = DataTable(id="commands-table", cursor_type="row")
        table.add_column("#", key="id")
        table.add_column("When", key="when")
        table.add_column("From", key="origin")
        table.add_column("Command", key="kind")
        table.add_column("Status", key="status")
        table.add_column("Outcome", key="outcome")
        yield table

    @property
    def table(self) -> DataTable[object]:
        return self.query_one("#commands-table", DataTable)

    def show_commands(self, commands: Sequence[Command]) -> None:
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
        self.query_one("#commands-summary", Static).update(summary)

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
