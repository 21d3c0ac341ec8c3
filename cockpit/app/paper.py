"""Paper drafts: the versions list, the LaTeX-aware diff of the selected version against the
one before (or a version the user marked), the claim check, and LLM edit hunks."""

from __future__ import annotations

import asyncio

from cockpit.app.controller import Controller, RequestHandler, Shell
from cockpit.paper.diff import diff_drafts
from cockpit.store import Store
from widgets.paper import PaperPane
from widgets.requests import PaneRequest


class PaperController(Controller):
    def __init__(self, store: Store, pane: PaperPane, shell: Shell) -> None:
        self.store = store
        self.pane = pane
        self.shell = shell

    def routes(self) -> dict[type[PaneRequest], RequestHandler]:
        return {
            PaperPane.VersionSelected: self._on_version_selected,
            PaperPane.CheckRequested: self._on_check,
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
