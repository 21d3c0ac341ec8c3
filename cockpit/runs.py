"""Run lifecycle on top of a RunBackend: commands from panes, and polling of live runs.

Core code: it knows the store and a backend by protocol, never Textual.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

from cockpit.bus import CommandError
from cockpit.models import Command, Run, RunState
from cockpit.ports import RunBackend
from cockpit.store import Store

# Called in a worker thread when a run has finished, to record its results.
ResultCollector = Callable[[Run], None]


class RunCommandHandler:
    """Carries out run.* commands against one backend and keeps the store in step."""

    def __init__(
        self, store: Store, backend: RunBackend, collect: ResultCollector | None = None
    ) -> None:
        self.store = store
        self.backend = backend
        self._collect = collect

    async def handle(self, command: Command) -> dict[str, Any]:
        run_id = command.payload.get("run_id")
        if not isinstance(run_id, str):
            raise CommandError(f"{command.kind} needs a run_id")
        run = await asyncio.to_thread(self.store.get_run, run_id)
        if command.kind == "run.cancel":
            return await self._cancel(run)
        if command.kind in ("run.launch", "run.relaunch"):
            return await self._launch(run)
        raise CommandError(f"unknown run command {command.kind!r}")

    async def _cancel(self, run: Run) -> dict[str, Any]:
        if run.state.terminal:
            raise CommandError(f"run {run.id} already {run.state}")
        status = await self.backend.cancel(run)
        await asyncio.to_thread(
            self.store.set_run_state,
            run.id,
            status.state,
            exit_code=status.exit_code,
            ended_at=status.ended_at,
        )
        return {"run_id": run.id, "state": str(status.state)}

    async def _launch(self, run: Run) -> dict[str, Any]:
        if not run.state.terminal and run.state is not RunState.QUEUED:
            raise CommandError(f"run {run.id} is {run.state}; cancel it first")
        fresh = dataclasses.replace(run, exit_code=None, ended_at=None)
        launched = await self.backend.launch(fresh)
        await asyncio.to_thread(self.store.upsert_run, launched)
        return {"run_id": run.id, "state": str(launched.state)}

    async def poll_active(self) -> list[Run]:
        """Ask the backend about every unfinished run; return those whose state changed."""
        runs = await asyncio.to_thread(self.store.list_runs)
        changed: list[Run] = []
        for run in runs:
            if run.state.terminal or run.state is RunState.QUEUED:
                continue
            status = await self.backend.poll(run)
            if status.state is run.state:
                continue
            await asyncio.to_thread(
                self.store.set_run_state,
                run.id,
                status.state,
                exit_code=status.exit_code,
                ended_at=status.ended_at,
            )
            updated = dataclasses.replace(
                run, state=status.state, exit_code=status.exit_code, ended_at=status.ended_at
            )
            if status.state is RunState.SUCCEEDED and self._collect is not None:
                await asyncio.to_thread(self._collect, updated)
            changed.append(updated)
        return changed
