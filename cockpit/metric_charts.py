"""What a metrics chart shows, read from the store: one metric of one run or of a sweep.

The series are as the store keeps them (every point, or past a few thousand points each
bucket's extremes: see store.bound_series); drawing is cockpit.render.chart's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cockpit.models import Run
from cockpit.render.chart import ChartData, ChartLine, metric_order
from cockpit.store import Store


def chart_data(
    store: Store,
    runs: Sequence[Run],
    scope: str,
    metric: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> ChartData:
    """The chart of `metric` (or, when the runs never logged it, of their first metric in
    metric_order) over `runs`, one line per run that has points, labelled by `labels`.
    Only metrics logged at least twice by a run are offered: one value is no curve."""
    ids = [r.id for r in runs]
    metrics = metric_order(store.metric_names(ids, min_points=2))
    chosen = metric if metric in metrics else (metrics[0] if metrics else None)
    series = store.metric_series_for_runs(ids, [chosen]) if chosen is not None else {}
    lines = []
    for run_id in ids:
        points = series.get(run_id, {}).get(chosen or "", [])
        if points:
            label = (labels or {}).get(run_id, run_id)
            lines.append(ChartLine(label, tuple(points)))
    return ChartData(scope, chosen, tuple(lines), metrics)
