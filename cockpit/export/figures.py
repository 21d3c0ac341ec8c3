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


VERDICT_COLOURS = {
    "baseline": "#4c72b0",
    str(Verdict.BETTER): "#55a868",
    str(Verdict.WORSE): "#c44e52",
    str(Verdict.NO_DIFFERENCE): "#8c8c8c",
    str(Verdict.NOT_ENOUGH_DATA): "#dd8452",
    str(Verdict.SINGLE_RUN): "#b0b0b0",
}


def _save(fig: Any, stem: Path) -> list[Path]:
    written = []
    for ext in ("pdf", "png"):
        path = stem.with_suffix(f".{ext}")
        fig.savefig(path, bbox_inches="tight", dpi=150 if ext == "png" else None)
        written.append(path)
    return written


def _save_legend(plt: Any, handles: list[Any], labels: list[str], stem: Path) -> list[Path]:
    """The legend alone, for papers that set one legend under several panels."""
    fig = plt.figure(figsize=(0.1, 0.1))
    fig.legend(handles, labels, loc="center", frameon=False, ncol=min(4, max(1, len(labels))))
    written = _save(fig, stem)
    plt.close(fig)
    return written


def _short(c: ConfigResult, keys: Sequence[str]) -> str:
    return " ".join(str(c.params[k]) for k in keys if k in c.params) or c.key


