"""The command bus: every action a pane asks for is persisted, routed, and its outcome recorded.

A command is written to the store *before* anything runs, so the audit log is complete even
when the cockpit dies mid-command. Commands proposed by an LLM wait in `needs-confirm` until
a person confirms them. Status moves are compare-and-set in the store, so two cockpit
processes never start the same command twice.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from typing import Any

from cockpit.models import Command, CommandOrigin, CommandStatus
from cockpit.registry import CommandRegistry
from cockpit.store import Store


class CommandError(Exception):
    """A command cannot be carried out as asked (one line for the user)."""


CommandListener = Callable[[Command], None]


def process_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_dead(owner: str | None) -> bool:
    """True when the process that ran a command is provably gone.

    Only a process on this machine can be checked; one elsewhere is presumed alive.
    """
    if not owner or ":" not in owner:
        return True
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname():
        return False
    try:
        pid = int(pid_text)
    except ValueError:
        return True
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class CommandBus:
    """Persists, gates and runs commands; the registry decides who carries each one out."""

    def __init__(self, store: Store, registry: CommandRegistry | None = None) -> None:
        self.store = store
        self.registry = registry if registry is not None else CommandRegistry()
        self._listeners: list[CommandListener] = []
        self.owner = process_owner()

    def subscribe(self, listener: CommandListener) -> None:
        """Called (on the event loop) with the command after every status change."""
        self._listeners.append(listener)

    def _notify(self, command: Command) -> None:
        for listener in self._listeners:
            listener(command)

    async def submit(
        self,
        pane: str,
        backend: str,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        origin: CommandOrigin = CommandOrigin.USER,
        confirm_first: bool = False,
    ) -> Command:
        """Persist a command; run it now unless it came from an LLM and needs a person.

        `confirm_first` holds any command for a person's yes (a proposal made from a
        template is still a proposal)."""
        status = (
            CommandStatus.NEEDS_CONFIRM
            if origin is CommandOrigin.LLM or confirm_first
            else CommandStatus.PENDING
        )
        command = await asyncio.to_thread(
            self.store.insert_command, pane, backend, kind, payload or {}, status, origin
        )
        self._notify(command)
        if status is CommandStatus.PENDING:
            return await self.execute(command.id)
        return command

    async def confirm(self, command_id: int) -> Command:
        moved = await asyncio.to_thread(
            self.store.transition_command,
            command_id,
            CommandStatus.NEEDS_CONFIRM,
            CommandStatus.PENDING,
        )
        if not moved:
            current = await asyncio.to_thread(self.store.get_command, command_id)
            raise CommandError(
                f"command #{command_id} is {current.status}, not awaiting confirmation"
            )
        return await self.execute(command_id)

    async def reject(self, command_id: int) -> Command:
        moved = await asyncio.to_thread(
            self.store.transition_command,
            command_id,
            CommandStatus.NEEDS_CONFIRM,
            CommandStatus.REJECTED,
        )
        command = await asyncio.to_thread(self.store.get_command, command_id)
        if not moved:
            raise CommandError(
                f"command #{command_id} is {command.status}, not awaiting confirmation"
            )
        self._notify(command)
        return command

    async def execute(self, command_id: int) -> Command:
        """Run a pending command. A command in any other status is left alone."""
        started = await asyncio.to_thread(
            self.store.transition_command,
            command_id,
            CommandStatus.PENDING,
            CommandStatus.RUNNING,
            owner=self.owner,
        )
        command = await asyncio.to_thread(self.store.get_command, command_id)
        if not started:
            return command
        self._notify(command)
        result: dict[str, Any] | None = None
        error: str | None = None
        try:
            result = await self.registry.handle(command)
        except asyncio.CancelledError:
            # Left `running`: the next start-up marks it interrupted, it is never re-run.
            raise
        except Exception as exc:  # a backend failure is data for the audit log
            error = str(exc) or type(exc).__name__
        final = CommandStatus.FAILED if error is not None else CommandStatus.DONE
        await asyncio.to_thread(
            self.store.transition_command,
            command_id,
            CommandStatus.RUNNING,
            final,
            result=result,
            error=error,
        )
        command = await asyncio.to_thread(self.store.get_command, command_id)
        self._notify(command)
        return command

    async def recover_interrupted(self) -> list[int]:
        """Mark commands orphaned by a crashed cockpit as interrupted (never re-run them)."""
        owners = await asyncio.to_thread(self.store.running_command_owners)
        dead = [cid for cid, owner in owners.items() if owner_is_dead(owner)]
        return await asyncio.to_thread(self.store.mark_interrupted, dead)
