"""How numbers, durations and verdicts read, the same in the TUI panes, the CLI's reports
and the exported text.

Pure functions and constants: widgets may import this (like cockpit.models); it imports
nothing of the cockpit.
"""

from __future__ import annotations

import math

# Verdict text as cockpit.stats says it, and its rich style.
VERDICT_STYLE: dict[str, str] = {
    "better": "bold green",
    "worse": "bold red",
    "no significant difference": "",
    "not enough data": "yellow",
    "baseline has no value": "yellow",
    "single run, no test possible": "dim",
}


def duration(seconds: float | None, missing: str = "—") -> str:
    """'45s', '3m05s', '2h03m', '1d02h': short enough for a table cell."""
    if seconds is None or seconds < 0:
        return missing
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def p_value(p: float | None, missing: str = "—", *, trim: bool = False) -> str:
    """A p-value for people: two significant digits below 0.001, else four decimals
    (``trim`` drops their trailing zeros, for narrow cells); ``missing`` where no test ran."""
    if p is None or math.isnan(p):
        return missing
    if p < 0.001:
        return f"{p:.2g}"
    text = f"{p:.4f}"
    return text.rstrip("0").rstrip(".") if trim else text
