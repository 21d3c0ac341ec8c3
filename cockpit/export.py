"""A results view written out: text table, CSV, JSON, LaTeX (booktabs) and figures.

Everything here formats a :class:`cockpit.results.ResultsMatrix`; nothing recomputes a
statistic, so the terminal, the files and the paper say the same numbers. matplotlib is
imported inside :func:`write_figures` only, with the Agg backend (no display needed).

The JSON layout is a contract (README, "cockpit results --format json"): keys are only ever
added, and ``format`` changes its number when something is renamed or removed.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cockpit.results import (
    CONFIDENCE,
    ConfigResult,
    EffectsResult,
    ResultsMatrix,
    SweepResults,
    results_matrix,
)
from cockpit.stats import Comparison, ScoreSummary, Verdict

if TYPE_CHECKING:
    from cockpit.store import Store

JSON_FORMAT = "cockpit-results/1"
MAX_CURVES = 12  # configs per learning-curve figure: more is a hairball, not a figure
# Logged series that are settings or throughput, not learning: no curve figure for them.
NOT_A_LEARNING_CURVE = re.compile(
    r"(^|[_/])(lr|learning_rate|tokens_per_s|throughput|grad_norm|mem|step_time|epoch)($|[_/])"
)


def _num(x: float | None) -> float | None:
    """JSON-safe number: NaN and infinities become null."""
    if x is None or isinstance(x, bool):
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def _fmt(x: float | None, spec: str = ".4f") -> str:
    return "" if _num(x) is None else format(x, spec)


def _p(p: float | None) -> str:
    if p is None or math.isnan(p):
        return ""
    return f"{p:.2g}" if p < 0.001 else f"{p:.4f}"


def _baseline_of(group: SweepResults) -> ConfigResult | None:
    return next((c for c in group.configs if c.is_baseline), None)


# --------------------------------------------------------------------------- JSON


def _summary_json(s: ScoreSummary) -> dict[str, Any]:
    return {
        "value": _num(s.mean),
        "ci_low": _num(s.ci_low),
        "ci_high": _num(s.ci_high),
        "se": _num(s.se),
        "n": s.n,
        "ci_method": s.method,
    }


def _comparison_json(group: SweepResults, config: ConfigResult, cmp: Comparison) -> dict[str, Any]:
    return {
        "sweep": group.name,
        "metric": cmp.metric,
        "baseline": cmp.baseline,
        "config": config.key,
        "label": config.label,
        "data_kind": str(cmp.kind),
        "test": str(cmp.test),
        "statistic": _num(cmp.statistic),
        "p_value": _num(cmp.p_value),
        "p_holm": _num(cmp.p_adjusted),
        "delta": _num(cmp.delta),
        "ci_low": _num(cmp.ci_low),
        "ci_high": _num(cmp.ci_high),
        "se": _num(cmp.se),
        "n": cmp.n,
        "n_baseline": cmp.n_baseline,
        "n_config": cmp.n_candidate,
        "baseline_value": _num(cmp.baseline_mean),
        "value": _num(cmp.candidate_mean),
        "mde": _num(cmp.mde),
        "underpowered": cmp.underpowered,
        "higher_is_better": cmp.higher_is_better,
        "verdict": str(cmp.verdict),
        "flags": list(cmp.flags),
        "note": cmp.note,
    }


def _effects_json(result: EffectsResult) -> dict[str, Any]:
    return {
        "method": str(result.method) if result.method else None,
        "note": result.note,
        "factors": list(result.factors),
        "effects": [
            {
                "name": e.name,
                "factors": list(e.factors),
                "estimate": _num(e.estimate),
                "se": _num(e.se),
                "df": _num(e.df),
                "t": _num(e.t),
                "p_value": _num(e.p_value),
                "p_holm": _num(e.p_adjusted),
            }
            for e in result.effects
        ],
    }


def to_json(matrix: ResultsMatrix) -> dict[str, Any]:
    """The documented JSON form of a view (README: "cockpit results --format json")."""
    sweeps = []
    for group in matrix.sweeps:
        sweeps.append(
            {
                "sweep": group.name,
                "baseline": group.baseline,
                "primary_metric": group.sweep.primary_metric,
                "factors": group.sweep.factors,
                "thresholds": group.sweep.thresholds,
                "configs": [
                    {
                        "config": c.key,
                        "label": c.label,
                        "runs": list(c.run_ids),
                        "params": dict(c.params),
                        "state": c.state,
                        "is_baseline": c.is_baseline,
                        "values": {k: _num(v) for k, v in c.values.items()},
                        "summaries": {m: _summary_json(s) for m, s in c.summaries.items()},
                    }
                    for c in group.configs
                ],
                "effects": {m: _effects_json(e) for m, e in group.effects.items()},
            }
        )
    return {
        "format": JSON_FORMAT,
        "alpha": matrix.alpha,
        "confidence": CONFIDENCE,
        "holm_family_size": matrix.family_size,
        "metrics": list(matrix.metrics),
        "compared_metrics": list(matrix.compared),
        "higher_is_better": dict(matrix.higher_is_better),
        "sweeps": sweeps,
        "comparisons": [
            _comparison_json(group, config, cmp) for group, config, cmp in matrix.comparisons()
        ],
    }


# --------------------------------------------------------------------------- CSV

CSV_COLUMNS = (
    "sweep",
    "config",
    "label",
    "is_baseline",
    "state",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "ci_method",
    "delta",
    "delta_ci_low",
    "delta_ci_high",
    "data_kind",
    "test",
    "statistic",
    "p_value",
    "p_holm",
    "mde",
    "verdict",
    "flags",
)


def to_csv(matrix: ResultsMatrix) -> str:
    """One row per config and compared metric, the baseline's included (no test there)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for group in matrix.sweeps:
        for config in group.configs:
            for metric in matrix.compared:
                s = config.summaries.get(metric)
                cmp = config.comparisons.get(metric)
                writer.writerow(
                    [
                        group.name,
                        config.key,
                        config.label,
                        int(config.is_baseline),
                        config.state,
                        metric,
                        _csv_num(s.mean if s else config.values.get(metric)),
                        _csv_num(s.ci_low if s else None),
                        _csv_num(s.ci_high if s else None),
                        s.n if s else "",
                        s.method if s else "",
                        _csv_num(cmp.delta if cmp else None),
                        _csv_num(cmp.ci_low if cmp else None),
                        _csv_num(cmp.ci_high if cmp else None),
                        str(cmp.kind) if cmp else "",
                        str(cmp.test) if cmp else "",
                        _csv_num(cmp.statistic if cmp else None),
                        _csv_num(cmp.p_value if cmp else None),
                        _csv_num(cmp.p_adjusted if cmp else None),
                        _csv_num(cmp.mde if cmp else None),
                        "baseline" if config.is_baseline else (str(cmp.verdict) if cmp else ""),
                        "; ".join(cmp.flags) if cmp else "",
                    ]
                )
    return buf.getvalue()


