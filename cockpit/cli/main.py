"""The `cockpit` entry point: the parser assembled from the command groups, and exit codes.

Bad input ends with one line on stderr and exit code 2, before anything is written. The TUI
and its heavy imports are loaded only by the subcommands that open it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cockpit.bus import CommandError
from cockpit.cli import chart, gpus, hosts, ideas, llm, logs, paper, results, runs, triage, tui
from cockpit.cli.common import EXIT_USAGE, OneLineArgumentParser
from cockpit.render.safe import printable
from cockpit.store import StoreError
from cockpit.validate import ValidationError

# Each group registers its own subcommands; the order is the order of `cockpit --help`.
GROUPS = (tui, hosts, gpus, runs, logs, chart, llm, ideas, results, triage, paper)


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lab-cockpit")
    except PackageNotFoundError:
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="cockpit",
        description="Lab Cockpit: watch GPUs, launch and follow runs, triage results.",
    )
    parser.add_argument("--version", action="version", version=f"cockpit {package_version()}")
    parser.add_argument("--db", metavar="PATH", help="database file (default: your user data dir)")
    parser.set_defaults(handler=tui.cmd_open)
    sub = parser.add_subparsers(
        title="commands", metavar="COMMAND", parser_class=OneLineArgumentParser
    )
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (ValidationError, StoreError, CommandError) as exc:
        # (CommandError: what was asked cannot be routed, e.g. the logs of a run whose
        # host was removed; a command that ran and failed is reported where it ran)
        print(f"cockpit: error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
