"""Runs on SSH hosts: the host agent over the host's one pooled connection.

A launch is one command per host (the agent and every run of that host on its stdin), a
poll is one status command per host, and the runs themselves are detached on the host
(~/.cockpit/runs/<run_id>/), so a dropped link or a closed laptop changes nothing for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from backends.remote_shell import RemoteShell
from backends.runners.detached import DetachedRunner, RunnerOptions
from cockpit.models import Host

if TYPE_CHECKING:
    from backends.ssh.connection import SshPool


class SshRunner(DetachedRunner):
    """pool: the SshPool GPU telemetry uses too (one connection per host), or a function
    that makes it on first use."""

    def __init__(
        self,
        pool: SshPool | Callable[[], SshPool],
        host_of: Callable[[str], Host],
        options: RunnerOptions | None = None,
    ) -> None:
        def shell() -> RemoteShell:
            return RemoteShell(pool() if callable(pool) else pool)

        super().__init__(shell, host_of, options)
