"""A results view as tables: CSV, JSON and LaTeX (booktabs).

Everything here formats a :class:`cockpit.models.results.ResultsMatrix`; nothing recomputes
a statistic, so the terminal, the files and the paper say the same numbers.

The JSON layout is a contract (README, "cockpit results --format json"): keys are only ever
added, and ``format`` changes its number when something is renamed or removed.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from cockpit.metric_names import DIRECTION_DEFAULT, DIRECTION_HYPERPARAMETER
from cockpit.models.results import (
    DEFAULT_CONFIDENCE,
    Comparison,
    ConfigResult,
    EffectsResult,
    ResultsMatrix,
    ScoreSummary,
    SweepResults,
    Verdict,
)
from cockpit.render.text import json_number

JSON_FORMAT = "cockpit-results/1"


def _summary_json(s: ScoreSummary) -> dict[str, Any]:
    return {
        "value": json_number(s.mean),
        "ci_low": json_number(s.ci_low),
        "ci_high": json_number(s.ci_high),
        "se": json_number(s.se),
        "n": s.n,
        "ci_method": s.method,
        "censored": s.censored,
        "budget": json_number(s.budget),
    }


def _comparison_json(
    group: SweepResults, config: ConfigResult, cmp: Comparison, direction_source: str
) -> dict[str, Any]:
    return {
        "sweep": group.name,
        "metric": cmp.metric,
        "baseline": cmp.baseline,
        "config": config.key,
        "label": config.label,
        "data_kind": str(cmp.kind),
        "test": str(cmp.test),
        "statistic": json_number(cmp.statistic),
        "p_value": json_number(cmp.p_value),
        "p_holm": json_number(cmp.p_adjusted),
        "delta": json_number(cmp.delta),
        "ci_low": json_number(cmp.ci_low),
        "ci_high": json_number(cmp.ci_high),
        "se": json_number(cmp.se),
        "n": cmp.n,
        "n_baseline": cmp.n_baseline,
        "n_config": cmp.n_candidate,
        "baseline_value": json_number(cmp.baseline_mean),
        "value": json_number(cmp.candidate_mean),
        "mde": json_number(cmp.mde),
        "underpowered": cmp.underpowered,
        "higher_is_better": cmp.higher_is_better,
        "direction_source": direction_source,
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
                "estimate": json_number(e.estimate),
                "se": json_number(e.se),
                "df": json_number(e.df),
                "t": json_number(e.t),
                "p_value": json_number(e.p_value),
                "p_holm": json_number(e.p_adjusted),
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
                        "values": {k: json_number(v) for k, v in c.values.items()},
                        "summaries": {m: _summary_json(s) for m, s in c.summaries.items()},
                        "notes": list(c.notes),
                    }
                    for c in group.configs
                ],
                "effects": {m: _effects_json(e) for m, e in group.effects.items()},
            }
        )
    return {
        "format": JSON_FORMAT,
        "alpha": matrix.alpha,
        "confidence": DEFAULT_CONFIDENCE,
        "holm_family_size": matrix.family_size,
        "metrics": list(matrix.metrics),
        "compared_metrics": list(matrix.compared),
        "higher_is_better": dict(matrix.higher_is_better),
        "directions": {
            m: {
                "higher_is_better": (
                    None if src == DIRECTION_HYPERPARAMETER else matrix.higher_is_better.get(m)
                ),
                "source": src,
            }
            for m in matrix.metrics
            for src in [matrix.direction_sources.get(m, DIRECTION_DEFAULT)]
        },
        "sweeps": sweeps,
        "comparisons": [
            _comparison_json(
                group,
                config,
                cmp,
                matrix.direction_sources.get(cmp.metric, DIRECTION_DEFAULT),
            )
            for group, config, cmp in matrix.comparisons()
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
    "direction",
    "censored",
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
                        _csvjson_number(s.mean if s else config.values.get(metric)),
                        _csvjson_number(s.ci_low if s else None),
                        _csvjson_number(s.ci_high if s else None),
                        s.n if s else "",
                        s.method if s else "",
                        _csvjson_number(cmp.delta if cmp else None),
                        _csvjson_number(cmp.ci_low if cmp else None),
                        _csvjson_number(cmp.ci_high if cmp else None),
                        str(cmp.kind) if cmp else "",
                        str(cmp.test) if cmp else "",
                        _csvjson_number(cmp.statistic if cmp else None),
                        _csvjson_number(cmp.p_value if cmp else None),
                        _csvjson_number(cmp.p_adjusted if cmp else None),
                        _csvjson_number(cmp.mde if cmp else None),
                        "baseline" if config.is_baseline else (str(cmp.verdict) if cmp else ""),
                        "; ".join(cmp.flags) if cmp else "",
                        matrix.direction_text(metric),
                        s.censored if s else 0,
                    ]
                )
    return buf.getvalue()


def _csvjson_number(x: float | None) -> str:
    v = json_number(x)
    return "" if v is None else repr(v)


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
        base = group.baseline_config
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
            if json_number(value) is None:
                cells.append("--")
                continue
            text = f"{value:.4f}"
            if c.key == bold[m]:
                text = f"\\textbf{{{text}}}"
            if s is not None and json_number(s.ci_low) is not None:
                text += f" {{\\scriptsize [{s.ci_low:.4f}, {s.ci_high:.4f}]}}"
            cells.append(text)
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    test_text = ", ".join(tests) if tests else "no test was possible"
    caption = (
        f"Results of sweep {latex_escape(group.name)}, "
        f"{latex_percent(DEFAULT_CONFIDENCE)} CIs in brackets. "
        f"$^\\dagger$ baseline. Bold: the best value significantly different from the "
        f"baseline in the better direction ({latex_escape(test_text)}, Holm-adjusted over "
        f"{matrix.family_size} comparisons, $\\alpha = {matrix.alpha:g}$)."
    )
    lines.append(f"\\caption{{{caption}}}")
    lines.append(f"\\label{{tab:{slugify(group.name)}}}")
    lines.append("\\end{table}")
    return "\n".join(lines) + "\n"


def latex_percent(share: float) -> str:
    """95\\% for LaTeX: a bare % starts a comment."""
    return f"{share * 100:.0f}\\%"


def slugify(text: str) -> str:
    """A name safe in a file name or a LaTeX label."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "x"
