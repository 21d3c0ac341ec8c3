"""`cockpit gpus`: every host's GPUs once, or every --watch seconds, as a table or JSON."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from cockpit.cli.common import Subcommands, UsageError, add_command, open_store
from cockpit.models import Host, HostKind, HostSnapshot
from cockpit.validate import valid_seconds

# The longest --watch or --timeout: a day (NaN or infinity would wait forever, silently).
MAX_WAIT_S = 86_400.0

if TYPE_CHECKING:
    from backends.gpu.sampler_client import SamplerOptions
    from backends.ssh.connection import SshSettings


def cmd_gpus(args: argparse.Namespace) -> int:
    if args.watch is not None:
        args.watch = valid_seconds(args.watch, "watch", MAX_WAIT_S)
    args.timeout = valid_seconds(args.timeout, "timeout", MAX_WAIT_S)
    with open_store(args) as store:
        hosts = [h for h in store.list_hosts() if h.kind is not HostKind.DEMO]
    if args.host:
        unknown = sorted(set(args.host) - {h.name for h in hosts})
        if unknown:
            raise UsageError(f"unknown host(s): {', '.join(unknown)}")
        hosts = [h for h in hosts if h.name in args.host]
    if not hosts:
        raise UsageError("no hosts to watch: cockpit host add NAME --ssh user@address")
    import asyncio

    return asyncio.run(gpu_report(hosts, args))


async def gpu_report(
    hosts: list[Host],
    args: argparse.Namespace,
    options: SamplerOptions | None = None,
    settings: SshSettings | None = None,
) -> int:
    """Print the hosts' GPUs once, or every --watch seconds over the same connections."""
    import asyncio

    from rich.console import Console

    from backends.gpu.remote import gpu_source_for
    from backends.ssh.connection import SshPool
    from cockpit.gpu_watch import all_reachable, collect_snapshots, snapshot_to_json
    from cockpit.render.gpus import gpu_table

    pool = SshPool(settings)
    source = gpu_source_for(hosts, pool, options)
    assert source is not None
    console = Console()
    latest: dict[str, HostSnapshot] = {}
    names = [h.name for h in hosts]
    try:
        while True:
            snaps = await collect_snapshots(source, names, args.timeout, latest)
            if args.json:
                print(json.dumps([snapshot_to_json(s) for s in snaps.values()], indent=2))
            else:
                console.print(gpu_table(snaps.values()))
            if args.watch is None:
                return 0 if all_reachable(snaps.values()) else 1
            await asyncio.sleep(args.watch)
    finally:
        await source.close()
        await pool.close()


def register(sub: Subcommands) -> None:
    gpus = add_command(
        sub, "gpus", cmd_gpus, "print every host's GPUs (exit 1 if a host is unreachable)"
    )
    gpus.add_argument("--json", action="store_true", help="one object per host")
    gpus.add_argument("--watch", metavar="SECONDS", help="repeat every SECONDS")
    gpus.add_argument("--host", action="append", metavar="NAME", help="only this host (repeatable)")
    gpus.add_argument("--timeout", default=15.0, metavar="S", help="wait per host (default 15)")
