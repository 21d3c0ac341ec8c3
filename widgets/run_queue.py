"""A host's run queue over the Runs pane: the waiting runs in start order, moved or dropped.

Drawing only: the screen closes with the edit the person asked for (QueueEdit) and the
controller carries it out as a `run.queue` command, then shows the queue again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static


@dataclass(frozen=True)
class QueueEdit:
    """What to do to one queued run: move it to `position` (0 is next), or drop it."""

    op: str  # move | drop
    run_id: str
    position: int = 0


class QueueScreen(ModalScreen[QueueEdit | None]):
    BINDINGS = [
        Binding("K", "move(-1)", "Move up", id="queue.up"),
        Binding("J", "move(1)", "Move down", id="queue.down"),
        Binding("x", "drop", "Drop", id="queue.drop"),
        Binding("escape,q", "close", "Close", id="queue.close"),
    ]

    def __init__(
        self,
        host: str,
        order: Sequence[str],
        held: Mapping[str, str],
        selected: str | None = None,
    ) -> None:
        super().__init__()
        self.host = host
        self.order = list(order)
        self.held = dict(held)  # "gpu:N" / "cpu:SLOT" -> the run holding it
        self.selected = selected
        self.table: DataTable[object] = DataTable(id="queue-table", cursor_type="row")

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            # Text, not markup: host names and run ids are the user's.
            title = f"Queue on {self.host}: {len(self.order)} waiting, next first"
            yield Static(Text(title, style="bold"), id="confirm-question")
            yield self.table
            busy = ", ".join(f"{k} {v}" for k, v in sorted(self.held.items())) or "nothing"
            yield Static(Text(f"held: {busy}", style="dim"), id="queue-held")
            yield Static(
                "[b]K[/b]/[b]J[/b] move  [b]x[/b] drop  [b]esc[/b] close", id="confirm-keys"
            )

    def on_mount(self) -> None:
        self.table.add_column("#", key="pos")
        self.table.add_column("Run", key="run")
        for pos, run_id in enumerate(self.order):
            self.table.add_row(str(pos), run_id, key=run_id)
        if self.selected in self.order:
            self.table.move_cursor(row=self.order.index(self.selected))
        self.table.focus()

    def _current(self) -> int | None:
        return self.table.cursor_row if self.order else None

    def action_move(self, step: int) -> None:
        row = self._current()
        if row is None:
            return
        target = row + step
        if 0 <= target < len(self.order):
            self.dismiss(QueueEdit("move", self.order[row], target))

    def action_drop(self) -> None:
        row = self._current()
        if row is not None:
            self.dismiss(QueueEdit("drop", self.order[row]))

    def action_close(self) -> None:
        self.dismiss(None)
