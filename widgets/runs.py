"""Runs + Logs: the runs table on top, the selected run's log streaming below.

Drawing only. The app feeds runs with `show_runs` and log text with `append_log`; the pane
asks for actions (select, cancel, relaunch) by posting messages.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Log, Static

from cockpit.models import Run, RunState
from cockpit.render.chart import ChartData
from cockpit.render.runs import flag_marker
from widgets.format import config_label, duration, varying_keys
from widgets.metric_chart import MetricChart
from widgets.requests import PaneRequest

# What `e`/`E` jump to: a traceback, an error or exception line, a CUDA OOM, a NaN loss.
LOG_ERROR = re.compile(
    r"^Traceback \(most recent call last\)|\b(?:\w*Error|Exception|CUDA out of memory)\b"
    r"|\bloss\b\W*(?:nan|inf)\b",
    re.IGNORECASE,
)
LOG_MAX_LINES = 5000  # the log view is a window; the file on the host keeps everything

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


class RunLog(Log):
    """Textual's Log, measuring line widths inline instead of in a thread worker.

    Log hands each write to a thread that calls back into the app; a write just before
    the app quits then fails with NoActiveAppError. The cockpit writes in batches of a few
    thousand lines at most, which measure in well under a millisecond.
    """

    def _update_size(self, updates: int, lines: list[str]) -> None:  # type: ignore[override]
        if lines:
            widest = max(cell_len(self._process_line(line)) for line in lines)
            self._update_maximum_width(updates, widest)


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
        Binding(
            "m",
            "toggle_chart",
            "Chart",
            tooltip="Metrics chart: of the run, then of its sweep, then the log again",
            id="runs.chart",
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
        self.error_line: int | None = None  # the log line `e`/`E` last jumped to
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
        self.log_title = Static("Select a run to see its log.", id="log-title")
        self.log_view = RunLog(id="run-log", max_lines=LOG_MAX_LINES, auto_scroll=True)
        self.chart = MetricChart(id="run-chart")
        self.chart.display = False
        self.chart_key: ChartKey | None = None  # what the chart shows; None: the log is shown

    def compose(self) -> ComposeResult:
        yield self.table
        yield self.log_title
        yield self.log_view
        yield self.chart

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
        self.error_line = None
        self.log_view.clear()
        self.log_title.update(Text(f"log: {run_id}", style="bold"))
        self.post_message(self.RunSelected(run_id))
        if self.chart_key is not None:  # the chart follows the cursor too
            sweep = self.chart_key.sweep is not None
            self._chart(self._runs.get(run_id), sweep, self.chart_key.metric)

    def restart_log(self) -> None:
        """The followed run starts a new attempt: its log is written from the start."""
        self.log_view.clear()

    def append_log(self, run_id: str, lines: Sequence[str]) -> None:
        if run_id == self._log_run and lines:
            self.log_view.write_lines(lines)

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
        self.log_view.auto_scroll = True
        self.log_view.scroll_end(animate=False)

    def action_log_start(self) -> None:
        """To the first line; following pauses so the view stays there (g)."""
        self.log_view.auto_scroll = False
        self.log_view.scroll_home(animate=False)

    def action_first_error(self) -> None:
        self._jump_to_error(0)

    def action_next_error(self) -> None:
        self._jump_to_error(self.error_line + 1 if self.error_line is not None else 0)

    def _jump_to_error(self, start: int) -> None:
        lines = self.log_view.lines
        found = next((i for i in range(start, len(lines)) if LOG_ERROR.search(lines[i])), None)
        if found is None:
            self.notify("No error below." if start else "No error in this log.")
            return
        self.error_line = found
        self.log_view.auto_scroll = False  # stay on the error while lines come in
        self.log_view.scroll_to(y=max(0, found - 2), animate=False)

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
            self.chart.display = False
            self.log_view.display = True
            self.log_title.update(Text(f"log: {self._log_run}", style="bold"))

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
        self.log_view.display = False
        self.chart.display = True
        what = f"sweep {key.sweep}" if key.sweep is not None else f"run {key.run_id}"
        self.log_title.update(
            Text.assemble(
                (f"chart: {what}", "bold"), ("  [ ] metric  + - smoothing  m: more", "dim")
            )
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

    def action_toggle_follow(self) -> None:
        self.log_view.auto_scroll = not self.log_view.auto_scroll
        self.notify(f"Follow log: {'on' if self.log_view.auto_scroll else 'off'}")


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