def _csv_num(x: float | None) -> str:
    v = _num(x)
    return "" if v is None else repr(v)


# --------------------------------------------------------------------------- text


def to_text(matrix: ResultsMatrix) -> str:
    """The matrix for a terminal: per sweep and metric, every comparison in full."""
    out: list[str] = []
    out.append(
        f"Holm correction over the {matrix.family_size} tested comparisons below; "
        f"alpha = {matrix.alpha:g}; intervals are {CONFIDENCE:.0%} CIs."
    )
    for group in matrix.sweeps:
        base = _baseline_of(group)
        out.append("")
        head = f"sweep {group.name}"
        if base is not None:
            head += f"  baseline * {base.key}"
            if base.label != base.key:
                head += f" ({base.label})"
        out.append(head)
        for metric in matrix.compared:
            hib = matrix.higher_is_better.get(metric, True)
            out.append(f"  {metric} ({'higher' if hib else 'lower'} is better)")
            rows = [
                (
                    "config",
                    "value",
                    "95% CI",
                    "delta",
                    "delta 95% CI",
                    "test",
                    "stat",
                    "p",
                    "p Holm",
                    "verdict",
                )
            ]
            for c in group.configs:
                s = c.summaries.get(metric)
                cmp = c.comparisons.get(metric)
                value = s.mean if s else c.values.get(metric)
                ci = f"[{_fmt(s.ci_low)}, {_fmt(s.ci_high)}]" if s and _num(s.ci_low) else ""
                if c.is_baseline or cmp is None:
                    verdict = "baseline" if c.is_baseline else ""
                    rows.append(
                        (
                            ("* " if c.is_baseline else "  ") + c.key,
                            _fmt(value),
                            ci,
                            "",
                            "",
                            "",
                            "",
                            "",
                            "",
                            verdict,
                        )
                    )
                    continue
                dci = (
                    f"[{_fmt(cmp.ci_low, '+.4f')}, {_fmt(cmp.ci_high, '+.4f')}]"
                    if cmp.ci_low is not None
                    else ""
                )
                verdict = str(cmp.verdict) + "".join(f"  ! {f}" for f in cmp.flags)
                rows.append(
                    (
                        "  " + c.key,
                        _fmt(value),
                        ci,
                        _fmt(cmp.delta, "+.4f"),
                        dci,
                        "" if str(cmp.test) == "none" else str(cmp.test),
                        _fmt(cmp.statistic, ".4g"),
                        _p(cmp.p_value),
                        _p(cmp.p_adjusted),
                        verdict,
                    )
                )
            out.extend("    " + line for line in _align(rows))
            effects = group.effects.get(metric)
            if effects is not None and effects.effects:
                out.append(f"    effects on {metric}, largest first ({effects.note}):")
                largest = max(abs(e.estimate) for e in effects.effects) or 1.0
                for e in effects.effects:
                    bar = "#" * max(1, round(abs(e.estimate) / largest * 20))
                    se = f" +- {e.se:.4f}" if e.se is not None else ""
                    t = f"  t {e.t:6.2f}" if e.t is not None else ""
                    p = f"  p Holm {_p(e.p_adjusted)}" if e.p_adjusted is not None else ""
                    out.append(f"      {e.name:<28} {e.estimate:+.4f}{se}{t}{p}  {bar}")
            elif effects is not None and group.sweep.factors:
                out.append(f"    effects: {effects.note}")
    return "\n".join(out) + "\n"


