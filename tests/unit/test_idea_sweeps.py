"""A sweep an idea proposed: gated by a person, checked like a spec file, and the idea's
state following its sweep's runs (running while any runs, done when all have ended)."""

from __future__ import annotations

import pytest

from cockpit.bus import CommandBus, CommandError
from cockpit.idea_sweeps import finish_ideas, link_idea
from cockpit.ideas import SWEEP_PROPOSAL_KIND, sweep_proposal_payload
from cockpit.models import (
    CommandStatus,
    Host,
    HostKind,
    Idea,
    IdeaStatus,
    Run,
    RunSpec,
    RunState,
    Sweep,
)
from cockpit.registry import CommandRegistry, host_target
from cockpit.runs import RunCommandHandler
from cockpit.store import Store

HOST = Host(name="me", kind=HostKind.LOCAL, address="localhost")
SPEC = 'name = "sw"\ncommand = "echo {lr}"\ngpus = 0\n[factors]\nlr = [1, 2]\n'


@pytest.fixture
def bus(store: Store) -> CommandBus:
    store.add_host(HOST)
    store.add_idea(Idea("idea-a", "An idea", status=IdeaStatus.APPROVED))
    # No backend at all: nothing in these tests may reach a host.
    registry = CommandRegistry(store.list_hosts())
    registry.register("run", RunCommandHandler(store, {}))
    return CommandBus(store, registry)


async def _propose(bus: CommandBus, spec: str) -> int:
    idea = bus.store.get_idea("idea-a")
    command = await bus.submit(
        "ideas",
        host_target(HOST),
        SWEEP_PROPOSAL_KIND,
        sweep_proposal_payload(idea, spec),
        confirm_first=True,
    )
    assert command.status is CommandStatus.NEEDS_CONFIRM
    return command.id


def _nothing_recorded(store: Store) -> bool:
    return store.list_runs() == [] and store.list_sweeps() == []


async def test_unconfirmed_and_rejected_proposals_never_run(bus: CommandBus) -> None:
    pending = await _propose(bus, SPEC)
    rejected = await _propose(bus, SPEC)
    await bus.reject(rejected)
    with pytest.raises(CommandError, match="rejected"):
        await bus.confirm(rejected)
    assert bus.store.get_command(pending).status is CommandStatus.NEEDS_CONFIRM
    assert _nothing_recorded(bus.store)
    assert bus.store.get_idea("idea-a").status == IdeaStatus.APPROVED


@pytest.mark.parametrize(
    ("line", "field"),
    [("gpus = -1", "gpus"), ('time_limit = "soon"', "time_limit"), ('hosts = ["gone"]', "hosts")],
)
async def test_a_bad_spec_fails_the_command_in_one_line_naming_the_field(
    bus: CommandBus, line: str, field: str
) -> None:
    command_id = await _propose(bus, SPEC.replace("gpus = 0", line))
    done = await bus.confirm(command_id)
    assert done.status is CommandStatus.FAILED
    assert done.error is not None and "\n" not in done.error and field in done.error
    assert "idea-a" in done.error  # says which proposal it was
    assert _nothing_recorded(bus.store)
    assert bus.store.get_idea("idea-a").status == IdeaStatus.APPROVED


async def test_a_proposal_for_a_deleted_idea_fails_and_records_nothing(bus: CommandBus) -> None:
    command_id = await _propose(bus, SPEC)
    bus.store.remove_idea("idea-a")
    done = await bus.confirm(command_id)
    assert done.status is CommandStatus.FAILED and "idea-a" in (done.error or "")
    assert _nothing_recorded(bus.store)


def _runs(store: Store, sweep: str, n: int) -> list[Run]:
    runs = [
        Run(id=f"{sweep}-{i}", spec=RunSpec(name=f"{sweep}-{i}", command="true", sweep=sweep))
        for i in range(n)
    ]
    store.upsert_sweep(Sweep(name=sweep, factors={}))
    store.insert_new_runs(runs)
    return runs


def _end(store: Store, runs: list[Run], state: RunState = RunState.SUCCEEDED) -> list[Run]:
    for run in runs:
        store.set_run_state(run.id, state, exit_code=0, ended_at=1.0)
    return [store.get_run(r.id) for r in runs]


def test_an_idea_is_done_when_every_run_of_every_sweep_has_ended(store: Store) -> None:
    store.add_idea(Idea("idea-a", "An idea", status=IdeaStatus.APPROVED))
    first, second = _runs(store, "sw1", 2), _runs(store, "sw2", 1)
    link_idea(store, "idea-a", "sw1")
    link_idea(store, "idea-a", "sw2")
    stored = store.get_idea("idea-a")
    assert stored.status == IdeaStatus.RUNNING and stored.sweeps == ("sw1", "sw2")
    assert finish_ideas(store, _end(store, first[:1])) == []
    assert finish_ideas(store, _end(store, first[1:], RunState.FAILED)) == []  # sw2 still runs
    assert store.get_idea("idea-a").status == IdeaStatus.RUNNING
    moved = finish_ideas(store, _end(store, second, RunState.CANCELLED))
    assert [i.name for i in moved] == ["idea-a"]
    assert store.get_idea("idea-a").status == IdeaStatus.DONE


def test_ideas_not_running_or_not_linked_are_left_alone(store: Store) -> None:
    store.add_idea(Idea("other", "Another", status=IdeaStatus.APPROVED, sweeps=("sw",)))
    store.add_idea(Idea("empty", "No sweep yet", status=IdeaStatus.RUNNING, sweeps=("none",)))
    assert finish_ideas(store, _end(store, _runs(store, "sw", 1))) == []
    assert store.get_idea("other").status == IdeaStatus.APPROVED
    assert store.get_idea("empty").status == IdeaStatus.RUNNING