def write_figures(
    matrix: ResultsMatrix,
    group: SweepResults,
    metric: str,
    series: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]],
    out_dir: Path,
) -> tuple[list[Path], list[tuple[str, str, str]]]:
    """Bar chart with CIs, learning curves and effects plot, as PDF and PNG, legends apart.

    Returns the files written and, per figure, (file stem, caption, label) for the snippet.
    """
    plt = _pyplot()
    written: list[Path] = []
    figures: list[tuple[str, str, str]] = []
    keys = group.label_keys
    slug = slugify(metric)
    hib = matrix.higher_is_better.get(metric, True)

    # Bar chart: one bar per config with its CI, coloured by verdict.
    configs = [c for c in group.configs if metric in c.summaries]
    if configs:
        fig, ax = plt.subplots(figsize=(max(4.0, 0.55 * len(configs) + 1.5), 3.2))
        means, lows, highs, colours = [], [], [], []
        for c in configs:
            s = c.summaries[metric]
            means.append(s.mean)
            lows.append(0.0 if math.isnan(s.ci_low) else s.mean - s.ci_low)
            highs.append(0.0 if math.isnan(s.ci_high) else s.ci_high - s.mean)
            cmp = c.comparisons.get(metric)
            verdict = "baseline" if c.is_baseline else (str(cmp.verdict) if cmp else "")
            colours.append(VERDICT_COLOURS.get(verdict, "#b0b0b0"))
        x = list(range(len(configs)))
        ax.bar(
            x, means, yerr=[lows, highs], color=colours, capsize=3, edgecolor="black", linewidth=0.5
        )
        ax.set_xticks(x, [_short(c, keys) for c in configs], rotation=45, ha="right")
        ax.set_ylabel(f"{metric} ({'higher' if hib else 'lower'} is better)")
        finite = [m - lo for m, lo in zip(means, lows, strict=True)] + [
            m + hi for m, hi in zip(means, highs, strict=True)
        ]
        span = (max(finite) - min(finite)) or abs(max(finite)) or 1.0
        ax.set_ylim(min(finite) - 0.15 * span, max(finite) + 0.15 * span)
        ax.set_title(f"{group.name}: {metric}, {DEFAULT_CONFIDENCE:.0%} CIs", fontsize=9)
        from matplotlib.patches import Patch

        present = dict.fromkeys(
            "baseline"
            if c.is_baseline
            else (str(c.comparisons[metric].verdict) if metric in c.comparisons else "")
            for c in configs
        )
        handles = [
            Patch(color=VERDICT_COLOURS[v], label=v) for v in present if v in VERDICT_COLOURS
        ]
        ax.legend(handles=handles, fontsize=7, loc="best")
        fig.tight_layout()
        stem = out_dir / f"bar_{slug}"
        written += _save(fig, stem)
        plt.close(fig)
        written += _save_legend(
            plt, handles, [str(h.get_label()) for h in handles], out_dir / f"bar_{slug}_legend"
        )
        figures.append(
            (
                stem.name,
                f"{latex_escape(metric)} per config of sweep {latex_escape(group.name)} with "
                f"{latex_percent(DEFAULT_CONFIDENCE)} CIs; colour gives the verdict against the "
                "baseline "
                f"(Holm-adjusted, $\\alpha = {matrix.alpha:g}$).",
                f"fig:{slugify(group.name)}-{slug}",
            )
        )

    # Learning curves: every metric with a series, the baseline and the best configs.
    chosen = curve_configs(group, metric, hib)
    curve_metrics: list[str] = []
    for c in chosen:
        for name, points in series.get(c.run_ids[0], {}).items():
            if (
                len(points) > 2
                and name not in curve_metrics
                and not NOT_A_LEARNING_CURVE.search(name.lower())
            ):
                curve_metrics.append(name)
    for name in curve_metrics:
        fig, ax = plt.subplots(figsize=(5.0, 3.2))
        for c in chosen:
            points = series.get(c.run_ids[0], {}).get(name, ())
            if len(points) > 1:
                steps = [p[0] for p in points]
                values = [p[1] for p in points]
                ax.plot(
                    steps,
                    values,
                    linewidth=1.6 if c.is_baseline else 1.0,
                    label=("* " if c.is_baseline else "") + _short(c, keys),
                )
        ax.set_xlabel("step")
        ax.set_ylabel(name)
        ax.set_title(f"{group.name}: {name}", fontsize=9)
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(fontsize=6, loc="best")
        fig.tight_layout()
        stem = out_dir / f"curves_{slugify(name)}"
        written += _save(fig, stem)
        plt.close(fig)
        written += _save_legend(plt, handles, labels, out_dir / f"curves_{slugify(name)}_legend")
        figures.append(
            (
                stem.name,
                f"{latex_escape(name)} over training steps (sweep {latex_escape(group.name)}; "
                f"* marks the baseline).",
                f"fig:{slugify(group.name)}-curves-{slugify(name)}",
            )
        )

    # Effects plot: estimates with 95% intervals, largest first (a Pareto chart).
    effects = group.effects.get(metric)
    if effects is not None and effects.effects:
        fig, ax = plt.subplots(figsize=(5.0, 0.35 * len(effects.effects) + 1.2))
        names = [e.name for e in effects.effects][::-1]
        est = [e.estimate for e in effects.effects][::-1]
        err = [1.96 * (e.se or 0.0) for e in effects.effects][::-1]
        colours = [
            "#55a868" if e.p_adjusted is not None and e.p_adjusted <= matrix.alpha else "#8c8c8c"
            for e in effects.effects
        ][::-1]
        ax.barh(names, est, xerr=err, color=colours, capsize=3)
        ax.axvline(0.0, color="black", linewidth=0.6)
        ax.set_xlabel(f"effect on {metric} (high - low level)")
        ax.set_title(f"{group.name}: effects, {effects.note}", fontsize=8)
        fig.tight_layout()
        stem = out_dir / f"effects_{slug}"
        written += _save(fig, stem)
        plt.close(fig)
        figures.append(
            (
                stem.name,
                f"Main effects and interactions on {latex_escape(metric)} (sweep "
                f"{latex_escape(group.name)}) with 95\\% intervals; "
                f"{latex_escape(effects.note)}; green: significant after Holm.",
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


def figure_snippet(figures: Iterable[tuple[str, str, str]], sweep: str) -> str:
    """LaTeX that includes the figures (PDFs next to it; add the folder to \\graphicspath)."""
    lines = [
        f"% Lab Cockpit figures for sweep {sweep}. Needs \\usepackage{{graphicx}};",
        "% the files sit next to this snippet: \\graphicspath{{path/to/this/folder/}}.",
    ]
    for stem, caption, label in figures:
        lines += [
            "\\begin{figure}[t]",
            "  \\centering",
            f"  \\includegraphics[width=\\linewidth]{{{stem}.pdf}}",
            f"  \\caption{{{caption}}}",
            f"  \\label{{{label}}}",
            "\\end{figure}",
            "",
        ]
    return "\n".join(lines)