def _align(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]


# --------------------------------------------------------------------------- LaTeX

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: object) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def best_significant(group: SweepResults, metric: str, hib: bool) -> str | None:
    """Key of the config to set in bold: the best of those significantly better than the
    baseline; or the baseline when every other config is significantly worse; else none.
    Never a "winner" without a significant test."""
    better = [
        c
        for c in group.configs
        if (cmp := c.comparisons.get(metric)) is not None and cmp.verdict is Verdict.BETTER
    ]
    if better:
        sign = 1.0 if hib else -1.0
        return max(better, key=lambda c: sign * c.summaries[metric].mean).key
    others = [c for c in group.configs if not c.is_baseline]
    if others and all(
        (cmp := c.comparisons.get(metric)) is not None and cmp.verdict is Verdict.WORSE
        for c in others
    ):
        base = _baseline_of(group)
        return base.key if base else None
    return None


def to_latex(matrix: ResultsMatrix) -> str:
    """A booktabs table per sweep: configs x compared metrics, values with their CIs, the
    baseline marked with a dagger, the best significant value in bold."""
    parts = []
    for group in matrix.sweeps:
        parts.append(_latex_table(matrix, group))
    return "\n".join(parts)


def _latex_table(matrix: ResultsMatrix, group: SweepResults) -> str:
    metrics = list(matrix.compared)
    keys = list(group.label_keys)
    bold = {m: best_significant(group, m, matrix.higher_is_better.get(m, True)) for m in metrics}
    tests = sorted(
        {
            str(cmp.test)
            for c in group.configs
            for m in metrics
            if (cmp := c.comparisons.get(m)) is not None and cmp.p_value is not None
        }
    )
    lines = [
        f"% Lab Cockpit: sweep {group.name}. Needs \\usepackage{{booktabs}}.",
        "\\begin{table}[t]",
        "\\centering",
        "\\small",
        "\\begin{tabular}{" + "l" * max(1, len(keys)) + "r" * len(metrics) + "}",
        "\\toprule",
    ]
    head = [latex_escape(k) for k in keys] or ["Run"]
    for m in metrics:
        arrow = "$\\uparrow$" if matrix.higher_is_better.get(m, True) else "$\\downarrow$"
        head.append(f"{latex_escape(m)} {arrow}")
    lines.append(" & ".join(head) + " \\\\")
    lines.append("\\midrule")
    for c in group.configs:
        cells = [latex_escape(c.params.get(k, "")) for k in keys] or [latex_escape(c.key)]
        if c.is_baseline:
            cells[0] += "$^\\dagger$"
        for m in metrics:
            s = c.summaries.get(m)
            value = s.mean if s else c.values.get(m)
            if _num(value) is None:
                cells.append("--")
                continue
            text = f"{value:.4f}"
            if c.key == bold[m]:
                text = f"\\textbf{{{text}}}"
            if s is not None and _num(s.ci_low) is not None:
                text += f" {{\\scriptsize [{s.ci_low:.4f}, {s.ci_high:.4f}]}}"
            cells.append(text)
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    test_text = ", ".join(tests) if tests else "no test was possible"
    caption = (
        f"Results of sweep {latex_escape(group.name)}, {_pct(CONFIDENCE)} CIs in brackets. "
        f"$^\\dagger$ baseline. Bold: the best value significantly different from the "
        f"baseline in the better direction ({latex_escape(test_text)}, Holm-adjusted over "
        f"{matrix.family_size} comparisons, $\\alpha = {matrix.alpha:g}$)."
    )
    lines.append(f"\\caption{{{caption}}}")
    lines.append(f"\\label{{tab:{_slug(group.name)}}}")
    lines.append("\\end{table}")
    return "\n".join(lines) + "\n"


