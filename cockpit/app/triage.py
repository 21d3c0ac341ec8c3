"""The morning triage over the cockpit: built in a thread, shown when there is news."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection

from cockpit.app.controller import Controller, Shell
from cockpit.app.results import ResultsController
from cockpit.app.runs import RunsController
from cockpit.store import Store
from widgets.triage import TriageScreen


class TriageController(Controller):
    def __init__(
        self,
        store: Store,
        shell: Shell,
        runs: RunsController,
        results: ResultsController,
        clock: Callable[[], float] | None = None,
        global_keys: Collection[str] = (),
    ) -> None:
        self.store = store
        self.global_keys = global_keys  # close the triage, then act as on any screen
        self.shell = shell
        self.runs = runs
        self.results = results
        # The demo's runs ran one night, whenever that was: its clock replaces the wall's.
        self.clock = clock
        self.showing = False

    def show(self) -> None:
        self.shell.start(lambda: self.open(only_news=False), group="triage", exclusive=True)

    async def open(self, only_news: bool) -> None:
        """The report since the last look, over the cockpit; closing it (or going on to
        Results with r) records the look, as `cockpit triage` does."""
        from cockpit.render.triage import triage_renderable
        from cockpit.triage import build_triage

        if self.showing:
            return
        now, first = time.time(), None
        if self.clock is not None:
            now = self.clock()
            first = min((r.started_at for r in self.runs.runs if r.started_at), default=None)
        report = await asyncio.to_thread(
            build_triage, self.store, now=now, data=self.results.data, first_since=first
        )
        if only_news and not report.news:
            return

        def closed(choice: str | None) -> None:
            self.showing = False
            self.shell.start(lambda: self._save_look(report.until), group="settings")
            if choice == "results":
                self.shell.show_pane("results")
            elif choice and choice.startswith("key:"):
                self.shell.press(choice.removeprefix("key:"))

        body = await asyncio.to_thread(triage_renderable, report)
        self.showing = True
        await self.shell.push(TriageScreen(report, body, self.global_keys), closed)

    async def _save_look(self, when: float) -> None:
        from cockpit.triage import mark_looked

        await asyncio.to_thread(mark_looked, self.store, when)
