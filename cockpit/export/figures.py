"""A results view as figures: bars with CIs, effects, learning curves (PDF + PNG) and the
LaTeX that includes them.

matplotlib is imported inside the functions that draw, with the Agg backend (no display
needed): nothing that the app or the CLI imports at start-up pays for it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cockpit.export.tables import latex_escape, latex_percent, slugify
from cockpit.models.results import (
    DEFAULT_CONFIDENCE,
    ConfigResult,
    ResultsMatrix,
    SweepResults,
    Verdict,
)
from cockpit.render.safe import printable

MAX_CURVES = 12  # configs per learning-curve figure: more is a hairball, not a figure
# Logged series that are settings or throughput, not learning: no curve figure for them.
NOT_A_LEARNING_CURVE = re.compile(
    r"(^|[_/])(lr|learning_rate|tokens_per_s|throughput|grad_norm|mem|step_time|epoch)($|[_/])"
)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    return plt


# Okabe & Ito's palette: told apart with every common colour-vision deficiency and in grey.
OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",
)
VERDICT_COLOURS = {
    "baseline": "#0072B2",
    str(Verdict.BETTER): "#009E73",
    str(Verdict.WORSE): "#D55E00",
    str(Verdict.NO_DIFFERENCE): "#999999",
    str(Verdict.NOT_ENOUGH_DATA): "#E69F00",
    str(Verdict.NO_BASELINE_VALUE): "#E69F00",
    str(Verdict.SINGLE_RUN): "#BBBBBB",
}
# Markers as well as colours, so a verdict reads in print without colour.
VERDICT_MARKERS = {
    "baseline": "s",
    str(Verdict.BETTER): "^",
    str(Verdict.WORSE): "v",
    str(Verdict.NO_DIFFERENCE): "o",
    str(Verdict.NOT_ENOUGH_DATA): "D",
    str(Verdict.NO_BASELINE_VALUE): "D",
    str(Verdict.SINGLE_RUN): "o",
}
# Page widths of the usual two-column templates (IEEE, ACM, NeurIPS-style): one column and
# the full text width, in inches. Each figure is written at both: <stem>.pdf and <stem>_wide.pdf.
COLUMN_WIDTH_IN = 3.25
TEXT_WIDTH_IN = 6.75
WIDTHS = (("", COLUMN_WIDTH_IN), ("_wide", TEXT_WIDTH_IN))
# TrueType fonts in PDF and PS (Type 3 is rejected by IEEE PDF eXpress and ACM's checker);
# 8 pt labels and 7 pt ticks and legends stay readable in a 3.25 in column.
PAPER_STYLE = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": None,  # set to OKABE_ITO when drawing (needs matplotlib's cycler)
    "savefig.dpi": 300,
}


def _style() -> dict[str, Any]:
    from cycler import cycler

    style = dict(PAPER_STYLE)
    style["axes.prop_cycle"] = cycler(color=list(OKABE_ITO))
    return style


def _save(fig: Any, stem: Path) -> list[Path]:
    """PDF and PNG at the figure's exact size: no tight bbox, which would change the width
    the figure was laid out for (constrained layout keeps everything inside it)."""
    written = []
    for ext in ("pdf", "png"):
        path = stem.with_suffix(f".{ext}")
        fig.savefig(path)
        written.append(path)
    return written


def _save_legend(plt: Any, handles: list[Any], labels: list[str], stem: Path) -> list[Path]:
    """The legend alone, for papers that set one legend under several panels."""
    if not handles:
        return []
    fig = plt.figure(figsize=(COLUMN_WIDTH_IN, 0.25 + 0.18 * math.ceil(len(labels) / 2)))
    fig.legend(handles, labels, loc="center", frameon=False, ncol=min(2, max(1, len(labels))))
    written = _save(fig, stem)
    plt.close(fig)
    return written


def _legend_below(fig: Any, ax: Any, handles: list[Any], labels: list[str]) -> None:
    """The legend under the axes, outside them: it can never cover data."""
    if handles:
        # As many columns as the widest label lets fit (7 pt text is about 4 pt a character).
        widest = max(len(line) for label in labels for line in label.split("\n"))
        fits = int(fig.get_figwidth() * 72 / (widest * 4.0 + 24))
        ncol = max(1, min(3, len(labels), fits))
        fig.legend(handles, labels, loc="outside lower center", ncol=ncol, frameon=False)
        # The figure grows by the legend's height, so the axes keep theirs.
        lines = max(label.count("\n") + 1 for label in labels)
        rows = math.ceil(len(labels) / ncol) * lines
        fig.set_size_inches(fig.get_figwidth(), fig.get_figheight() + 0.14 * rows + 0.1)


def config_label(c: ConfigResult, keys: Sequence[str], wrap: int = 0) -> str:
    """ "lr=0.001 warmup=100": a value means nothing on an axis without its factor's name.

    ``wrap``: longer labels put each factor on its own line (a column is narrow)."""
    # (values come from imported files: an escape in one would reach the PDF and, through
    # matplotlib's missing-glyph warning, the terminal)
    parts = [printable(f"{k}={c.params[k]}") for k in keys if k in c.params]
    text = " ".join(parts) or printable(c.key)
    return "\n".join(parts) if wrap and len(text) > wrap and len(parts) > 1 else text


def smooth(values: Sequence[float], weight: float | None = None) -> list[float]:
    """An exponential moving average, debiased as TensorBoard's (its first points are not
    pulled towards 0). The default weight spans about a twentieth of the series."""
    if weight is None:
        weight = max(0.0, 1.0 - 20.0 / max(len(values), 1))
    out: list[float] = []
    avg = 0.0
    for i, v in enumerate(values, 1):
        avg = weight * avg + (1.0 - weight) * v
        out.append(avg / (1.0 - weight**i) if weight < 1.0 else v)
    return out


def effect_label(name: str, factors: Sequence[str], levels: Mapping[str, Sequence[Any]]) -> str:
    """ "lr (0.001 -> 0.003)" for a main effect, "lr x warmup" (each with its levels) for an
    interaction: the reader sees which level is "high"."""
    parts = []
    for f in factors:
        lv = levels.get(f) or ()
        parts.append(printable(f"{f} ({lv[0]} → {lv[1]})" if len(lv) == 2 else f))
    # One factor per line: three levels' worth of text does not fit a column on one line.
    return " x\n".join(parts) or printable(name)


def write_figures(
    matrix: ResultsMatrix,
    group: SweepResults,
    metric: str,
    series: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]],
    out_dir: Path,
) -> tuple[list[Path], list[tuple[str, str, str]]]:
    """Values with CIs, learning curves and effects plot, as PDF and PNG, one column and
    text wide, legends outside the axes and also apart.

    Returns the files written and, per figure, (file stem, caption, label) for the snippet.
    """
    plt = _pyplot()
    written: list[Path] = []
    figures: list[tuple[str, str, str]] = []
    with plt.rc_context(_style()):
        for suffix, width in WIDTHS:
            files, figs = _draw_all(plt, matrix, group, metric, series, out_dir, suffix, width)
            written += files
            if not suffix:
                figures = figs
    return written, figures


def _draw_all(
    plt: Any,
    matrix: ResultsMatrix,
    group: SweepResults,
    metric: str,
    series: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]],
    out_dir: Path,
    suffix: str,
    width: float,
) -> tuple[list[Path], list[tuple[str, str, str]]]:
    written: list[Path] = []
    figures: list[tuple[str, str, str]] = []
    keys = group.label_keys
    slug = slugify(metric)
    hib = matrix.higher_is_better.get(metric, True)
    legends = not suffix  # the legend files once, from the one-column drawing

    # Values: dot and whisker (a point per config and its CI), never a bar on a cut axis.
    configs = [c for c in group.configs if metric in c.summaries]
    wrap = 24 if width < TEXT_WIDTH_IN else 0
    if configs:
        tick_labels = [config_label(c, keys, wrap) for c in configs]
        lines = sum(t.count("\n") + 1 for t in tick_labels)
        height = max(1.8, 0.14 * lines + 0.08 * len(configs) + 1.1)
        fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
        has_ci = False
        present: dict[str, Any] = {}
        for y, c in enumerate(configs):
            s = c.summaries[metric]
            cmp = c.comparisons.get(metric)
            verdict = "baseline" if c.is_baseline else (str(cmp.verdict) if cmp else "")
            colour = VERDICT_COLOURS.get(verdict, "#BBBBBB")
            if not (math.isnan(s.ci_low) or math.isnan(s.ci_high)):
                has_ci = True
                ax.plot([s.ci_low, s.ci_high], [y, y], color=colour, linewidth=1.2)
            handle = ax.plot(
                [s.mean],
                [y],
                marker=VERDICT_MARKERS.get(verdict, "o"),
                color=colour,
                markersize=4,
                linestyle="none",
                markerfacecolor="white" if s.censored else colour,
            )[0]
            present.setdefault(verdict or "no comparison", handle)
        ax.set_yticks(range(len(configs)), tick_labels)
        ax.invert_yaxis()
        word = "higher" if hib else "lower"
        ax.set_xlabel(printable(f"{metric} ({word} is better)"))
        ax.grid(axis="x", linewidth=0.3, alpha=0.5)
        labels = list(present)
        handles = list(present.values())
        _legend_below(fig, ax, handles, labels)
        stem = out_dir / f"values_{slug}{suffix}"
        written += _save(fig, stem)
        plt.close(fig)
        if legends:
            written += _save_legend(plt, handles, labels, out_dir / f"values_{slug}_legend")
        intervals = (
            f"points with {latex_percent(DEFAULT_CONFIDENCE)} CIs"
            if has_ci
            else "single values (no CIs: no replicates or reported SEs)"
        )
        censored = any(c.summaries[metric].censored for c in configs)
        figures.append(
            (
                stem.name,
                f"{latex_escape(metric)} per config of sweep {latex_escape(group.name)}: "
                f"{intervals}; colour and marker give the verdict against the baseline "
                f"(Holm-adjusted, $\\alpha = {matrix.alpha:g}$)."
                + (" Open markers: censored (target never reached)." if censored else ""),
                f"fig:{slugify(group.name)}-{slug}",
            )
        )

    # Learning curves: smoothed, with the raw series faint behind.
    chosen = curve_configs(group, metric, hib)
    for name in curve_metric_names(chosen, series):
        fig, ax = plt.subplots(figsize=(width, width * 0.62), layout="constrained")
        handles, labels = [], []
        for i, c in enumerate(chosen):
            points = series.get(c.run_ids[0], {}).get(name, ())
            if len(points) > 1:
                colour = OKABE_ITO[i % len(OKABE_ITO)]
                steps = [p[0] for p in points]
                values = [p[1] for p in points]
                ax.plot(steps, values, color=colour, linewidth=0.6, alpha=0.25)
                line = ax.plot(
                    steps, smooth(values), color=colour, linewidth=1.6 if c.is_baseline else 1.0
                )[0]
                handles.append(line)
                labels.append(("* " if c.is_baseline else "") + config_label(c, keys, wrap))
        ax.set_xlabel("step")
        ax.set_ylabel(printable(name))
        _legend_below(fig, ax, handles, labels)
        stem = out_dir / f"curves_{slugify(name)}{suffix}"
        written += _save(fig, stem)
        plt.close(fig)
        if legends:
            written += _save_legend(
                plt, handles, labels, out_dir / f"curves_{slugify(name)}_legend"
            )
        figures.append(
            (
                stem.name,
                f"{latex_escape(name)} over training steps (sweep {latex_escape(group.name)}): "
                "exponential moving average, raw values faint; * marks the baseline.",
                f"fig:{slugify(group.name)}-curves-{slugify(name)}",
            )
        )

    # Effects: estimates with 95% intervals, largest first, each naming both levels.
    effects = group.effects.get(metric)
    if effects is not None and effects.effects:
        levels = group.sweep.factors or {}
        lines = sum(len(e.factors) or 1 for e in effects.effects)
        fig, ax = plt.subplots(
            figsize=(width, 0.14 * lines + 0.08 * len(effects.effects) + 1.0),
            layout="constrained",
        )
        ordered = list(effects.effects)[::-1]
        for y, e in enumerate(ordered):
            significant = e.p_adjusted is not None and e.p_adjusted <= matrix.alpha
            colour = "#009E73" if significant else "#999999"
            if e.se:
                half = 1.96 * e.se
                ax.plot([e.estimate - half, e.estimate + half], [y, y], color=colour)
            ax.plot([e.estimate], [y], marker="o", color=colour, markersize=4)
        ax.set_yticks(
            range(len(ordered)), [effect_label(e.name, e.factors, levels) for e in ordered]
        )
        ax.axvline(0.0, color="black", linewidth=0.6)
        sep = "\n" if width < TEXT_WIDTH_IN else " "
        ax.set_xlabel(printable(f"effect on {metric}") + f"{sep}(high - low level)")
        stem = out_dir / f"effects_{slug}{suffix}"
        written += _save(fig, stem)
        plt.close(fig)
        figures.append(
            (
                stem.name,
                f"Main effects and interactions on {latex_escape(metric)} (sweep "
                f"{latex_escape(group.name)}): high minus low level, as named on each row, "
                f"with 95\\% intervals; {latex_escape(effects.note)}; green: significant "
                "after Holm.",
                f"fig:{slugify(group.name)}-effects-{slug}",
            )
        )
    return written, figures


def curve_configs(group: SweepResults, metric: str, hib: bool) -> list[ConfigResult]:
    base = group.baseline_config
    sign = -1.0 if hib else 1.0
    ranked = sorted(
        (c for c in group.configs if not c.is_baseline),
        key=lambda c: sign * (c.summaries[metric].mean if metric in c.summaries else math.inf),
    )
    return ([base] if base else []) + ranked[: MAX_CURVES - 1]


def curve_metric_names(
    chosen: Sequence[ConfigResult],
    series: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]],
) -> list[str]:
    """The logged series of the chosen configs' runs that get a learning-curve figure."""
    names: list[str] = []
    for c in chosen:
        for name, points in series.get(c.run_ids[0], {}).items():
            if (
                len(points) > 2
                and name not in names
                and not NOT_A_LEARNING_CURVE.search(name.lower())
            ):
                names.append(name)
    return names


