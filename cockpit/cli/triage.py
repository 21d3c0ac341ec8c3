"""`cockpit triage`: the morning report since the last look."""

from __future__ import annotations

import argparse
import json
import sys
import time

from cockpit.cli.common import Subcommands, UsageError, add_command, open_store
from cockpit.render.text import json_safe
from cockpit.validate import parse_since, shown


def cmd_triage(args: argparse.Namespace) -> int:
    from cockpit import triage
    from cockpit.render.triage import render_triage

    now = time.time()
    since = parse_since(args.since, now) if args.since is not None else None
    if since is not None and since >= now:
        raise UsageError(f"invalid --since {shown(args.since)}: it is not in the past")
    with open_store(args) as store:
        report = triage.build_triage(store, since=since, now=now)
        if args.json:
            print(json.dumps(json_safe(triage.report_json(report)), indent=2))
        else:
            from rich.console import Console

            render_triage(report, Console(file=sys.stdout, highlight=False))
        if store.read_only and not args.peek:
            print(
                f"cockpit: note: {store.path} is a read-only database: the last look was not "
                "recorded",
                file=sys.stderr,
            )
        elif not args.peek:
            triage.mark_looked(store, now)
    return 0


def register(sub: Subcommands) -> None:
    tri = add_command(
        sub, "triage", cmd_triage, "morning report: finished and failed runs, GPU-hours, verdicts"
    )
    tri.add_argument(
        "--since", metavar="WHEN", help="12h, 30m, 2d or a date/time (default: the last look)"
    )
    tri.add_argument("--json", action="store_true", help="the report as JSON")
    tri.add_argument("--peek", action="store_true", help="do not move the last-look time")
