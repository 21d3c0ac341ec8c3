"""Runs and their logs: the table polled from the backends, the selected run's log followed."""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

from cockpit.app.controller import Controller, RequestHandler, Shell, report_command
from cockpit.app.run_log import RunLogFeed
from cockpit.bus import CommandBus
from cockpit.log_metrics import LogMetrics, stalled_after_s
from cockpit.metric_charts import chart_data
from cockpit.models import Command, HostKind, Run, RunState
from cockpit.registry import host_target
from cockpit.render.runs import plain
from cockpit.runs import RunCommandHandler, launch_payload, sweep_to_payload
from cockpit.scheduler import LaunchPlan, plan_sweep, runs_by_host
from cockpit.store import NotFoundError, Store
from cockpit.sweep import load_spec
from cockpit.validate import ValidationError
from widgets.format import config_label, varying_keys
from widgets.requests import PaneRequest
from widgets.run_queue import QueueEdit, QueueScreen
from widgets.runs import ChartKey, LaunchPreviewScreen, RunsPane, SpecPathScreen

RUN_POLL_S = 2.0
LOG_CHUNK_BYTES = 256 * 1024
# How a run's end is announced: a line in the app, the terminal bell, a desktop
# notification (notify-send, where it exists). COCKPIT_NOTIFY=line,bell picks some.
NOTIFY_ENV = "COCKPIT_NOTIFY"
NOTIFY_CHANNELS = ("line", "bell", "desktop")
LAST_SPEC_SETTING = "runs.last_spec"


def notify_channels() -> frozenset[str]:
    raw = os.environ.get(NOTIFY_ENV)
    if raw is None:
        return frozenset(NOTIFY_CHANNELS)
    return frozenset(c.strip() for c in raw.split(",") if c.strip() in NOTIFY_CHANNELS)


RunsListener = Callable[[list[Run]], Awaitable[None]]


