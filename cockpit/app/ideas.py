"""The idea queue, read from the store."""

from __future__ import annotations

import asyncio

from cockpit.app.controller import Controller
from cockpit.store import Store
from widgets.ideas import IdeasPane


class IdeasController(Controller):
    def __init__(self, store: Store, pane: IdeasPane) -> None:
        self.store = store
        self.pane = pane

    async def load(self) -> None:
        self.pane.show_ideas(await asyncio.to_thread(self.store.list_ideas))
