"""Paper drafts and their versions."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DraftVersion:
    draft: str
    version: int
    text: str
    message: str = ""
    created_at: float = 0.0