def _pct(share: float) -> str:
    """95\\% for LaTeX: a bare % starts a comment."""
    return f"{share * 100:.0f}\\%"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "x"


# --------------------------------------------------------------------------- figures


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
    slug = _slug(metric)
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
        ax.set_title(f"{group.name}: {metric}, {CONFIDENCE:.0%} CIs", fontsize=9)
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
                f"{_pct(CONFIDENCE)} CIs; colour gives the verdict against the baseline "
                f"(Holm-adjusted, $\\alpha = {matrix.alpha:g}$).",
                f"fig:{_slug(group.name)}-{slug}",
            )
        )

    # Learning curves: every metric with a series, the baseline and the best configs.
    chosen = _curve_configs(group, metric, hib)
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
        stem = out_dir / f"curves_{_slug(name)}"
        written += _save(fig, stem)
        plt.close(fig)
        written += _save_legend(plt, handles, labels, out_dir / f"curves_{_slug(name)}_legend")
        figures.append(
            (
                stem.name,
                f"{latex_escape(name)} over training steps (sweep {latex_escape(group.name)}; "
                f"* marks the baseline).",
                f"fig:{_slug(group.name)}-curves-{_slug(name)}",
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
                f"fig:{_slug(group.name)}-effects-{slug}",
            )
        )
    return written, figures


def _curve_configs(group: SweepResults, metric: str, hib: bool) -> list[ConfigResult]:
    base = _baseline_of(group)
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


# --------------------------------------------------------------------------- all of it


def export_sweep(
    store: Store,
    out_dir: str | Path,
    *,
    sweep: str,
    metrics: Sequence[str] | None = None,
    figure_metric: str | None = None,
    baseline: str | None = None,
) -> list[Path]:
    """Write a sweep's results to ``out_dir``: results.csv, results.json, results.tex, the
    figures (PDF + PNG, legends apart) and figures.tex. Returns the files written.

    ``metrics`` are the table's metrics (default: all, Holm-corrected together);
    ``figure_metric`` the one the bar chart and effects plot show (default: the first of
    ``metrics``, or the sweep's primary metric).
    """
    out = Path(out_dir).expanduser()
    matrix = results_matrix(
        store, sweep=sweep, metric=metrics or None, all_metrics=not metrics, baseline=baseline
    )
    group = matrix.sweeps[0]
    focus = figure_metric or (metrics[0] if metrics else None) or group.sweep.primary_metric
    if focus not in matrix.compared:
        focus = matrix.compared[0] if matrix.compared else None
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in (
        ("results.csv", to_csv(matrix)),
        ("results.json", json.dumps(to_json(matrix), indent=2) + "\n"),
        ("results.tex", to_latex(matrix)),
    ):
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    if focus is not None:
        chosen = _curve_configs(group, focus, matrix.higher_is_better.get(focus, True))
        series = store.metric_series_for_runs([c.run_ids[0] for c in chosen], list(matrix.metrics))
        files, figures = write_figures(matrix, group, focus, series, out)
        written += files
        snippet = out / "figures.tex"
        snippet.write_text(figure_snippet(figures, group.name), encoding="utf-8")
        written.append(snippet)
    return written
