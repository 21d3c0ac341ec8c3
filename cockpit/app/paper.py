"""Paper drafts: the versions list, the LaTeX-aware diff of the selected version against the
one before (or a version the user marked), the claim check, LLM edits (estimated, confirmed,
streamed, cancellable, then hunks to accept or reject), reviews, and snapshots of drafts that
change on disk while the cockpit is open."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

from cockpit.app.controller import (
    Controller,
    RequestHandler,
    Shell,
    job_progress_line,
    report_command,
)
from cockpit.bus import CommandBus
from cockpit.llm_jobs import JobProgress, LlmCommandHandler, estimate_job
from cockpit.models import Draft, EditTarget, Hunk
from cockpit.paper.diff import diff_drafts
from cockpit.ports import LlmClient
from cockpit.registry import llm_target
from cockpit.render.safe import printable
from cockpit.store import NotFoundError, Store
from cockpit.validate import ValidationError, valid_count, valid_name
from widgets.paper import EditChoice, EditScreen, PaperPane, ReviewScreen
from widgets.requests import PaneRequest

PANE = "paper"
# How often the drafts' files are stat'ed for changes: a stat per file, nothing read.
DISK_POLL_S = 2.0

FileStamp = tuple[int, int]  # (mtime_ns, size)


@dataclass
class EditProposal:
    """An LLM's edit of one section or paragraph, waiting for a decision on each hunk."""

    draft: str
    target: EditTarget
    hunks: list[Hunk]
    decisions: dict[int, bool] = field(default_factory=dict)


@dataclass
class WatchedDraft:
    """A registered draft's files and how they looked when last seen."""

    draft: Draft
    stamps: dict[Path, FileStamp]


def _stamps(files: list[Path]) -> dict[Path, FileStamp]:
    out: dict[Path, FileStamp] = {}
    for file in files:
        try:
            st = os.stat(file)
        except OSError:
            continue  # gone: a missing file is a change the next snapshot records
        out[file] = (st.st_mtime_ns, st.st_size)
    return out


