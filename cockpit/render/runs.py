"""Runs as the CLI prints them and the JSON `cockpit runs --json` gives (keys only added)."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from cockpit.models import Run, RunState
from cockpit.render.text import duration

# C0/C1 controls and DEL: text from hosts and files never reaches a terminal as escapes.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

STATE_STYLE: dict[RunState, str] = {
    RunState.QUEUED: "dim",
    RunState.STARTING: "cyan",
    RunState.RUNNING: "bold cyan",
    RunState.SUCCEEDED: "green",
    RunState.FAILED: "bold red",
    RunState.TIMEOUT: "red",
    RunState.CANCELLED: "yellow",
    RunState.LOST: "bold magenta",
    RunState.UNREACHABLE: "magenta",
}


def plain(text: object) -> str:
    """One line of text with every control character shown as '?'."""
    return _CONTROL.sub("?", str(text)).replace("\n", "\\n").replace("\t", " ")


def run_json(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.spec.name,
        "sweep": run.spec.sweep,
        "config": run.spec.config,
        "host": run.host,
        "gpus": run.spec.gpus,
        "gpu_ids": list(run.gpu_ids),
        "state": str(run.state),
        "exit_code": run.exit_code,
        "attempt": run.attempt,
        "relaunch_of": run.relaunch_of,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "remote_dir": run.remote_dir,
        "command": run.spec.command,
        "time_limit_s": run.spec.timeout_s,
    }


def state_text(run: Run) -> str:
    if run.state in (RunState.FAILED, RunState.TIMEOUT) and run.exit_code is not None:
        return f"{run.state} ({run.exit_code})"
    return str(run.state)


def elapsed(run: Run, now: float | None = None) -> str:
    if run.started_at is None:
        return "—"
    end = run.ended_at or (now if now is not None else time.time())
    return duration(end - run.started_at)


def flag_marker(kinds: Sequence[str]) -> str:
    """A short marker of a run's log flags for tables: "!nan-loss", "!oom+2"."""
    if not kinds:
        return ""
    first = "nan-loss" if "nan-loss" in kinds else kinds[0]
    more = len(set(kinds)) - 1
    return f"!{first}" + (f"+{more}" if more else "")


def run_line(run: Run, flags: Sequence[str] = ()) -> str:
    gpus = ",".join(str(g) for g in run.gpu_ids) or ("cpu" if run.spec.gpus == 0 else "—")
    attempt = f" #{run.attempt}" if run.attempt > 1 else ""
    return "  ".join(
        [
            plain(run.id).ljust(28),
            state_text(run).ljust(14),
            plain(run.host or "—").ljust(10),
            f"gpu {gpus}".ljust(9),
            elapsed(run).rjust(7),
            plain(run.spec.name) + attempt + (f"  {flag_marker(flags)}" if flags else ""),
        ]
    )
