"""Runs + Logs: the runs table on top, the selected run's log streaming below.

Drawing only. The app feeds runs with `show_runs` and log text with `append_log`; the pane
asks for actions (select, cancel, relaunch) by posting messages.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Log, Static

from cockpit.models import Run, RunState
from widgets.format import config_label, duration, varying_keys
from widgets.requests import PaneRequest

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
        Binding("c", "cancel_run", "Cancel run", id="runs.cancel"),
        Binding("r", "relaunch_run", "Relaunch", id="runs.relaunch"),
        Binding("f", "toggle_follow", "Follow log", id="runs.follow"),
    ]

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

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._runs: dict[str, Run] = {}
        self._log_run: str | None = None
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

    def compose(self) -> ComposeResult:
        yield self.table
        yield self.log_title
        yield self.log_view

    @property
    def log_run(self) -> str | None:
        return self._log_run

    def show_runs(self, runs: Sequence[Run], now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._label_keys = varying_keys(r.spec.config for r in runs)
        table = self.table
        keys = [r.id for r in runs]
        if [str(k.value) for k in table.rows] != keys:
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

    def _cells(self, run: Run, now: float) -> tuple[str | Text, ...]:
        gpus = ",".join(str(i) for i in run.gpu_ids)
        end = run.ended_at if run.state.terminal else now
        elapsed = None if run.started_at is None or end is None else end - run.started_at
        return (
            run.id,
            config_label(run.spec.config, self._label_keys) or run.spec.name,
            f"{run.host or '?'}:{gpus}" if gpus else (run.host or "?"),
            Text(str(run.state), style=STATE_STYLE.get(run.state, "")),
            duration(elapsed),
        )

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
        self.log_view.clear()
        self.log_title.update(Text(f"log: {run_id}", style="bold"))
        self.post_message(self.RunSelected(run_id))

    def restart_log(self) -> None:
        """The followed run starts a new attempt: its log is written from the start."""
        self.log_view.clear()

    def append_log(self, run_id: str, lines: Sequence[str]) -> None:
        if run_id == self._log_run and lines:
            self.log_view.write_lines(lines)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.select_run(str(event.row_key.value))

    def action_cancel_run(self) -> None:
        run = self.selected_run()
        if run is not None:
            self.post_message(self.CancelRequested(run.id))

    def action_relaunch_run(self) -> None:
        run = self.selected_run()
        if run is not None:
            self.post_message(self.RelaunchRequested(run.id))

    def action_toggle_follow(self) -> None:
        self.log_view.auto_scroll = not self.log_view.auto_scroll
        self.notify(f"Follow log: {'on' if self.log_view.auto_scroll else 'off'}")
