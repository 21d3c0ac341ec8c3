"""Results: configs x metrics of a sweep, with the baseline marked and deltas against it.

Drawing only: the app hands over a ResultsTable (computed in core) and the pane lays it out.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from cockpit.models import ResultRow, ResultsTable
from widgets.format import config_label, number, varying_keys


class ResultsPane(Vertical):
    BINDINGS = [
        Binding("s", "cycle_sort", "Sort by next column", id="results.sort"),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._table: ResultsTable | None = None
        self._sort_index = -1  # -1: sweep order
        self.title_line = Static("No results yet.", id="results-title")
        self.table: DataTable[object] = DataTable(
            id="results-table", cursor_type="row", zebra_stripes=True
        )

    def compose(self) -> ComposeResult:
        yield self.title_line
        yield self.table

    def show_results(self, results: ResultsTable) -> None:
        self._table = results
        self._redraw()

    def _sorted_rows(self) -> list[ResultRow]:
        assert self._table is not None
        rows = list(self._table.rows)
        if 0 <= self._sort_index < len(self._table.metrics):
            metric = self._table.metrics[self._sort_index]
            higher = self._table.higher_is_better.get(metric, True)
            present = [r for r in rows if r.values.get(metric) is not None]
            missing = [r for r in rows if r.values.get(metric) is None]
            present.sort(key=lambda r: r.values[metric] or 0.0, reverse=higher)
            rows = present + missing
        return rows

    def _redraw(self) -> None:
        if self._table is None:
            return
        res = self._table
        baseline = next((r for r in res.rows if r.is_baseline), None)
        keys = varying_keys(r.config for r in res.rows)
        title = Text(f"sweep {res.sweep}", style="bold")
        if baseline:
            title.append(f"  baseline ★ {config_label(baseline.config, keys)}", style="dim")
        if 0 <= self._sort_index < len(res.metrics):
            title.append(f"  sorted by {res.metrics[self._sort_index]}", style="dim")
        self.title_line.update(title)
        table = self.table
        table.clear(columns=True)
        table.add_column("Config", key="config")
        table.add_column("State", key="state")
        for metric in res.metrics:
            table.add_column(metric, key=metric)
            if metric == res.primary_metric:
                table.add_column(f"Δ {metric}", key=f"delta:{metric}")
        for row in self._sorted_rows():
            cells: list[str | Text] = [
                Text(
                    ("★ " if row.is_baseline else "  ")
                    + (config_label(row.config, keys) or row.run_id)
                ),
                row.state,
            ]
            for metric in res.metrics:
                value = row.values.get(metric)
                cells.append(number(value))
                if metric == res.primary_metric:
                    cells.append(self._delta(row, baseline, metric))
            table.add_row(*cells, key=row.run_id)

    def _delta(self, row: ResultRow, baseline: ResultRow | None, metric: str) -> Text:
        if baseline is None or row.is_baseline:
            return Text("—", style="dim")
        value, base = row.values.get(metric), baseline.values.get(metric)
        if value is None or base is None:
            return Text("—", style="dim")
        # No colour here: better/worse needs a significance test (the verdict column's job).
        return Text(f"{value - base:+.4f}")

    def action_cycle_sort(self) -> None:
        if self._table is None or not self._table.metrics:
            return
        self._sort_index += 1
        if self._sort_index >= len(self._table.metrics):
            self._sort_index = -1
        self._redraw()
