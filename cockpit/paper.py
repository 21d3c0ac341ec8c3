"""Paper drafts: diffs between versions (the LaTeX-aware diff and claim check build on this)."""

from __future__ import annotations

import difflib

from cockpit.models import DraftVersion


def version_diff(old: DraftVersion | None, new: DraftVersion, context: int = 2) -> list[str]:
    """Unified diff lines of `new` against `old` (against nothing for a first version)."""
    old_lines = old.text.splitlines() if old else []
    return list(
        difflib.unified_diff(
            old_lines,
            new.text.splitlines(),
            fromfile=f"v{old.version}" if old else "(none)",
            tofile=f"v{new.version}",
            n=context,
            lineterm="",
        )
    )
