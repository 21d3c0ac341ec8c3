"""The run backend of each host kind that runs things, for the app and the CLI alike."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from backends.runners.detached import RunnerOptions
from backends.runners.local import LocalRunner
from backends.runners.ssh import SshRunner
from cockpit.models import Host, HostKind
from cockpit.ports import RunBackend

if TYPE_CHECKING:
    from backends.ssh.connection import SshPool

CPU_SLOTS_ENV = "COCKPIT_CPU_SLOTS"


def options_from_env(options: RunnerOptions | None = None) -> RunnerOptions:
    """COCKPIT_CPU_SLOTS: how many CPU-only runs (gpus = 0) a host runs at once."""
    opts = options or RunnerOptions()
    raw = os.environ.get(CPU_SLOTS_ENV, "").strip()
    if raw.isdigit() and int(raw) > 0:
        opts = replace(opts, cpu_slots=int(raw))
    return opts


def run_backends(
    host_of: Callable[[str], Host],
    pool: SshPool | Callable[[], SshPool],
    data_dir: Path,
    options: RunnerOptions | None = None,
) -> dict[HostKind, RunBackend]:
    opts = options_from_env(options)
    return {
        HostKind.LOCAL: LocalRunner(host_of, data_dir, opts),
        HostKind.SSH: SshRunner(pool, host_of, opts),
    }