class RunsController(Controller):
    def __init__(
        self,
        store: Store,
        bus: CommandBus,
        pane: RunsPane,
        shell: Shell,
        handler: RunCommandHandler,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.bus = bus
        self.pane = pane
        self.shell = shell
        self.handler = handler
        self.clock = clock  # the demo's runs live on the demo's clock
        self.runs: list[Run] = []
        self.flags: dict[str, list[str]] = {}  # run id -> kinds of its log flags
        self.log_metrics = LogMetrics(store, stalled_after_s())
        self.log_feed = RunLogFeed(shell, pane.log_view, handler.backend_for, self.run)
        self._listeners: list[RunsListener] = []
        self.channels = notify_channels()
        bus.subscribe(self._on_command)

    def _on_command(self, command: Command) -> None:
        # A run or GPU command that ended (from any pane, or confirmed later) moves runs.
        if command.status.terminal and command.kind.startswith(("run.", "gpu.")):
            self.shell.start(self.reload, group="runs-reload", exclusive=True)

    def on_runs_changed(self, listener: RunsListener) -> None:
        """Called with the runs after every reload (results and triage follow them)."""
        self._listeners.append(listener)

    def routes(self) -> dict[type[PaneRequest], RequestHandler]:
        return {
            RunsPane.RunSelected: self._on_selected,
            RunsPane.CancelRequested: self._on_cancel,
            RunsPane.RelaunchRequested: self._on_relaunch,
            RunsPane.LaunchRequested: self._on_launch,
            RunsPane.QueueRequested: self._on_queue,
            **self.log_feed.routes(),
            RunsPane.ChartRequested: self._on_chart,
        }

    async def load(self) -> None:
        hosts = await asyncio.to_thread(self.store.list_hosts)
        if any(h.kind is HostKind.SSH for h in hosts):
            # The SSH runner's pool imports asyncssh on first use: not on the event loop.
            await asyncio.to_thread(importlib.import_module, "backends.ssh.connection")
        await self.reload()

    async def reload(self) -> None:
        self.runs = await asyncio.to_thread(self.store.list_runs)
        await self._reload_flags()
        self.pane.show_runs(self.runs, now=self.clock(), flags=self.flags)
        for listener in self._listeners:
            await listener(self.runs)

    def start(self) -> None:
        self.shell.every(RUN_POLL_S, self._poll)
        # The selection may have come before the controllers were wired; once only: a
        # second start would drop the log the view already reads from (and its searches).
        if self.pane.log_run is not None and self.log_feed.following != self.pane.log_run:
            self._follow_selected()

    async def _reload_flags(self) -> None:
        flags = await asyncio.to_thread(self.store.log_flags)
        self.flags = {rid: [f["kind"] for f in found] for rid, found in flags.items()}

    async def _poll(self) -> None:
        changed = await self.handler.poll_active()
        if changed:
            self.announce([r for r in changed if r.state.terminal])
            await self.reload()
        # Every run's new log bytes: metrics for results and triage, flags for the table.
        scanned = await self.log_metrics.scan_runs(
            self.runs, self.handler.backend_for, self.clock()
        )
        key = self.pane.chart_key
        if key is not None:
            # The chart is read again only when one of its runs has new points.
            charted = {r.id for r in self.chart_runs(key)}
            fresh = {o.run_id for o in scanned if o.result.points}
            fresh |= {r.id for r in changed if r.state.terminal}  # results collected
            if charted & fresh:
                await self.load_chart(key)
        if self.runs:  # new flags, and elapsed times that keep moving
            await self._reload_flags()
            self.pane.show_runs(self.runs, now=self.clock(), flags=self.flags)

    def announce(self, ended: list[Run]) -> None:
        """Say that runs ended, on every channel the user wants."""
        if not ended:
            return
        failed = [r for r in ended if r.state is not RunState.SUCCEEDED]
        text = ", ".join(
            f"{plain(r.spec.name)} {r.state}"
            + (f" ({r.exit_code})" if r.exit_code not in (None, 0) else "")
            for r in ended[:4]
        ) + (f" and {len(ended) - 4} more" if len(ended) > 4 else "")
        if "line" in self.channels:
            self.shell.notify(f"run ended: {text}", severity="warning" if failed else "information")
        if "bell" in self.channels:
            self.shell.bell()
        if "desktop" in self.channels and shutil.which("notify-send"):
            argv = ["notify-send", "Lab Cockpit", f"run ended: {text}"]
            self.shell.start(
                lambda: asyncio.to_thread(
                    subprocess.run, argv, check=False, timeout=10, capture_output=True
                ),
                group="notify",
            )

    def run(self, run_id: str) -> Run | None:
        return next((r for r in self.runs if r.id == run_id), None)

    # -- the log of the selected run ------------------------------------------------------

    def _on_selected(self, event: RunsPane.RunSelected) -> None:
        self._follow_selected()

    def _follow_selected(self) -> None:
        self.shell.start(self._follow, group="log-follow", exclusive=True)

    async def _follow(self) -> None:
        run = self.run(self.pane.log_run or "")
        if run is not None:
            await self.log_feed.follow(run)

    # -- the metrics chart ----------------------------------------------------------------

    def chart_runs(self, key: ChartKey) -> list[Run]:
        if key.sweep is not None:
            return [r for r in self.runs if r.spec.sweep == key.sweep]
        return [r for r in self.runs if r.id == key.run_id]

    def _on_chart(self, event: RunsPane.ChartRequested) -> None:
        self.shell.start(lambda: self.load_chart(event.key), group="chart", exclusive=True)

    async def load_chart(self, key: ChartKey) -> None:
        runs = self.chart_runs(key)
        if key.sweep is not None:
            keys = varying_keys(r.spec.config for r in runs)
            labels = {r.id: config_label(r.spec.config, keys) or r.id for r in runs}
            scope = f"sweep {key.sweep}"
        else:
            labels, scope = {}, f"run {key.run_id}"
        data = await asyncio.to_thread(chart_data, self.store, runs, scope, key.metric, labels)
        self.pane.show_chart(key, data)

    # -- commands -------------------------------------------------------------------------

    def _on_cancel(self, event: RunsPane.CancelRequested) -> None:
        self._confirm_run_command(
            event.run_id,
            f"Cancel run {event.run_id}? Its process group gets TERM, then KILL.",
            "run.cancel",
        )

    def _on_relaunch(self, event: RunsPane.RelaunchRequested) -> None:
        self._confirm_run_command(
            event.run_id, f"Relaunch run {event.run_id} with the same spec?", "run.relaunch"
        )

    def _confirm_run_command(self, run_id: str, question: str, kind: str) -> None:
        run = self.run(run_id)
        if run is None:
            return
        self.shell.confirm(question, lambda: self.submit(run, kind, {"run_id": run.id}))

    def submit(self, run: Run, kind: str, payload: dict[str, Any]) -> None:
        async def work() -> None:
            try:
                host = await asyncio.to_thread(self.store.get_host, run.host or "")
            except NotFoundError:
                self.shell.notify(f"run {run.id}: no host named {run.host!r}", severity="error")
                return
            command = await self.bus.submit("runs", host_target(host), kind, payload)
            report_command(self.shell, command)
            if kind == "run.relaunch" and self.pane.log_run == run.id:
                # A new attempt writes its log from the start: follow it from there.
                self.pane.restart_log()
                self._follow_selected()

        self.shell.start(work, group="bus")

    # -- a host's queue (Q) ----------------------------------------------------------------

    def _on_queue(self, event: RunsPane.QueueRequested) -> None:
        self.shell.start(lambda: self.show_queue(event.host, event.run_id), group="queue")

    async def show_queue(self, host: str, selected: str | None = None) -> None:
        """The host's queue as its queue runner sees it (one round trip); edits go on the
        bus as run.queue commands (audited), then the queue is shown again."""
        try:
            view = await self.handler.queue_view(host)
        except Exception as exc:  # the host is down: say so, the pane goes on
            self.shell.notify(f"queue on {host}: {exc}", severity="error")
            return
        screen = QueueScreen(host, view.order, view.held, selected)
        await self.shell.push(screen, lambda edit: self._queue_edit(host, edit))

    def _queue_edit(self, host: str, edit: QueueEdit | None) -> None:
        if edit is None:
            return
        payload = {"host": host, "op": edit.op, "run_id": edit.run_id, "position": edit.position}

        async def work() -> None:
            target = host_target(await asyncio.to_thread(self.store.get_host, host))
            command = await self.bus.submit("runs", target, "run.queue", payload)
            report_command(self.shell, command)
            await self.show_queue(host, edit.run_id)

        if edit.op == "drop":
            self.shell.confirm(
                f"Drop {edit.run_id} from the queue on {host}? It will not run.",
                lambda: self.shell.start(work, group="bus"),
            )
        else:
            self.shell.start(work, group="bus")

    # -- launching a sweep spec (L) -------------------------------------------------------

    def _on_launch(self, event: RunsPane.LaunchRequested) -> None:
        async def ask() -> None:
            default = await asyncio.to_thread(self.store.get_setting, LAST_SPEC_SETTING, "")
            await self.shell.push(SpecPathScreen(str(default or "")), self._spec_chosen)

        self.shell.start(ask, group="launch")

    def _spec_chosen(self, path: str | None) -> None:
        if path:
            self.shell.start(lambda: self.preview(path), group="launch")

    async def preview(self, path: str) -> None:
        """Plan the spec and show its runs; launch them after a yes."""
        try:
            spec = await asyncio.to_thread(load_spec, path)
            hosts = await asyncio.to_thread(self.store.list_hosts)
            plan = plan_sweep(spec, hosts, (), time.time())
        except ValidationError as exc:
            self.shell.notify(str(exc), severity="error")
            return
        await asyncio.to_thread(self.store.set_setting, LAST_SPEC_SETTING, path)
        lines: list[str] = []
        for run in plan.runs:
            env = " ".join(f"{k}={v}" for k, v in run.spec.env.items())
            lines.append(f"{plain(run.spec.name)}  on {run.host}  gpus {run.spec.gpus}")
            lines.append(
                f"  $ {plain(run.spec.command)}" + (f"  [env {plain(env)}]" if env else "")
            )
        title = f"Launch {len(plan.runs)} run(s) of sweep {plain(spec.name)}?"

        def answered(yes: bool | None) -> None:
            if yes:
                self.shell.start(lambda: self.launch(plan), group="bus")

        await self.shell.push(LaunchPreviewScreen(title, lines), answered)

    async def launch(self, plan: LaunchPlan) -> None:
        sweep = sweep_to_payload(plan.sweep) if plan.sweep is not None else None
        for i, (host_name, group) in enumerate(runs_by_host(plan.runs).items()):
            host = await asyncio.to_thread(self.store.get_host, host_name)
            payload = launch_payload(group, sweep if i == 0 else None)
            command = await self.bus.submit("runs", host_target(host), "run.launch", payload)
            report_command(self.shell, command)
