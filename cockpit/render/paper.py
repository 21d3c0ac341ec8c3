"""Draft diffs and claim reports as Rich text: the same in the Paper pane and the CLI.

Every text here comes from a draft file or a model, so it goes through printable() first.
Pure functions: widgets may import this module."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from cockpit.models import (
    REVIEW_SCORE_RANGES,
    REVIEW_TEXT_FIELDS,
    ClaimReport,
    DiffChange,
    DraftDiff,
    Review,
)
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


def _score(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:g}" if isinstance(value, int | float) else printable(str(value))


def review_history_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """How the scores moved between versions: per reviewed version, each score as the
    reviewers' mean / the meta-review's, and the overall mean's move from the version before
    (rows as `cockpit.paper.review.score_history` gives them)."""
    scores = [k[: -len("_mean")] for k in rows[0] if k.endswith("_mean")] if rows else []
    table = Table(box=None, pad_edge=False, header_style="bold", title="scores: mean / meta")
    table.add_column("v", justify="right")
    table.add_column("n", justify="right")
    for name in scores:
        table.add_column(name[:7], justify="right")
    table.add_column("Δ overall", justify="right")
    table.add_column("decision")
    before: float | None = None
    for row in rows:
        overall = row.get("overall_mean")
        move = Text("")
        if isinstance(overall, int | float) and before is not None:
            delta = overall - before
            move = Text(f"{delta:+.2g}", style="green" if delta > 0 else "red" if delta else "")
        if isinstance(overall, int | float):
            before = overall
        table.add_row(
            str(row["version"]),
            str(row.get("reviews", 0)),
            *(f"{_score(row.get(f'{k}_mean'))}/{_score(row.get(f'{k}_meta'))}" for k in scores),
            move,
            _score(row.get("decision")),
        )
    return table


def review_text(review: Review) -> Text:
    """One stored review: who, its scores and decision, its problems, then its text fields."""
    fields = review.fields
    who = "meta-review" if review.index < 0 else f"review {review.index + 1}"
    text = Text.assemble(
        (f"{who} of v{review.version}", "bold"),
        f"  {printable(review.backend)}  ${review.cost_usd:.4f}\n",
    )
    text.append(" ".join(f"{k} {_score(fields.get(k))}" for k in REVIEW_SCORE_RANGES))
    decision = fields.get("decision")
    text.append(
        f"  {_score(decision)}",
        style="bold green" if decision == "accept" else "bold red" if decision else "dim",
    )
    for problem in fields.get("problems", []):
        text.append(f"\nproblem: {printable(str(problem))}", style="yellow")
    for key in REVIEW_TEXT_FIELDS:
        value = str(fields.get(key) or "").strip()
        if value:
            text.append(f"\n{key}: ", style="bold")
            text.append(printable(value, newlines=True))
    return text
