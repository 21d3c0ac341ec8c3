"""How numbers, durations and verdicts read, the same in the TUI panes, the CLI's reports
and the exported text.

Pure functions and constants: widgets may import this (like cockpit.models); it imports
nothing of the cockpit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

# Verdict text as cockpit.stats says it, and its rich style.
VERDICT_STYLE: dict[str, str] = {
    "better": "bold green",
    "worse": "bold red",
    "no significant difference": "",
    "not enough data": "yellow",
    "baseline has no value": "yellow",
    "single run, no test possible": "dim",
}


def json_number(x: float | None) -> float | None:
    """JSON-safe number: NaN and infinities become null."""
    if x is None or isinstance(x, bool):
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def json_safe(value: object) -> object:
    """A JSON-ready copy of `value`: NaN and infinities anywhere inside become null."""
    if isinstance(value, float):
        return json_number(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def fixed(x: float | None, spec: str = ".4f") -> str:
    """A number in ``spec``; empty where there is none (or it is not finite)."""
    return "" if json_number(x) is None else format(x, spec)


def duration(seconds: float | None, missing: str = "—") -> str:
    """'45s', '3m05s', '2h03m', '1d02h': short enough for a table cell."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return missing
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def finite_magnitudes(values: Iterable[float | None]) -> Iterator[float]:
    """|x| of the finite values: what bars are scaled to (an Infinity would flatten them)."""
    return (abs(v) for v in values if v is not None and math.isfinite(v))


def p_value(p: float | None, missing: str = "—", *, trim: bool = False) -> str:
    """A p-value for people: two significant digits below 0.001, else four decimals
    (``trim`` drops their trailing zeros, for narrow cells); ``missing`` where no test ran."""
    if p is None or math.isnan(p):
        return missing
    if p < 0.001:
        return f"{p:.2g}"
    text = f"{p:.4f}"
    return text.rstrip("0").rstrip(".") if trim else text
