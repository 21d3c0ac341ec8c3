"""Text from files, hosts and models made safe to print or draw.

A run id, sweep name or label read from an imported file, a process command line sampled
on a host, or an LLM's answer may hold ESC sequences (clear the screen, set the window
title, move the cursor), BEL, carriage returns or bidi overrides that reorder what the user
reads. Rich strips only a few of these, and Textual none, so whatever reaches a terminal
goes through :func:`printable` first. Control characters are shown escaped (``\\x1b``), not
dropped: the user sees that the name holds something odd.

Pure functions: widgets may import this module (like cockpit.models).
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from rich.text import Text

T = TypeVar("T")

# C0 controls but tab and newline, DEL, C1 controls, and the bidi embeddings, overrides
# and isolates (U+202A-U+202E, U+2066-U+2069) plus the implicit marks (U+200E, U+200F).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_OR_LINE_BREAK = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, newlines: bool = False) -> str:
    """``text`` with every control character escaped; tabs and (with ``newlines``) line
    breaks kept, else a line break is escaped too so one value stays one line."""
    if newlines:
        return _CONTROL.sub(_escape, text) if _CONTROL.search(text) else text
    if not _CONTROL_OR_LINE_BREAK.search(text):
        return text
    return _CONTROL_OR_LINE_BREAK.sub(lambda m: " " if m.group() == "\t" else _escape(m), text)


def printable_text(text: Text) -> Text:
    """A Rich Text with each control character replaced by U+FFFD in place: one character
    for one, so its styles stay where they were (escaping would shift them)."""
    plain = text.plain
    if _CONTROL.search(plain):
        text.plain = _CONTROL.sub("\ufffd", plain)
    return text


def printable_fields(value: T) -> T:
    """A copy of a view model (dataclasses, lists, tuples, dicts of them) whose strings are
    all :func:`printable`; unchanged parts are shared, not copied."""
    return _clean(value)  # type: ignore[no-any-return]


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_clean(v) for v in value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for field in dataclasses.fields(value):
            if not field.init:
                continue
            old = getattr(value, field.name)
            new = _clean(old)
            if new is not old and new != old:
                changes[field.name] = new
        return dataclasses.replace(value, **changes) if changes else value
    return value
