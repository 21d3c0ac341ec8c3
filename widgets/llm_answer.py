"""An LLM's answer about what is on screen, as it streams in; then with its cost, and with
the numbers it quotes that the data does not hold marked. Escape cancels the call while it
is in flight, and closes the panel after."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Log, Static

from cockpit.render.llm import LEGEND, marked_answer
from cockpit.render.safe import printable
from widgets.requests import PaneRequest


class AnswerScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    AnswerScreen { align: center middle; }
    #answer-box {
        width: 90%; height: 80%; border: thick $accent; background: $surface; padding: 0 1;
    }
    #answer-title { text-style: bold; }
    #answer-scroll, #answer-stream { height: 1fr; }
    #answer-scroll { display: none; }
    #answer-footer { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel_or_close", "Cancel / close", id="answer.close")]

    class CancelRequested(PaneRequest):
        """Escape while the answer is still coming: stop the call."""

    def __init__(self, title: str) -> None:
        super().__init__()
        self.answer_title = title
        self.in_flight = True
        self.text = ""
        # While it streams, a Log appends each piece (cheap however long the answer grows);
        # once whole, the answer is drawn again with its unverified numbers marked.
        self.stream = Log(id="answer-stream", max_lines=2000)
        self.scroll = VerticalScroll(id="answer-scroll")
        self.body = Static("", id="answer-text")
        self.footer = Static("waiting for the first words… (esc cancels)", id="answer-footer")

    def compose(self) -> ComposeResult:
        with Vertical(id="answer-box"):
            yield Static(Text(printable(self.answer_title)), id="answer-title")
            yield self.stream
            with self.scroll:
                yield self.body
            yield self.footer

    def append(self, piece: str) -> None:
        """A piece of the answer as it arrives (control sequences escaped when drawn)."""
        if not self.in_flight:
            return
        if not self.text:
            self.footer.update("streaming… (esc cancels)")
        self.text += piece
        self.stream.write(printable(piece, newlines=True))

    def finish(self, text: str, unverified: Sequence[tuple[int, int]], cost: str) -> None:
        """The whole answer, its unverified numbers marked, and what the call cost."""
        self.in_flight = False
        self.text = text
        self.body.update(marked_answer(text.strip(), unverified))
        self.stream.display = False
        self.scroll.display = True
        footer = Text()
        if unverified:
            footer.append(LEGEND + "\n", style="yellow")
        footer.append(f"{cost} · esc closes")
        self.footer.update(footer)

    def fail(self, message: str) -> None:
        """The call stopped (cancelled, refused by the budget, the provider's error)."""
        self.in_flight = False
        self.footer.update(Text(f"stopped: {printable(message)} · esc closes", style="red"))

    def action_cancel_or_close(self) -> None:
        if self.in_flight:
            self.footer.update("cancelling…")
            self.post_message(self.CancelRequested())
        else:
            self.dismiss(None)
