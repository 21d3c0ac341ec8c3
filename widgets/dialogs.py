"""Modal screens: a yes/no confirmation and the help screen listing every binding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static


class ConfirmScreen(ModalScreen[bool]):
    """Ask before anything destructive or LLM-proposed runs. y confirms; n or escape declines."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            # Plain text: questions quote hosts, files and models (a process's command
            # line, a run's name), whose brackets are not markup and must not break it.
            yield Static(self.question, id="confirm-question", markup=False)
            yield Static("[b]y[/b] yes    [b]n[/b] no", id="confirm-keys")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


@dataclass(frozen=True)
class BindingRow:
    key: str
    description: str
    scope: str


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def __init__(self, rows: Sequence[BindingRow]) -> None:
        super().__init__()
        self.rows = list(rows)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static("[b]Keys[/b]  (escape closes)", id="help-title")
            table: DataTable[object] = DataTable(id="help-table", cursor_type="row")
            table.add_column("Key", key="key")
            table.add_column("Does", key="description")
            table.add_column("Where", key="scope")
            for row in self.rows:
                table.add_row(row.key, row.description, row.scope)
            yield table

    def action_close(self) -> None:
        self.dismiss(None)
