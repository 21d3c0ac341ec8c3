"""Commands on the bus: what a pane asked for, who proposed it, and how it ended."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class CommandStatus(enum.StrEnum):
    PENDING = "pending"
    NEEDS_CONFIRM = "needs-confirm"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"  # a person declined an LLM-proposed command
    INTERRUPTED = "interrupted"  # was running when the cockpit died; never re-run silently

    @property
    def terminal(self) -> bool:
        return self in (
            CommandStatus.DONE,
            CommandStatus.FAILED,
            CommandStatus.REJECTED,
            CommandStatus.INTERRUPTED,
        )


class CommandOrigin(enum.StrEnum):
    USER = "user"
    LLM = "llm"


@dataclass(frozen=True)
class Command:
    id: int
    pane: str
    backend: str
    kind: str
    payload: dict[str, Any]
    status: CommandStatus
    origin: CommandOrigin = CommandOrigin.USER
    result: dict[str, Any] | None = None
    error: str | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
