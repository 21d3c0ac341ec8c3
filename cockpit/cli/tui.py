"""`cockpit` and `cockpit demo`: open the cockpit on your database or on the embedded demo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cockpit.cli.common import Subcommands, UsageError, add_command, open_store
from cockpit.models import HostKind
from cockpit.paths import default_db_path
from cockpit.store import Store


def need_terminal() -> None:
    """The cockpit draws on stderr and reads keys from stdin: without a terminal there it
    ran on, drawing escape codes into a pipe and waiting for keys that never come."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UsageError(
            "the cockpit opens in a terminal; from a script use its commands (cockpit --help)"
        )


def cmd_open(args: argparse.Namespace) -> int:
    need_terminal()
    return run_app(open_store(args), demo=False)


def holds_only_the_demo(path: Path) -> bool:
    """Whether --reset may delete `path`: the demo's own database, or one holding nothing
    (`cockpit --db MY.db demo --reset` deleted MY.db, whatever it held)."""
    from cockpit.demo import SEEDED_KEY

    if not path.exists():
        return True
    with Store.open(path) as store:  # (another application's file: one line, kept)
        hosts = store.list_hosts()
        if store.get_setting(SEEDED_KEY) is not None:
            return all(h.kind is HostKind.DEMO for h in hosts)
        return not (hosts or store.list_runs() or store.list_ideas() or store.list_drafts())


def cmd_demo(args: argparse.Namespace) -> int:
    if not 0 < args.replay_seconds < float("inf"):
        raise UsageError(f"invalid --replay-seconds {args.replay_seconds}: must be > 0")
    need_terminal()
    if args.reset:
        path = Path(args.db) if args.db else default_db_path(demo=True)
        if not holds_only_the_demo(path):
            raise UsageError(f"--reset would delete {path}, which holds more than the demo")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = open_store(args, demo=True)
    return run_app(store, demo=True, replay_s=args.replay_seconds)


def run_app(store: Store, demo: bool, replay_s: float = 240.0) -> int:
    # Textual and the panes load only for the commands that open the cockpit.
    from cockpit.app.demo import DemoWiring
    from cockpit.app.shell import CockpitApp
    from cockpit.app.themes import THEME_SETTING

    theme = store.get_setting(THEME_SETTING)
    wiring = DemoWiring.create(duration_s=replay_s) if demo else None
    try:
        CockpitApp(store, demo=wiring, theme=theme).run()
    finally:
        store.close()
    return 0


def register(sub: Subcommands) -> None:
    demo = add_command(
        sub, "demo", cmd_demo, "open the cockpit on the embedded demo (no GPU, no network)"
    )
    demo.add_argument("--reset", action="store_true", help="start the demo over from scratch")
    demo.add_argument(
        "--replay-seconds",
        type=float,
        default=240.0,
        metavar="S",
        help="how long the live demo run takes (default 240)",
    )
