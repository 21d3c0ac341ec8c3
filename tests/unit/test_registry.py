"""Command routing: namespaced targets, handlers by kind prefix and host kind, no default."""

from __future__ import annotations

from typing import Any

import pytest

from cockpit.bus import CommandBus
from cockpit.models import Command, CommandStatus, Host, HostKind
from cockpit.registry import (
    DEMO,
    LLM,
    CommandRegistry,
    RoutingError,
    Target,
    host_target,
    kind_prefix,
    llm_target,
)
from cockpit.store import Store


class Named:
    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[str] = []

    async def handle(self, command: Command) -> dict[str, Any]:
        self.seen.append(command.kind)
        return {"by": self.name}


def command(target: str, kind: str) -> Command:
    return Command(1, "runs", target, kind, {}, CommandStatus.RUNNING)


HOSTS = [
    Host("gpu1", HostKind.SSH),
    Host("laptop", HostKind.LOCAL),
    Host("cluster", HostKind.SLURM),
    Host("demo-a", HostKind.DEMO),
]


def test_targets_are_namespaced_and_round_trip() -> None:
    assert host_target(HOSTS[0]) == "host:gpu1"
    assert host_target(HOSTS[3]) == "demo"  # everything simulated answers to the demo
    assert llm_target("claude") == "llm:claude"
    for key in ("host:gpu1", "llm:claude", "demo"):
        assert str(Target.parse(key)) == key
    # Commands recorded before targets were namespaced named a bare host.
    assert Target.parse("gpu1") == Target("host", "gpu1")
    for bad in ("llm:", "box:x", "host:"):
        with pytest.raises(RoutingError):
            Target.parse(bad)
    assert kind_prefix("run.cancel") == "run" and kind_prefix("gpu.kill") == "gpu"


async def test_the_host_kind_picks_the_handler_and_a_generic_one_is_the_fallback() -> None:
    registry = CommandRegistry(HOSTS)
    ssh_kill, any_run = Named("ssh-kill"), Named("runs")
    registry.register("gpu", ssh_kill, host_kind=HostKind.SSH)
    registry.register("run", any_run)

    assert registry.handler_for(command("host:gpu1", "gpu.kill")) is ssh_kill
    assert registry.handler_for(command("host:laptop", "run.cancel")) is any_run
    assert registry.handler_for(command("host:cluster", "run.launch")) is any_run
    with pytest.raises(RoutingError, match=r"local hosts cannot do gpu\.kill"):
        registry.handler_for(command("host:laptop", "gpu.kill"))
    with pytest.raises(RoutingError, match="no host named 'nowhere'"):
        registry.handler_for(command("host:nowhere", "run.cancel"))
    assert await registry.handle(command("host:gpu1", "gpu.kill")) == {"by": "ssh-kill"}


def test_llm_and_demo_targets_have_their_own_routes() -> None:
    registry = CommandRegistry(HOSTS)
    llm, demo_runs = Named("llm"), Named("demo-runs")
    registry.register("llm", llm, namespace=LLM)
    registry.register("run", demo_runs, namespace=DEMO)
    assert registry.handler_for(command("llm:claude", "llm.complete")) is llm
    assert registry.handler_for(command("demo", "run.relaunch")) is demo_runs
    with pytest.raises(RoutingError, match=r"nothing handles gpu\.kill for demo"):
        registry.handler_for(command("demo", "gpu.kill"))
    # A host route never answers for the demo, nor the other way round.
    with pytest.raises(RoutingError):
        registry.handler_for(command("host:gpu1", "llm.complete"))
    with pytest.raises(ValueError):
        registry.register("llm", llm, namespace=LLM, host_kind=HostKind.SSH)


async def test_the_bus_records_a_routing_failure_in_one_line(store: Store) -> None:
    bus = CommandBus(store, CommandRegistry(HOSTS))
    done = await bus.submit("runs", "host:gpu1", "run.cancel", {"run_id": "r1"})
    assert done.status is CommandStatus.FAILED
    assert done.error == "ssh hosts cannot do run.cancel yet (host:gpu1)"
    assert store.get_command(done.id).error == done.error
