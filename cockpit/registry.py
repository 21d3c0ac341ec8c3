"""Command routing: which handler carries out a command, from its target and its kind.

A command's target is a namespaced route key: `host:NAME` for a machine, `llm:NAME` for an
LLM backend, and `demo` for everything the embedded demo simulates. The handler is chosen
by the command kind's prefix (`run.*`, `gpu.*`, `llm.*`, `paper.*`) and, for hosts, by the
host's kind (ssh, slurm, local), so adding Slurm or an LLM adds a handler, not a branch.
A target always comes from the command's run or host; there is no default backend.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cockpit.models import Command, Host, HostKind
from cockpit.ports import CommandHandler

HOST = "host"
LLM = "llm"
DEMO = "demo"
NAMESPACES = (HOST, LLM, DEMO)
# Route keys and host kinds use these words; a host or LLM backend named so would be ambiguous.
RESERVED_NAMES = frozenset({"demo", "local"})


class RoutingError(Exception):
    """No handler can carry out a command for its target (one line for the user)."""


@dataclass(frozen=True)
class Target:
    namespace: str
    name: str = ""

    def __str__(self) -> str:
        return self.namespace if self.namespace == DEMO else f"{self.namespace}:{self.name}"

    @classmethod
    def parse(cls, key: str) -> Target:
        if key == DEMO:
            return cls(DEMO)
        namespace, sep, name = key.partition(":")
        if not sep:
            # Commands recorded before route keys were namespaced name a bare host.
            return cls(HOST, key)
        if namespace not in (HOST, LLM) or not name:
            raise RoutingError(f"invalid command target {key!r}")
        return cls(namespace, name)


def host_target(host: Host) -> str:
    """Where a command for `host` goes: its own key, or the demo for simulated hosts."""
    return DEMO if host.kind is HostKind.DEMO else str(Target(HOST, host.name))


def llm_target(name: str) -> str:
    return str(Target(LLM, name))


def kind_prefix(kind: str) -> str:
    """'run.cancel' -> 'run'."""
    return kind.partition(".")[0]


class CommandRegistry:
    """Maps (target, command-kind prefix) to the handler that carries the command out."""

    def __init__(self, hosts: Iterable[Host] = ()) -> None:
        self._hosts: dict[str, Host] = {}
        # (namespace, host kind or None for any, prefix) -> handler
        self._routes: dict[tuple[str, HostKind | None, str], CommandHandler] = {}
        self.set_hosts(hosts)

    def set_hosts(self, hosts: Iterable[Host]) -> None:
        """The hosts that `host:NAME` targets name (their kind picks the handler)."""
        self._hosts = {h.name: h for h in hosts}

    def host(self, name: str) -> Host | None:
        return self._hosts.get(name)

    def register(
        self,
        prefix: str,
        handler: CommandHandler,
        *,
        namespace: str = HOST,
        host_kind: HostKind | None = None,
    ) -> None:
        """Send `prefix.*` commands for targets in `namespace` (hosts of `host_kind`) here."""
        if namespace not in NAMESPACES:
            raise ValueError(f"unknown namespace {namespace!r}")
        if host_kind is not None and namespace != HOST:
            raise ValueError("only host targets have a kind")
        self._routes[(namespace, host_kind, prefix)] = handler

    def handler_for(self, command: Command) -> CommandHandler:
        target = Target.parse(command.backend)
        prefix = kind_prefix(command.kind)
        if target.namespace == HOST:
            host = self._hosts.get(target.name)
            if host is None:
                raise RoutingError(f"no host named {target.name!r} for {command.kind}")
            kind = host.kind
            for key in ((HOST, kind, prefix), (HOST, None, prefix)):
                if key in self._routes:
                    return self._routes[key]
            raise RoutingError(f"{kind} hosts cannot do {command.kind} yet ({target})")
        handler = self._routes.get((target.namespace, None, prefix))
        if handler is None:
            raise RoutingError(f"nothing handles {command.kind} for {target}")
        return handler

    async def handle(self, command: Command) -> dict[str, Any]:
        """The registry is itself a handler: the bus hands every command to it."""
        return await self.handler_for(command).handle(command)
