"""Draft diffs and claim reports as Rich text: the same in the Paper pane and the CLI.

Every text here comes from a draft file or a model, so it goes through printable() first.
Pure functions: widgets may import this module."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.table import Table
from rich.text import Text

from cockpit.models import ClaimReport, DiffChange, DraftDiff
from cockpit.render.safe import printable

KIND_STYLE = {
    "changed": "yellow",
    "added": "green",
    "removed": "red",
    "moved": "magenta",
    "renamed": "magenta",
}
STATUS_STYLE = {
    "matched": "green",
    "unmatched": "bold red",
    "stale": "bold yellow",
    "unbacked": "bold red",
    "contradicts": "bold red",
    "unchecked": "dim",
}


def _heading(change: DiffChange) -> Text:
    return Text.assemble(
        (f"{change.kind:<8}", KIND_STYLE.get(change.kind, "")),
        " ",
        (printable(change.section), "bold"),
    )


# Unchanged text around a word change is cut to this many characters on each side: at 80
# columns a reviewer needs the neighbourhood of a change, not the whole paragraph again.
CONTEXT_CHARS = 60


def _context(words: str, *, first: bool, last: bool) -> str:
    if len(words) <= 2 * CONTEXT_CHARS + 5:
        return words
    head = "" if first else words[:CONTEXT_CHARS]
    tail = "" if last else words[-CONTEXT_CHARS:]
    return f"{head} … {tail}".strip()


def unified_change(change: DiffChange) -> Text:
    """One change: its heading, then the paragraph with removed words struck in red and added
    ones in green (a whole paragraph or section when it was added or removed)."""
    text = _heading(change)
    text.append("\n")
    if change.kind in ("moved", "renamed"):
        text.append(printable(change.old), style="red")
        text.append(" -> ")
        text.append(printable(change.new), style="green")
    elif change.words:
        last = len(change.words) - 1
        for i, (op, words) in enumerate(change.words):
            style = {"-": "red strike", "+": "green underline"}.get(op, "")
            shown = _context(words, first=i == 0, last=i == last) if op == "=" else words
            text.append(printable(shown) + " ", style=style)
    else:
        if change.old:
            text.append(printable(change.old), style="red")
        if change.new:
            text.append(printable(change.new), style="green")
    text.append("\n")
    return text


def side_by_side_change(change: DiffChange) -> Table:
    table = Table.grid(expand=True, padding=(0, 1))
    table.add_column(ratio=1)
    table.add_column(ratio=1)
    old, new = Text(), Text()
    if change.words:
        for op, words in change.words:
            if op in "=-":
                old.append(printable(words) + " ", style="red" if op == "-" else "")
            if op in "=+":
                new.append(printable(words) + " ", style="green" if op == "+" else "")
    else:
        old.append(printable(change.old), style="red")
        new.append(printable(change.new), style="green")
    table.add_row(_heading(change), "")
    table.add_row(old, new)
    return table


# A summary line lists this many values, then says how many more: it must fit the pane.
SUMMARY_ITEMS = 8


def summary_text(diff: DraftDiff) -> Text:
    s = diff.summary
    text = Text(
        f"{printable(diff.old_label)} -> {printable(diff.new_label)}: "
        f"{len(diff.changes)} change(s)",
        style="bold",
    )
    rows = (
        ("numbers -", s.numbers_removed),
        ("numbers +", s.numbers_added),
        ("citations +", s.citations_added),
        ("citations -", s.citations_removed),
        ("fig/tab refs +", s.refs_added),
        ("fig/tab refs -", s.refs_removed),
    )
    for label, values in rows:
        if values:
            text.append(f"\n  {label}: ", style="dim")
            shown = ", ".join(values[:SUMMARY_ITEMS])
            more = len(values) - SUMMARY_ITEMS
            text.append(printable(shown) + (f" (+{more} more)" if more > 0 else ""))
    return text


def diff_json(diff: DraftDiff) -> dict[str, Any]:
    return {
        "old": diff.old_label,
        "new": diff.new_label,
        "changes": [
            {
                "kind": c.kind,
                "section": c.section,
                "old": c.old,
                "new": c.new,
                "words": [list(w) for w in c.words],
            }
            for c in diff.changes
        ],
        "summary": dataclasses.asdict(diff.summary),
    }


def claim_line(claim: Any) -> Text:
    text = Text.assemble(
        (f"{claim.status:<11}", STATUS_STYLE.get(claim.status, "")),
        f" l.{claim.line:<5} ",
        (printable(claim.text), "bold"),
    )
    if claim.source is not None:
        src = claim.source
        text.append(
            f"  <- {printable(src.run)} {printable(src.metric)} {src.what} {src.value:.6g}",
            style="dim",
        )
    if claim.note:
        text.append(f"  {printable(claim.note)}", style="italic")
    return text


def claims_text(report: ClaimReport, *, all_claims: bool = True) -> Text:
    text = Text()
    shown = report.claims if all_claims else report.problems
    for claim in shown:
        text.append_text(claim_line(claim))
        text.append("\n")
    counts: dict[str, int] = {}
    for claim in report.claims:
        counts[claim.status] = counts.get(claim.status, 0) + 1
    text.append(
        f"{len(report.problems)} problem(s); "
        + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())),
        style="bold red" if report.problems else "bold green",
    )
    return text
