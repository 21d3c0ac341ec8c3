"""CockpitApp: the panes, their bindings and palette, wired to the store, bus and backends.

Panes draw; this module turns their messages into commands on the bus and feeds them data.
Everything that touches SQLite runs in a thread (asyncio.to_thread) and everything remote is
async, so the event loop never waits on I/O. Worker failures end up in one handler.
"""

from __future__ import annotations

import asyncio
import importlib
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.lazy import Lazy
from textual.screen import Screen
from textual.theme import Theme
from textual.widgets import Footer, Header, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

import themes
from backends.gpu import A100, H100, SimulatedGpuSource, SimulatedHost
from backends.runners import DemoRunner
from cockpit.bus import CommandBus, CommandError
from cockpit.demo import (
    DemoCluster,
    DemoCommandHandler,
    DemoData,
    collect_run_results,
    sample_runs_dir,
    seed_demo,
)
from cockpit.gpu_history import GpuHistoryDownsampler
from cockpit.models import Command, GpuProcess, Host, HostKind, HostSnapshot, Run
from cockpit.paper import version_diff
from cockpit.ports import GpuSource, RunBackend
from cockpit.runs import RunCommandHandler
from cockpit.store import Store
from widgets.commands import CommandsPane
from widgets.dialogs import BindingRow, ConfirmScreen, HelpScreen
from widgets.gpu import GpuPane
from widgets.ideas import IdeasPane
from widgets.paper import PaperPane
from widgets.results import ResultDetail, ResultDetailScreen, ResultsPane
from widgets.runs import RunsPane
from widgets.triage import TriageScreen

if TYPE_CHECKING:
    # Statistics (and with them scipy) load on first use, in a worker, never at start-up.
    from cockpit.models.results import ConfigResult, ResultsMatrix, SweepResults
    from cockpit.results import ResultsData

DEFAULT_THEME = "cockpit-dark"
THEME_SETTING = "ui.theme"

# (tab id, title, key): the order is the number-key order.
PANES: tuple[tuple[str, str, str], ...] = (
    ("ideas", "Ideas", "1"),
    ("gpus", "GPUs", "2"),
    ("runs", "Runs+Logs", "3"),
    ("results", "Results", "4"),
    ("paper", "Paper", "5"),
    ("commands", "Commands", "6"),
)

GPU_FLUSH_S = 1.0
RUN_POLL_S = 2.0
LOG_POLL_S = 0.5
LOG_CHUNK_BYTES = 256 * 1024
KILL_GRACE_S = 10.0
GPU_HISTORY_S = 60.0


def themes_dir() -> Path:
    # The package's own folder: themes ship as plain files in the wheel (never zipped), and
    # importlib.resources would add zipfile and friends to start-up.
    return Path(themes.__file__).parent


def load_themes(folder: Path) -> list[Theme]:
    """Themes are data: one TOML file each in themes/."""
    themes = []
    for path in sorted(folder.glob("*.toml")):
        spec: dict[str, Any] = tomllib.loads(path.read_text())
        themes.append(Theme(**spec))
    return themes


@dataclass
class DemoWiring:
    """What `cockpit demo` adds: sample data, a replaying runner, a simulated cluster."""

    data: DemoData
    runner: DemoRunner
    cluster: DemoCluster = field(default_factory=DemoCluster)
    clock: Callable[[], float] = time.time

    @classmethod
    def create(
        cls, duration_s: float = 240.0, clock: Callable[[], float] = time.time
    ) -> DemoWiring:
        data = DemoData(sample_runs_dir())
        runner = DemoRunner(data.runs_dir, duration_s=duration_s, clock=clock)
        return cls(data=data, runner=runner, clock=clock)


