"""The idea queue: editing by hand; generation and novelty checks by an LLM (estimated,
confirmed, streamed, cancellable); sweep proposals that wait in Commands for a person's
yes; and what the LLM calls have cost."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Awaitable, Callable
from typing import Any

from cockpit.app.controller import (
    Controller,
    RequestHandler,
    Shell,
    job_progress_line,
    report_command,
)
from cockpit.bus import CommandBus
from cockpit.ideas import (
    SWEEP_PROPOSAL_KIND,
    estimate_check,
    estimate_generation,
    estimate_proposal,
    move,
    read_context_file,
    sweep_proposal_payload,
    sweep_spec_template,
)
from cockpit.llm_jobs import (
    DEFAULT_SETTING,
    JobProgress,
    LlmCommandHandler,
    default_backend,
    missing_key,
    usage_report,
)
from cockpit.models import Command, CostEstimate, Host, Idea, IdeaStatus
from cockpit.ports import LlmClient
from cockpit.registry import DEMO, host_target, llm_target
from cockpit.render.llm import usage_tables
from cockpit.store import NotFoundError, Store
from cockpit.validate import ValidationError, valid_count, valid_name, valid_title
from widgets.ideas import IdeasPane, SpecEditScreen, UsageScreen
from widgets.requests import PaneRequest

PANE = "ideas"
LITERATURE_SOURCES = ("semantic_scholar", "openalex")
PANE_DEFAULT = f"{DEFAULT_SETTING}.{PANE}"


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
        llm.watch(self._on_progress)

    def routes(self) -> dict[type[PaneRequest], RequestHandler]:
        return {
            IdeasPane.SaveRequested: self._on_save,
            IdeasPane.DeleteRequested: self._on_delete,
            IdeasPane.GenerateRequested: self._on_generate,
            IdeasPane.CancelRequested: self._on_cancel,
            IdeasPane.ProposeRequested: self._on_propose,
            IdeasPane.CheckRequested: self._on_check,
            IdeasPane.UsageRequested: self._on_usage,
        }

    async def load(self) -> None:
        self.pane.show_ideas(await asyncio.to_thread(self.store.list_ideas))
        try:
            self.pane.default_llm = await asyncio.to_thread(default_backend, self.store, PANE)
        except ValidationError:
            self.pane.default_llm = ""

    async def _backend_named(self, typed: str) -> str:
        """The backend a form names, or the pane's default when left empty. A name typed
        there becomes the pane's default: the next form offers it. A backend whose key is
        not set is refused here, before any estimate."""
        name = typed.strip()
        if not name:
            name = await asyncio.to_thread(default_backend, self.store, PANE)
        name = valid_name(name, "LLM backend name")
        backend = await asyncio.to_thread(self.store.get_llm_backend, name)
        unusable = missing_key(backend, os.environ)
        if unusable:
            raise ValidationError(unusable)
        if typed.strip() and name != self.pane.default_llm:
            await asyncio.to_thread(self.store.set_setting, PANE_DEFAULT, name)
            self.pane.default_llm = name
        return name

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
                name = await self._backend_named(values["llm"])
                n = valid_count(values["n"], "n", 1, 50)
                rounds = valid_count(values["reflections"], "reflections", 0, 10)
                context = await asyncio.to_thread(read_context_file, values["context"])
            except (ValidationError, NotFoundError) as exc:
                self.shell.notify(str(exc), severity="error")
                return
            backend = await asyncio.to_thread(self.store.get_llm_backend, name)
            titles = [i.title for i in await asyncio.to_thread(self.store.list_ideas)]
            await self._confirm_job(
                f"Generate {n} idea(s) with {rounds} reflection round(s) on {name}?",
                estimate_generation(self.client, backend, context, titles, n, rounds),
                (name, "llm.generate", {"context": context, "n": n, "reflections": rounds}),
                generated,
            )

        self.shell.start(estimate, group="ideas")

    async def _confirm_job(
        self,
        question: str,
        estimating: Awaitable[CostEstimate],
        job: tuple[str, str, dict[str, object]],
        outcome: Callable[[dict[str, Any]], str],
    ) -> None:
        """Show the job's estimate with the question; the job (backend, kind, payload) is
        started only on yes."""
        self.pane.start_generation("estimating the cost (loading litellm)…")
        cost = await estimating
        self.pane.end_generation("")
        backend, kind, payload = job
        self.shell.confirm(
            f"{question}\n{cost.describe()}",
            lambda: self._start_job(backend, kind, payload, outcome),
        )

    def _start_job(
        self,
        backend: str,
        kind: str,
        payload: dict[str, object],
        outcome: Callable[[dict[str, Any]], str],
    ) -> None:
        self.shell.start(lambda: self._run_job(backend, kind, payload, outcome), group="llm")

    async def _run_job(
        self,
        backend: str,
        kind: str,
        payload: dict[str, object],
        outcome: Callable[[dict[str, Any]], str],
    ) -> Command:
        """One LLM job from this pane: progress and streamed text in the pane, esc cancels."""
        self.pane.start_generation(f"{kind.removeprefix('llm.')} on {backend}… (esc cancels)")
        command = await self.bus.submit(PANE, llm_target(backend), kind, payload)
        if command.error:
            self.pane.end_generation(f"stopped: {command.error}")
        else:
            result = command.result or {}
            self.pane.end_generation(f"{outcome(result)}, ${result.get('cost_usd') or 0:.4f}")
        report_command(self.shell, command)
        await self.load()
        return command

    def _on_progress(self, event: JobProgress) -> None:
        if event.command.pane != PANE:
            return
        if event.delta:
            self.pane.stream_text(event.delta)
        elif event.message:
            line = job_progress_line(event.message, event.calls_done, event.calls_total)
            self.pane.show_progress(line)

    def _on_cancel(self, request: IdeasPane.CancelRequested) -> None:
        if self.llm.cancel_pane(PANE):
            self.pane.show_progress("cancelling…")

    # -- novelty check -------------------------------------------------------------------

    def _on_check(self, request: IdeasPane.CheckRequested) -> None:
        name, values = request.name, request.values

        async def estimate() -> None:
            try:
                backend_name = await self._backend_named(values["llm"])
                rounds = valid_count(values["rounds"], "rounds", 1, 10)
                source = values["source"].strip() or LITERATURE_SOURCES[0]
                if source not in LITERATURE_SOURCES:
                    raise ValidationError(
                        f"invalid source {source!r}: one of {', '.join(LITERATURE_SOURCES)}"
                    )
            except (ValidationError, NotFoundError) as exc:
                self.shell.notify(str(exc), severity="error")
                return
            backend = await asyncio.to_thread(self.store.get_llm_backend, backend_name)
            idea = await asyncio.to_thread(self.store.get_idea, name)
            await self._confirm_job(
                f"Check {name} against {source} in up to {rounds} round(s) on {backend_name}?",
                estimate_check(self.client, backend, idea, rounds),
                (backend_name, "llm.check", {"idea": name, "rounds": rounds, "source": source}),
                checked,
            )

        self.shell.start(estimate, group="ideas")

    # -- LLM usage -----------------------------------------------------------------------

    def _on_usage(self, request: IdeasPane.UsageRequested) -> None:
        async def show() -> None:
            calls = await asyncio.to_thread(self.store.llm_calls)
            await self.shell.push(UsageScreen(usage_tables(usage_report(calls))))

        self.shell.start(show, group="ideas")

    # -- idea -> sweep -------------------------------------------------------------------

    def _on_propose(self, request: IdeasPane.ProposeRequested) -> None:
        name, by_llm = request.name, request.by_llm

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
            if by_llm:
                await self._spec_by_llm(idea, host)
            else:
                await self._edit_spec(idea, host, sweep_spec_template(idea, host_name(host)))

        self.shell.start(propose, group="ideas")

    async def _edit_spec(self, idea: Idea, host: Host | None, spec: str) -> None:
        """Open the spec for editing; what is saved is proposed (still needs-confirm)."""

        def edited(text: str | None) -> None:
            if text is not None:  # escape drops the proposal
                self.shell.start(lambda: self._propose(idea, host, text), group="ideas")

        await self.shell.push(SpecEditScreen(f"Sweep for idea {idea.name}", spec), edited)

    async def _spec_by_llm(self, idea: Idea, host: Host | None) -> None:
        """P: the pane's LLM writes the spec from the template (estimate, confirm, streamed,
        esc cancels); it then opens for editing like a template would."""
        try:
            name = await self._backend_named("")
        except (ValidationError, NotFoundError) as exc:
            self.shell.notify(str(exc), severity="error")
            return
        backend = await asyncio.to_thread(self.store.get_llm_backend, name)
        cost = await estimate_proposal(self.client, backend, idea, host_name(host))
        payload = {"idea": idea.name, "host": host_name(host)}

        async def write() -> None:
            command = await self._run_job(name, "llm.propose", payload, written)
            spec = (command.result or {}).get("spec_toml")
            if not command.error and isinstance(spec, str):
                await self._edit_spec(idea, host, spec)

        self.shell.confirm(
            f"Ask {name} to write a sweep spec for {idea.name}?\n{cost.describe()}",
            lambda: self.shell.start(write, group="llm"),
        )

    async def _propose(self, idea: Idea, host: Host | None, spec: str) -> None:
        """The edited spec, checked, as a command that waits in needs-confirm."""
        try:
            payload = sweep_proposal_payload(idea, spec)
        except ValidationError as exc:
            self.shell.notify(f"not proposed: {exc}", severity="error")
            return
        command = await self.bus.submit(
            PANE,
            host_target(host) if host else DEMO,
            SWEEP_PROPOSAL_KIND,
            payload,
            confirm_first=True,
        )
        self.shell.notify(
            f"sweep for {idea.name} proposed as command #{command.id}: confirm it in "
            "Commands (6, y); nothing runs before"
        )


def host_name(host: Host | None) -> str | None:
    return host.name if host else None


def written(result: dict[str, Any]) -> str:
    problem = result.get("problem")
    return f"spec for {result.get('idea')} written" + (f" ({problem})" if problem else "")


def generated(result: dict[str, Any]) -> str:
    added = len(result.get("ideas", []))
    problems = len(result.get("problems", []))
    return f"{added} idea(s) added, {problems} answer(s) unusable (see Commands)"


def checked(result: dict[str, Any]) -> str:
    verdict = {None: "undecided", True: "novel", False: "not novel"}[result.get("novel")]
    return (
        f"{result.get('idea')}: {verdict} after {len(result.get('queries', []))} search(es), "
        f"{len(result.get('papers', []))} paper(s) (details below)"
    )


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
