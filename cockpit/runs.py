"""Run lifecycle on top of a RunBackend: commands from panes, and polling of live runs.

Core code: it knows the store and a backend by protocol, never Textual.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from cockpit.bus import CommandError
from cockpit.models import Command, HostKind, Run, RunState
from cockpit.ports import RunBackend
from cockpit.store import Store

# Called in a worker thread when a run has finished, to record its results.
ResultCollector = Callable[[Run], None]


class RunCommandHandler:
    """Carries out run.* commands and keeps the store in step.

    The backend is chosen from the kind of the run's host (demo, local, ssh, slurm), so one
    handler serves every host; a kind with no backend yet fails the command in one line.
    """

    def __init__(
        self,
        store: Store,
        backends: Mapping[HostKind, RunBackend],
        collect: ResultCollector | None = None,
    ) -> None:
        self.store = store
        self.backends = dict(backends)
        self._collect = collect

    def _backend(self, run: Run, kinds: Mapping[str, HostKind]) -> RunBackend:
        if not run.host:
            raise CommandError(f"run {run.id} has no host")
        kind = kinds.get(run.host)
        if kind is None:
            raise CommandError(f"run {run.id}: no host named {run.host!r}")
        backend = self.backends.get(kind)
        if backend is None:
            raise CommandError(f"run {run.id}: {kind} hosts cannot run anything yet")
        return backend

    async def _host_kinds(self) -> dict[str, HostKind]:
        return {h.name: h.kind for h in await asyncio.to_thread(self.store.list_hosts)}

    async def backend_for(self, run: Run) -> RunBackend:
        return self._backend(run, await self._host_kinds())

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
        status = await (await self.backend_for(run)).cancel(run)
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
        launched = await (await self.backend_for(run)).launch(fresh)
        await asyncio.to_thread(self.store.upsert_run, launched)
        return {"run_id": run.id, "state": str(launched.state)}

    async def poll_active(self) -> list[Run]:
        """Ask the backend about every unfinished run; return those whose state changed."""
        runs = await asyncio.to_thread(self.store.list_runs)
        kinds = await self._host_kinds()
        changed: list[Run] = []
        for run in runs:
            if run.state.terminal or run.state is RunState.QUEUED:
                continue
            kind = kinds.get(run.host or "")
            backend = self.backends.get(kind) if kind is not None else None
            if backend is None:
                continue  # its host's kind has no backend in this cockpit: nothing to ask
            status = await backend.poll(run)
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
