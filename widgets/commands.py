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


# Below this width When and From give way and long commands are cut, so that the status
# and the outcome stay on screen (the outcome is what a person confirms or rejects on).
WIDE = 110
NARROW_COMMAND_WIDTH = 28
COLUMNS = (
    ("id", "#"),
    ("when", "When"),
    ("origin", "From"),
    ("kind", "Command"),
    ("status", "Status"),
    ("outcome", "Outcome"),
)


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
        self._wide: bool | None = None  # the layout drawn; None before the first draw
        # Children are built here and held, never looked up: updates that arrive while
        # the app tears down must not fail on a query.
        self.summary = Static("", id="commands-summary")
        self.table: DataTable[object] = DataTable(id="commands-table", cursor_type="row")

    def compose(self) -> ComposeResult:
        yield self.summary
        yield self.table

    def show_commands(self, commands: Sequence[Command]) -> None:
        commands = printable_fields(list(commands))  # results and errors come from hosts/LLMs
        self._commands = {c.id: c for c in commands}
        table = self.table
        cursor = table.cursor_row
        wide = (self.size.width or self.app.size.width) >= WIDE
        if wide != self._wide:
            self._wide = wide
            table.clear(columns=True)
            for key, label in COLUMNS:
                if wide or key not in ("when", "origin"):
                    table.add_column(label, key=key)
        table.clear()
        for c in commands:
            target = c.payload.get("run_id") or c.payload.get("pid") or ""
            what = Text(f"{c.backend}: {c.kind} {target}".rstrip())
            if not wide:
                what.truncate(NARROW_COMMAND_WIDTH, overflow="ellipsis")
            cells: list[object] = [
                str(c.id),
                what,
                Text(str(c.status), style=STATUS_STYLE.get(c.status, "")),
                Text(_outcome(c)),
            ]
            if wide:
                when = datetime.fromtimestamp(c.created_at).strftime("%H:%M:%S")
                cells[1:1] = [when, f"{c.pane}/{c.origin}"]
            table.add_row(*cells, key=str(c.id))
        if commands:
            table.move_cursor(row=min(cursor, len(commands) - 1))
        waiting = sum(1 for c in commands if c.status is CommandStatus.NEEDS_CONFIRM)
        summary = Text(f"{len(commands)} commands")
        if waiting:
            summary.append(
                f"  {waiting} waiting for your confirmation (y / n)", style="bold yellow"
            )
        self.summary.update(summary)

    def on_resize(self) -> None:
        wide = self.size.width >= WIDE
        if self._wide is not None and wide != self._wide:
            # After the resize is laid out: new columns added during it keep their
            # header's width (the table measures the cells on a later idle).
            self.call_after_refresh(self.show_commands, list(self._commands.values()))

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
