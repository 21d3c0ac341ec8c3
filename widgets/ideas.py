"""Ideas: the queue of research ideas with their scores; details of the selected one below."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from cockpit.models import Idea
from cockpit.render.safe import printable_fields

TITLE_WIDTH = 44  # the scores must stay on screen at 80 columns; the detail shows it all


def _score(value: int | None) -> str:
    return "—" if value is None else str(value)


class IdeasPane(Vertical):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._ideas: dict[str, Idea] = {}
        self.table: DataTable[object] = DataTable(id="ideas-table", cursor_type="row")
        for key, label in (
            ("title", "Idea"),
            ("i", "Int"),
            ("f", "Fea"),
            ("n", "Nov"),
            ("score", "Score"),
            ("novel", "Novel"),
            ("status", "Status"),
        ):
            self.table.add_column(label, key=key)
        self.detail = Static("No ideas yet.", id="idea-detail")

    def compose(self) -> ComposeResult:
        yield self.table
        with VerticalScroll(id="idea-detail-scroll"):
            yield self.detail

    def show_ideas(self, ideas: Sequence[Idea]) -> None:
        ideas = printable_fields(list(ideas))  # titles come from idea files and LLMs
        self._ideas = {i.name: i for i in ideas}
        table = self.table
        table.clear()
        ranked = sorted(ideas, key=lambda i: -(i.score or 0.0))
        for idea in ranked:
            novel = (
                Text("?", style="dim")
                if idea.novel is None
                else Text("yes", style="green")
                if idea.novel
                else Text("no", style="red")
            )
            title = (
                idea.title
                if len(idea.title) <= TITLE_WIDTH
                else idea.title[: TITLE_WIDTH - 1] + "…"
            )
            table.add_row(
                title,
                _score(idea.interestingness),
                _score(idea.feasibility),
                _score(idea.novelty),
                "—" if idea.score is None else f"{idea.score:.1f}",
                novel,
                idea.status,
                key=idea.name,
            )
        self._show_detail()

    def on_data_table_row_highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        table = self.table
        detail = self.detail
        if table.row_count == 0:
            detail.update("No ideas yet.")
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        idea = self._ideas[str(key)]
        text = Text()
        text.append(f"{idea.title}\n", style="bold")
        text.append(f"{idea.name} · from {idea.source}\n", style="dim")
        text.append(idea.experiment)
        detail.update(text)
