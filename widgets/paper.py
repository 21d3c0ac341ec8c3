"""Paper: the draft's versions, and the diff of the selected version against the one before."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from cockpit.models import DraftVersion
from cockpit.render.safe import printable
from widgets.requests import PaneRequest


class PaperPane(Vertical):
    class VersionSelected(PaneRequest):
        def __init__(self, draft: str, version: int) -> None:
            super().__init__()
            self.draft = draft
            self.version = version

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._versions: list[DraftVersion] = []
        self.table: DataTable[object] = DataTable(id="paper-versions", cursor_type="row")
        for key, label in (
            ("draft", "Draft"),
            ("version", "v"),
            ("date", "Date"),
            ("lines", "Lines"),
            ("message", "Message"),
        ):
            self.table.add_column(label, key=key)
        self.diff = Static("No drafts yet.", id="paper-diff")

    def compose(self) -> ComposeResult:
        yield self.table
        with VerticalScroll(id="paper-diff-scroll"):
            yield self.diff

    def show_versions(self, versions: Sequence[DraftVersion]) -> None:
        self._versions = list(versions)
        table = self.table
        table.clear()
        for v in reversed(self._versions):  # newest first: that is what one reviews
            date = datetime.fromtimestamp(v.created_at).strftime("%m-%d %H:%M")
            table.add_row(
                printable(v.draft),
                str(v.version),
                date,
                str(v.text.count("\n") + 1),  # the draft's own lines, before any escaping
                printable(v.message),
                key=f"{v.draft}:{v.version}",
            )
        self._request_diff()

    def on_data_table_row_highlighted(self) -> None:
        self._request_diff()

    def _request_diff(self) -> None:
        table = self.table
        if table.row_count == 0:
            return
        key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        draft, _, version = key.rpartition(":")
        self.post_message(self.VersionSelected(draft, int(version)))

    def show_diff(self, title: str, diff_lines: Sequence[str]) -> None:
        text = Text(printable(title) + "\n", style="bold")
        for line in map(printable, diff_lines):
            if line.startswith("+") and not line.startswith("+++"):
                text.append(line + "\n", style="green")
            elif line.startswith("-") and not line.startswith("---"):
                text.append(line + "\n", style="red")
            elif line.startswith("@@"):
                text.append(line + "\n", style="cyan")
            else:
                text.append(line + "\n", style="dim")
        self.diff.update(text)
