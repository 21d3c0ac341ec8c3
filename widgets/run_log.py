"""The selected run's log: a virtual view over a log of any size, with search and filters.

Drawing only. The view never holds the log: it knows how many lines there are and keeps
the text of the lines near the screen, asking its controller for the ones it lacks
(`LinesWanted`); a 10-million-line log costs what a screenful does. Searches and filters
run in the controller over the whole file (`ScanRequested`) and stream their matching line
numbers back (`add_matches`), so they work the same on a small log and a multi-GB remote
one, and a growing log's new lines are matched as they arrive. While the log's index is
being built the view shows the log's last lines (`show_tail`) and the progress.

Keys (bound by the Runs pane, so they work from the runs table too): `/` search, `n`/`N`
next/previous match, `\\` filter (error, warn, info or a regex; empty clears), `w` wrap,
`escape` cancels a running search, `G`/`g` end/start, `e`/`E` first/next error, `f`
pause/resume following. With the log focused (tab): arrows, page up/down, home/end, and
left/right to scroll sideways when lines do not wrap.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Input, Static

from widgets.requests import PaneRequest

# What `e`/`E` jump to: a traceback, an error or exception line, a CUDA OOM, a NaN loss.
LOG_ERROR = re.compile(
    r"^Traceback \(most recent call last\)|\b(?:\w*Error|Exception|CUDA out of memory)\b"
    r"|\bloss\b\W*(?:nan|inf)\b",
    re.IGNORECASE | re.MULTILINE,  # a scan matches many lines at once: ^ is a line's start
)
# ('error\b', not '\w*error\b': the same lines, but \w* tried from every character of a
# long word is quadratic, and a 100 KB run of letters held the GIL for tens of seconds.)
_ERRORS = r"error\b|\bexception\b|^traceback\b|\bfatal\b|\bcritical\b|out of memory"
_WARNINGS = r"\bwarn(?:ing)?\b|" + _ERRORS
# The filter's level presets: a level and every level above it, as logging means them.
LEVEL_FILTERS = {
    "error": _ERRORS,
    "warn": _WARNINGS,
    "info": r"\binfo\b|" + _WARNINGS,
}
MAX_MATCHES = 1_000_000  # a search or filter keeps this many matching lines at most
CACHE_LINES = 4000  # line texts kept around the screen
SIDEWAYS_STEP = 8

ScanKind = Literal["find", "filter", "error"]


class LinesWanted(PaneRequest):
    """The view needs these lines' text (0-based line numbers) to draw."""

    def __init__(self, run_id: str, numbers: tuple[int, ...]) -> None:
        super().__init__()
        self.run_id = run_id
        self.numbers = numbers


