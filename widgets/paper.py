"""Paper: the draft's versions; the LaTeX-aware diff of two versions (unified or side by
side, keys to jump between changes); the claim check's list; an LLM edit (a section or
paragraph chosen in a small screen, streamed, then its hunks to accept or reject one by
one); the stored reviews and how their scores moved between versions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Log, Static
from textual.widgets.data_table import RowDoesNotExist

from cockpit.models import ClaimReport, DraftDiff, DraftVersion, EditTarget, Hunk, Review
from cockpit.render.paper import (
    claim_line,
    review_history_table,
    review_text,
    side_by_side_change,
    summary_text,
    unified_change,
)
from cockpit.render.safe import printable
from widgets.requests import PaneRequest

EDIT_ASK_HINT = "tighten, grammar, rewrite (from notes) or results (from the results table)"


@dataclass(frozen=True)
class EditChoice:
    """What a person chose in the edit screen; checked by the controller."""

    target: EditTarget
    ask: str
    notes: str
    llm: str


class EditScreen(ModalScreen[EditChoice | None]):
    """Choose a section or paragraph (arrows), what to ask, notes and the LLM backend; enter
    in a field (or on a row) asks for the cost estimate, escape closes."""

    BINDINGS = [Binding("escape", "close", "Close", id="paper-edit.close")]
    DEFAULT_CSS = """
    EditScreen { align: center middle; }
    EditScreen #paper-edit-box { width: 90%; height: auto; max-height: 22;
        border: round $accent; background: $surface; padding: 0 1; }
    EditScreen #paper-edit-targets { height: auto; max-height: 10; }
    EditScreen Input { height: 1; border: none; padding: 0 1; }
    """

    def __init__(self, draft: str, targets: Sequence[EditTarget], llm: str) -> None:
        super().__init__()
        self.draft = draft
        self.targets = list(targets)
        self.llm = llm

    def compose(self) -> ComposeResult:
        with Vertical(id="paper-edit-box"):
            yield Static(
                Text.assemble(
                    (f"LLM edit of {printable(self.draft)}", "bold"),
                    "  ↑↓ choose · enter asks the cost · esc closes",
                )
            )
            table: DataTable[Text] = DataTable(id="paper-edit-targets", cursor_type="row")
            table.add_column("Section / paragraph", key="label")
            table.add_column("Starts", key="text")
            for i, target in enumerate(self.targets):
                indent = "  " if target.kind == "paragraph" else ""
                table.add_row(
                    Text(printable(indent + target.label)),
                    Text(printable(" ".join(target.text.split())[:60])),
                    key=str(i),
                )
            yield table
            yield Static(Text(f"ask: {EDIT_ASK_HINT}; notes; LLM backend", style="dim"))
            yield Input(value="tighten", placeholder=EDIT_ASK_HINT, id="paper-edit-ask")
            yield Input(placeholder="notes (for rewrite)", id="paper-edit-notes")
            yield Input(value=self.llm, placeholder="LLM backend name", id="paper-edit-llm")

    def chosen(self) -> EditChoice | None:
        table = self.query_one("#paper-edit-targets", DataTable)
        if not self.targets or table.row_count == 0:
            return None
        return EditChoice(
            self.targets[table.cursor_row],
            self.query_one("#paper-edit-ask", Input).value.strip(),
            self.query_one("#paper-edit-notes", Input).value,
            self.query_one("#paper-edit-llm", Input).value.strip(),
        )

    def on_input_submitted(self) -> None:
        self.dismiss(self.chosen())

    def on_data_table_row_selected(self) -> None:
        self.dismiss(self.chosen())

    def action_close(self) -> None:
        self.dismiss(None)


class ReviewScreen(ModalScreen[tuple[str, str] | None]):
    """The LLM backend and the number of reviewers; enter asks the cost, escape closes."""

    BINDINGS = [Binding("escape", "close", "Close", id="paper-review.close")]
    DEFAULT_CSS = """
    ReviewScreen { align: center middle; }
    ReviewScreen #paper-review-box { width: 70%; height: auto; border: round $accent;
        background: $surface; padding: 0 1; }
    ReviewScreen Input { height: 1; border: none; padding: 0 1; }
    """

    def __init__(self, title: str, llm: str) -> None:
        super().__init__()
        self.review_title = title
        self.llm = llm

    def compose(self) -> ComposeResult:
        with Vertical(id="paper-review-box"):
            yield Static(
                Text.assemble(
                    (f"Review {printable(self.review_title)}", "bold"),
                    "  enter asks the cost · esc closes",
                )
            )
            yield Input(value=self.llm, placeholder="LLM backend name", id="paper-review-llm")
            yield Input(value="3", placeholder="reviewers (1-10)", id="paper-review-n")

    def on_input_submitted(self) -> None:
        self.dismiss(
            (
                self.query_one("#paper-review-llm", Input).value.strip(),
                self.query_one("#paper-review-n", Input).value.strip(),
            )
        )

    def action_close(self) -> None:
        self.dismiss(None)


class PaperPane(Vertical):
    DEFAULT_CSS = """
    PaperPane #paper-versions { height: auto; max-height: 7; }
    PaperPane #paper-status { height: auto; max-height: 4; padding: 0 1; }
    PaperPane .paper-change { margin-bottom: 1; }
    PaperPane .paper-change.-current { background: $boost; }
    """
    BINDINGS = [
        Binding("n", "next_change", "Next", tooltip="Next change", id="paper.next"),
        Binding("N", "previous_change", "Prev", tooltip="Previous change", id="paper.previous"),
        Binding(
            "s", "toggle_layout", "Layout", tooltip="Side by side or unified", id="paper.layout"
        ),
        Binding(
            "b", "mark_base", "Base", tooltip="Diff others against this version", id="paper.base"
        ),
        Binding("c", "check", "Claims", tooltip="Claim check against results", id="paper.check"),
        Binding(
            "e",
            "edit",
            "Edit",
            tooltip="LLM edit of a section or paragraph (cost shown first)",
            id="paper.edit",
        ),
        Binding("y", "accept_hunk", "Accept hunk", show=False, id="paper.accept"),
        Binding("x", "reject_hunk", "Reject hunk", show=False, id="paper.reject"),
        Binding(
            "r",
            "reviews",
            "Reviews",
            show=False,
            tooltip="Stored reviews of this version, scores across versions",
            id="paper.reviews",
        ),
        Binding(
            "R",
            "review",
            "Review",
            show=False,
            tooltip="LLM review: N reviews + meta-review (cost shown first)",
            id="paper.review",
        ),
        Binding(
            "d",
            "diff_changed",
            "Diff disk",
            show=False,
            tooltip="Diff the snapshot taken when the file changed on disk",
            id="paper.disk",
        ),
        Binding(
            "escape",
            "cancel",
            "Cancel",
            show=False,
            tooltip="Cancel the LLM call, or drop the edit's hunks",
            id="paper.cancel",
        ),
    ]

    class VersionSelected(PaneRequest):
        """Show the diff of `version` against `base` (None: the version before it)."""

        def __init__(self, draft: str, version: int, base: int | None = None) -> None:
            super().__init__()
            self.draft = draft
            self.version = version
            self.base = base

    class CheckRequested(PaneRequest):
        def __init__(self, draft: str, version: int) -> None:
            super().__init__()
            self.draft = draft
            self.version = version

    class EditRequested(PaneRequest):
        """Open the edit screen for the draft's current files."""

        def __init__(self, draft: str) -> None:
            super().__init__()
            self.draft = draft

    class ReviewsRequested(PaneRequest):
        def __init__(self, draft: str, version: int) -> None:
            super().__init__()
            self.draft = draft
            self.version = version

    class ReviewRequested(PaneRequest):
        """Start an LLM review (N reviews and a meta-review) of this version."""

        def __init__(self, draft: str, version: int) -> None:
            super().__init__()
            self.draft = draft
            self.version = version

    class CancelRequested(PaneRequest):
        pass

    class HunkDecided(PaneRequest):
        def __init__(self, index: int, accepted: bool) -> None:
            super().__init__()
            self.index = index
            self.accepted = accepted

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._versions: list[DraftVersion] = []
        self._diff: DraftDiff | None = None
        self._hunks: list[Hunk] = []
        self._hunk_state: dict[int, bool] = {}
        self.side_by_side = False
        self.current = -1  # the change (or hunk) the keys jumped to
        self.base: tuple[str, int] | None = None
        self.streaming = False  # an LLM call is in flight (escape cancels it)
        self.stream: Log | None = None
        self.changed_on_disk: tuple[str, int] | None = None  # the snapshot `d` diffs
        self.table: DataTable[object] = DataTable(id="paper-versions", cursor_type="row")
        for key, label in (
            ("draft", "Draft"),
            ("version", "v"),
            ("date", "Date"),
            ("lines", "Lines"),
            ("message", "Message"),
        ):
            self.table.add_column(label, key=key)
        self.status = Static("No drafts yet.", id="paper-status")
        self.changes = VerticalScroll(id="paper-diff-scroll")

    def compose(self) -> ComposeResult:
        yield self.table
        yield self.status
        yield self.changes

    # -- versions ------------------------------------------------------------------------

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

    @property
    def editing(self) -> bool:
        """An LLM call streams, or an edit's hunks wait for decisions: nothing may replace
        them (a diff, the claims, a reload of the versions) until they are done."""
        return self.streaming or len(self._hunk_state) < len(self._hunks)

    def on_data_table_row_highlighted(self) -> None:
        self._request_diff()

    def select_version(self, draft: str, version: int) -> None:
        """Move the cursor to a version (its diff against the one before follows)."""
        try:
            row = self.table.get_row_index(f"{draft}:{version}")
        except RowDoesNotExist:  # the row is gone (the list was reloaded): nothing to move to
            return
        self.table.move_cursor(row=row)
        self._request_diff()

    def selected(self) -> tuple[str, int] | None:
        table = self.table
        if table.row_count == 0:
            return None
        key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        draft, _, version = key.rpartition(":")
        return draft, int(version)

    def _request_diff(self) -> None:
        chosen = self.selected()
        if chosen is None or self.editing:
            return
        draft, version = chosen
        base = self.base[1] if self.base and self.base[0] == draft else None
        self.post_message(self.VersionSelected(draft, version, base))

    # -- the diff ------------------------------------------------------------------------

    def show_diff(self, diff: DraftDiff) -> None:
        if self.editing:
            return  # asked for before the edit began: the edit stays on screen
        self._diff = diff
        self._hunks = []
        self.current = -1
        self.status.update(summary_text(diff))
        self._draw()

    def _draw(self) -> None:
        self.changes.remove_children()
        blocks: list[Static] = []
        if self._hunks:
            for hunk in self._hunks:
                blocks.append(Static(self._hunk_text(hunk), classes="paper-change"))
        elif self._diff is not None:
            for change in self._diff.changes:
                body = side_by_side_change(change) if self.side_by_side else unified_change(change)
                blocks.append(Static(body, classes="paper-change"))
            if not self._diff.changes:
                blocks.append(Static("No changes (re-flowed text counts as unchanged)."))
        self.changes.mount_all(blocks)

    def _blocks(self) -> list[Static]:
        return list(self.changes.query(".paper-change").results(Static))

    def _jump(self, step: int) -> None:
        blocks = self._blocks()
        if not blocks:
            return
        if 0 <= self.current < len(blocks):
            blocks[self.current].remove_class("-current")
        self.current = max(0, min(len(blocks) - 1, self.current + step))
        blocks[self.current].add_class("-current")
        self.changes.scroll_to_widget(blocks[self.current], top=True, animate=False)

    def action_next_change(self) -> None:
        self._jump(1)

    def action_previous_change(self) -> None:
        self._jump(-1)

    def action_toggle_layout(self) -> None:
        self.side_by_side = not self.side_by_side
        current = self.current
        self._draw()
        self.current = -1
        if current >= 0:
            self.call_after_refresh(self._jump, current + 1)

    def action_mark_base(self) -> None:
        chosen = self.selected()
        self.base = None if self.base == chosen else chosen
        if self.base:
            self.notify(f"diffs are now against {printable(self.base[0])} v{self.base[1]}")
        self._request_diff()

    # -- files changed on disk -------------------------------------------------------------

    def offer_changed(self, draft: str, version: int) -> None:
        """A snapshot was taken because the draft changed on disk: `d` diffs it."""
        self.changed_on_disk = (draft, version)
        self.notify(
            f"{printable(draft)} changed on disk: snapshot v{version} taken; d shows its diff",
            timeout=8,
        )

    def action_diff_changed(self) -> None:
        if self.changed_on_disk is not None and not self.editing:
            self.select_version(*self.changed_on_disk)

    # -- claim check ---------------------------------------------------------------------

    def action_check(self) -> None:
        chosen = self.selected()
        if chosen is not None and not self.editing:
            self.post_message(self.CheckRequested(*chosen))

    def show_claims(self, report: ClaimReport) -> None:
        if self.editing:
            return
        self._diff = None
        self._hunks = []
        self.current = -1
        problems = len(report.problems)
        self.status.update(
            Text(
                f"claim check of {printable(report.draft)}: {problems} problem(s)",
                style="bold red" if problems else "bold green",
            )
        )
        self.changes.remove_children()
        ordered = sorted(report.claims, key=lambda c: (not c.is_problem, c.line))
        self.changes.mount_all([Static(claim_line(c), classes="paper-change") for c in ordered])

    # -- LLM edits and reviews -----------------------------------------------------------

    def action_edit(self) -> None:
        chosen = self.selected()
        if chosen is not None and not self.editing:
            self.post_message(self.EditRequested(chosen[0]))

    def action_reviews(self) -> None:
        chosen = self.selected()
        if chosen is not None and not self.editing:
            self.post_message(self.ReviewsRequested(*chosen))

    def action_review(self) -> None:
        chosen = self.selected()
        if chosen is not None and not self.editing:
            self.post_message(self.ReviewRequested(*chosen))

    def action_cancel(self) -> None:
        """Cancel the LLM call in flight; or drop an edit's undecided hunks (nothing is
        written) and go back to the diff."""
        if self.streaming:
            self.post_message(self.CancelRequested())
        elif self.editing:
            self._hunks = []
            self._hunk_state = {}
            self.post_message(self.CancelRequested())
            self.status.update(Text("edit dropped: nothing written", style="bold"))
            self._request_diff()

    def start_stream(self, title: str) -> None:
        """An LLM call began: its answer streams into the diff area."""
        self.streaming = True
        self._diff = None
        self._hunks = []
        self.current = -1
        self.status.update(Text(printable(title), style="bold"))
        self.changes.remove_children()
        self.stream = Log(id="paper-stream", max_lines=2000)
        self.changes.mount(self.stream)

    def stream_text(self, piece: str) -> None:
        if self.stream is not None:
            self.stream.write(printable(piece, newlines=True))

    def show_progress(self, message: str) -> None:
        self.status.update(Text(printable(message), style="bold"))

    def end_stream(self, message: str) -> None:
        self.streaming = False
        self.stream = None
        if message:
            self.status.update(Text(printable(message), style="bold"))

    def show_reviews(
        self,
        draft: str,
        version: int,
        history: Sequence[dict[str, Any]],
        reviews: Sequence[Review],
    ) -> None:
        """The score history of the draft (one row per reviewed version) and this version's
        reviews and meta-review, each with its scores and text."""
        if self.editing:
            return
        self._diff = None
        self._hunks = []
        self.current = -1
        mine = sorted((r for r in reviews if r.version == version), key=lambda r: r.index)
        self.status.update(
            Text(
                f"reviews of {printable(draft)} v{version}: {sum(r.index >= 0 for r in mine)}"
                " review(s)"
                + (" and a meta-review" if any(r.index < 0 for r in mine) else "")
                + ("" if mine else "; R starts a review"),
                style="bold",
            )
        )
        self.changes.remove_children()
        blocks: list[Static] = []
        if history:
            blocks.append(Static(review_history_table(history), classes="paper-change"))
        # The meta-review first: it is the verdict; then the reviewers in order.
        for review in sorted(mine, key=lambda r: (r.index >= 0, r.index)):
            blocks.append(Static(review_text(review), classes="paper-change"))
        self.changes.mount_all(blocks)

    # -- hunks ---------------------------------------------------------------------------

    def show_hunks(self, title: str, hunks: Sequence[Hunk]) -> None:
        self.streaming = False
        self.stream = None
        self._diff = None
        self._hunks = list(hunks)
        self._hunk_state = {}
        self.current = -1
        self.status.update(
            Text(f"{printable(title)}: {len(hunks)} hunk(s); y accept, x reject", style="bold")
        )
        self._draw()
        self.call_after_refresh(self._jump, 1)

    def _hunk_text(self, hunk: Hunk) -> Text:
        state = self._hunk_state.get(hunk.index)
        label = "pending" if state is None else ("accepted" if state else "rejected")
        text = Text(f"hunk {hunk.index + 1} [{label}]\n", style="bold")
        text.append(printable(hunk.old, newlines=True), style="red strike")
        text.append("\n")
        text.append(printable(hunk.new, newlines=True), style="green")
        return text

    def _decide(self, accepted: bool) -> None:
        if not self._hunks or not 0 <= self.current < len(self._hunks):
            return
        hunk = self._hunks[self.current]
        self._hunk_state[hunk.index] = accepted
        self._blocks()[self.current].update(self._hunk_text(hunk))
        self.post_message(self.HunkDecided(hunk.index, accepted))
        if self.current < len(self._hunks) - 1:
            self._jump(1)

    def action_accept_hunk(self) -> None:
        self._decide(True)

    def action_reject_hunk(self) -> None:
        self._decide(False)
