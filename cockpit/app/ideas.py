"""The idea queue: editing by hand, generation by an LLM (estimated, confirmed, streamed,
cancellable) and sweep proposals that wait in Commands for a person's yes."""

from __future__ import annotations

import asyncio
import dataclasses

from cockpit.app.controller import Controller, RequestHandler, Shell, report_command
from cockpit.bus import CommandBus
from cockpit.ideas import (
    SWEEP_PROPOSAL_KIND,
    estimate_generation,
    move,
    read_context_file,
    sweep_proposal_payload,
    sweep_spec_template,
)
from cockpit.llm_jobs import JobProgress, LlmCommandHandler
from cockpit.models import Idea, IdeaStatus
from cockpit.ports import LlmClient
from cockpit.registry import DEMO, host_target, llm_target
from cockpit.store import Store
from cockpit.validate import ValidationError, valid_count, valid_name, valid_title
from widgets.ideas import IdeasPane
from widgets.requests import PaneRequest

PANE = "ideas"


class IdeasController(Controller):
    def __init__(
        self,
        store: Store,
        bus: CommandBus,
        pane: IdeasPane,
        shell: Shell,
        llm: LlmCommandHandler,
        client: LlmClient,
    ) -> None:
        self.store = store
        self.bus = bus
        self.pane = pane
        self.shell = shell
        self.llm = llm
        self.client = client
        self.job: int | None = None  # the command id of the generation in flight
        llm.watch(self._on_progress)

    def routes(self) -> dict[type[PaneRequest], RequestHandler]:
        return {
            IdeasPane.SaveRequested: self._on_save,
            IdeasPane.DeleteRequested: self._on_delete,
            IdeasPane.GenerateRequested: self._on_generate,
            IdeasPane.CancelRequested: self._on_cancel,
            IdeasPane.ProposeRequested: self._on_propose,
        }

    async def load(self) -> None:
        self.pane.show_ideas(await asyncio.to_thread(self.store.list_ideas))

    # -- editing -------------------------------------------------------------------------

    def _on_save(self, request: IdeasPane.SaveRequested) -> None:
        original, values = request.original, request.values

        async def save() -> None:
            try:
                idea = edited_idea(original, values)
            except ValidationError as exc:
                self.shell.notify(str(exc), severity="error")
                return
            if original is None:
                await asyncio.to_thread(self.store.add_idea, idea)
            else:
                await asyncio.to_thread(self.store.save_idea, idea)
            await self.load()

        self.shell.start(save, group="ideas")

    def _on_delete(self, request: IdeasPane.DeleteRequested) -> None:
        name = request.name

        async def delete() -> None:
            await asyncio.to_thread(self.store.remove_idea, name)
            await self.load()

        self.shell.confirm(f"Delete idea {name}?", lambda: self.shell.start(delete, group="ideas"))

    # -- generation ----------------------------------------------------------------------

    def _on_generate(self, request: IdeasPane.GenerateRequested) -> None:
        values = request.values

        async def estimate() -> None:
            try:
                name = valid_name(values["llm"].strip(), "LLM backend name")
                n = valid_count(values["n"], "n", 1, 50)
                rounds = valid_count(values["reflections"], "reflections", 0, 10)
                context = await asyncio.to_thread(read_context_file, values["context"])
            except ValidationError as exc:
                self.shell.notify(str(exc), severity="error")
                return
            backend = await asyncio.to_thread(self.store.get_llm_backend, name)
            titles = [i.title for i in await asyncio.to_thread(self.store.list_ideas)]
            self.pane.start_generation("estimating the cost (loading litellm)…")
            cost = await estimate_generation(self.client, backend, context, titles, n, rounds)
            self.pane.end_generation("")
            payload = {"context": context, "n": n, "reflections": rounds}
            self.shell.confirm(
                f"Generate {n} idea(s) with {rounds} reflection round(s) on {name}?\n"
                f"{cost.describe()}",
                lambda: self.shell.start(lambda: self._generate(name, payload), group="llm"),
            )

        self.shell.start(estimate, group="ideas")

    async def _generate(self, backend: str, payload: dict[str, object]) -> None:
        self.pane.start_generation(f"generating on {backend}… (esc cancels)")
        try:
            command = await self.bus.submit(PANE, llm_target(backend), "llm.generate", payload)
        finally:
            self.job = None
        result = command.result or {}
        if command.error:
            self.pane.end_generation(f"stopped: {command.error}")
        else:
            added = len(result.get("ideas", []))
            problems = len(result.get("problems", []))
            self.pane.end_generation(
                f"{added} idea(s) added, {problems} answer(s) unusable (see Commands), "
                f"${result.get('cost_usd', 0):.4f}"
            )
        report_command(self.shell, command)
        await self.load()

    def _on_progress(self, event: JobProgress) -> None:
        if event.command.pane != PANE:
            return
        self.job = event.command.id
        if event.delta:
            self.pane.stream_text(event.delta)
        elif event.message:
            done = f" [{event.calls_done}/{event.calls_total} calls]" if event.calls_total else ""
            self.pane.show_progress(f"{event.message}{done} (esc cancels)")

    def _on_cancel(self, request: IdeasPane.CancelRequested) -> None:
        if self.job is not None and self.llm.cancel(self.job):
            self.pane.show_progress("cancelling…")

    # -- idea -> sweep -------------------------------------------------------------------

    def _on_propose(self, request: IdeasPane.ProposeRequested) -> None:
        name = request.name

        async def propose() -> None:
            idea = await asyncio.to_thread(self.store.get_idea, name)
            if idea.status != IdeaStatus.APPROVED:
                self.shell.notify(
                    f"{name} is {idea.status}: approve it first (e, status approved)",
                    severity="warning",
                )
                return
            hosts = await asyncio.to_thread(self.store.list_hosts)
            host = hosts[0] if hosts else None
            spec = sweep_spec_template(idea, host.name if host else None)
            command = await self.bus.submit(
                PANE,
                host_target(host) if host else DEMO,
                SWEEP_PROPOSAL_KIND,
                sweep_proposal_payload(idea, spec),
                confirm_first=True,
            )
            self.shell.notify(
                f"sweep for {name} proposed as command #{command.id}: confirm it in "
                "Commands (6, y); nothing runs before"
            )

        self.shell.start(propose, group="ideas")


def edited_idea(original: Idea | None, values: dict[str, str]) -> Idea:
    """The idea a person's form describes, validated field by field."""
    title = valid_title(values.get("title", ""))
    priority = valid_count(values.get("priority", "0") or "0", "priority", -100, 100)
    if original is None:
        name = valid_name(values.get("name", "").strip(), "idea name")
        return Idea(name, title, values.get("experiment", ""), priority=priority)
    notes = values.get("notes", original.notes.replace("\n", " · ")).replace(" · ", "\n")
    edited = dataclasses.replace(
        original,
        title=title,
        experiment=values.get("experiment", original.experiment),
        priority=priority,
        notes=notes,
    )
    return move(edited, values.get("status", str(original.status)).strip())
