"""The morning triage as a screen over the cockpit: what finished or failed since the last look.

Drawing only. The app builds the report and its text (cockpit.triage, in a thread) and hands
both to :class:`TriageScreen`, which shows exactly what `cockpit triage` prints. Keyboard
only: escape or enter closes it (dismissed with "close"), r goes on to the Results pane
(dismissed with "results"), and the cockpit's global keys (the pane numbers, help, the
palette) close it and then do what they do everywhere (dismissed with "key:KEY"); the app
records the look each way.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

if TYPE_CHECKING:  # the screen draws a core object; it never imports core code at run time
    from cockpit.models.triage import TriageReport


class TriageScreen(ModalScreen[str]):
    """The morning report over the cockpit. Dismissed with "close" or "results"."""

    DEFAULT_CSS = """
    TriageScreen { align: center middle; }
    #triage-box {
        width: 96%; max-width: 110; height: 92%; max-height: 42;
        border: thick $accent; background: $surface;
    }
    #triage-scroll { height: 1fr; padding: 0 1; }
    #triage-keys { height: 1; padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close the triage", id="triage.close"),
        Binding("r", "results", "Go to Results", id="triage.results"),
    ]

    def __init__(
        self, report: TriageReport, body: RenderableType, global_keys: Collection[str] = ()
    ) -> None:
        super().__init__()
        self.report = report
        self.body = body  # cockpit.triage.triage_renderable(report): the CLI's text, too
        # A modal screen hides the app's bindings: these keys close it and are passed on.
        self.global_keys = global_keys

    def on_key(self, event: events.Key) -> None:
        if event.key in self.global_keys:
            event.stop()
            self.dismiss(f"key:{event.key}")

    def compose(self) -> ComposeResult:
        with Vertical(id="triage-box"):
            with VerticalScroll(id="triage-scroll"):
                yield Static(self.body, id="triage-report")
            yield Static(
                Text.from_markup("[b]enter[/b]/[b]esc[/b] close   [b]r[/b] Results   ↑↓ scroll"),
                id="triage-keys",
            )

    def on_mount(self) -> None:
        self.query_one("#triage-scroll", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss("close")

    def action_results(self) -> None:
        self.dismiss("results")
