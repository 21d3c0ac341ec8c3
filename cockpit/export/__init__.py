"""A results view written out: tables (CSV, JSON, LaTeX) and figures, all of a sweep at
once with :func:`export_sweep`.

The formats live in :mod:`cockpit.export.tables` and :mod:`cockpit.export.figures` (which
imports matplotlib only when it draws); the terminal's text table in
:mod:`cockpit.render.results`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.export.figures import curve_configs, figure_snippet, write_figures
from cockpit.export.tables import to_csv, to_json, to_latex
from cockpit.results import results_matrix

if TYPE_CHECKING:
    from cockpit.store import Store


def export_sweep(
    store: Store,
    out_dir: str | Path,
    *,
    sweep: str,
    metrics: Sequence[str] | None = None,
    figure_metric: str | None = None,
    baseline: str | None = None,
    directions: Mapping[str, bool] | None = None,
    pgfplots: str | None = None,
) -> list[Path]:
    """Write a sweep's results to ``out_dir``: results.csv, results.json, results.tex, the
    figures (PDF + PNG, legends apart) and figures.tex. Returns the files written.

    ``pgfplots`` ("inline" or "dat"): also each figure as pgfplots source, its data inline
    or in .dat files, and figures_pgfplots.tex that inputs them.

    ``metrics`` are the table's metrics (default: all, Holm-corrected together);
    ``figure_metric`` the one the bar chart and effects plot show (default: the first of
    ``metrics``, or the sweep's primary metric). ``directions``: metric -> higher-is-better
    set by the user (remembered in the store).
    """
    out = Path(out_dir).expanduser()
    matrix = results_matrix(
        store,
        sweep=sweep,
        metric=metrics or None,
        all_metrics=not metrics,
        baseline=baseline,
        directions=directions,
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
        chosen = curve_configs(group, focus, matrix.higher_is_better.get(focus, True))
        series = store.metric_series_for_runs([c.run_ids[0] for c in chosen], list(matrix.metrics))
        files, figures = write_figures(matrix, group, focus, series, out)
        written += files
        snippet = out / "figures.tex"
        snippet.write_text(figure_snippet(figures, group.name), encoding="utf-8")
        written.append(snippet)
        if pgfplots is not None:
            from cockpit.export.pgfplots import write_pgfplots

            files, names = write_pgfplots(matrix, group, focus, series, out, pgfplots)
            written += files
            snippet = out / "figures_pgfplots.tex"
            snippet.write_text(figure_snippet(figures, group.name, names), encoding="utf-8")
            written.append(snippet)
    return written
