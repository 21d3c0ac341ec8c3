"""Ask about what is on screen: A in Runs explains the selected run's failure, A in Results
summarizes the matrix shown. The backend is the pane's default; the cost is estimated and
confirmed before anything is sent; the answer streams into a panel, escape cancels it, and
the numbers it quotes are checked against the data the model was given."""

from __future__ import annotations

import asyncio
import os

from cockpit.app.controller import Controller, RequestHandler, Shell
from cockpit.bus import CommandBus, CommandError
from cockpit.llm_jobs import (
    AskPlan,
    JobProgress,
    LlmCommandHandler,
    default_backend,
    explain_plan,
    missing_key,
    read_failure_log,
    summarize_plan,
    unverified_spans,
)
from cockpit.models import RunState
from cockpit.ports import LlmClient
from cockpit.registry import llm_target
from cockpit.render.llm import cost_line
from cockpit.runs import RunCommandHandler
from cockpit.store import NotFoundError, Store
from cockpit.validate import ValidationError
from widgets.llm_answer import AnswerScreen
from widgets.requests import PaneRequest
from widgets.results import ResultsPane
from widgets.runs import RunsPane

NOT_FAILED = (RunState.SUCCEEDED, RunState.QUEUED, RunState.STARTING)


class AskController(Controller):
    def __init__(
        self,
        store: Store,
        bus: CommandBus,
        shell: Shell,
        llm: LlmCommandHandler,
        client: LlmClient,
        runs: RunCommandHandler,
    ) -> None:
        self.store = store
        self.bus = bus
        self.shell = shell
        self.llm = llm
        self.client = client
        self.runs = runs
        self.screen: AnswerScreen | None = None  # the answer in flight
        self.pane = ""  # the pane whose question it answers
        self.last_question = ""  # what the last confirm asked (the estimate with it)
        llm.watch(self._on_progress)

    def routes(self) -> dict[type[PaneRequest], RequestHandler]:
        return {
            RunsPane.ExplainRequested: self._on_explain,
            ResultsPane.SummarizeRequested: self._on_summarize,
            AnswerScreen.CancelRequested: self._on_cancel,
        }

    def _on_explain(self, request: RunsPane.ExplainRequested) -> None:
        run_id = request.run_id

        async def plan() -> AskPlan | None:
            run = await asyncio.to_thread(self.store.get_run, run_id)
            if run.state in NOT_FAILED:
                self.shell.notify(f"run {run_id} is {run.state}: A explains a failure")
                return None
            try:
                backend = await self.runs.backend_for(run)
            except CommandError as exc:
                self.shell.notify(f"run {run_id}: {exc}", severity="error")
                return None
            log = await read_failure_log(lambda at, size: backend.read_log(run, at, size))
            return explain_plan(run, log)

        self.shell.start(lambda: self._ask_about("runs", plan), group="ask")

    def _on_summarize(self, request: ResultsPane.SummarizeRequested) -> None:
        matrix = request.matrix

        async def plan() -> AskPlan | None:
            from cockpit.render.results import to_text

            sweeps = ", ".join(g.name for g in matrix.sweeps) or "no sweep"
            return summarize_plan(sweeps, await asyncio.to_thread(to_text, matrix))

        self.shell.start(lambda: self._ask_about("results", plan), group="ask")

    async def _ask_about(self, pane: str, make_plan: object) -> None:
        if self.screen is not None:
            self.shell.notify("an answer is still coming: esc cancels it", severity="warning")
            return
        try:
            name = await asyncio.to_thread(default_backend, self.store, pane)
            backend = await asyncio.to_thread(self.store.get_llm_backend, name)
        except (ValidationError, NotFoundError) as exc:
            self.shell.notify(str(exc), severity="error")
            return
        unusable = missing_key(backend, os.environ)
        if unusable:
            self.shell.notify(unusable, severity="error")
            return
        plan = await make_plan()  # type: ignore[operator]
        if plan is None:
            return
        self.shell.notify(f"estimating the cost on {name}…", timeout=3)
        estimate = await plan.estimate(self.client, backend)
        self.last_question = f"Ask {name} to {plan.what}?\n{estimate.describe()}"
        self.shell.confirm(
            self.last_question,
            lambda: self.shell.start(lambda: self._ask(pane, name, plan), group="llm"),
        )

    async def _ask(self, pane: str, name: str, plan: AskPlan) -> None:
        screen = AnswerScreen(f"{name}: {plan.what}")
        self.screen, self.pane = screen, pane
        await self.shell.push(screen)
        try:
            command = await self.bus.submit(pane, llm_target(name), "llm.ask", plan.payload())
        finally:
            self.screen = None
        result = command.result or {}
        if command.error:
            screen.fail(command.error)
            return
        text = str(result.get("text", ""))
        screen.finish(text, unverified_spans(text, plan.data), cost_line(result))

    def _on_progress(self, event: JobProgress) -> None:
        screen = self.screen
        if screen is not None and event.delta and event.command.pane == self.pane:
            screen.append(event.delta)

    def _on_cancel(self, request: AnswerScreen.CancelRequested) -> None:
        if self.screen is not None:
            self.llm.cancel_pane(self.pane)
