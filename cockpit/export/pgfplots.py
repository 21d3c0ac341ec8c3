"""The export's figures as pgfplots (TikZ) source, beside the PDFs: the same points, CIs,
curves and effects, drawn by LaTeX in the paper's own fonts. The data is inline in the .tex
or in .dat files next to it (`\\addplot table {file.dat}`). No matplotlib here.

Each figure is one `tikzpicture` with one `axis`; `figures_pgfplots.tex` \\input's them in
`figure` environments with the captions the PDFs get. Needs \\usepackage{pgfplots} and
\\pgfplotsset{compat=1.17} (or newer) in the preamble.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cockpit.export.figures import (
    OKABE_ITO,
    VERDICT_COLOURS,
    VERDICT_MARKERS,
    config_label,
    curve_configs,
    curve_metric_names,
    effect_label,
    smooth,
)
from cockpit.export.tables import latex_escape, slugify
from cockpit.models.results import ResultsMatrix, SweepResults

DATA_MODES = ("inline", "dat")
# Under the axes, outside them, as in the PDFs: a legend never covers data.
LEGEND_BELOW = (
    "legend style={at={(0.5,-0.22)}, anchor=north, legend columns=2, font=\\scriptsize, draw=none}"
)
# pgfplots marks for the PDF's matplotlib markers, so a verdict reads the same in both.
PGF_MARKS = {
    "s": "square*",
    "^": "triangle*",
    "v": "triangle*, mark options={rotate=180}",
    "o": "*",
    "D": "diamond*",
}


@dataclass(frozen=True)
class PgfSeries:
    """One \\addplot: a table of named columns and how to draw it."""

    columns: tuple[str, ...]
    rows: Sequence[tuple[float, ...]]
    options: str  # pgfplots options of the \\addplot
    table_options: str  # which columns are x, y and the error bars
    legend: str = ""  # a legend entry (LaTeX, already escaped), or none


@dataclass
class PgfFigure:
    stem: str  # the PDF's stem: the .tex is <stem>_pgfplots.tex
    axis_options: list[str]
    series: list[PgfSeries] = field(default_factory=list)
    colours: dict[str, str] = field(default_factory=dict)  # name -> HTML hex


def _number(value: float) -> str:
    return "nan" if not math.isfinite(value) else repr(float(value))


def _table(series: PgfSeries) -> str:
    lines = [" ".join(series.columns)]
    lines += [" ".join(_number(v) for v in row) for row in series.rows]
    return "\n".join(lines) + "\n"


def render_figure(fig: PgfFigure, data: str) -> tuple[str, dict[str, str]]:
    """The figure's .tex and, with data "dat", its data files (name -> content)."""
    files: dict[str, str] = {}
    lines = [f"% Lab Cockpit figure {fig.stem} (pgfplots). Needs \\usepackage{{pgfplots}}."]
    for name, hexcode in fig.colours.items():
        lines.append(f"\\definecolor{{{name}}}{{HTML}}{{{hexcode.lstrip('#').upper()}}}")
    lines.append("\\begin{tikzpicture}")
    lines.append("\\begin{axis}[")
    lines += [f"  {option}," for option in fig.axis_options]
    lines.append("]")
    dat_names: dict[int, str] = {}  # two plots of the same rows share one file
    for series in fig.series:
        head = f"\\addplot+[{series.options}] table[{series.table_options}]"
        if data == "dat":
            name = dat_names.get(id(series.rows))
            if name is None:
                name = dat_names[id(series.rows)] = f"{fig.stem}_{len(dat_names)}.dat"
                files[name] = _table(series)
            lines.append(f"{head} {{{name}}};")
        else:
            lines.append(f"{head} {{")
            lines.append(_table(series).rstrip("\n"))
            lines.append("};")
        if series.legend:
            lines.append(f"\\addlegendentry{{{series.legend}}}")
    lines.append("\\end{axis}")
    lines.append("\\end{tikzpicture}")
    return "\n".join(lines) + "\n", files


def _label(text: str) -> str:
    """A tick label as LaTeX: specials escaped, the arrow of an effect's levels as math."""
    return latex_escape(text.replace("\n", " ")).replace("→", "$\\to$")


def _ticks(labels: Sequence[str]) -> list[str]:
    return [
        f"ytick={{{','.join(str(i) for i in range(len(labels)))}}}",
        "yticklabels={" + ",".join(f"{{{_label(t)}}}" for t in labels) + "}",
        "y dir=reverse",
        "yticklabel style={font=\\scriptsize}",
    ]


