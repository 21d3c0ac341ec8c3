"""What every command group shares: the parser class, the store, JSON output, usage errors."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import NoReturn

from cockpit.models import Command, CostEstimate
from cockpit.paths import default_db_path
from cockpit.store import Store
from cockpit.validate import ValidationError

EXIT_USAGE = 2
EXIT_FAILED = 1  # the command ran and failed (a host, a model or a run said no)

Handler = Callable[[argparse.Namespace], int]
Subcommands = argparse._SubParsersAction  # argparse's own type for add_subparsers()


class UsageError(ValidationError):
    """Bad input to a command: reported in one line, exit code 2."""


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; users asked for the error alone."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def add_command(
    parent: Subcommands, name: str, handler: Handler, help: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help)
    parser.set_defaults(handler=handler)
    return parser


def add_group(parent: Subcommands, name: str, help: str) -> Subcommands:
    """A command with subcommands of its own (`cockpit host add`)."""
    group = parent.add_parser(name, help=help)
    return group.add_subparsers(
        title=f"{name} commands",
        metavar="COMMAND",
        required=True,
        parser_class=OneLineArgumentParser,
    )


def report_estimate(
    estimate: CostEstimate, dry_run: bool, as_json: bool, label: str = "estimate"
) -> None:
    """What an LLM job may cost, on stderr before anything is sent. A --dry-run stops
    there: with --json it prints the estimate as the one JSON document on stdout (it
    printed nothing, which no JSON parser reads)."""
    print(f"{label}: {estimate.describe()}", file=sys.stderr)
    if dry_run and as_json:
        fields = ("calls", "prompt_tokens", "completion_tokens", "cost_usd")
        print(json.dumps({"dry_run": True, **{f: getattr(estimate, f) for f in fields}}))


def report_failed(command: Command, what: str, as_json: bool) -> int:
    """A command that failed: one line on stderr, and with --json its id, status and error
    as the one JSON document on stdout (a script reading --json got nothing); exit 1."""
    print(f"cockpit: {what} failed: {command.error}", file=sys.stderr)
    if as_json:
        fields = {"command": command.id, "status": str(command.status), "error": command.error}
        print(json.dumps(fields, indent=2))
    return EXIT_FAILED


def open_store(args: argparse.Namespace, demo: bool = False) -> Store:
    if args.db is not None:
        return Store.open(args.db)
    path = default_db_path(demo)
    path.parent.mkdir(parents=True, exist_ok=True)
    return Store.open(path)
