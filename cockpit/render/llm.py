"""LLM answers and costs as the CLI and the app show them: in an answer, the numbers it
quotes that are not in the data it was given are underlined and marked, with a legend."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text

from cockpit.models import UsageReport
from cockpit.render.safe import printable

UNVERIFIED_MARK = "[?]"
UNVERIFIED_STYLE = "underline bold yellow"
LEGEND = f"{UNVERIFIED_MARK} a number not in the data the model was given: check it"


def marked_answer(text: str, unverified: Sequence[tuple[int, int]]) -> Text:
    """The answer with each unverified span underlined and followed by the mark. Spans are
    character offsets into `text`; each piece is made printable on its own, so escaping a
    control character never shifts a mark."""
    out = Text()
    at = 0
    for start, end in sorted(unverified):
        if start < at:
            continue
        out.append(printable(text[at:start], newlines=True))
        out.append(printable(text[start:end]), style=UNVERIFIED_STYLE)
        out.append(UNVERIFIED_MARK, style="bold yellow")
        at = end
    out.append(printable(text[at:], newlines=True))
    return out


def cost_line(result: dict[str, object]) -> str:
    """What the call cost, in one line (a model outside litellm's price map is unpriced)."""
    cost = result.get("cost_usd")
    price = "unpriced" if not isinstance(cost, int | float) else f"${cost:.6f}"
    return (
        f"{printable(str(result.get('model', '')))}: {result.get('prompt_tokens', 0)} prompt + "
        f"{result.get('completion_tokens', 0)} answer tokens, {price}, "
        f"{float(result.get('latency_s', 0) or 0):.1f}s"  # type: ignore[arg-type]
    )


def usage_tables(report: UsageReport) -> Group:
    """What the LLM calls cost: the total, then per day, per pane, per idea, per backend."""
    stops = (
        f"{report.failed} failed, {report.refused} stopped by a budget, "
        f"{report.cancelled} cancelled"
        + (f", {report.pending} in flight (at their most)" if report.pending else "")
    )
    total = report.total
    parts: list[Text | Table] = [
        Text(
            f"{total.calls} calls, {total.prompt_tokens} tokens in, "
            f"{total.completion_tokens} out: ${total.cost_usd:.4f}\n{stops}"
        )
    ]
    for title, rows in (
        ("per day", report.by_day),
        ("per pane", report.by_pane),
        ("per idea", report.by_idea),
        ("per backend", report.by_backend),
    ):
        if not rows:
            continue
        table = Table(title=title, title_justify="left", box=None, pad_edge=False)
        for name, justify in (("", "left"), ("calls", "right"), ("in", "right")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        table.add_column("out", justify="right")
        table.add_column("cost", justify="right")
        for row in rows:
            cost = f"${row.cost_usd:.4f}" + (f" ({row.unpriced} unpriced)" if row.unpriced else "")
            table.add_row(
                printable(row.key)[:30],
                str(row.calls),
                str(row.prompt_tokens),
                str(row.completion_tokens),
                cost,
            )
        parts.append(table)
    return Group(*parts)