class CockpitApp(App[None]):
    TITLE = "Lab Cockpit"
    CSS_PATH = str(themes_dir() / "cockpit.tcss")

    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(key, f"show_pane('{pane}')", title, id=f"pane.{pane}")
            for pane, title, key in PANES
        ),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("ctrl+p", "command_palette", "Palette", id="app.palette"),
        Binding("t", "triage", "Morning triage", id="app.triage"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(
        self,
        store: Store,
        *,
        demo: DemoWiring | None = None,
        gpu_source: GpuSource | None = None,
        theme: str | None = None,
        open_triage: bool = True,
    ) -> None:
        super().__init__()
        self.store = store
        self.demo = demo
        self.bus = CommandBus(store)
        self.run_backend: RunBackend | None = None
        self.run_handler: RunCommandHandler | None = None
        if demo is not None:
            self.run_backend = demo.runner
            self.run_handler = RunCommandHandler(
                store, demo.runner, lambda run: collect_run_results(store, demo.data, run.id)
            )
            self.bus.register("demo", DemoCommandHandler(store, self.run_handler, demo.cluster))
        self.gpu_source = gpu_source
        # Themes are set before the first frame so start-up styles the screen only once.
        for spec in load_themes(themes_dir()):
            self.register_theme(spec)
        self.theme = theme if theme in self.available_themes else DEFAULT_THEME
        self._runs: list[Run] = []
        self.ssh_pool: Any = None  # backends.ssh.SshPool, imported lazily
        self._gpu_history = GpuHistoryDownsampler()
        self._hosts: dict[str, Host] = {}
        self._gpu_batch: dict[str, HostSnapshot] = {}
        self._log_offsets: dict[str, int] = {}
        self._log_partial: dict[str, bytes] = {}
        # The Results view: which sweep (None: all), metric and baselines the pane shows;
        # the data snapshot is kept so a change of view recomputes without re-reading.
        self._results_data: ResultsData | None = None
        self._results_sweep: str | None = None
        self._results_metric: str | None = None
        self._results_baselines: dict[str, str] = {}
        self.export_root: Path | None = None  # `x` in Results exports under here (default ./)
        # Open on the morning triage when something finished or failed since the last look
        # (tests that drive the cockpit by key from the first frame turn it off).
        self.open_triage = open_triage
        self.loaded = asyncio.Event()

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Panes are held, not queried: a timer firing during teardown must find them.
        self.ideas_pane = IdeasPane(id="ideas-pane")
        self.gpu_pane = GpuPane(id="gpu-pane")
        self.runs_pane = RunsPane(id="runs-pane")
        self.results_pane = ResultsPane(id="results-pane")
        self.paper_pane = PaperPane(id="paper-pane")
        self.commands_pane = CommandsPane(id="commands-pane")
        yield Header()
        panes = {
            "ideas": self.ideas_pane,
            "gpus": self.gpu_pane,
            "runs": self.runs_pane,
            "results": self.results_pane,
            "paper": self.paper_pane,
            "commands": self.commands_pane,
        }
        with TabbedContent(initial="runs" if self.demo else "gpus", id="panes"):
            for pane_id, title, key in PANES:
                with TabPane(f"{key} {title}", id=pane_id):
                    # Every pane mounts just after the first frame is painted: the cockpit's
                    # frame shows at once and fills in as the data arrives.
                    yield Lazy(panes[pane_id])
        yield Footer()

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        self.sub_title = "demo" if self.demo else str(self.store.path)
        self.bus.subscribe(lambda command: self.refresh_commands())
        # Paint the frame first, then fill it: the user sees the cockpit at once.
        self.call_after_refresh(self.start_up)

    @work(group="startup", exit_on_error=False)
    async def start_up(self) -> None:
        interrupted = await self.bus.recover_interrupted()
        if interrupted:
            self.notify(
                f"{len(interrupted)} command(s) were interrupted by a previous crash and "
                "were not re-run; see Commands (6).",
                severity="warning",
                timeout=10,
            )
        if self.demo is not None:
            await asyncio.to_thread(seed_demo, self.store, self.demo.data, self.demo.clock())
            self.gpu_source = self.gpu_source or SimulatedGpuSource(
                [SimulatedHost("demo-a", A100), SimulatedHost("demo-b", H100)],
                busy=self._demo_busy_gpus,
            )
        self._hosts = {h.name: h for h in await asyncio.to_thread(self.store.list_hosts)}
        if self.gpu_source is None:
            await self._connect_real_hosts()
        await self.reload_all()
        if self.open_triage:
            try:
                await self._triage(only_news=True)
            except Exception as exc:  # the report is a convenience: start-up goes on
                self.notify(f"triage: {exc}", severity="error", timeout=10)
        self.loaded.set()
        if self.gpu_source is not None:
            self.stream_gpus(self.gpu_source)
            self.set_timer(GPU_FLUSH_S, self._flush_gpus)
            self.set_timer(GPU_HISTORY_S, self._save_gpu_history)
        if self.run_handler is not None:
            self.set_timer(RUN_POLL_S, self._poll_runs)
            self.set_timer(LOG_POLL_S, self._tail_log)

    # -- data loading --------------------------------------------------------------------

    async def reload_all(self) -> None:
        await asyncio.gather(
            self.reload_runs(),
            self.reload_ideas(),
            self.reload_paper(),
            self._reload_commands(),
        )

    async def reload_runs(self) -> None:
        runs = await asyncio.to_thread(self.store.list_runs)
        self._runs = runs
        self.runs_pane.show_runs(runs)
        await self.reload_results()

    async def reload_ideas(self) -> None:
        ideas = await asyncio.to_thread(self.store.list_ideas)
        self.ideas_pane.show_ideas(ideas)

    async def reload_paper(self) -> None:
        versions = await asyncio.to_thread(self.store.list_draft_versions)
        self.paper_pane.show_versions(versions)

    async def _reload_commands(self) -> None:
        commands = await asyncio.to_thread(self.store.list_commands)
        self.commands_pane.show_commands(commands)

    @work(group="commands", exclusive=True, exit_on_error=False)
    async def refresh_commands(self) -> None:
        await self._reload_commands()

    # -- GPUs ----------------------------------------------------------------------------

    def _demo_busy_gpus(self) -> dict[tuple[str, int], GpuProcess]:
        assert self.demo is not None
        return self.demo.cluster.busy_gpus(self._runs)

    @work(group="gpu-stream", exit_on_error=False)
    async def stream_gpus(self, source: GpuSource) -> None:
        # Samples are only buffered here; the pane is redrawn once per flush, not per sample.
        async for snapshot in source.stream():
            self._gpu_batch[snapshot.host] = snapshot

    async def _connect_real_hosts(self) -> None:
        hosts = [h for h in self._hosts.values() if h.kind is not HostKind.DEMO]
        if not hosts:
            self.gpu_pane.show_message(
                "No hosts yet. Add one: cockpit host add NAME --ssh user@address (or cockpit demo)"
            )
            return
        # asyncssh and its crypto take a while to import: do it off the event loop.
        remote = await asyncio.to_thread(importlib.import_module, "backends.gpu_remote")
        ssh = await asyncio.to_thread(importlib.import_module, "backends.ssh")
        self.ssh_pool = ssh.SshPool()
        self.gpu_source = remote.gpu_source_for(hosts, self.ssh_pool)
        killer = remote.GpuKillHandler(self.ssh_pool, hosts)
        for host in hosts:
            self.bus.register(host.name, killer)

    def _flush_gpus(self) -> None:
        if self._gpu_batch:
            batch, self._gpu_batch = self._gpu_batch, {}
            self.gpu_pane.apply_snapshots(batch.values())
            self._gpu_history.add(batch.values())
        self.set_timer(GPU_FLUSH_S, self._flush_gpus)

    async def _save_gpu_history(self) -> None:
        try:
            rows = self._gpu_history.drain(time.time())
            if rows:
                await asyncio.to_thread(self.store.add_gpu_samples, rows)
        finally:
            self.set_timer(GPU_HISTORY_S, self._save_gpu_history)

    def _backend_for(self, host: str) -> str:
        known = self._hosts.get(host)
        return "demo" if known is not None and known.kind is HostKind.DEMO else host

    @on(GpuPane.KillRequested)
    def _on_kill(self, event: GpuPane.KillRequested) -> None:
        host = self._hosts.get(event.host)
        if host is not None and host.read_only:
            self.notify(
                f"{event.host} is read-only: the cockpit never kills there.", severity="warning"
            )
            return
        p = event.process
        self._confirm_then_submit(
            f"Kill pid {p.pid} ({p.user or '?'}: {p.command or '?'}) on {event.host} "
            f"GPU {event.gpu_index}? It gets TERM, then KILL after {KILL_GRACE_S:.0f} s.",
            "gpus",
            "gpu.kill",
            {
                "host": event.host,
                "pid": p.pid,
                "gpu": event.gpu_index,
                "command": p.command,
                "grace_s": KILL_GRACE_S,
            },
            backend=self._backend_for(event.host),
        )

    # -- runs and logs -------------------------------------------------------------------

    async def _poll_runs(self) -> None:
        try:
            if self.run_handler is not None and await self.run_handler.poll_active():
                await self.reload_runs()
            elif self._runs:
                self.runs_pane.show_runs(self._runs)  # keep elapsed times moving
        finally:
            self.set_timer(RUN_POLL_S, self._poll_runs)

    async def _tail_log(self) -> None:
        try:
            await self._read_log_once()
        finally:
            self.set_timer(LOG_POLL_S, self._tail_log)

    async def _read_log_once(self) -> None:
        pane = self.runs_pane
        run_id = pane.log_run
        run = next((r for r in self._runs if r.id == run_id), None)
        if run is None or self.run_backend is None:
            return
        offset = self._log_offsets.get(run.id, 0)
        chunk = await self.run_backend.read_log(run, offset, LOG_CHUNK_BYTES)
        if not chunk.data:
            return
        self._log_offsets[run.id] = chunk.next_offset
        data = self._log_partial.pop(run.id, b"") + chunk.data
        text, sep, rest = data.rpartition(b"\n")
        if rest:
            self._log_partial[run.id] = rest
        if sep:
            pane.append_log(run.id, text.decode("utf-8", "replace").split("\n"))

    @on(RunsPane.RunSelected)
    def _on_run_selected(self, event: RunsPane.RunSelected) -> None:
        # The log view was cleared: read the run again from the start.
        self._log_offsets.pop(event.run_id, None)
        self._log_partial.pop(event.run_id, None)

    @on(RunsPane.CancelRequested)
    def _on_cancel(self, event: RunsPane.CancelRequested) -> None:
        self._confirm_then_submit(
            f"Cancel run {event.run_id}? Its process group gets TERM, then KILL.",
            "runs",
            "run.cancel",
            {"run_id": event.run_id},
        )

    @on(RunsPane.RelaunchRequested)
    def _on_relaunch(self, event: RunsPane.RelaunchRequested) -> None:
        self._confirm_then_submit(
            f"Relaunch run {event.run_id} with the same spec?",
            "runs",
            "run.relaunch",
            {"run_id": event.run_id},
        )

    def _confirm_then_submit(
        self,
        question: str,
        pane: str,
        kind: str,
        payload: dict[str, Any],
        backend: str | None = None,
    ) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.submit_command(pane, kind, payload, backend)

        self.push_screen(ConfirmScreen(question), answered)

    @work(group="bus", exit_on_error=False)
    async def submit_command(
        self, pane: str, kind: str, payload: dict[str, Any], backend: str | None = None
    ) -> None:
        backend = backend or ("demo" if self.demo else "local")
        command = await self.bus.submit(pane, backend, kind, payload)
        self._report(command)
        await self.reload_runs()

    def _report(self, command: Command) -> None:
        if command.error:
            self.notify(f"{command.kind} failed: {command.error}", severity="error")
        else:
            self.notify(f"{command.kind}: {command.status}")

    # -- commands pane -------------------------------------------------------------------

    @on(CommandsPane.ConfirmRequested)
    def _on_confirm_command(self, event: CommandsPane.ConfirmRequested) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.confirm_command(event.command_id)

        self.push_screen(
            ConfirmScreen(f"Run command #{event.command_id}, proposed by an LLM?"), answered
        )

    @work(group="bus", exit_on_error=False)
    async def confirm_command(self, command_id: int) -> None:
        try:
            command = await self.bus.confirm(command_id)
        except CommandError as exc:
            self.notify(str(exc), severity="error")
            return
        self._report(command)
        await self.reload_runs()

    @on(CommandsPane.RejectRequested)
    def _on_reject_command(self, event: CommandsPane.RejectRequested) -> None:
        self.reject_command(event.command_id)

    @work(group="bus", exit_on_error=False)
    async def reject_command(self, command_id: int) -> None:
        try:
            await self.bus.reject(command_id)
        except CommandError as exc:
            self.notify(str(exc), severity="error")

    # -- results -------------------------------------------------------------------------

    async def reload_results(self) -> None:
        """Re-read results from the store, then redraw the current view."""
        from cockpit.results import load_results_data

        self._results_data = await asyncio.to_thread(load_results_data, self.store)
        await self._show_results_view()

    async def _show_results_view(self) -> None:
        from cockpit.results import ResultsError, build_matrix

        data = self._results_data
        if data is None or not data.sweeps:
            return

        def build(metric: str | None) -> ResultsMatrix:
            return build_matrix(
                data, sweep=self._results_sweep, metric=metric, baselines=self._results_baselines
            )

        try:
            matrix = await asyncio.to_thread(build, self._results_metric)
        except ResultsError as exc:
            if self._results_metric is None:
                self.notify(str(exc), severity="error")
                return
            # The metric is not in this view (another sweep): fall back to its default one.
            self._results_metric = None
            matrix = await asyncio.to_thread(build, None)
        self.results_pane.show_results(matrix)

    @on(ResultsPane.MatrixRequested)
    def _on_matrix_requested(self, event: ResultsPane.MatrixRequested) -> None:
        self._results_sweep = event.sweep
        self._results_metric = event.metric
        if event.baseline is not None and self._results_data is not None:
            owner = next(
                (r.spec.sweep for r in self._results_data.runs if r.id == event.baseline), None
            )
            if owner is not None:
                self._results_baselines[owner] = event.baseline
        self.recompute_results()

    @work(group="results", exclusive=True, exit_on_error=False)
    async def recompute_results(self) -> None:
        await self._show_results_view()

    @on(ResultsPane.DetailRequested)
    def _on_result_detail(self, event: ResultsPane.DetailRequested) -> None:
        self.show_result_detail(event.matrix, event.group, event.config, event.metric)

    @work(group="results-detail", exclusive=True, exit_on_error=False)
    async def show_result_detail(
        self, matrix: ResultsMatrix, group: SweepResults, config: ConfigResult, metric: str
    ) -> None:
        # The learning curves need the store: the metric's own series and a training loss.
        baseline = next((c for c in group.configs if c.is_baseline), None)
        run_ids = [config.run_ids[0], *([baseline.run_ids[0]] if baseline else [])]
        names = [metric, *[m for m in matrix.metrics if "loss" in m.lower()][:1]]
        series = await asyncio.to_thread(self.store.metric_series_for_runs, run_ids, names)
        self.push_screen(ResultDetailScreen(ResultDetail(matrix, group, config, metric, series)))

    @on(ResultsPane.ExportRequested)
    def _on_export_requested(self, event: ResultsPane.ExportRequested) -> None:
        self.export_results(event.sweep, event.metric, event.baseline)

    @work(group="results-export", exclusive=True, exit_on_error=False)
    async def export_results(self, sweep: str, metric: str | None, baseline: str | None) -> None:
        from cockpit.export import export_sweep  # matplotlib comes with it, on first export

        out = (self.export_root or Path.cwd() / "cockpit-export") / sweep
        written = await asyncio.to_thread(
            export_sweep, self.store, out, sweep=sweep, figure_metric=metric, baseline=baseline
        )
        self.notify(f"exported {len(written)} files to {out}", timeout=8)

    # -- paper ---------------------------------------------------------------------------

    @on(PaperPane.VersionSelected)
    def _on_version_selected(self, event: PaperPane.VersionSelected) -> None:
        self.show_version_diff(event.draft, event.version)

    @work(group="paper", exclusive=True, exit_on_error=False)
    async def show_version_diff(self, draft: str, version: int) -> None:
        versions = await asyncio.to_thread(self.store.list_draft_versions, draft)
        by_number = {v.version: v for v in versions}
        new = by_number.get(version)
        if new is None:
            return
        old = max(
            (v for v in versions if v.version < version), key=lambda v: v.version, default=None
        )
        lines = await asyncio.to_thread(version_diff, old, new)
        title = f"{draft} v{version} vs {'v' + str(old.version) if old else 'nothing'}"
        self.paper_pane.show_diff(title, lines)

    # -- morning triage ------------------------------------------------------------------

    def action_triage(self) -> None:
        self.show_triage()

    @work(group="triage", exclusive=True, exit_on_error=False)
    async def show_triage(self) -> None:
        await self._triage(only_news=False)

    async def _triage(self, only_news: bool) -> None:
        """The report since the last look, built in a thread, over the cockpit; closing it
        (or going on to Results with r) records the look, as `cockpit triage` does."""
        from cockpit.render.triage import triage_renderable
        from cockpit.triage import build_triage

        if isinstance(self.screen, TriageScreen):
            return
        now, first = time.time(), None
        if self.demo is not None:
            # The demo's runs ran one night, whenever that was: a first look starts there.
            now = self.demo.clock()
            first = min((r.started_at for r in self._runs if r.started_at), default=None)
        report = await asyncio.to_thread(
            build_triage, self.store, now=now, data=self._results_data, first_since=first
        )
        if only_news and not report.news:
            return

        def closed(choice: str | None) -> None:
            self.save_look(report.until)
            if choice == "results":
                self.action_show_pane("results")

        body = await asyncio.to_thread(triage_renderable, report)
        await self.push_screen(TriageScreen(report, body), closed)

    @work(group="settings", exit_on_error=False)
    async def save_look(self, when: float) -> None:
        from cockpit.triage import mark_looked

        await asyncio.to_thread(mark_looked, self.store, when)

    # -- navigation, help, palette, themes -----------------------------------------------

    def action_show_pane(self, pane: str) -> None:
        self.query_one(TabbedContent).active = pane
        self._focus_pane(pane)

    @on(TabbedContent.TabActivated)
    def _on_tab(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id:
            self._focus_pane(event.pane.id)

    def _focus_pane(self, pane: str) -> None:
        # Focus the pane's main table so its keys work without a mouse.
        tab = self.query_one(f"#{pane}", TabPane)
        tables = tab.query("DataTable")
        if tables:
            tables.first().focus()

    @property
    def active_pane(self) -> str:
        return str(self.query_one(TabbedContent).active)

    def binding_rows(self) -> list[BindingRow]:
        rows: list[BindingRow] = []
        seen: set[tuple[str, str]] = set()

        def add(bindings: Iterable[BindingType], scope: str) -> None:
            for b in bindings:
                if not isinstance(b, Binding) or not b.description:
                    continue
                key = b.key.replace("question_mark", "?")
                if (key, scope) not in seen:
                    seen.add((key, scope))
                    rows.append(BindingRow(key, b.description, scope))

        add(self.BINDINGS, "everywhere")
        panes = (
            ("GPUs", GpuPane),
            ("Runs+Logs", RunsPane),
            ("Results", ResultsPane),
            ("Commands", CommandsPane),
            ("Triage", TriageScreen),
        )
        for scope, cls in panes:
            add(cls.BINDINGS, scope)
        rows.append(BindingRow("tab / shift+tab", "Move focus", "everywhere"))
        rows.append(BindingRow("↑ ↓ enter", "Move in a table, select", "tables"))
        return rows

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.binding_rows()))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for pane, title, key in PANES:
            yield SystemCommand(
                f"Go to {title}",
                f"Show the {title} pane (key {key})",
                lambda pane=pane: self.action_show_pane(pane),
            )
        for theme in load_themes(themes_dir()):
            yield SystemCommand(
                f"Theme: {theme.name}",
                "Switch theme (remembered)",
                lambda name=theme.name: setattr(self, "theme", name),
            )
        yield SystemCommand(
            "Morning triage",
            "What finished or failed since the last look, and the verdicts (key t)",
            self.action_triage,
        )
        yield SystemCommand("Help: keys", "List every key binding", self.action_help)

    def _remember_theme(self, theme: Theme) -> None:
        self.save_setting(THEME_SETTING, theme.name)

    @work(group="settings", exit_on_error=False)
    async def save_setting(self, key: str, value: Any) -> None:
        await asyncio.to_thread(self.store.set_setting, key, value)

    # -- errors and shutdown -------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place a failed worker is reported: one line, never a traceback."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            self.notify(f"{event.worker.group}: {error}", severity="error", timeout=10)
            self.log.error(f"worker {event.worker.name} failed: {error!r}")

    async def on_unmount(self) -> None:
        if self.gpu_source is not None:
            await self.gpu_source.close()
        if self.ssh_pool is not None:
            await self.ssh_pool.close()