class PaperController(Controller):
    def __init__(
        self,
        store: Store,
        bus: CommandBus,
        pane: PaperPane,
        shell: Shell,
        llm: LlmCommandHandler,
        client: LlmClient,
    ) -> None:
        from cockpit.paper.review import add_paper_jobs

        self.store = store
        self.bus = bus
        self.pane = pane
        self.shell = shell
        self.llm = llm
        self.client = client
        self.proposal: EditProposal | None = None
        self.job: int | None = None  # the command id of the LLM job in flight
        self.watched: dict[str, WatchedDraft] = {}
        add_paper_jobs(llm, store)
        llm.watch(self._on_progress)

    def routes(self) -> dict[type[PaneRequest], RequestHandler]:
        return {
            PaperPane.VersionSelected: self._on_version_selected,
            PaperPane.CheckRequested: self._on_check,
            PaperPane.HunkDecided: self._on_hunk_decided,
            PaperPane.EditRequested: self._on_edit,
            PaperPane.ReviewsRequested: self._on_reviews,
            PaperPane.ReviewRequested: self._on_review,
            PaperPane.CancelRequested: self._on_cancel,
        }

    async def load(self) -> None:
        await asyncio.to_thread(self._snapshot_changed_files)
        self.pane.show_versions(await asyncio.to_thread(self.store.list_draft_versions))

    def start(self) -> None:
        if not self.store.read_only:
            self.shell.every(DISK_POLL_S, self.poll_disk)

    # -- drafts changed on disk ----------------------------------------------------------

    def _snapshot_changed_files(self) -> list[tuple[str, int]]:
        """Snapshot every draft whose files differ from its last version; remember each
        draft's files and their stamps for the cheap polls that follow."""
        from cockpit.paper.drafts import DraftError, draft_files, snapshot_if_changed

        if self.store.read_only:
            return []
        taken = []
        for draft in self.store.list_drafts():
            try:
                files = draft_files(Path(draft.path)) if draft.path else []
            except DraftError:
                files = []
            # Stamps before reading: a write during the read shows at the next poll.
            self.watched[draft.name] = WatchedDraft(draft, _stamps(files))
            version = snapshot_if_changed(self.store, draft)
            if version is not None:
                taken.append((draft.name, version.version))
        return taken

    def _changed_drafts(self) -> bool:
        """Whether any watched file's stamp moved (or a draft was added): stat only."""
        names = {d.name for d in self.store.list_drafts()}
        if names != set(self.watched):
            return True
        return any(_stamps(list(w.stamps)) != w.stamps for w in self.watched.values())

    async def poll_disk(self) -> None:
        if not await asyncio.to_thread(self._changed_drafts):
            return
        taken = await asyncio.to_thread(self._snapshot_changed_files)
        if taken:
            self.pane.show_versions(await asyncio.to_thread(self.store.list_draft_versions))
            for name, version in taken:
                self.pane.offer_changed(name, version)

    # -- diff and claim check ------------------------------------------------------------

    def _on_version_selected(self, event: PaperPane.VersionSelected) -> None:
        draft, version, base = event.draft, event.version, event.base
        self.shell.start(
            lambda: self._show_diff(draft, version, base), group="paper", exclusive=True
        )

    async def _show_diff(self, draft: str, version: int, base: int | None) -> None:
        versions = await asyncio.to_thread(self.store.list_draft_versions, draft)
        new = next((v for v in versions if v.version == version), None)
        if new is None:
            return
        if base is not None and base != version:
            old = next((v for v in versions if v.version == base), None)
        else:
            old = max(
                (v for v in versions if v.version < version),
                key=lambda v: v.version,
                default=None,
            )
        diff = await asyncio.to_thread(
            diff_drafts,
            old.text if old else "",
            new.text,
            f"{draft} v{old.version}" if old else "nothing",
            f"{draft} v{version}",
        )
        self.pane.show_diff(diff)

    def _on_check(self, event: PaperPane.CheckRequested) -> None:
        draft, version = event.draft, event.version
        self.shell.start(lambda: self._check(draft, version), group="paper", exclusive=True)

    async def _check(self, draft: str, version: int) -> None:
        from cockpit.paper.claims import check_claims

        versions = await asyncio.to_thread(self.store.list_draft_versions, draft)
        chosen = next((v for v in versions if v.version == version), None)
        if chosen is None:
            return
        report = await asyncio.to_thread(
            check_claims, self.store, chosen.text, draft=draft, remember=False
        )
        self.pane.show_claims(report)

    # -- LLM edits -----------------------------------------------------------------------

    def _on_edit(self, event: PaperPane.EditRequested) -> None:
        name = event.draft

        async def choose() -> None:
            from cockpit.paper.review import draft_edit_targets

            draft = await asyncio.to_thread(self.store.get_draft, name)
            if not draft.path:
                self.shell.notify(f"draft {name} has no file to edit", severity="warning")
                return
            targets = await asyncio.to_thread(draft_edit_targets, Path(draft.path))
            if not targets:
                self.shell.notify(f"draft {name} has no section to edit", severity="warning")
                return
            backends = await asyncio.to_thread(self.store.list_llm_backends)
            default = backends[0].name if backends else ""

            def closed(choice: EditChoice | None) -> None:
                if choice is not None:
                    self.shell.start(lambda: self._estimate_edit(draft, choice), group="paper")

            await self.shell.push(EditScreen(name, targets, default), closed)

        self.shell.start(choose, group="paper")

    async def _estimate_edit(self, draft: Draft, choice: EditChoice) -> None:
        from cockpit.paper.review import EDIT_ASKS, edit_calls

        try:
            backend = await asyncio.to_thread(
                self.store.get_llm_backend, valid_name(choice.llm, "LLM backend name")
            )
        except (ValidationError, NotFoundError) as exc:
            self.shell.notify(str(exc), severity="error")
            return
        if choice.ask not in EDIT_ASKS:
            self.shell.notify(f"ask must be one of {', '.join(EDIT_ASKS)}", severity="error")
            return
        notes = choice.notes
        if choice.ask == "rewrite" and not notes.strip():
            self.shell.notify("rewrite needs notes to rewrite from", severity="error")
            return
        if choice.ask == "results":
            notes = await asyncio.to_thread(_results_table, self.store)
            if not notes:
                self.shell.notify("no recorded results to draft from", severity="error")
                return
        target = choice.target
        self.pane.show_progress("estimating the cost (loading litellm)…")
        cost = await estimate_job(self.client, backend, edit_calls(target.text, choice.ask, notes))
        self.pane.show_progress("")
        payload = {"draft": draft.name, "selection": target.text, "ask": choice.ask, "notes": notes}
        # The title comes from the file: no control sequences, no markup in the question.
        label = printable(target.label)  # (the confirm shows plain text)
        self.shell.confirm(
            f"{choice.ask} {label} of {draft.name} with {backend.name}?\n{cost.describe()}",
            lambda: self.shell.start(
                lambda: self._edit(draft.name, backend.name, target, payload), group="llm"
            ),
        )

    async def _edit(
        self, draft: str, backend: str, target: EditTarget, payload: dict[str, object]
    ) -> None:
        from cockpit.paper.review import fit_proposal, hunks_between

        self.pane.start_stream(f"{payload['ask']} {target.label} on {backend}… (esc cancels)")
        try:
            command = await self.bus.submit(PANE, llm_target(backend), "llm.paper_edit", payload)
        finally:
            self.job = None
        if command.error:
            self.pane.end_stream(f"stopped: {command.error}")
            report_command(self.shell, command)
            return
        proposal = fit_proposal(target.text, str((command.result or {}).get("proposal", "")))
        self.propose(draft, target, hunks_between(target.text, proposal))

    def propose(self, draft: str, target: EditTarget, hunks: list[Hunk]) -> None:
        """Show an edit's hunks; the file is written once every hunk is decided."""
        if not hunks:
            self.pane.end_stream("the proposal changes nothing")
            return
        self.proposal = EditProposal(draft, target, hunks)
        self.pane.show_hunks(f"edit of {target.label}", hunks)

    def _on_hunk_decided(self, event: PaperPane.HunkDecided) -> None:
        proposal = self.proposal
        if proposal is None:
            return
        proposal.decisions[event.index] = event.accepted
        if len(proposal.decisions) == len(proposal.hunks):
            self.proposal = None
            self.shell.start(lambda: self._write(proposal), group="paper-write")

    async def _write(self, proposal: EditProposal) -> None:
        from cockpit.paper.drafts import DraftError
        from cockpit.paper.review import write_edit

        accepted = {i for i, ok in proposal.decisions.items() if ok}
        if not accepted:
            self.shell.notify("every hunk rejected: nothing written")
        else:
            draft = await asyncio.to_thread(self.store.get_draft, proposal.draft)
            try:
                await asyncio.to_thread(
                    write_edit, self.store, draft, proposal.target, proposal.hunks, accepted
                )
            except DraftError as exc:
                self.shell.notify(str(exc), severity="error")
            else:
                # What was just written is the draft's newest version, not a change on disk.
                await asyncio.to_thread(self._snapshot_changed_files)
                self.shell.notify(f"wrote {len(accepted)} of {len(proposal.hunks)} hunk(s)")
        # Back to the diffs (the hunks are done with), with the new version if one was made.
        self.pane.show_versions(await asyncio.to_thread(self.store.list_draft_versions))

    # -- reviews -------------------------------------------------------------------------

    def _on_reviews(self, event: PaperPane.ReviewsRequested) -> None:
        draft, version = event.draft, event.version
        # Exclusive in the group: a diff still being computed must not land over the reviews.
        self.shell.start(lambda: self._show_reviews(draft, version), group="paper", exclusive=True)

    async def _show_reviews(self, draft: str, version: int) -> None:
        from cockpit.paper.review import score_history

        reviews = await asyncio.to_thread(self.store.list_reviews, draft)
        self.pane.show_reviews(draft, version, score_history(reviews), reviews)

    def _on_review(self, event: PaperPane.ReviewRequested) -> None:
        draft, version = event.draft, event.version

        async def ask() -> None:
            backends = await asyncio.to_thread(self.store.list_llm_backends)

            def closed(values: tuple[str, str] | None) -> None:
                if values is not None:
                    self.shell.start(
                        lambda: self._estimate_review(draft, version, *values), group="paper"
                    )

            await self.shell.push(
                ReviewScreen(f"{draft} v{version}", backends[0].name if backends else ""),
                closed,
            )

        self.shell.start(ask, group="paper")

    async def _estimate_review(self, draft: str, version: int, llm: str, count: str) -> None:
        from cockpit.paper.review import review_estimate_calls

        try:
            n = valid_count(count, "n", 1, 10)
            backend = await asyncio.to_thread(
                self.store.get_llm_backend, valid_name(llm, "LLM backend name")
            )
        except (ValidationError, NotFoundError) as exc:
            self.shell.notify(str(exc), severity="error")
            return
        versions = await asyncio.to_thread(self.store.list_draft_versions, draft)
        text = next((v.text for v in versions if v.version == version), None)
        if text is None:
            return
        self.pane.show_progress("estimating the cost (loading litellm)…")
        cost = await estimate_job(self.client, backend, review_estimate_calls(text, n))
        self.pane.show_progress("")
        payload = {"draft": draft, "version": version, "n": n}
        self.shell.confirm(
            f"{n} review(s) and a meta-review of {draft} v{version} with {backend.name}?\n"
            f"{cost.describe()}",
            lambda: self.shell.start(
                lambda: self._review(draft, version, backend.name, payload), group="llm"
            ),
        )

    async def _review(
        self, draft: str, version: int, backend: str, payload: dict[str, object]
    ) -> None:
        self.pane.start_stream(f"reviewing {draft} v{version} on {backend}… (esc cancels)")
        try:
            command = await self.bus.submit(PANE, llm_target(backend), "llm.paper_review", payload)
        finally:
            self.job = None
        self.pane.end_stream(f"stopped: {command.error}" if command.error else "")
        report_command(self.shell, command)
        if not command.error:
            await self._show_reviews(draft, version)

    # -- progress and cancel -------------------------------------------------------------

    def _on_progress(self, event: JobProgress) -> None:
        if event.command.pane != PANE:
            return
        self.job = event.command.id
        if event.delta:
            self.pane.stream_text(event.delta)
        elif event.message:
            self.pane.show_progress(
                job_progress_line(event.message, event.calls_done, event.calls_total)
            )

    def _on_cancel(self, event: PaperPane.CancelRequested) -> None:
        if self.job is not None and self.llm.cancel(self.job):
            self.pane.show_progress("cancelling…")
        elif self.proposal is not None:
            self.proposal = None  # the pane dropped the hunks: nothing is written


def _results_table(store: Store) -> str:
    """The recorded results as CSV, what "draft from the results table" sends."""
    from cockpit.export.tables import to_csv
    from cockpit.results import ResultsError, results_matrix

    try:
        return to_csv(results_matrix(store, all_metrics=True))
    except ResultsError:
        return ""
