"""Ideas: the queue of research ideas with their scores; details of the selected one below.

Keys ask the controller for work: a/e add and edit an idea in a form, d deletes, g generates
ideas with an LLM and k checks the selected one's novelty against the literature (the answer
and the papers found stream into the pane; esc cancels), p proposes a sweep for an approved
idea (it waits in Commands for a person's yes), u shows what the LLM calls have cost.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Log, Static, TextArea

from cockpit.models import Idea, IdeaStatus
from cockpit.render.safe import printable, printable_fields
from widgets.requests import PaneRequest

# Cells right of the title, padding and scrollbar included: the scores and the status stay
# on screen at 80 columns and a wider pane gives the title the rest (the detail shows it all).
SCORE_COLUMNS_WIDTH = 46
MIN_TITLE_WIDTH = 20
MAX_PAPERS_SHOWN = 12


def title_width(pane_width: int) -> int:
    return max(MIN_TITLE_WIDTH, pane_width - SCORE_COLUMNS_WIDTH)


def _score(value: int | None) -> str:
    return "—" if value is None else str(value)


class IdeaForm(ModalScreen[dict[str, str] | None]):
    """A small form: one Input per field; enter saves, escape closes without saving."""

    BINDINGS = [Binding("escape", "close", "Close", id="form.close")]

    def __init__(self, title: str, fields: Sequence[tuple[str, str, str]]) -> None:
        super().__init__()
        self.form_title = title
        self.fields = list(fields)  # (key, label, value)

    def compose(self) -> ComposeResult:
        with Vertical(id="idea-form"):
            yield Static(f"[b]{self.form_title}[/b]  enter saves · esc closes")
            for key, label, value in self.fields:
                yield Input(value=value, placeholder=label, id=f"form-{key}")

    def on_input_submitted(self) -> None:
        self.dismiss(
            {key: self.query_one(f"#form-{key}", Input).value for key, _, _ in self.fields}
        )

    def action_close(self) -> None:
        self.dismiss(None)


class SpecEditScreen(ModalScreen[str | None]):
    """The sweep spec an idea proposes, open for editing before it goes to Commands, where
    it still waits for a person's yes. ctrl+s proposes it; escape drops it."""

    DEFAULT_CSS = """
    SpecEditScreen { align: center middle; }
    #spec-box { width: 96%; height: 90%; border: thick $warning; background: $surface; }
    #spec-text { height: 1fr; }
    """
    BINDINGS = [
        Binding("ctrl+s", "propose", "Propose", id="spec.propose"),
        Binding("escape", "drop", "Drop", id="spec.drop"),
    ]

    def __init__(self, title: str, spec: str) -> None:
        super().__init__()
        self.spec_title = title
        self.editor = TextArea(spec, id="spec-text", soft_wrap=False, show_line_numbers=True)

    def compose(self) -> ComposeResult:
        with Vertical(id="spec-box"):
            yield Static(Text(printable(self.spec_title), style="bold"))
            yield Static("ctrl+s proposes it (it still waits in Commands for y) · esc drops it")
            yield self.editor

    def action_propose(self) -> None:
        self.dismiss(self.editor.text)

    def action_drop(self) -> None:
        self.dismiss(None)


class UsageScreen(ModalScreen[None]):
    """What the LLM calls have cost, per day, pane, idea and backend; escape closes."""

    DEFAULT_CSS = """
    UsageScreen { align: center middle; }
    #usage-box { width: 90%; height: 80%; border: thick $accent; background: $surface; }
    """
    BINDINGS = [Binding("escape,u,q", "close", "Close", id="usage.close")]

    def __init__(self, usage: RenderableType) -> None:
        super().__init__()
        self.usage = usage

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="usage-box"):
            yield Static("[b]LLM usage[/b]  esc closes")
            yield Static(self.usage, id="usage-tables")

    def action_close(self) -> None:
        self.dismiss(None)


