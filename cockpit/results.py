"""The results matrix of a sweep: configs x final metrics, with the baseline marked.

Significance tests and verdicts (cockpit.stats) are layered on this table.
"""

from __future__ import annotations

from cockpit.models import ResultRow, ResultsTable
from cockpit.store import Store

LOWER_IS_BETTER_HINTS = ("loss", "ppl", "perplexity", "error", "err", "wer")


def higher_is_better(metric: str) -> bool:
    name = metric.lower()
    return not any(hint in name for hint in LOWER_IS_BETTER_HINTS)


def results_table(store: Store, sweep_name: str | None = None) -> ResultsTable | None:
    """Build the matrix for one sweep (the newest when none is named); None if no sweeps."""
    sweeps = store.list_sweeps()
    if not sweeps:
        return None
    sweep = next((s for s in sweeps if s.name == sweep_name), sweeps[-1])
    runs = store.list_runs(sweep.name)
    finals = store.final_metrics([r.id for r in runs])
    names = sorted({name for values in finals.values() for name in values})
    # Primary metric first, then evaluation metrics, then training diagnostics.
    order = {sweep.primary_metric: 0}
    metrics = tuple(sorted(names, key=lambda n: (order.get(n, 1 if "train" not in n else 2), n)))
    rows = tuple(
        ResultRow(
            run_id=run.id,
            config={k: v for k, v in run.spec.config.items() if k in sweep.factors},
            state=str(run.state),
            values={m: finals.get(run.id, {}).get(m) for m in metrics},
            is_baseline=run.id == sweep.baseline,
        )
        for run in runs
    )
    return ResultsTable(
        sweep=sweep.name,
        metrics=metrics,
        rows=rows,
        primary_metric=sweep.primary_metric,
        higher_is_better={m: higher_is_better(m) for m in metrics},
    )