class ScanRequested(PaneRequest):
    """Find the lines matching a pattern, streaming them back with `token`.

    find and filter scans go on over lines that arrive later; an error scan stops at its
    first match (limit 1) from line `first`.
    """

    def __init__(
        self, run_id: str, token: int, kind: ScanKind, pattern: re.Pattern[str], first: int = 0
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.token = token
        self.kind = kind
        self.pattern = pattern
        self.first = first


class ScanStopped(PaneRequest):
    """Stop the scan `token`: cancelled (escape) or no longer wanted (cleared)."""

    def __init__(self, run_id: str, token: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.token = token


def compile_pattern(text: str) -> re.Pattern[str]:
    """A search as less takes it: a regex, case-insensitive unless it has a capital."""
    flags = re.MULTILINE | (0 if any(c.isupper() for c in text) else re.IGNORECASE)
    return re.compile(text, flags)


@dataclass
class Scan:
    """A search or a filter as its matches stream in."""

    token: int
    kind: ScanKind
    pattern: re.Pattern[str]
    label: str
    lines: array[int] = field(default_factory=lambda: array("q"))
    scanned: int = 0  # bytes
    total: int = 0
    done: bool = False
    cancelled: bool = False
    capped: bool = False

    def add(self, numbers: Sequence[int]) -> None:
        last = self.lines[-1] if self.lines else -1
        # A line without its newline is matched again once it is whole: keep it once.
        fresh = [n for n in numbers if n > last]
        room = MAX_MATCHES - len(self.lines)
        if len(fresh) > room:
            fresh, self.capped = fresh[:room], True
        self.lines.extend(fresh)

    @property
    def progress(self) -> str:
        if self.cancelled:
            return " (cancelled)"
        if self.done or not self.total:
            return " (first 1,000,000)" if self.capped else ""
        return f" (searching {100 * self.scanned // self.total}%)"


class LogLines(Widget, can_focus=True):
    """The lines on screen, drawn row by row from what the view knows."""

    DEFAULT_CSS = "LogLines { height: 1fr; }"
    BINDINGS = [
        Binding("up", "scroll_by(-1)", show=False),
        Binding("down", "scroll_by(1)", show=False),
        Binding("pageup", "page(-1)", show=False),
        Binding("pagedown", "page(1)", show=False),
        Binding("home", "start", show=False),
        Binding("end", "end", show=False),
        Binding("left", "sideways(-1)", show=False),
        Binding("right", "sideways(1)", show=False),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.run_id: str | None = None
        self.line_count = 0  # lines known (whole ones, and a last one being written)
        self.complete = True  # False while the index is still being built
        self.indexing: tuple[int, int] | None = None  # bytes indexed, bytes in the log
        self.tail: list[str] = []  # the log's last lines, while the index is not complete
        self.texts: dict[int, str] = {}
        self.follow = True  # at the end, moving with new lines
        self.top = 0  # first position on screen, when not following
        self.left = 0
        self.wrap = False
        self.find: Scan | None = None
        self.filter: Scan | None = None
        self.error_scan: Scan | None = None
        self.current: int | None = None  # the line of the current match
        self.error_line: int | None = None  # the line `e`/`E` last jumped to
        self.note = ""  # one line for the status: a bad regex, "no match below"
        self._token = 0
        self._version = 0  # bumped on every change: the rows are laid out again
        self._filter_anchor: int | None = None  # the line the view was at when filtered
        self._jump_to_first_match = False
        self._rows: list[Strip] = []
        self._first_shown = 0  # position of the first line drawn
        self._shown: list[int] = []  # line numbers on screen, top to bottom
        self._layout_key: tuple[object, ...] | None = None
        self._wanted: tuple[int, ...] = ()

    # -- what the controller tells it ------------------------------------------------------

    def reset(self, run_id: str | None) -> None:
        """Another run (or a new attempt of this one): nothing known yet."""
        for scan in (self.find, self.filter, self.error_scan):
            if scan is not None and not scan.done and self.run_id is not None:
                self._send(ScanStopped, self.run_id, scan.token)
        self.run_id = run_id
        self._forget_lines()
        self.left = 0
        self.find = self.filter = self.error_scan = None
        self.note = ""
        self._changed()

    def restart(self) -> None:
        """The log was truncated: it starts again with no line known, following its end;
        the search and the filter stay, their matches found again as it is indexed."""
        self._forget_lines()
        # (one stopped with escape is no longer run: it goes, with its old matches)
        if self.find is not None and self.find.cancelled:
            self.find = None
        if self.filter is not None and self.filter.cancelled:
            self.filter = None
        for scan in (self.find, self.filter):
            if scan is not None:
                scan.lines, scan.scanned, scan.total = array("q"), 0, 0
                scan.done = scan.capped = False
        self.error_scan = None
        self._changed()

    def _forget_lines(self) -> None:
        """No line of the log known: following its end, no match or error line current."""
        self.line_count, self.complete, self.indexing = 0, True, None
        self.tail, self.texts = [], {}
        self.follow, self.top = True, 0
        self.current = self.error_line = None
        self._wanted = ()

    def set_progress(self, done: int, total: int, lines: int) -> None:
        """The index is being built: `done` of `total` bytes, `lines` lines so far."""
        self.indexing = (done, total) if done < total else None
        self.complete = done >= total
        self._set_count(lines)

    def set_line_count(self, count: int) -> None:
        """The index is complete (again): the log has `count` lines."""
        self.indexing, self.complete = None, True
        self.tail = []
        self._set_count(count)

    def _set_count(self, count: int) -> None:
        # Ask again for what is missing: a request made before the log was open is lost.
        self._wanted = ()
        if count != self.line_count:
            # The last line may have been partial: read it again once it has grown.
            self.texts.pop(self.line_count - 1, None)
            self.line_count = count
        self._changed()

    def show_tail(self, lines: Sequence[str]) -> None:
        self.tail = list(lines)
        self._changed()

    def put_lines(self, texts: Mapping[int, str]) -> None:
        if len(self.texts) > CACHE_LINES:
            keep = set(self._shown)
            self.texts = {n: t for n, t in self.texts.items() if n in keep}
        self.texts.update(texts)
        self._wanted = ()
        self._changed()

    def add_matches(
        self, token: int, numbers: Sequence[int], scanned: int, total: int, done: bool
    ) -> None:
        scan = next(
            (s for s in (self.find, self.filter, self.error_scan) if s and s.token == token), None
        )
        if scan is None:
            return  # an old search's late answer
        scan.add(numbers)
        scan.scanned, scan.total = scanned, total
        scan.done = scan.done or done
        if scan is self.error_scan:
            self._error_found(scan)
        elif scan is self.find and self._jump_to_first_match:
            self._first_match(scan)
        elif scan is self.filter and self._filter_anchor is not None and not self.follow:
            # The filtered view opens where the full one was (the first match at or below).
            self.top = bisect_left(scan.lines, self._filter_anchor)
        self._changed()

    # -- keys --------------------------------------------------------------------------------

    def start_find(self, text: str) -> bool:
        """/: search for a regex (empty: stop searching). False for a bad regex."""
        self._stop(self.find)
        self.find, self.current = None, None
        if not text:
            self._changed()
            return True
        pattern = self._compile(text)
        if pattern is None:
            return False
        self.find = self._scan("find", pattern, text)
        self._jump_to_first_match = True
        self._changed()
        return True

    def set_filter(self, text: str) -> bool:
        """\\: show only the lines of a level (error, warn, info) or matching a regex;
        empty shows every line again, at the same place."""
        at = self._line_at(self._first_shown)
        self._stop(self.filter)
        if self.filter is not None and at is not None and not self.follow:
            self.top = at  # the full view opens at the line the filtered one was at
        self.filter, self._filter_anchor = None, None
        text = text.strip()
        if not text:
            self._changed()
            return True
        level = LEVEL_FILTERS.get(text.lower())
        pattern = re.compile(level, re.IGNORECASE | re.MULTILINE) if level else self._compile(text)
        if pattern is None:
            return False
        self.filter = self._scan("filter", pattern, text.lower() if level else text)
        self._filter_anchor, self.top = (None, 0) if self.follow else (at, 0)
        self._changed()
        return True

    def next_match(self, forward: bool = True) -> None:
        scan = self.find
        if scan is None:
            self.note = "no search: / first"
            self._changed()
            return
        hits = [n for n in scan.lines if self._visible(n)] if self.filter else scan.lines
        if not hits:
            self.note = "no match" + ("" if scan.done else " yet")
            self._changed()
            return
        here = self.current if self.current is not None else self._line_at(self._first_shown)
        here = -1 if here is None else here
        if forward:
            k = bisect_right(hits, here) if self.current is not None else bisect_left(hits, here)
            wrapped = k >= len(hits)
            k = 0 if wrapped else k
        else:
            k = bisect_left(hits, here) - 1
            wrapped = k < 0
            k = len(hits) - 1 if wrapped else k
        self.note = "search wrapped" if wrapped else ""
        self.current = hits[k]
        self._show_line(hits[k])

    def jump_to_error(self, first: int) -> None:
        """e/E: the first error at or after line `first` (a scan of the file)."""
        if self.run_id is None:
            return
        self._stop(self.error_scan)
        self.error_scan = self._scan("error", LOG_ERROR, "error", first)

    def cancel_scans(self) -> bool:
        """escape: stop running searches; False when none was running."""
        stopped = False
        for scan in (self.find, self.filter, self.error_scan):
            if scan is not None and not scan.done:
                self._stop(scan)
                scan.cancelled = stopped = True
        if stopped:
            self._changed()
        return stopped

    def toggle_wrap(self) -> None:
        self.wrap, self.left = not self.wrap, 0
        self._changed()

    def set_follow(self, on: bool) -> None:
        if not on and self.follow:
            self.top = self._first_shown
        self.follow = on
        self._changed()

    def action_scroll_by(self, rows: int) -> None:
        if rows < 0 and self.follow:
            self.set_follow(False)
        if self.follow:
            return
        self._filter_anchor = None  # the user moved: the view is theirs
        self.top = max(0, min(self.top + rows, self._last_top()))
        if rows > 0 and self.top >= self._last_top():
            self.follow = True  # scrolled back to the end: follow again, like `tail -f`
        self._changed()

    def action_page(self, pages: int) -> None:
        self.action_scroll_by(pages * max(1, self.size.height - 1))

    def action_start(self) -> None:
        self.follow, self.top, self._filter_anchor = False, 0, None
        self._changed()

    def action_end(self) -> None:
        self.set_follow(True)

    def action_sideways(self, direction: int) -> None:
        if not self.wrap:
            self.left = max(0, self.left + direction * SIDEWAYS_STEP)
            self._changed()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.action_scroll_by(-3)
        event.stop()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self.action_scroll_by(3)
        event.stop()

    # -- what it says about itself -----------------------------------------------------------

    def status(self) -> str:
        """One line, most telling first (80 columns cut the rest): the search, the filter,
        the index's progress, where the view is."""
        parts: list[str] = []
        if self.note:
            parts.append(self.note)
        if self.find is not None:
            found = len(self.find.lines)
            if self.current is not None and found:
                k = bisect_left(self.find.lines, self.current) + 1
                parts.append(f"/{self.find.label}/ match {k} of {found:,}")
            else:
                parts.append(
                    f"/{self.find.label}/ {found:,} {'match' if found == 1 else 'matches'}"
                )
            parts[-1] += self.find.progress
        if self.filter is not None:
            kept = len(self.filter.lines)
            parts.append(f"filter {self.filter.label}: {kept:,} {'line' if kept == 1 else 'lines'}")
            parts[-1] += self.filter.progress
        if self.indexing is not None:
            done, total = self.indexing
            parts.append(f"indexing {100 * done // max(1, total)}% of {_size(total)}")
        if self.line_count:
            where = "end" if self.follow else f"line {self._line_at(self._first_shown, 0) + 1:,}"
            parts.append(f"{where} of {self.line_count:,}")
        if self.run_id is not None and not self.follow:
            parts.append("paused")
        if self.wrap:
            parts.append("wrap")
        return " · ".join(parts)

    def visible_text(self) -> list[str]:
        """The rows on screen as plain text (what a person reads; tests read it too)."""
        self._layout()
        return [strip.text.rstrip() for strip in self._rows]

    # -- drawing -----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        self._layout()
        return self._rows[y] if y < len(self._rows) else Strip.blank(self.size.width)

    def _layout(self) -> None:
        width, height = self.size.width, self.size.height
        key = (self._version, width, height)
        if key == self._layout_key:
            return
        self._layout_key = key
        base = self.rich_style
        if width <= 0 or height <= 0:
            self._rows = []
            return
        missing: list[int] = []
        if self.follow and self.tail and not self.complete and self.filter is None:
            rows = self._bottom_rows([(None, line) for line in self.tail[-height:]], width, height)
            self._shown = []
        else:
            count = self._view_len()
            if self.follow:
                first = max(0, count - height)
                entries = [(self._line_at(p, 0), None) for p in range(first, count)]
                rows = self._bottom_rows(self._texts(entries, missing), width, height)
                self._first_shown = max(0, count - len(rows)) if not self.wrap else first
            else:
                self.top = min(self.top, max(0, count - 1))
                entries = [
                    (self._line_at(p, 0), None)
                    for p in range(self.top, min(count, self.top + height))
                ]
                rows = self._top_rows(self._texts(entries, missing), width, height)
                self._first_shown = self.top
            self._shown = [n for n, _ in entries if n is not None]
        self._rows = [Strip(row).adjust_cell_length(width, base).apply_style(base) for row in rows]
        if missing and self.run_id is not None:
            wanted = self._prefetch(missing, height)
            if wanted != self._wanted:
                self._wanted = wanted
                self._send(LinesWanted, self.run_id, wanted)

    def _texts(
        self, entries: list[tuple[int | None, str | None]], missing: list[int]
    ) -> list[tuple[int | None, str | None]]:
        out: list[tuple[int | None, str | None]] = []
        for n, _ in entries:
            text = self.texts.get(n) if n is not None else None
            if text is None and n is not None:
                missing.append(n)
            out.append((n, text))
        return out

    def _prefetch(self, missing: list[int], height: int) -> tuple[int, ...]:
        """The missing lines and a screen either side, so scrolling seldom waits."""
        if self.filter is None:
            lo, hi = max(0, min(missing) - height), min(self.line_count, max(missing) + height + 1)
            return tuple(n for n in range(lo, hi) if n not in self.texts)
        lines = self.filter.lines
        lo = max(0, bisect_left(lines, min(missing)) - height)
        hi = min(len(lines), bisect_right(lines, max(missing)) + height)
        return tuple(n for n in lines[lo:hi] if n not in self.texts)

    def _line_text(self, n: int | None, text: str | None) -> Text:
        if text is None:
            return Text("…", style="dim")
        line = Text(text.expandtabs(8))
        if self.find is not None:
            line.highlight_regex(self.find.pattern, style="reverse")
            if n is not None and n == self.current:
                line.stylize("bold")
                line.highlight_regex(self.find.pattern, style="black on yellow")
        if n is not None and n == self.error_line:
            line.stylize("bold red")
        return line

    def _wrapped(self, n: int | None, text: str | None, width: int) -> list[list[Segment]]:
        line = self._line_text(n, text)
        console = self.app.console
        if self.wrap:
            pieces = line.wrap(console, width, overflow="fold", no_wrap=False) or [Text("")]
            return [list(piece.render(console, end="")) for piece in pieces]
        if self.left:
            line = line[self.left :]
        line.truncate(width, overflow="crop")
        return [list(line.render(console, end=""))]

    def _bottom_rows(
        self, entries: list[tuple[int | None, str | None]], width: int, height: int
    ) -> list[list[Segment]]:
        rows: list[list[Segment]] = []
        for n, text in reversed(entries):
            rows[:0] = self._wrapped(n, text, width)
            if len(rows) >= height:
                break
        return rows[-height:]

    def _top_rows(
        self, entries: list[tuple[int | None, str | None]], width: int, height: int
    ) -> list[list[Segment]]:
        rows: list[list[Segment]] = []
        for n, text in entries:
            rows.extend(self._wrapped(n, text, width))
            if len(rows) >= height:
                break
        return rows[:height]

    # -- where things are --------------------------------------------------------------------

    def _changed(self) -> None:
        self._version += 1
        self.refresh()
        parent = self.parent
        if isinstance(parent, RunLogView):
            parent.show_status()

    def _view_len(self) -> int:
        return len(self.filter.lines) if self.filter is not None else self.line_count

    def _line_at(self, position: int, default: int | None = None) -> int | None:
        if self.filter is None:
            return position if 0 <= position < max(1, self.line_count) else default
        lines = self.filter.lines
        return lines[position] if 0 <= position < len(lines) else default

    def _visible(self, line: int) -> bool:
        if self.filter is None:
            return True
        k = bisect_left(self.filter.lines, line)
        return k < len(self.filter.lines) and self.filter.lines[k] == line

    def _last_top(self) -> int:
        return max(0, self._view_len() - self.size.height)

    def _show_line(self, line: int) -> None:
        """Scroll so `line` is on screen, a third of the way down; following pauses."""
        position = line if self.filter is None else bisect_left(self.filter.lines, line)
        self.follow = False
        self.top = max(0, position - max(1, self.size.height // 3))
        self._changed()

    def _first_match(self, scan: Scan) -> None:
        here = self._line_at(self._first_shown, 0) or 0
        if self.follow:
            here = 0  # following the end: the first match in the log
        k = bisect_left(scan.lines, here)
        if k < len(scan.lines):
            self._jump_to_first_match = False
            self.current = scan.lines[k]
            self._show_line(scan.lines[k])
        elif scan.done:
            self._jump_to_first_match = False
            if scan.lines:
                self.current = scan.lines[0]
                self.note = "search wrapped"
                self._show_line(scan.lines[0])
            else:
                self.note = "no match"

    def _error_found(self, scan: Scan) -> None:
        if scan.lines:
            self.error_line = scan.lines[0]
            self.error_scan = None
            self._stop(scan)
            self.note = ""
            self._show_line(self.error_line)
        elif scan.done:
            self.error_scan = None
            self.note = "no error below" if self.error_line is not None else "no error in this log"

    # -- scans ---------------------------------------------------------------------------------

    def _compile(self, text: str) -> re.Pattern[str] | None:
        try:
            return compile_pattern(text)
        except re.error as exc:
            self.note = f"bad regex {text[:40]!r}: {exc}"
            self._changed()
            return None

    def _scan(self, kind: ScanKind, pattern: re.Pattern[str], label: str, first: int = 0) -> Scan:
        self._token += 1
        scan = Scan(self._token, kind, pattern, label)
        self.note = ""
        if self.run_id is not None:
            self._send(ScanRequested, self.run_id, scan.token, kind, pattern, first)
        return scan

    def _send(self, request: Callable[..., PaneRequest], *args: object) -> None:
        # Made and posted in this widget's own message loop: a message made while another
        # widget handles something (a key on the pane, a repaint) stops bubbling at it.
        self.call_later(lambda: self.post_message(request(*args)))

    def _stop(self, scan: Scan | None) -> None:
        if scan is not None and self.run_id is not None:
            self._send(ScanStopped, self.run_id, scan.token)


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"


PromptMode = Literal["find", "filter"]
PROMPTS: dict[PromptMode, str] = {
    "find": "/ search (regex; a capital makes it case-sensitive; enter, esc)",
    "filter": "\\ filter: error, warn, info or a regex (empty shows all; enter, esc)",
}


class RunLogView(Vertical):
    """The log's title and status line, its lines, and the prompt of `/` and `\\`."""

    DEFAULT_CSS = """
    RunLogView { height: 1fr; }
    RunLogView > #log-prompt { height: 1; border: none; padding: 0 1; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.title = Static("Select a run to see its log.", id="log-title")
        self._title_shown: Text | None = None
        self.lines = LogLines(id="run-log")
        self.prompt = Input(id="log-prompt")
        self.prompt.display = False
        self.prompt_mode: PromptMode | None = None
        self._before_prompt: Widget | None = None

    def compose(self) -> ComposeResult:
        yield self.title
        yield self.lines
        yield self.prompt

    @property
    def run_id(self) -> str | None:
        return self.lines.run_id

    def open_run(self, run_id: str | None) -> None:
        self.close_prompt()
        self.lines.reset(run_id)

    def show_status(self) -> None:
        # Hidden (the chart is shown): a title set now would lay the screen out again for
        # nothing; the pane calls this when the log is shown again.
        if self.lines.run_id is None or not self.display:
            return
        lines = self.lines
        # The run's name goes first while there is room: the runs table shows it too.
        busy = lines.note or lines.find is not None or lines.filter is not None
        status = lines.status()
        title = Text("" if busy else f"log {lines.run_id}", style="bold")
        if status and not busy:
            title.append(" · ")
        title.append(status, style="bold red" if lines.note else "")
        title.truncate(max(10, (self.size.width or 80) - 2), overflow="ellipsis")
        if title != self._title_shown:  # an update lays the screen out again
            self._title_shown = title
            self.title.update(title, layout=False)  # one row, whatever it says

    def ask(self, mode: PromptMode) -> None:
        self._before_prompt = self.app.focused
        self.prompt_mode = mode
        self.prompt.placeholder = PROMPTS[mode]
        current = self.lines.find if mode == "find" else self.lines.filter
        self.prompt.value = current.label if current is not None else ""
        self.prompt.display = True  # set at once: a hidden widget cannot take the focus
        self.prompt.focus()

    def close_prompt(self) -> bool:
        if self.prompt_mode is None:
            return False
        self.prompt_mode = None
        self.prompt.display = False
        if self._before_prompt is not None and self._before_prompt.is_attached:
            self._before_prompt.focus()
        self._before_prompt = None
        return True

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        mode = self.prompt_mode
        accepted = (
            self.lines.start_find(event.value)
            if mode == "find"
            else self.lines.set_filter(event.value)
            if mode == "filter"
            else True
        )
        if accepted:
            self.close_prompt()
        else:
            self.notify(self.lines.note, severity="error")
