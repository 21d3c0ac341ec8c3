"""Paper drafts: the versions list, the LaTeX-aware diff of the selected version against the
one before (or a version the user marked), the claim check, and LLM edit hunks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from cockpit.app.controller import Controller, RequestHandler, Shell
from cockpit.models import Hunk
from cockpit.paper.diff import diff_drafts
from cockpit.store import Store
from widgets.paper import PaperPane
from widgets.requests import PaneRequest


@dataclass
class EditProposal:
    """An LLM's edit of one file of a draft, waiting for a decision on each hunk."""

    draft: str
    file: Path
    old_text: str  # the whole file as it was when the edit was asked for
    start: int  # the edited selection's offsets in old_text
    end: int
    hunks: list[Hunk]
    decisions: dict[int, bool] = field(default_factory=dict)


class PaperController(Controller):
    def __init__(self, store: Store, pane: PaperPane, shell: Shell) -> None:
        self.store = store
        self.pane = pane
        self.shell = shell
        self.proposal: EditProposal | None = None

    def routes(self) -> dict[type[PaneRequest], RequestHandler]:
        return {
            PaperPane.VersionSelected: self._on_version_selected,
            PaperPane.CheckRequested: self._on_check,
            PaperPane.HunkDecided: self._on_hunk_decided,
        }

    async def load(self) -> None:
        await asyncio.to_thread(self._snapshot_changed_files)
        self.pane.show_versions(await asyncio.to_thread(self.store.list_draft_versions))

    def _snapshot_changed_files(self) -> None:
        from cockpit.paper.drafts import snapshot_if_changed

        if self.store.read_only:
            return
        for draft in self.store.list_drafts():
            snapshot_if_changed(self.store, draft)

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

    # -- LLM edits -------------------------------------------------------------------------

    def propose(self, draft: str, file: Path, start: int, end: int, proposal: str) -> None:
        """Show an edit of file[start:end] as hunks; written once every hunk is decided."""
        from cockpit.paper.review import hunks_between

        old_text = file.read_text(encoding="utf-8")
        hunks = hunks_between(old_text[start:end], proposal)
        self.proposal = EditProposal(draft, file, old_text, start, end, hunks)
        self.pane.show_hunks(f"edit of {file.name}", hunks)

    def _on_hunk_decided(self, event: PaperPane.HunkDecided) -> None:
        proposal = self.proposal
        if proposal is None:
            return
        proposal.decisions[event.index] = event.accepted
        if len(proposal.decisions) == len(proposal.hunks):
            self.proposal = None
            self.shell.start(lambda: self._write(proposal), group="paper-write")

    async def _write(self, proposal: EditProposal) -> None:
        from cockpit.paper.drafts import write_with_snapshot
        from cockpit.paper.review import apply_hunks

        accepted = {i for i, ok in proposal.decisions.items() if ok}
        if not accepted:
            self.shell.notify("every hunk rejected: nothing written")
            return
        current = await asyncio.to_thread(proposal.file.read_text, encoding="utf-8")
        if current != proposal.old_text:
            self.shell.notify(
                f"{proposal.file.name} changed on disk since the edit was asked for: "
                "nothing written",
                severity="error",
            )
            return
        selection = proposal.old_text[proposal.start : proposal.end]
        new_text = (
            proposal.old_text[: proposal.start]
            + apply_hunks(selection, proposal.hunks, accepted)
            + proposal.old_text[proposal.end :]
        )
        draft = await asyncio.to_thread(self.store.get_draft, proposal.draft)
        await asyncio.to_thread(write_with_snapshot, self.store, draft, proposal.file, new_text)
        self.shell.notify(f"wrote {len(accepted)} of {len(proposal.hunks)} hunk(s)")
        self.pane.show_versions(await asyncio.to_thread(self.store.list_draft_versions))
