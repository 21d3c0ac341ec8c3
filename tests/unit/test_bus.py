"""The command bus: persisted before running, LLM commands gated, crashes never re-run."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from cockpit.bus import CommandBus, CommandError, process_owner
from cockpit.models import Command, CommandOrigin, CommandStatus, Host, HostKind
from cockpit.ports import CommandHandler
from cockpit.registry import CommandRegistry
from cockpit.store import Store

ROOT = Path(__file__).resolve().parents[2]


class RecordingHandler:
    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[Command] = []
        self.fail = fail

    async def handle(self, command: Command) -> dict[str, Any]:
        self.calls.append(command)
        if self.fail:
            raise RuntimeError(self.fail)
        return {"echo": command.payload}


def routed(handler: CommandHandler) -> CommandRegistry:
    """A registry that sends run.* and gpu.* for the ssh host `box` to `handler`."""
    registry = CommandRegistry([Host("box", HostKind.SSH)])
    for prefix in ("run", "gpu"):
        registry.register(prefix, handler)
    return registry


async def test_user_command_goes_pending_running_done(store: Store) -> None:
    handler = RecordingHandler()
    bus = CommandBus(store, routed(handler))
    seen: list[CommandStatus] = []
    bus.subscribe(lambda c: seen.append(c.status))

    command = await bus.submit("runs", "host:box", "run.cancel", {"run_id": "r1"})

    assert command.status is CommandStatus.DONE
    assert command.result == {"echo": {"run_id": "r1"}}
    assert seen == [CommandStatus.PENDING, CommandStatus.RUNNING, CommandStatus.DONE]
    stored = store.get_command(command.id)
    assert stored.status is CommandStatus.DONE
    assert stored.started_at is not None and stored.finished_at is not None
    assert len(handler.calls) == 1


async def test_command_is_persisted_before_the_backend_runs(store: Store) -> None:
    statuses: list[CommandStatus] = []

    class Peeking:
        async def handle(self, command: Command) -> dict[str, Any]:
            statuses.append(store.get_command(command.id).status)
            return {}

    await CommandBus(store, routed(Peeking())).submit("gpus", "host:box", "gpu.kill", {"pid": 1})
    assert statuses == [CommandStatus.RUNNING]


async def test_backend_failure_is_recorded_as_failed(store: Store) -> None:
    bus = CommandBus(store, routed(RecordingHandler(fail="host unreachable")))
    command = await bus.submit("runs", "host:box", "run.cancel", {})
    assert command.status is CommandStatus.FAILED
    assert command.error == "host unreachable"


async def test_unknown_backend_fails_but_is_logged(store: Store) -> None:
    command = await CommandBus(store).submit("runs", "nowhere", "run.cancel", {})
    assert command.status is CommandStatus.FAILED
    assert "nowhere" in (command.error or "")
    assert store.list_commands()[0].id == command.id


async def test_llm_command_waits_for_a_person(store: Store) -> None:
    handler = RecordingHandler()
    bus = CommandBus(store, routed(handler))
    proposed = await bus.submit(
        "ideas", "host:box", "run.launch", {"x": 1}, origin=CommandOrigin.LLM
    )
    assert proposed.status is CommandStatus.NEEDS_CONFIRM
    assert handler.calls == []
    # Executing it directly (as a bug or a second process might) does nothing.
    assert (await bus.execute(proposed.id)).status is CommandStatus.NEEDS_CONFIRM
    assert handler.calls == []

    done = await bus.confirm(proposed.id)
    assert done.status is CommandStatus.DONE
    assert len(handler.calls) == 1
    with pytest.raises(CommandError, match="not awaiting confirmation"):
        await bus.confirm(proposed.id)
    assert len(handler.calls) == 1


async def test_rejected_llm_command_never_runs(store: Store) -> None:
    handler = RecordingHandler()
    bus = CommandBus(store, routed(handler))
    proposed = await bus.submit("ideas", "host:box", "run.launch", {}, origin=CommandOrigin.LLM)
    rejected = await bus.reject(proposed.id)
    assert rejected.status is CommandStatus.REJECTED
    with pytest.raises(CommandError):
        await bus.confirm(proposed.id)
    assert handler.calls == []


CRASHING_COCKPIT = textwrap.dedent(
    """
    import asyncio, sys
    from cockpit.bus import CommandBus
    from cockpit.models import Host, HostKind
    from cockpit.registry import CommandRegistry
    from cockpit.store import Store

    class Slow:
        async def handle(self, command):
            print("started", flush=True)
            await asyncio.sleep(60)
            return {}

    async def main():
        registry = CommandRegistry([Host("box", HostKind.SSH)])
        registry.register("run", Slow())
        bus = CommandBus(Store.open(sys.argv[1]), registry)
        await bus.submit("runs", "host:box", "run.launch", {"run_id": "r1"})

    asyncio.run(main())
    """
)


async def test_command_running_when_the_cockpit_died_is_interrupted_not_rerun(
    tmp_path: Path,
) -> None:
    path = tmp_path / "crash.db"
    Store.open(path).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_COCKPIT, str(path)], cwd=ROOT, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    line = await asyncio.to_thread(proc.stdout.readline)
    assert line.strip() == b"started"
    proc.kill()
    proc.wait(timeout=30)

    with Store.open(path) as store:
        assert store.list_commands()[0].status is CommandStatus.RUNNING
        handler = RecordingHandler()
        bus = CommandBus(store, routed(handler))
        interrupted = await bus.recover_interrupted()
        command = store.list_commands()[0]
        assert interrupted == [command.id]
        assert command.status is CommandStatus.INTERRUPTED
        assert "not re-run" in (command.error or "")
        assert handler.calls == []
        # Still never re-run, however it is asked.
        assert (await bus.execute(command.id)).status is CommandStatus.INTERRUPTED
        assert handler.calls == []


async def test_a_live_cockpits_running_command_is_left_alone(store: Store) -> None:
    command = store.insert_command(
        "runs", "host:box", "run.launch", {}, CommandStatus.PENDING, CommandOrigin.USER
    )
    # Owned by this (alive) process: another cockpit starting up must not touch it.
    store.transition_command(
        command.id, CommandStatus.PENDING, CommandStatus.RUNNING, owner=process_owner()
    )
    other = CommandBus(store)
    other.owner = "elsewhere:1"
    assert await other.recover_interrupted() == []
    assert store.get_command(command.id).status is CommandStatus.RUNNING