class IdeasPane(Vertical):
    BINDINGS = [
        Binding("a", "add", "Add", tooltip="Add idea", id="ideas.add"),
        Binding("e", "edit", "Edit", id="ideas.edit"),
        Binding("d", "delete", "Delete", id="ideas.delete"),
        Binding("g", "generate", "Generate", tooltip="Generate (LLM)", id="ideas.generate"),
        Binding("p", "propose", "Propose", tooltip="Propose sweep", id="ideas.propose"),
        # In the help (?), not the footer: the 80-column footer keeps the keys above.
        Binding(
            "P",
            "propose_llm",
            "Propose a sweep written by the LLM",
            show=False,
            id="ideas.propose_llm",
        ),
        Binding("k", "check", "Novelty check (literature + LLM)", show=False, id="ideas.check"),
        Binding("u", "usage", "LLM usage: cost per day, pane, idea", show=False, id="ideas.usage"),
        Binding("escape", "cancel", "Cancel LLM", show=False, id="ideas.cancel"),
    ]

    class SaveRequested(PaneRequest):
        """A person filled the form: `original` is None for a new idea."""

        def __init__(self, original: Idea | None, values: dict[str, str]) -> None:
            super().__init__()
            self.original = original
            self.values = values

    class DeleteRequested(PaneRequest):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    class GenerateRequested(PaneRequest):
        def __init__(self, values: dict[str, str]) -> None:
            super().__init__()
            self.values = values

    class CancelRequested(PaneRequest):
        pass

    class ProposeRequested(PaneRequest):
        """p: propose a sweep for the idea (the controller opens its spec for editing);
        P: the pane's LLM writes the spec first."""

        def __init__(self, name: str, by_llm: bool = False) -> None:
            super().__init__()
            self.name = name
            self.by_llm = by_llm

    class CheckRequested(PaneRequest):
        """k: check the idea's novelty (`values`: llm, source, rounds from the form)."""

        def __init__(self, name: str, values: dict[str, str]) -> None:
            super().__init__()
            self.name = name
            self.values = values

    class UsageRequested(PaneRequest):
        pass

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._ideas: dict[str, Idea] = {}
        self._title_width = 0  # the width titles were cut to, redrawn when it changes
        self.generating = False  # an LLM job of this pane is in flight (esc cancels it)
        self.default_llm = ""  # the backend the forms offer (the controller sets it)
        self.progress = Static("", id="ideas-progress")
        self.stream = Log(id="ideas-stream", max_lines=400)
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
        yield self.progress
        yield self.stream
        with VerticalScroll(id="idea-detail-scroll"):
            yield self.detail

    # -- what the controller feeds in --------------------------------------------------

    @property
    def selected(self) -> Idea | None:
        if self.table.row_count == 0:
            return None
        key = self.table.coordinate_to_cell_key(self.table.cursor_coordinate).row_key.value
        return self._ideas.get(str(key))

    def start_generation(self, message: str) -> None:
        self.generating = True
        self.stream.clear()
        self.stream.display = True
        self.progress.update(Text(printable(message)))

    def show_progress(self, message: str) -> None:
        self.progress.update(Text(printable(message)))
        self.stream.write("\n")

    def stream_text(self, piece: str) -> None:
        """A piece of the model's answer, as it arrives (control sequences escaped)."""
        self.stream.write(printable(piece, newlines=True))

    def end_generation(self, message: str) -> None:
        self.generating = False  # an LLM job of this pane is in flight (esc cancels it)
        self.default_llm = ""  # the backend the forms offer (the controller sets it)
        self.progress.update(Text(printable(message)))

    # -- keys ----------------------------------------------------------------------------

    def action_add(self) -> None:
        fields = [
            ("name", "name (letters, digits, _ - .)", ""),
            ("title", "title", ""),
            ("experiment", "experiment", ""),
            ("priority", "priority (a number, higher first)", "0"),
        ]
        self.app.push_screen(
            IdeaForm("New idea", fields),
            lambda values: values and self.post_message(self.SaveRequested(None, values)),
        )

    def action_edit(self) -> None:
        idea = self.selected
        if idea is None:
            return
        statuses = "/".join(s.value for s in IdeaStatus)
        fields = [
            ("title", "title", idea.title),
            ("experiment", "experiment", idea.experiment),
            ("status", f"status ({statuses})", str(idea.status)),
            ("priority", "priority", str(idea.priority)),
            ("notes", "notes", idea.notes.replace("\n", " · ")),
        ]
        self.app.push_screen(
            IdeaForm(f"Edit {idea.name}", fields),
            lambda values: values and self.post_message(self.SaveRequested(idea, values)),
        )

    def action_delete(self) -> None:
        if self.selected is not None:
            self.post_message(self.DeleteRequested(self.selected.name))

    def action_generate(self) -> None:
        if self.generating:
            return
        fields = [
            ("llm", "LLM backend name (empty: the default)", self.default_llm),
            ("context", "context file (task, code template, results)", ""),
            ("n", "ideas", "3"),
            ("reflections", "reflection rounds", "2"),
        ]
        self.app.push_screen(
            IdeaForm("Generate ideas", fields),
            lambda values: values and self.post_message(self.GenerateRequested(values)),
        )

    def action_cancel(self) -> None:
        if self.generating:
            self.post_message(self.CancelRequested())

    def action_check(self) -> None:
        idea = self.selected
        if idea is None or self.generating:
            return
        fields = [
            ("llm", "LLM backend name (empty: the default)", self.default_llm),
            ("source", "literature: semantic_scholar or openalex", "semantic_scholar"),
            ("rounds", "rounds of queries (1-10)", "3"),
        ]
        self.app.push_screen(
            IdeaForm(f"Novelty check of {idea.name}", fields),
            lambda values: values and self.post_message(self.CheckRequested(idea.name, values)),
        )

    def action_usage(self) -> None:
        self.post_message(self.UsageRequested())

    def action_propose(self) -> None:
        if self.selected is not None:
            self.post_message(self.ProposeRequested(self.selected.name))

    def action_propose_llm(self) -> None:
        if self.selected is not None and not self.generating:
            self.post_message(self.ProposeRequested(self.selected.name, by_llm=True))

    def show_ideas(self, ideas: Sequence[Idea]) -> None:
        ideas = printable_fields(list(ideas))  # titles come from idea files and LLMs
        self._ideas = {i.name: i for i in ideas}
        table = self.table
        selected = self.selected
        table.clear()
        width = self._title_width = title_width(self.size.width or self.app.size.width)
        ranked = sorted(ideas, key=lambda i: (-i.priority, -(i.score or 0.0)))
        for idea in ranked:
            novel = (
                Text("?", style="dim")
                if idea.novel is None
                else Text("yes", style="green")
                if idea.novel
                else Text("no", style="red")
            )
            shown = printable(idea.title)
            title = shown if len(shown) <= width else shown[: width - 1] + "…"
            table.add_row(
                title,
                _score(idea.interestingness),
                _score(idea.feasibility),
                _score(idea.novelty),
                "—" if idea.score is None else f"{idea.score:.1f}",
                novel,
                str(idea.status),
                key=idea.name,
            )
        if selected is not None and selected.name in self._ideas:
            table.move_cursor(row=table.get_row_index(selected.name))
        self._show_detail()

    def on_resize(self) -> None:
        if self._ideas and title_width(self.size.width) != self._title_width:
            self.show_ideas(list(self._ideas.values()))

    def on_data_table_row_highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        table = self.table
        detail = self.detail
        if table.row_count == 0:
            detail.update("No ideas yet.")
            return
        idea = self.selected
        if idea is None:
            return
        p = printable
        text = Text()
        text.append(f"{p(idea.title)}\n", style="bold")
        text.append(f"{p(idea.name)} · {idea.status} · priority {idea.priority} · ", style="dim")
        text.append(f"from {idea.source}\n", style="dim")
        text.append(p(idea.experiment, newlines=True))
        for label, body in (("why", idea.reasoning), ("notes", idea.notes)):
            if body:
                text.append(f"\n{label}: ", style="bold")
                text.append(p(body, newlines=True))
        if idea.sweeps:
            text.append(f"\nsweeps: {', '.join(p(s) for s in idea.sweeps)}")
        check = idea.novelty_check
        if check is not None:
            verdict = {None: "undecided", True: "novel", False: "not novel"}[check.novel]
            text.append(f"\nnovelty: {verdict}", style="bold")
            text.append(f" (checked on {check.source}): ", style="dim")
            text.append(p(check.reasons, newlines=True))
            if check.queries:
                text.append("\nsearched: ", style="dim")
                text.append("; ".join(p(q) for q in check.queries), style="dim")
            for paper in check.papers[:MAX_PAPERS_SHOWN]:
                cited = "?" if paper.citations is None else str(paper.citations)
                text.append(f"\n  · {p(paper.title)}")
                text.append(
                    f" ({paper.year or '?'}, {p(paper.venue) or 'no venue'}, {cited} citations)",
                    style="dim",
                )
                if paper.url:
                    text.append(f" {p(paper.url)}", style="underline")
            hidden = len(check.papers) - MAX_PAPERS_SHOWN
            if hidden > 0:
                text.append(f"\n  and {hidden} more (cockpit ideas show {p(idea.name)})")
        detail.update(text)
