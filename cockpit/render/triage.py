"""The morning report (cockpit.triage) as Rich renderables: the same text in the terminal
(`cockpit triage`) and on the app's triage screen."""

from __future__ import annotations

import math
import time

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from cockpit.models.triage import TriageReport, TriageResult
from cockpit.render.safe import printable_fields
from cockpit.render.text import VERDICT_STYLE, duration, p_value

FINISHED_SHOWN = 12  # finished runs listed by name; the rest are counted


def _clock(ts: float | None) -> str:
    return "—" if ts is None else time.strftime("%a %H:%M", time.localtime(ts))


def _num(x: float | None, spec: str = ".4f") -> str:
    return "—" if x is None or math.isnan(x) else format(x, spec)


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
    text.append(f" · {len(report.running)} still running")
    text.append(f" · {report.gpu_hours_used:.1f} GPU-hours used")
    if report.gpu_hours_idle is not None and report.gpu_hours_observed:
        share = report.gpu_hours_idle / report.gpu_hours_observed
        text.append(
            f" · {report.gpu_hours_idle:.1f} of {report.gpu_hours_observed:.1f} observed "
            f"GPU-hours idle ({share:.0%})",
            style="yellow" if share > 0.25 else "",
        )
    else:
        text.append(" · idle: no GPU samples recorded in this window", style="dim")
    return text


def triage_renderable(
    report: TriageReport, finished_shown: int | None = FINISHED_SHOWN
) -> RenderableType:
    """The report, section by section; a section with nothing to say is left out.

    The same text for `cockpit triage` and the app's triage screen (laid out for 80x24).
    """
    report = printable_fields(report)  # run ids, sweeps, reasons and log lines from files
    parts: list[RenderableType] = []
    head = Text("Morning triage", style="bold")
    head.append(
        f"  since {_clock(report.since)} ({report.since_source}, "
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
            table.add_row(o.run_id, _clock(o.ended_at), Text(o.reason, style="red"))
        parts.append(table)
    if report.finished:
        table = _table(f"\nFinished ({len(report.finished)})")
        for name in ("run", "sweep", "GPUs", "took", "ended"):
            table.add_column(name, no_wrap=True)
        shown = report.finished if finished_shown is None else report.finished[-finished_shown:]
        for o in shown:
            took = duration(o.ended_at - o.started_at) if o.started_at and o.ended_at else "—"
            table.add_row(
                o.run_id,
                o.sweep or "",
                "?" if o.gpus is None else str(o.gpus),
                took,
                _clock(o.ended_at),
            )
        parts.append(table)
        hidden = len(report.finished) - len(shown)
        if hidden > 0:
            parts.append(Text(f"and {hidden} more finished earlier", style="dim"))
    flagged = [o for o in (*report.failed, *report.running, *report.finished) if o.log_flags]
    if flagged:
        text = Text(f"\nLog flags ({len(flagged)} runs)", style="bold")
        for o in flagged:
            text.append(f"\n{o.run_id}  ", style="bold")
            text.append("; ".join(o.log_flags[:3]), style="red")
            if len(o.log_flags) > 3:
                text.append(f"; and {len(o.log_flags) - 3} more", style="dim")
        parts.append(text)
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
            table.add_row(r.config, verdict, _num(r.delta, "+.4f") + half, p_value(r.p_holm))
        parts.append(table)
    if report.thresholds_crossed:
        parts.append(Text("\nThresholds crossed", style="bold yellow"))
        parts += [Text(f"⚠ {line}", style="yellow") for line in report.thresholds_crossed]
    parts += [Text(note, style="dim") for note in report.notes]
    return Group(*parts)


def render_triage(report: TriageReport, console: Console) -> None:
    """Print the whole report (every finished run listed) with rich."""
    console.print(triage_renderable(report, finished_shown=None))
