"""Runs + Logs: the runs table on top, the selected run's log (or its metrics chart) below.

Drawing only. The app feeds runs with `show_runs`, the log view (widgets/run_log.py) asks
for the lines it draws, and the pane asks for actions (select, cancel, relaunch, chart) by
posting messages.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from cockpit.models import Run, RunState
from cockpit.render.chart import ChartData
from cockpit.render.runs import flag_marker
from widgets.format import config_label, duration, varying_keys
from widgets.metric_chart import MetricChart
from widgets.requests import PaneRequest
from widgets.run_log import RunLogView

STATE_STYLE = {
    RunState.RUNNING: "bold cyan",
    RunState.SUCCEEDED: "green",
    RunState.FAILED: "bold red",
    RunState.TIMEOUT: "red",
    RunState.CANCELLED: "yellow",
    RunState.LOST: "red",
    RunState.UNREACHABLE: "yellow",
    RunState.QUEUED: "dim",
    RunState.STARTING: "cyan",
}


class RunsPane(Vertical):
    BINDINGS = [
        Binding("c", "cancel_run", "Cancel", tooltip="Cancel run", id="runs.cancel"),
        Binding("r", "relaunch_run", "Relaunch", id="runs.relaunch"),
        Binding("f", "toggle_follow", "Follow", tooltip="Follow the log", id="runs.follow"),
        Binding("L", "launch_spec", "Launch", tooltip="Launch a sweep spec", id="runs.launch"),
        # In the help (?), not the footer: the 80-column footer keeps the pane keys.
        Binding("G", "log_end", "Log end", id="runs.log_end", show=False),
        Binding("g", "log_start", "Log start", id="runs.log_start", show=False),
        Binding("e", "first_error", "First error", id="runs.first_error", show=False),
        Binding("E", "next_error", "Next error", id="runs.next_error", show=False),
        Binding("Q", "show_queue", "Host queue", id="runs.queue", show=False),
        Binding("A", "explain", "Ask the LLM: explain this failure", id="runs.ask", show=False),
        Binding("slash", "log_find", "Search the log", id="runs.log_find", show=False),
        Binding("n", "log_match(True)", "Next match", id="runs.log_next", show=False),
        Binding("N", "log_match(False)", "Previous match", id="runs.log_prev", show=False),
        Binding(
            "backslash",
            "log_filter",
            "Filter the log",
            tooltip="Filter the log: error, warn, info or a regex",
            id="runs.log_filter",
            show=False,
        ),
        Binding("w", "log_wrap", "Wrap long lines", id="runs.log_wrap", show=False),
        Binding("escape", "log_escape", "Cancel a log search", id="runs.log_escape", show=False),
        Binding(
            "m",
            "toggle_chart",
            "Chart",
            tooltip="Metrics chart: of the run, then of its sweep, then the log again",
            id="runs.chart",
            show=False,
        ),
        Binding(
            "z",
            "zoom",
            "Zoom",
            tooltip="The log or chart takes the whole pane; z again brings the runs back",
            id="runs.zoom",
            show=False,
        ),
        # Only while the chart is shown (check_action).
        Binding("plus", "smoothing(1)", "Smoother", tooltip="Chart: more smoothing (EMA)"),
        Binding("minus", "smoothing(-1)", "Rougher", tooltip="Chart: less smoothing"),
        Binding("right_square_bracket", "metric(1)", "Next metric", tooltip="Chart: next metric"),
        Binding(
            "left_square_bracket", "metric(-1)", "Prev metric", tooltip="Chart: previous metric"
        ),
    ]

    class LaunchRequested(PaneRequest):
        """L: the user wants to launch a sweep spec (the controller asks for the file)."""

    class RunSelected(PaneRequest):
        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    class CancelRequested(PaneRequest):
        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    class RelaunchRequested(PaneRequest):
        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    class ExplainRequested(PaneRequest):
        """A: ask the pane's LLM why the selected run failed (the log goes with it)."""

        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    class ChartRequested(PaneRequest):
        """The chart needs data: `metric` (None: the first) of the run, or of its sweep."""

        def __init__(self, key: ChartKey) -> None:
            super().__init__()
            self.key = key

    class QueueRequested(PaneRequest):
        """Q: the queue of the selected run's host (the controller fetches and shows it)."""

        def __init__(self, host: str, run_id: str) -> None:
            super().__init__()
            self.host = host
            self.run_id = run_id

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._runs: dict[str, Run] = {}
        self._log_run: str | None = None
        self._flags: Mapping[str, Sequence[str]] = {}
        self._label_keys: list[str] = []
        self.table: DataTable[object] = DataTable(id="runs-table", cursor_type="row")
        for key, label in (
            ("run", "Run"),
            ("config", "Config"),
            ("host", "Host"),
            ("state", "State"),
            ("time", "Time"),
        ):
            self.table.add_column(label, key=key)
        self.log_view = RunLogView(id="log-view")
        self.chart_title = Static("", id="chart-title")
        self.chart = MetricChart(id="run-chart")
        self.chart_title.display = self.chart.display = False
        self.chart_key: ChartKey | None = None  # what the chart shows; None: the log is shown

    def compose(self) -> ComposeResult:
        yield self.table
        yield self.log_view
        yield self.chart_title
        yield self.chart

    @property
    def error_line(self) -> int | None:
        """The log line `e`/`E` last jumped to."""
        return self.log_view.lines.error_line

    @property
    def log_run(self) -> str | None:
        return self._log_run

    def show_runs(
        self,
        runs: Sequence[Run],
        now: float | None = None,
        flags: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """flags: the kinds of each run's log flags (nan-loss, oom, stalled ...)."""
        now = time.time() if now is None else now
        self._flags = flags or {}
        self._label_keys = varying_keys(r.spec.config for r in runs)
        table = self.table
        keys = [r.id for r in runs]
        rebuilt = [str(k.value) for k in table.rows] != keys
        if rebuilt:
            table.clear()
            for run in runs:
                table.add_row(*self._cells(run, now), key=run.id)
        else:
            for run in runs:
                for col, cell in zip(
                    ("run", "config", "host", "state", "time"), self._cells(run, now), strict=True
                ):
                    table.update_cell(run.id, col, cell)
        self._runs = {r.id: r for r in runs}
        if self._log_run is None and runs:
            live = next((r for r in runs if r.state is RunState.RUNNING), runs[0])
            self.select_run(live.id)
            rebuilt = True
        if rebuilt and self._log_run in self._runs:
            # The cursor stays on the run whose log is shown (the log follows the cursor).
            table.move_cursor(row=keys.index(self._log_run), animate=False)

    def _cells(self, run: Run, now: float) -> tuple[str | Text, ...]:
        gpus = ",".join(str(i) for i in run.gpu_ids)
        end = run.ended_at if run.state.terminal else now
        elapsed = None if run.started_at is None or end is None else end - run.started_at
        return (
            run.id,
            config_label(run.spec.config, self._label_keys) or run.spec.name,
            f"{run.host or '?'}:{gpus}" if gpus else (run.host or "?"),
            self._state_cell(run),
            duration(elapsed),
        )

    def _state_cell(self, run: Run) -> Text:
        cell = Text(state_label(run), style=STATE_STYLE.get(run.state, ""))
        kinds = self._flags.get(run.id)
        if kinds:
            cell.append(f" {flag_marker(kinds)}", style="bold red")
        return cell

    def selected_run(self) -> Run | None:
        table = self.table
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self._runs.get(str(key))

    def select_run(self, run_id: str) -> None:
        """Point the log at a run (clearing it) and tell the app to stream that run."""
        if run_id == self._log_run:
            return
        self._log_run = run_id
        self.log_view.open_run(run_id)
        self.post_message(self.RunSelected(run_id))
        if self.chart_key is not None:  # the chart follows the cursor too
            sweep = self.chart_key.sweep is not None
            self._chart(self._runs.get(run_id), sweep, self.chart_key.metric)

    def restart_log(self) -> None:
        """The followed run starts a new attempt: its log is written from the start."""
        self.log_view.open_run(self._log_run)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.select_run(str(event.row_key.value))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # The log follows the cursor at once: no enter needed.
        if event.cursor_row != self.table.cursor_row:
            return  # a row the cursor has already left (the table was just rebuilt)
        if event.row_key.value is not None and str(event.row_key.value) in self._runs:
            self.select_run(str(event.row_key.value))

    # -- moving in the log ----------------------------------------------------------------

    def action_log_end(self) -> None:
        """To the end, following again (G)."""
        self.log_view.lines.action_end()

    def action_log_start(self) -> None:
        """To the first line; following pauses so the view stays there (g)."""
        self.log_view.lines.action_start()

    def action_first_error(self) -> None:
        self.log_view.lines.jump_to_error(0)

    def action_next_error(self) -> None:
        line = self.error_line
        self.log_view.lines.jump_to_error(line + 1 if line is not None else 0)

    def action_log_find(self) -> None:
        self.log_view.ask("find")

    def action_log_filter(self) -> None:
        self.log_view.ask("filter")

    def action_log_match(self, forward: bool) -> None:
        self.log_view.lines.next_match(forward)

    def action_log_wrap(self) -> None:
        self.log_view.lines.toggle_wrap()

    def action_log_escape(self) -> None:
        """Close the search prompt, else cancel a running search or filter."""
        if not self.log_view.close_prompt():
            self.log_view.lines.cancel_scans()

    def action_cancel_run(self) -> None:
        run = self.selected_run()
        if run is not None:
            self.post_message(self.CancelRequested(run.id))

    def action_relaunch_run(self) -> None:
        run = self.selected_run()
        if run is not None:
            self.post_message(self.RelaunchRequested(run.id))

    def action_show_queue(self) -> None:
        run = self.selected_run()
        if run is not None and run.host:
            self.post_message(self.QueueRequested(run.host, run.id))

    def action_explain(self) -> None:
        run = self.selected_run()
        if run is not None:
            self.post_message(self.ExplainRequested(run.id))

    def action_launch_spec(self) -> None:
        self.post_message(self.LaunchRequested())

    # -- the metrics chart (m) --------------------------------------------------------------

    def action_toggle_chart(self) -> None:
        """m: the run's chart, then its sweep's (when it has one), then the log again."""
        run = self.selected_run()
        key = self.chart_key
        if run is None:
            return
        if key is None:
            self._chart(run, sweep=False, metric=None)
        elif key.sweep is None and run.spec.sweep:
            self._chart(run, sweep=True, metric=key.metric)
        else:
            self.chart_key = None
            self.chart_title.display = self.chart.display = False
            self.log_view.display = True
            self.log_view.show_status()
            if self.chart.has_focus:
                self.log_view.lines.focus()

    def _chart(self, run: Run | None, sweep: bool, metric: str | None) -> None:
        if run is None:
            return
        if sweep and run.spec.sweep:
            key = ChartKey(None, run.spec.sweep, metric)
        else:
            key = ChartKey(run.id, None, metric)
        if key == self.chart_key:
            return  # (the cursor moved within the sweep on the chart)
        old = self.chart_key
        if old is None or (old.run_id, old.sweep) != (key.run_id, key.sweep):
            self.chart.clear()  # another run or sweep: no stale curves while it loads
        self.chart_key = key
        log_focused = self.log_view.lines.has_focus
        self.log_view.display = False
        self.chart_title.display = self.chart.display = True
        if log_focused:
            self.chart.focus()
        what = f"sweep {key.sweep}" if key.sweep is not None else f"run {key.run_id}"
        self.chart_title.update(
            Text.assemble(
                (f"chart: {what}", "bold"), ("  [ ] metric  + - smoothing  m: more", "dim")
            ),
            layout=False,  # one row, whatever it says
        )
        self.post_message(self.ChartRequested(key))

    def show_chart(self, key: ChartKey, data: ChartData) -> None:
        """Data for the chart; dropped when the chart has moved on since it was asked for."""
        if key == self.chart_key:
            self.chart.show(data)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("smoothing", "metric"):
            return self.chart_key is not None
        return True

    def action_smoothing(self, direction: int) -> None:
        self.chart.smoother(direction)

    def action_metric(self, direction: int) -> None:
        data, key = self.chart.data, self.chart_key
        if data is None or key is None or not data.metrics:
            return
        at = data.metrics.index(data.metric) if data.metric in data.metrics else -1
        metric = data.metrics[(at + direction) % len(data.metrics)]
        self.chart_key = replace(key, metric=metric)
        self.post_message(self.ChartRequested(self.chart_key))

    @property
    def zoomed(self) -> bool:
        return self.has_class("-zoomed")

    def action_zoom(self) -> None:
        """z: the runs table goes, so the log or chart has every row (a sweep's chart 15
        plot rows at 80x24, not 5); z again brings it back. Arrows then scroll the log."""
        self.toggle_class("-zoomed")
        if self.zoomed:
            if self.table.has_focus:
                (self.chart if self.chart_key is not None else self.log_view.lines).focus()
        elif not self.table.has_focus:
            self.table.focus()

    def action_toggle_follow(self) -> None:
        lines = self.log_view.lines
        lines.set_follow(not lines.follow)
        self.notify(f"Follow log: {'on' if lines.follow else 'off'}")


@dataclass(frozen=True)
class ChartKey:
    """What the chart shows: one run's metrics (run_id) or a sweep's (sweep), and which
    metric (None: the first the runs logged)."""

    run_id: str | None
    sweep: str | None
    metric: str | None


def state_label(run: Run) -> str:
    """The state, with the exit code where it says why (failed 3, timeout 124)."""
    if run.state in (RunState.FAILED, RunState.TIMEOUT) and run.exit_code is not None:
        return f"{run.state} {run.exit_code}"
    if run.state is RunState.QUEUED and run.remote_dir is None:
        return "queued (not sent)"
    return str(run.state)


class SpecPathScreen(ModalScreen[str | None]):
    """Which sweep spec to launch: a path, typed (enter) or abandoned (escape)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="spec.cancel")]

    def __init__(self, default: str = "") -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static("Sweep spec to launch (TOML):", id="confirm-question")
            yield Input(value=self.default, placeholder="path/to/spec.toml", id="spec-path")
            yield Static("enter: preview    escape: cancel", id="confirm-keys")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class LaunchPreviewScreen(ModalScreen[bool]):
    """The runs a spec makes, their exact commands and hosts; y launches, n does not."""

    BINDINGS = [
        Binding("y", "answer(True)", "Launch", id="launch.yes"),
        Binding("n,escape", "answer(False)", "Cancel", id="launch.no"),
    ]

    def __init__(self, title: str, lines: Sequence[str]) -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            # Text, not markup: spec values may hold brackets.
            yield Static(Text(self.title_text, style="bold"), id="confirm-question")
            with VerticalScroll(id="launch-preview"):
                yield Static(Text("\n".join(self.lines)), id="launch-lines")
            yield Static("[b]y[/b] launch    [b]n[/b] cancel", id="confirm-keys")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
