"""Paper drafts: the versions list and the diff of the selected version against the last."""

from __future__ import annotations

import asyncio

from cockpit.app.controller import Controller, RequestHandler, Shell
from cockpit.paper import version_diff
from cockpit.store import Store
from widgets.paper import PaperPane
from widgets.requests import PaneRequest


class PaperController(Controller):
    def __init__(self, store: Store, pane: PaperPane, shell: Shell) -> None:
        self.store = store
        self.pane = pane
        self.shell = shell

    def routes(self) -> dict[type[PaneRequest], RequestHandler]:
        return {PaperPane.VersionSelected: self._on_version_selected}

    async def load(self) -> None:
        self.pane.show_versions(await asyncio.to_thread(self.store.list_draft_versions))

    def _on_version_selected(self, event: PaperPane.VersionSelected) -> None:
        draft, version = event.draft, event.version
        self.shell.start(lambda: self._show_diff(draft, version), group="paper", exclusive=True)

    async def _show_diff(self, draft: str, version: int) -> None:
        versions = await asyncio.to_thread(self.store.list_draft_versions, draft)
        new = next((v for v in versions if v.version == version), None)
        if new is None:
            return
        old = max(
            (v for v in versions if v.version < version), key=lambda v: v.version, default=None
        )
        lines = await asyncio.to_thread(version_diff, old, new)
        title = f"{draft} v{version} vs {'v' + str(old.version) if old else 'nothing'}"
        self.pane.show_diff(title, lines)