def figure_snippet(
    figures: Iterable[tuple[str, str, str]],
    sweep: str,
    pgfplots: Mapping[str, str] | None = None,
) -> str:
    """LaTeX that includes the figures (PDFs next to it; add the folder to \\graphicspath);
    with `pgfplots` (stem -> .tex name), the pgfplots source of each figure instead."""
    if pgfplots is None:
        lines = [
            f"% Lab Cockpit figures for sweep {sweep}. Needs \\usepackage{{graphicx}};",
            "% the files sit next to this snippet: \\graphicspath{{path/to/this/folder/}}.",
        ]
    else:
        lines = [
            f"% Lab Cockpit figures for sweep {sweep} as pgfplots. Needs \\usepackage{{pgfplots}}",
            "% and \\pgfplotsset{compat=1.17}; \\input paths are relative to the main file.",
        ]
    for stem, caption, label in figures:
        if pgfplots is not None and stem not in pgfplots:
            continue
        include = (
            f"  \\includegraphics[width=\\linewidth]{{{stem}.pdf}}"
            if pgfplots is None
            else f"  \\input{{{pgfplots[stem]}}}"
        )
        lines += [
            "\\begin{figure}[t]",
            "  \\centering",
            include,
            f"  \\caption{{{caption}}}",
            f"  \\label{{{label}}}",
            "\\end{figure}",
            "",
        ]
    return "\n".join(lines)
