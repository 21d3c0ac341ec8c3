"""The metrics chart in the Runs pane at 80x24, on the demo replaying a run on a clock the
test moves: `m` (run, sweep, log), `]`/`[` metrics, `+`/`-` smoothing, live points."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from cockpit.app.demo import DemoWiring
from cockpit.app.shell import CockpitApp
from cockpit.log_metrics import LogScanOutcome
from cockpit.store import Store
from tests.conftest import wait_until
from widgets.metric_chart import MetricChart
from widgets.run_log import RunLogView
from widgets.runs import RunsPane

SIZE = (80, 24)
LIVE = "doe-r64-cosine-wd0.2"


def scan_passes(app: CockpitApp) -> list[int]:
    """Counts the controller's passes over the run logs from now on (a spy on the real one)."""
    passes: list[int] = []
    metrics = app.runs.log_metrics
    scan_runs = metrics.scan_runs

    async def counted(*args: Any, **kwargs: Any) -> list[LogScanOutcome]:
        found = await scan_runs(*args, **kwargs)
        passes.append(len(found))
        return found

    metrics.scan_runs = counted  # type: ignore[method-assign]
    return passes


def last_step(chart: MetricChart) -> float:
    assert chart.data is not None and chart.data.lines
    return chart.data.lines[0].points[-1][0]


def replay_app(store: Store) -> tuple[CockpitApp, list[float]]:
    """The demo on a clock the test moves (now[0]): a 100 s replay of the live run."""
    now = [1_000.0]
    app = CockpitApp(
        store, demo=DemoWiring.create(duration_s=100.0, clock=lambda: now[0]), open_triage=False
    )
    return app, now


async def runs_with_a_loss(
    app: CockpitApp, pilot: Pilot[None], now: list[float]
) -> tuple[RunsPane, MetricChart, RunLogView]:
    """The Runs pane on the live run, 20 % into its replay, once its loss is in the store."""
    await app.loaded.wait()
    await pilot.press("3")
    pane = app.runs_pane
    chart = app.query_one("#run-chart", MetricChart)
    log = app.query_one("#log-view", RunLogView)
    assert pane.log_run == LIVE and not chart.display
    now[0] += 20.0
    await wait_until(lambda: "loss" in app.store.metric_names([LIVE], 2), timeout=15)
    return pane, chart, log


