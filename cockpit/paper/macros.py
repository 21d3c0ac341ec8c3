"""Results as LaTeX macros (`cockpit paper macros --sweep S > results.tex`): a draft that
writes \\resRunTwoEvalLossMean instead of typing 0.435 always shows the recorded number,
and the claim check knows each macro's source."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

from cockpit.models import ClaimSource
from cockpit.models.results import ResultsMatrix
from cockpit.store import Store

MACRO_DEFINITION = re.compile(r"\\(?:re)?newcommand\*?\{?\\(res[A-Za-z]+)\}?\{([^}]*)\}")
_DIGITS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")


def _camel(text: str) -> str:
    """Letters only, as a TeX control word must be: digits spelled, the rest capitalised."""
    words = re.findall(r"[A-Za-z]+|\d", text)
    return "".join(_DIGITS[int(w)] if w.isdigit() else w[:1].upper() + w[1:] for w in words)


def format_value(value: float) -> str:
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        return f"{value:.4g}"
    return f"{value:.2e}"


def matrix_macros(matrix: ResultsMatrix) -> Iterator[tuple[str, ClaimSource]]:
    taken: set[str] = set()
    for sweep in matrix.sweeps:
        for config in sweep.configs:
            stem = "res" + _camel(config.key)
            for metric, s in config.summaries.items():
                pairs = [
                    ("Mean", "mean", s.mean),
                    ("CiLow", "ci_low", s.ci_low),
                    ("CiHigh", "ci_high", s.ci_high),
                ]
                comparison = config.comparisons.get(metric)
                if comparison is not None:
                    pairs += [
                        ("Delta", "delta", comparison.delta),
                        ("P", "p_holm", comparison.p_adjusted),
                    ]
                for suffix, what, value in pairs:
                    if value is None or not math.isfinite(value):
                        continue
                    name = stem + _camel(metric) + suffix
                    while name in taken:  # two keys that spell the same: keep both
                        name += "X"
                    taken.add(name)
                    yield name, ClaimSource(config.key, metric, value, what)


def macro_values(store: Store, sweep: str | None = None) -> dict[str, ClaimSource]:
    from cockpit.results import ResultsError, results_matrix

    try:
        matrix = results_matrix(store, sweep=sweep, all_metrics=True)
    except ResultsError:
        return {}
    return dict(matrix_macros(matrix))


def macros_tex(store: Store, sweep: str | None = None) -> str:
    lines = ["% Results macros written by `cockpit paper macros`; do not edit by hand."]
    for name, source in macro_values(store, sweep).items():
        lines.append(
            f"\\newcommand{{\\{name}}}{{{format_value(source.value)}}}"
            f" % {source.run} {source.metric} {source.what}"
        )
    return "\n".join(lines) + "\n"
