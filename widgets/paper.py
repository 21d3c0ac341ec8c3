"""Paper: the draft's versions; the LaTeX-aware diff of two versions (unified or side by
side, keys to jump between changes); the claim check's list; an LLM edit's hunks to accept
or reject one by one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from cockpit.models import ClaimReport, DraftDiff, DraftVersion, Hunk
from cockpit.render.paper import (
    claim_line,
    side_by_side_change,
    summary_text,
    unified_change,
)
from cockpit.render.safe import printable
from widgets.requests import PaneRequest


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
        Binding("y", "accept_hunk", "Accept hunk", show=False, id="paper.accept"),
        Binding("x", "reject_hunk", "Reject hunk", show=False, id="paper.reject"),
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

    def on_data_table_row_highlighted(self) -> None:
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
        if chosen is None:
            return
        draft, version = chosen
        base = self.base[1] if self.base and self.base[0] == draft else None
        self.post_message(self.VersionSelected(draft, version, base))

    # -- the diff ------------------------------------------------------------------------

    def show_diff(self, diff: DraftDiff) -> None:
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

    # -- claim check ---------------------------------------------------------------------

    def action_check(self) -> None:
        chosen = self.selected()
        if chosen is not None:
            self.post_message(self.CheckRequested(*chosen))

    def show_claims(self, report: ClaimReport) -> None:
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

    # -- hunks ---------------------------------------------------------------------------

    def show_hunks(self, title: str, hunks: Sequence[Hunk]) -> None:
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
