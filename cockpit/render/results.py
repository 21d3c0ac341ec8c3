"""A results view as plain text for a terminal (`cockpit results`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from cockpit.models.results import DEFAULT_CONFIDENCE, ResultsMatrix, Verdict
from cockpit.render.text import finite_magnitudes, fixed, json_number, p_value


def to_text(matrix: ResultsMatrix) -> str:
    """The matrix for a terminal: per sweep and metric, every comparison in full."""
    out: list[str] = []
    out.append(
        f"Holm correction over the {matrix.family_size} tested comparisons below; "
        f"alpha = {matrix.alpha:g}; intervals are {DEFAULT_CONFIDENCE:.0%} CIs."
    )
    for group in matrix.sweeps:
        base = group.baseline_config
        out.append("")
        head = f"sweep {group.name}"
        if base is not None:
            head += f"  baseline * {base.key}"
            if base.label != base.key:
                head += f" ({base.label})"
        out.append(head)
        for c in group.configs:
            out.extend(f"  note {c.key}: {note}" for note in c.notes)
        for metric in matrix.compared:
            if not any(metric in c.summaries or metric in c.values for c in group.configs):
                continue  # another sweep's metric: this one never recorded it
            out.append(f"  {metric} ({matrix.direction_text(metric)})")
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
                shown = fixed(value)
                if s and s.censored:
                    # The mean of values at the budget is only a lower bound.
                    shown = f">={shown} ({s.censored} censored)"
                ci = (
                    f"[{fixed(s.ci_low)}, {fixed(s.ci_high)}]"
                    if s and json_number(s.ci_low)
                    else ""
                )
                if c.is_baseline or cmp is None:
                    verdict = "baseline" if c.is_baseline else ""
                    rows.append(
                        (
                            ("* " if c.is_baseline else "  ") + c.key,
                            shown,
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
                    f"[{fixed(cmp.ci_low, '+.4f')}, {fixed(cmp.ci_high, '+.4f')}]"
                    if cmp.ci_low is not None
                    else ""
                )
                verdict = str(cmp.verdict) + "".join(f"  ! {f}" for f in cmp.flags)
                rows.append(
                    (
                        "  " + c.key,
                        shown,
                        ci,
                        fixed(cmp.delta, "+.4f"),
                        dci,
                        "" if str(cmp.test) == "none" else str(cmp.test),
                        fixed(cmp.statistic, ".4g"),
                        p_value(cmp.p_value, ""),
                        p_value(cmp.p_adjusted, ""),
                        verdict,
                    )
                )
            out.extend("    " + line for line in _align(rows))
            for c in group.configs:
                cmp = c.comparisons.get(metric)
                if cmp is not None and cmp.verdict is Verdict.NO_BASELINE_VALUE:
                    out.append(f"    {c.key}: {cmp.note}")
                    break
            for c in group.configs:
                cmp = c.comparisons.get(metric)
                if cmp is not None and cmp.note.startswith("censored"):
                    out.append(f"    {c.key}: {cmp.note}")
            effects = group.effects.get(metric)
            if effects is not None and effects.effects:
                out.append(f"    effects on {metric}, largest first ({effects.note}):")
                # An infinite or NaN estimate (an Infinity in a results file) gets no bar.
                largest = max(finite_magnitudes(e.estimate for e in effects.effects), default=0.0)
                for e in effects.effects:
                    bar = (
                        "#" * max(1, round(abs(e.estimate) / largest * 20))
                        if math.isfinite(e.estimate) and largest > 0
                        else "?"
                    )
                    se = f" +- {e.se:.4f}" if e.se is not None else ""
                    t = f"  t {e.t:6.2f}" if e.t is not None else ""
                    p = f"  p Holm {p_value(e.p_adjusted, '')}" if e.p_adjusted is not None else ""
                    out.append(f"      {e.name:<28} {e.estimate:+.4f}{se}{t}{p}  {bar}")
            elif effects is not None and group.sweep.factors:
                out.append(f"    effects: {effects.note}")
    return "\n".join(out) + "\n"


def _align(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
