"""The morning triage as a screen over the cockpit: what finished or failed since the last look.

Drawing only. The app builds the report (cockpit.triage.build_triage, in a thread) and hands
it to :class:`TriageScreen`, which says what `cockpit triage` prints, laid out for 80x24:
a summary line (runs, GPU-hours used and idle), the failed runs with their reasons, the
finished ones, the new results with their verdicts, and the thresholds crossed. Keyboard
only: escape or enter closes it (dismissed with "close"), r goes on to the Results pane
(dismissed with "results"); the app records the look either way.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from cockpit.display import VERDICT_STYLE, duration

if TYPE_CHECKING:  # the screen draws a core object; it never imports core code at run time
    from cockpit.triage import TriageReport, TriageResult

FINISHED_SHOWN = 12  # finished runs listed by name; the rest are counted


def clock(ts: float | None) -> str:
    return "—" if ts is None else time.strftime("%a %H:%M", time.localtime(ts))


def _num(x: float | None, spec: str = ".4f") -> str:
    return "—" if x is None or math.isnan(x) else format(x, spec)


def _p(p: float | None) -> str:
    if p is None or math.isnan(p):
        return "—"
    return f"{p:.2g}" if p < 0.001 else f"{p:.4f}"


def _table(title: str) -> Table:
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        show_edge=False,
        box=None,
        pad_edge=False,
        header_style="dim",
        expand=False,
    )


def summary_text(report: TriageReport) -> Text:
    """One line: runs finished, failed and still running, GPU-hours used and idle."""
    text = Text()
    text.append(f"{len(report.finished)} finished", style="green" if report.finished else "")
    text.append(" · ")
    text.append(f"{len(report.failed)} failed", style="bold red" if report.failed else "")
    text.append(f" · {len(report.running)} running · {report.gpu_hours_used:.1f} GPU-h used")
    if report.gpu_hours_idle is not None and report.gpu_hours_observed:
        share = report.gpu_hours_idle / report.gpu_hours_observed
        text.append(
            f" · {report.gpu_hours_idle:.1f} of {report.gpu_hours_observed:.1f} observed "
            f"GPU-h idle ({share:.0%})",
            style="yellow" if share > 0.25 else "",
        )
    else:
        text.append(" · idle: no GPU samples in this window", style="dim")
    return text


def triage_renderable(report: TriageReport) -> RenderableType:
    """The report, section by section; a section with nothing to say is left out."""
    parts: list[RenderableType] = []
    head = Text("Morning triage", style="bold")
    head.append(
        f"  since {clock(report.since)} ({report.since_source}, "
        f"{duration(report.until - report.since)} ago)",
        style="dim",
    )
    parts += [head, summary_text(report)]
    if not report.news:
        parts.append(Text("\nNothing finished or failed since then.", style="dim"))
    if report.failed:
        table = _table(f"\nFailed ({len(report.failed)})")
        table.add_column("run", no_wrap=True)
        table.add_column("ended", no_wrap=True)
        table.add_column("reason", overflow="fold")
        for o in report.failed:
            table.add_row(o.run_id, clock(o.ended_at), Text(o.reason, style="red"))
        parts.append(table)
    if report.finished:
        table = _table(f"\nFinished ({len(report.finished)})")
        for name in ("run", "sweep", "GPUs", "took", "ended"):
            table.add_column(name, no_wrap=True)
        for o in report.finished[-FINISHED_SHOWN:]:
            took = duration(o.ended_at - o.started_at) if o.started_at and o.ended_at else "—"
            table.add_row(o.run_id, o.sweep or "", str(o.gpus), took, clock(o.ended_at))
        parts.append(table)
        hidden = len(report.finished) - FINISHED_SHOWN
        if hidden > 0:
            parts.append(Text(f"and {hidden} more finished earlier", style="dim"))
    busy = {h: v for h, v in report.gpu_hours_by_host.items() if v >= 0.05}
    if busy:
        hosts = ", ".join(f"{h} {v:.1f}" for h, v in busy.items())
        parts.append(Text(f"GPU-hours by host: {hosts}", style="dim"))
    by_view: dict[tuple[str, str], list[TriageResult]] = {}
    for r in report.results:
        by_view.setdefault((r.sweep, r.metric), []).append(r)
    for (sweep, metric), rows in by_view.items():
        tests = sorted({r.test for r in rows if r.test != "none"})
        table = _table(
            f"\nNew results: {sweep}, {metric}\n"
            f"({', '.join(tests) or 'no test possible'}; Holm over {rows[0].family_size})"
        )
        table.add_column("config", overflow="fold")
        table.add_column("verdict", no_wrap=True)
        table.add_column("Δ ±95% CI", no_wrap=True)
        table.add_column("p Holm", no_wrap=True)
        for r in rows:
            half = (
                f" ±{(r.ci_high - r.ci_low) / 2:.4f}"
                if r.ci_low is not None and r.ci_high is not None
                else ""
            )
            verdict = Text("⚠ " if r.flags else "", style="bold yellow")
            verdict.append(r.verdict, style=VERDICT_STYLE.get(r.verdict, ""))
            table.add_row(r.config, verdict, _num(r.delta, "+.4f") + half, _p(r.p_holm))
        parts.append(table)
    if report.thresholds_crossed:
        parts.append(Text("\nThresholds crossed", style="bold yellow"))
        parts += [Text(f"⚠ {line}", style="yellow") for line in report.thresholds_crossed]
    parts += [Text(note, style="dim") for note in report.notes]
    return Group(*parts)


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

    def __init__(self, report: TriageReport) -> None:
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        with Vertical(id="triage-box"):
            with VerticalScroll(id="triage-scroll"):
                yield Static(triage_renderable(self.report), id="triage-report")
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
