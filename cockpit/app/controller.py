"""What a feature controller is given instead of the App, and what it offers the shell.

A controller turns its pane's requests into work (store reads in threads, commands on the
bus) and feeds the pane the results. It never sees the App: the shell hands it a `Shell`,
the few things a controller may ask of the user interface.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

from textual.screen import Screen

from cockpit.models import Command
from widgets.requests import PaneRequest

Severity = Literal["information", "warning", "error"]
Work = Callable[[], Awaitable[object]]
RequestHandler = Callable[[Any], None]


class Shell(Protocol):
    """The user-interface services a controller may use."""

    def notify(
        self, message: str, *, severity: Severity = "information", timeout: float | None = None
    ) -> None: ...

    def confirm(self, question: str, then: Callable[[], object]) -> None:
        """Ask a yes/no question; call `then` only on yes."""
        ...

    async def push(
        self, screen: Screen[Any], closed: Callable[[Any], object] | None = None
    ) -> None:
        """Show a screen over the cockpit (mounted on return); `closed` gets its result."""
        ...

    def start(self, work: Work, *, group: str, exclusive: bool = False) -> None:
        """Run `work` in a worker; failures go to the shell's one error funnel."""
        ...

    def every(self, seconds: float, tick: Work) -> None:
        """Call `tick` `seconds` after it last finished, until the cockpit closes."""
        ...

    def show_pane(self, pane: str) -> None: ...

    def press(self, key: str) -> None:
        """Act on `key` as the cockpit's screen would (once the screen over it has closed)."""
        ...

    def bell(self) -> None:
        """Ring the terminal bell (a run ended while the user looked elsewhere)."""
        ...


class Controller:
    """One feature's logic behind one pane. Subclasses override what they need."""

    def routes(self) -> dict[type[PaneRequest], RequestHandler]:
        """The pane requests this controller answers, by message type."""
        return {}

    async def load(self) -> None:
        """Fill the pane from the store (called once the frame is painted)."""

    def start(self) -> None:
        """Begin streams and timers, after every controller has loaded."""

    async def close(self) -> None:
        """Release connections when the cockpit closes."""


def job_progress_line(message: str, calls_done: int, calls_total: int) -> str:
    """An LLM job's progress as a pane shows it: "review 2 of 3 [1/4 calls] (esc cancels)"."""
    done = f" [{calls_done}/{calls_total} calls]" if calls_total else ""
    return f"{message}{done} (esc cancels)"


def report_command(shell: Shell, command: Command) -> None:
    """One line on how a command ended."""
    if command.error:
        shell.notify(f"{command.kind} failed: {command.error}", severity="error")
    else:
        shell.notify(f"{command.kind}: {command.status}")