async def test_the_chart_of_a_live_run_its_keys_and_its_sweep(store: Store) -> None:
    app, now = replay_app(store)
    async with app.run_test(size=SIZE) as pilot:
        pane, chart, log = await runs_with_a_loss(app, pilot, now)

        await pilot.press("m")
        await wait_until(lambda: chart.data is not None and chart.data.metric == "loss")
        await wait_until(lambda: chart.drawn)  # drawn in a thread, then painted
        await pilot.pause()
        assert chart.display and not log.display
        assert chart.data is not None and chart.data.scope == f"run {LIVE}"
        assert [line.label for line in chart.data.lines] == [LIVE]
        assert chart.drawing is not None
        drawn = [line.plain for line in chart.drawing.lines]
        assert drawn == [line.plain for line in chart.lines()]  # what the screen shows
        assert chart.region.width <= 80 and chart.region.height >= 6
        assert drawn[0].startswith("loss") and "ema 0.60" in drawn[0]
        assert all(len(line) <= chart.content_region.width for line in drawn)
        assert any("┤" in line for line in drawn) and "step" in drawn[-1]
        assert any(ch in "".join(drawn) for ch in "⡀⠁⠉⣀")  # braille dots are drawn

        # Live: the run writes more metric lines, the curve grows (only then is it read).
        before = last_step(chart)
        now[0] += 20.0
        await wait_until(lambda: last_step(chart) > before and chart.drawn, timeout=15)
        await pilot.pause()
        paints = chart.paints
        shown = chart.data
        passes = scan_passes(app)
        # Nothing new: two log scans later, nothing was read or drawn again.
        await wait_until(lambda: len(passes) >= 2, timeout=10)
        await pilot.pause()
        assert chart.data is shown and chart.paints == paints

        # Smoothing: + and - change the weight and the title, without a reload.
        await pilot.press("plus")
        await wait_until(lambda: chart.drawn)
        assert chart.drawing is not None
        assert chart.smoothing == 0.7 and "ema 0.70" in chart.drawing.lines[0].plain
        assert chart.data is shown
        for _ in range(8):
            await pilot.press("minus")
        await pilot.pause()
        assert chart.smoothing == 0.0 and "raw" in chart.lines()[0].plain
        # Drawings for the weights passed on the way are dropped: the last one is shown.
        await wait_until(lambda: chart.drawn)
        await pilot.pause()
        assert chart.drawing is not None and chart.drawing.smoothing == 0.0
        assert "raw" in chart.drawing.lines[0].plain

        # ] and [ go through the metrics the run logged.
        metrics = chart.data.metrics
        assert metrics[:2] == ("loss", "lr")
        await pilot.press("right_square_bracket")
        await wait_until(lambda: chart.data is not None and chart.data.metric == "lr")
        assert chart.lines()[0].plain.startswith("lr")
        await pilot.press("left_square_bracket")
        await wait_until(lambda: chart.data is not None and chart.data.metric == "loss")
        await pilot.press("left_square_bracket")  # wraps round to the last one
        await wait_until(lambda: chart.data is not None and chart.data.metric == metrics[-1])
        await pilot.press("right_square_bracket")
        await wait_until(lambda: chart.data is not None and chart.data.metric == "loss")

        # m again: every run of the sweep, one line each, with a legend.
        await pilot.press("m")
        await wait_until(lambda: chart.data is not None and len(chart.data.lines) == 8)
        assert chart.data is not None and chart.data.scope == "sweep galore-doe"
        drawn = [line.plain for line in chart.lines()]
        assert len(drawn) <= chart.content_region.height
        assert any(line.startswith("a ") for line in drawn)  # the legend
        assert "r64 cosine wd0.2" in " ".join(drawn)
        # The cursor moves within the sweep: the same chart, not read again.
        shown = chart.data
        await pilot.press("up")
        await pilot.pause()
        assert pane.log_run != LIVE and chart.data is shown

        # m a third time: the log again.
        await pilot.press("m")
        await pilot.pause()
        assert log.display and not chart.display and pane.chart_key is None
        await pilot.press("plus")  # chart keys do nothing with the log shown
        assert chart.smoothing == 0.0


async def test_zoom_gives_the_log_and_the_chart_every_row_and_keys_stay_in_the_pane(
    store: Store,
) -> None:
    app, now = replay_app(store)
    async with app.run_test(size=SIZE) as pilot:
        pane, chart, log = await runs_with_a_loss(app, pilot, now)
        await pilot.pause()
        rows_beside_the_table = log.lines.region.height
        assert pane.table.has_focus

        await pilot.press("z")
        await pilot.pause()
        assert not pane.table.display and log.lines.has_focus  # arrows scroll the log
        assert log.lines.region.height >= rows_beside_the_table + 9
        await pilot.press("m")  # the chart in place of the focused log keeps the focus
        await wait_until(lambda: chart.drawn)
        await pilot.pause()
        assert chart.has_focus and chart.region.height >= 16  # 5 plot rows beside the table
        await pilot.press("m")  # so the pane's keys still work: the sweep's chart
        await wait_until(lambda: chart.data is not None and chart.data.scope.startswith("sweep"))
        await pilot.press("m")  # the log again, focused
        await pilot.pause()
        assert log.display and log.lines.has_focus and pane.chart_key is None

        await pilot.press("z")
        await pilot.pause()
        assert pane.table.display and pane.table.has_focus
        assert log.lines.region.height == rows_beside_the_table


async def test_help_lists_the_chart_keys(store: Store) -> None:
    app = CockpitApp(store, demo=DemoWiring.create(duration_s=600.0), open_triage=False)
    async with app.run_test(size=SIZE):
        await app.loaded.wait()
        rows = {(r.key, r.scope) for r in app.binding_rows()}
        for key in ("m", "+", "-", "]", "[", "z"):
            assert (key, "Runs+Logs") in rows
