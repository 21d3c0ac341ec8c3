"""Results: the matrix the pane shows, its view (sweep, metric, baselines), detail, export."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.app.controller import Controller, RequestHandler, Shell
from cockpit.store import Store
from cockpit.validate import path_inside
from widgets.requests import PaneRequest
from widgets.results import ResultDetail, ResultDetailScreen, ResultsPane

if TYPE_CHECKING:
    # Statistics (and with them scipy) load on first use, in a worker, never at start-up.
    from cockpit.models.results import ResultsMatrix
    from cockpit.results import ResultsData


class ResultsController(Controller):
    def __init__(
        self, store: Store, pane: ResultsPane, shell: Shell, export_root: Path | None = None
    ) -> None:
        self.store = store
        self.pane = pane
        self.shell = shell
        # The data snapshot is kept so a change of view recomputes without re-reading.
        self.data: ResultsData | None = None
        self.sweep: str | None = None  # None: every sweep
        self.metric: str | None = None
        self.baselines: dict[str, str] = {}  # sweep -> run id
        self.directions: dict[str, bool] = {}  # the user's, as remembered in the store
        self.export_root = export_root  # `x` exports under here (default ./)

    def routes(self) -> dict[type[PaneRequest], RequestHandler]:
        return {
            ResultsPane.MatrixRequested: self._on_matrix_requested,
            ResultsPane.DetailRequested: self._on_detail_requested,
            ResultsPane.ExportRequested: self._on_export_requested,
            ResultsPane.DirectionRequested: self._on_direction_requested,
        }

    async def reload(self) -> None:
        """Re-read results from the store, then redraw the current view."""
        from cockpit.results import load_results_data, remembered_directions

        self.data = await asyncio.to_thread(load_results_data, self.store)
        self.directions = await asyncio.to_thread(remembered_directions, self.store)
        await self._show_view()

    async def _show_view(self) -> None:
        from cockpit.results import ResultsError, build_matrix

        data = self.data
        if data is None or not data.sweeps:
            return

        def build(metric: str | None) -> ResultsMatrix:
            return build_matrix(
                data,
                sweep=self.sweep,
                metric=metric,
                baselines=self.baselines,
                directions=self.directions,
            )

        try:
            matrix = await asyncio.to_thread(build, self.metric)
        except ResultsError as exc:
            if self.metric is None:
                self.shell.notify(str(exc), severity="error")
                return
            # The metric is not in this view (another sweep): fall back to its default one.
            self.metric = None
            matrix = await asyncio.to_thread(build, None)
        self.pane.show_results(matrix)

    def _on_matrix_requested(self, event: ResultsPane.MatrixRequested) -> None:
        self.sweep = event.sweep
        self.metric = event.metric
        if event.baseline is not None and self.data is not None:
            owner = next((r.spec.sweep for r in self.data.runs if r.id == event.baseline), None)
            if owner is not None:
                self.baselines[owner] = event.baseline
        self.shell.start(self._show_view, group="results", exclusive=True)

    def _on_direction_requested(self, event: ResultsPane.DirectionRequested) -> None:
        metric, higher = event.metric, event.higher_is_better

        async def remember() -> None:
            from cockpit.results import remember_directions

            await asyncio.to_thread(remember_directions, self.store, {metric: higher})
            self.directions[metric] = higher
            word = "higher" if higher else "lower"
            self.shell.notify(f"{metric}: {word} is better (remembered)")
            await self._show_view()

        self.shell.start(remember, group="results", exclusive=True)

    def _on_detail_requested(self, event: ResultsPane.DetailRequested) -> None:
        matrix, group, config, metric = event.matrix, event.group, event.config, event.metric

        async def detail() -> None:
            # The learning curves need the store: the metric's own series and a training loss.
            baseline = next((c for c in group.configs if c.is_baseline), None)
            run_ids = [config.run_ids[0], *([baseline.run_ids[0]] if baseline else [])]
            names = [metric, *[m for m in matrix.metrics if "loss" in m.lower()][:1]]
            series = await asyncio.to_thread(self.store.metric_series_for_runs, run_ids, names)
            await self.shell.push(
                ResultDetailScreen(ResultDetail(matrix, group, config, metric, series))
            )

        self.shell.start(detail, group="results-detail", exclusive=True)

    def _on_export_requested(self, event: ResultsPane.ExportRequested) -> None:
        sweep, metric, baseline = event.sweep, event.metric, event.baseline

        async def export() -> None:
            from cockpit.export import export_sweep  # matplotlib comes with it, on first export

            # The sweep name comes from imported files: it names a folder inside the root only.
            out = path_inside(self.export_root or Path.cwd() / "cockpit-export", sweep)
            written = await asyncio.to_thread(
                export_sweep, self.store, out, sweep=sweep, figure_metric=metric, baseline=baseline
            )
            self.shell.notify(f"exported {len(written)} files to {out}", timeout=8)

        self.shell.start(export, group="results-export", exclusive=True)