def figures_for(
    matrix: ResultsMatrix,
    group: SweepResults,
    metric: str,
    series: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]],
) -> list[PgfFigure]:
    """The same figures `write_figures` draws as PDF, as pgfplots axes."""
    out: list[PgfFigure] = []
    keys = group.label_keys
    slug = slugify(metric)
    hib = matrix.higher_is_better.get(metric, True)
    configs = [c for c in group.configs if metric in c.summaries]
    if configs:
        word = "higher" if hib else "lower"
        fig = PgfFigure(
            f"values_{slug}",
            [
                "width=\\linewidth",
                f"height={max(4, 0.9 * len(configs) + 2):.1f}cm",
                f"xlabel={{{latex_escape(metric)} ({word} is better)}}",
                *_ticks([config_label(c, keys) for c in configs]),
                LEGEND_BELOW,
                "error bars/error bar style={line width=0.8pt}",
            ],
        )
        by_verdict: dict[str, list[tuple[float, ...]]] = {}
        for y, c in enumerate(configs):
            s = c.summaries[metric]
            cmp = c.comparisons.get(metric)
            verdict = "baseline" if c.is_baseline else (str(cmp.verdict) if cmp else "")
            low = s.mean - s.ci_low if math.isfinite(s.ci_low) else 0.0
            high = s.ci_high - s.mean if math.isfinite(s.ci_high) else 0.0
            by_verdict.setdefault(verdict, []).append((float(y), s.mean, low, high))
        for i, (verdict, rows) in enumerate(by_verdict.items()):
            colour = f"cockpitverdict{i}"
            fig.colours[colour] = VERDICT_COLOURS.get(verdict, "#BBBBBB")
            mark = PGF_MARKS[VERDICT_MARKERS.get(verdict, "o")]
            fig.series.append(
                PgfSeries(
                    ("y", "mean", "below", "above"),
                    rows,
                    f"only marks, mark={mark}, color={colour},"
                    " error bars/.cd, x dir=both, x explicit",
                    "x=mean, y=y, x error minus=below, x error plus=above",
                    latex_escape(verdict or "no comparison"),
                )
            )
        out.append(fig)

    chosen = curve_configs(group, metric, hib)
    for name in curve_metric_names(chosen, series):
        fig = PgfFigure(
            f"curves_{slugify(name)}",
            [
                "width=\\linewidth",
                "height=0.62\\linewidth",
                "xlabel={step}",
                f"ylabel={{{latex_escape(name)}}}",
                LEGEND_BELOW,
                "no markers",
                "unbounded coords=jump",
            ],
        )
        for i, c in enumerate(chosen):
            points = series.get(c.run_ids[0], {}).get(name, ())
            if len(points) < 2:
                continue
            colour = f"cockpitcurve{i}"
            fig.colours[colour] = OKABE_ITO[i % len(OKABE_ITO)]
            values = [p[1] for p in points]
            rows = [
                (float(step), value, smoothed)
                for (step, value), smoothed in zip(points, smooth(values), strict=True)
            ]
            width = "thick" if c.is_baseline else "semithick"
            label = ("* " if c.is_baseline else "") + config_label(c, keys)
            # The raw values faint behind, the smoothed curve over them (as in the PDF).
            fig.series.append(
                PgfSeries(
                    ("step", "value", "smoothed"),
                    rows,
                    f"color={colour}, opacity=0.25, thin, forget plot",
                    "x=step, y=value",
                )
            )
            fig.series.append(
                PgfSeries(
                    ("step", "value", "smoothed"),
                    rows,
                    f"color={colour}, {width}",
                    "x=step, y=smoothed",
                    latex_escape(label),
                )
            )
        out.append(fig)

    effects = group.effects.get(metric)
    if effects is not None and effects.effects:
        levels = group.sweep.factors or {}
        ordered = list(effects.effects)
        fig = PgfFigure(
            f"effects_{slug}",
            [
                "width=\\linewidth",
                f"height={max(4, 0.9 * len(ordered) + 2):.1f}cm",
                f"xlabel={{effect on {latex_escape(metric)} (high - low level)}}",
                *_ticks([effect_label(e.name, e.factors, levels) for e in ordered]),
                "extra x ticks={0}",
                "extra x tick labels={}",
                "extra x tick style={grid=major}",
                LEGEND_BELOW,
            ],
        )
        groups: dict[bool, list[tuple[float, ...]]] = {True: [], False: []}
        for y, e in enumerate(ordered):
            significant = e.p_adjusted is not None and e.p_adjusted <= matrix.alpha
            half = 1.96 * e.se if e.se else 0.0
            groups[significant].append((float(y), e.estimate, half))
        fig.colours["cockpitsignificant"] = "#009E73"
        fig.colours["cockpitnotsignificant"] = "#999999"
        for significant, rows in groups.items():
            if not rows:
                continue
            colour = "cockpitsignificant" if significant else "cockpitnotsignificant"
            fig.series.append(
                PgfSeries(
                    ("y", "estimate", "half"),
                    rows,
                    f"only marks, mark=*, color={colour}, error bars/.cd, x dir=both, x explicit",
                    "x=estimate, y=y, x error=half",
                    "significant (Holm)" if significant else "not significant",
                )
            )
        out.append(fig)
    return out


def write_pgfplots(
    matrix: ResultsMatrix,
    group: SweepResults,
    metric: str,
    series: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]],
    out_dir: Path,
    data: str = "inline",
) -> tuple[list[Path], dict[str, str]]:
    """Write <stem>_pgfplots.tex (and its .dat files) per figure. Returns the files written
    and, per figure stem, the .tex file's name (for the snippet)."""
    if data not in DATA_MODES:
        raise ValueError(f"pgfplots data must be one of {', '.join(DATA_MODES)}")
    written: list[Path] = []
    names: dict[str, str] = {}
    for fig in figures_for(matrix, group, metric, series):
        tex, files = render_figure(fig, data)
        for name, content in files.items():
            path = out_dir / name
            path.write_text(content, encoding="utf-8")
            written.append(path)
        path = out_dir / f"{fig.stem}_pgfplots.tex"
        path.write_text(tex, encoding="utf-8")
        written.append(path)
        names[fig.stem] = path.name
    return written, names
