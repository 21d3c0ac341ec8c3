"""CockpitApp: the shell. Layout, navigation, palette, themes and the one error funnel.

The shell holds no feature state: each pane has a controller (given the store, the bus and
its pane, never the App) and every request a pane posts is routed to its controller by
type. Everything that touches SQLite runs in a thread and everything remote is async, so the
event loop never waits on I/O. A failed worker or timer is reported in one place.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.lazy import Lazy
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.theme import Theme
from textual.widgets import Footer, Header, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from cockpit.app.collector import IdleCollector
from cockpit.app.controller import Controller, RequestHandler, Severity, Work
from cockpit.app.themes import DEFAULT_THEME, THEME_SETTING, load_themes, themes_dir
from cockpit.bus import CommandBus
from cockpit.models import Run
from cockpit.ports import GpuSource
from cockpit.registry import CommandRegistry
from cockpit.store import Store
from widgets.commands import CommandsPane
from widgets.dialogs import BindingRow, ConfirmScreen, HelpScreen
from widgets.gpu import GpuPane
from widgets.ideas import IdeasPane
from widgets.paper import PaperPane
from widgets.requests import PaneRequest
from widgets.results import ResultsPane
from widgets.runs import RunsPane
from widgets.triage import TriageScreen

if TYPE_CHECKING:
    from cockpit.app.demo import DemoWiring

GC_TICK_S = 1.0  # how often the idle collector looks

# The controllers and what they bring (statistics wiring, runners, LLM jobs, LaTeX) load in
# a thread after the first frame is painted: the cockpit shows at once, then fills in.
CONTROLLER_MODULES = (
    "cockpit.app.ask",
    "cockpit.app.commands",
    "cockpit.app.gpus",
    "cockpit.app.ideas",
    "cockpit.app.paper",
    "cockpit.app.results",
    "cockpit.app.runs",
    "cockpit.app.triage",
    "backends.literature",
    "backends.llm",
    "backends.runners.by_kind",
    "cockpit.paths",
    "cockpit.demo",
    "cockpit.ideas",
    "cockpit.runs",
)


def import_controller_modules() -> None:
    for name in CONTROLLER_MODULES:
        importlib.import_module(name)


# Key names as the help shows them: the character the user types.
KEY_SHOWN = {
    "question_mark": "?",
    "plus": "+",
    "minus": "-",
    "right_square_bracket": "]",
    "left_square_bracket": "[",
}
# (tab id, title, key): the order is the number-key order.
PANES: tuple[tuple[str, str, str], ...] = (
    ("ideas", "Ideas", "1"),
    ("gpus", "GPUs", "2"),
    ("runs", "Runs+Logs", "3"),
    ("results", "Results", "4"),
    ("paper", "Paper", "5"),
    ("commands", "Commands", "6"),
)

# Keys that work on every screen, the morning triage included (it closes, then they act).
GLOBAL_KEYS = frozenset({*(key for _, _, key in PANES), "question_mark", "ctrl+p"})


class ShellServices:
    """The Shell a controller gets: a few services of the app, not the app itself."""

    def __init__(self, app: CockpitApp) -> None:
        self._app = app

    def notify(
        self, message: str, *, severity: Severity = "information", timeout: float | None = None
    ) -> None:
        self._app.notify(message, severity=severity, timeout=timeout)

    def confirm(self, question: str, then: Callable[[], object]) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                then()

        self._app.push_screen(ConfirmScreen(question), answered)

    async def push(
        self, screen: Screen[Any], closed: Callable[[Any], object] | None = None
    ) -> None:
        await self._app.push_screen(screen, closed)

    def start(self, work: Work, *, group: str, exclusive: bool = False) -> None:
        async def run() -> object:
            return await work()

        self._app.run_worker(run, group=group, exclusive=exclusive, exit_on_error=False)

    def every(self, seconds: float, tick: Work) -> None:
        # Chained, not an interval: a slow tick never piles up behind itself (dolphie's way).
        # The tick runs as a worker: a timer's callback is awaited in the app's message
        # loop, and a poll that takes a second there holds every key pressed meanwhile.
        async def run() -> None:
            try:
                await tick()
            except Exception as exc:
                self._app.report_failure(getattr(tick, "__name__", "timer"), exc)
            finally:
                self._app.set_timer(seconds, fire)

        def fire() -> None:
            self._app.run_worker(run, group="every", exit_on_error=False)

        self._app.set_timer(seconds, fire)

    def show_pane(self, pane: str) -> None:
        self._app.action_show_pane(pane)

    def press(self, key: str) -> None:
        # After the refresh: the screen that passed the key on is gone by then.
        self._app.call_after_refresh(self._app.simulate_key, key)

    def bell(self) -> None:
        self._app.bell()


class CockpitApp(App[None]):
    TITLE = "Lab Cockpit"
    CSS_PATH = str(themes_dir() / "cockpit.tcss")

    BINDINGS: ClassVar[list[BindingType]] = [
        # The tabs show the pane keys and the footer's right end the palette: the footer
        # leaves them out so that a pane's own keys and help fit in 80 columns.
        *(
            Binding(key, f"show_pane('{pane}')", title, id=f"pane.{pane}", show=False)
            for pane, title, key in PANES
        ),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("ctrl+p", "command_palette", "Palette", id="app.palette", show=False),
        Binding("t", "triage", "Triage", id="app.triage", tooltip="Morning triage"),
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
        self.bus = CommandBus(store, CommandRegistry())
        self._gpu_source = gpu_source
        self._ssh_pool: Any = None  # backends.ssh.connection.SshPool, see ssh_pool()
        # Themes are set before the first frame so start-up styles the screen only once.
        for spec in load_themes():
            self.register_theme(spec)
        self.theme = theme if theme in self.available_themes else DEFAULT_THEME
        # Open on the morning triage when something finished or failed since the last look
        # (tests that drive the cockpit by key from the first frame turn it off).
        self.open_triage = open_triage
        self.loaded = asyncio.Event()
        self.collector = IdleCollector()
        self._routes: dict[type[PaneRequest], RequestHandler] = {}
        self.controllers: list[Controller] = []  # wired once the first frame is painted
        self.export_root: Path | None = None  # `x` in Results exports under here (default ./)

    # -- layout and wiring ---------------------------------------------------------------

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
        yield Footer(compact=True)

    def ssh_pool(self) -> Any:
        """The one SshPool (one connection per host) GPUs and runs share, made on first
        use: asyncssh is slow to import and a cockpit with only local hosts never needs it."""
        if self._ssh_pool is None:
            from backends.ssh.connection import SshPool

            self._ssh_pool = SshPool()
        return self._ssh_pool

    def _wire_controllers(self) -> None:
        # Imported by import_controller_modules in a thread already: these are lookups.
        from backends.literature import literature_clients
        from backends.llm import LitellmClient
        from backends.runners.by_kind import run_backends
        from cockpit.app.ask import AskController
        from cockpit.app.commands import CommandsController
        from cockpit.app.gpus import GpusController
        from cockpit.app.ideas import IdeasController
        from cockpit.app.paper import PaperController
        from cockpit.app.results import ResultsController
        from cockpit.app.runs import RunsController
        from cockpit.app.triage import TriageController
        from cockpit.demo import collect_run_results
        from cockpit.ideas import wire_llm
        from cockpit.paths import data_dir
        from cockpit.runs import RunCommandHandler

        shell, store, bus, demo = ShellServices(self), self.store, self.bus, self.demo
        run_handler = RunCommandHandler(
            store,
            demo.run_backends()
            if demo
            else run_backends(store.get_host, self.ssh_pool, data_dir()),
            (lambda run: collect_run_results(store, demo.data, run.id)) if demo else None,
        )
        bus.registry.register("run", run_handler)
        if demo is not None:
            demo.register(bus.registry, store, run_handler)
        self.runs = RunsController(
            store, bus, self.runs_pane, shell, run_handler, demo.clock if demo else time.time
        )
        self.gpus = GpusController(
            store, bus, self.gpu_pane, shell, self._gpu_source, ssh_pool=self.ssh_pool
        )
        self.results = ResultsController(store, self.results_pane, shell, self.export_root)
        self.triage = TriageController(
            store, shell, self.runs, self.results, demo.clock if demo else None, GLOBAL_KEYS
        )
        client = LitellmClient()  # litellm itself is imported on the first LLM call
        llm = wire_llm(bus.registry, store, client, literature_clients())
        self.ideas = IdeasController(store, bus, self.ideas_pane, shell, llm, client)
        self.ask = AskController(store, bus, shell, llm, client, run_handler)
        self.controllers = [
            self.gpus,
            self.runs,
            self.results,
            self.triage,
            PaperController(store, bus, self.paper_pane, shell, llm, client),
            CommandsController(store, bus, self.commands_pane, shell),
            self.ideas,
            self.ask,
        ]
        for controller in self.controllers:
            self._routes.update(controller.routes())

        async def runs_changed(runs: list[Run]) -> None:
            await self.results.reload()

        self.runs.on_runs_changed(runs_changed)

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        self.sub_title = "demo" if self.demo else str(self.store.path)
        # Paint the frame first, then fill it: the user sees the cockpit at once.
        self.call_after_refresh(self.start_up)

    def start_up(self) -> None:
        self.run_worker(self._start_up, group="startup", exit_on_error=False)

    async def _start_up(self) -> None:
        await asyncio.to_thread(import_controller_modules)
        self._wire_controllers()
        interrupted = await self.bus.recover_interrupted()
        if interrupted:
            self.notify(
                f"{len(interrupted)} command(s) were interrupted by a previous crash and "
                "were not re-run; see Commands (6).",
                severity="warning",
                timeout=10,
            )
        if self.demo is not None:
            await self.demo.seed(self.store)
            if self.gpus.source is None:
                self.gpus.source = self.demo.gpu_source(lambda: self.runs.runs)
        await self.gpus.load()
        await asyncio.gather(*(c.load() for c in self.controllers if c is not self.gpus))
        if self.open_triage:
            try:
                await self.triage.open(only_news=True)
            except Exception as exc:  # the report is a convenience: start-up goes on
                self.notify(f"triage: {exc}", severity="error", timeout=10)
        # What start-up built lives as long as the app: out of the collector's walks.
        self.collector.start()
        self.set_interval(GC_TICK_S, self.collector.tick, name="idle-collector")
        self.loaded.set()
        for controller in self.controllers:
            controller.start()

    @on(PaneRequest)
    def _route_request(self, request: PaneRequest) -> None:
        handler = self._routes.get(type(request))
        if handler is not None:
            handler(request)

    # -- navigation, help, palette, themes -----------------------------------------------

    def action_triage(self) -> None:
        if self.loaded.is_set() and not isinstance(self.screen, TriageScreen):
            self.triage.show()

    def action_show_pane(self, pane: str) -> None:
        self.query_one(TabbedContent).active = pane
        self._focus_pane(pane)

    @on(TabbedContent.TabActivated)
    def _on_tab(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id:
            self._focus_pane(event.pane.id)

    def _focus_pane(self, pane: str) -> None:
        # Focus the pane's main table so its keys work without a mouse.
        tables = self.query_one(f"#{pane}", TabPane).query("DataTable")
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
                key = ",".join(KEY_SHOWN.get(k, k) for k in b.key.split(","))
                if (key, scope) not in seen:
                    seen.add((key, scope))
                    # The footer's short word, or the longer tooltip where there is one.
                    rows.append(BindingRow(key, b.tooltip or b.description, scope))

        add(self.BINDINGS, "everywhere")
        panes = (
            ("Ideas", IdeasPane),
            ("GPUs", GpuPane),
            ("Runs+Logs", RunsPane),
            ("Results", ResultsPane),
            ("Paper", PaperPane),
            ("Commands", CommandsPane),
            ("Triage", TriageScreen),
        )
        for scope, cls in panes:
            add(cls.BINDINGS, scope)
        rows.append(BindingRow("tab / shift+tab", "Move focus", "everywhere"))
        rows.append(BindingRow("↑ ↓ enter", "Move in a table, select", "tables"))
        return rows

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """A toast, always as plain text: messages quote errors, paths, hosts and run names,
        whose brackets are not markup (`[/scratch/x]` would even stop the app)."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

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
        for theme in load_themes():
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
        yield SystemCommand(
            "LLM usage",
            "What the LLM calls cost per day, pane, idea and backend (key u in Ideas)",
            self.ideas_pane.action_usage,
        )
        yield SystemCommand("Help: keys", "List every key binding", self.action_help)

    def _remember_theme(self, theme: Theme) -> None:
        async def save() -> None:
            await asyncio.to_thread(self.store.set_setting, THEME_SETTING, theme.name)

        ShellServices(self).start(save, group="settings")

    # -- errors and shutdown -------------------------------------------------------------

    def report_failure(self, where: str, error: BaseException) -> None:
        """The one place a failure is reported: one line, never a traceback."""
        self.notify(f"{where}: {error}", severity="error", timeout=10)
        self.log.error(f"{where} failed: {error!r}")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.report_failure(event.worker.group, event.worker.error)

    async def on_unmount(self) -> None:
        for controller in self.controllers:
            await controller.close()
        self.collector.stop()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):  # (every key reaches the app first)
            self.collector.key_pressed()
        await super().on_event(event)
