"""Paper drafts, their versions, LaTeX-aware diffs, claim checks and reviews."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Draft:
    name: str
    path: str  # the main .tex file; "" for drafts that live only in the store (the demo)
    title: str = ""
    created_at: float = 0.0


@dataclass(frozen=True)
class DraftVersion:
    draft: str
    version: int
    text: str  # the flattened draft: \input and \include replaced by the files' text
    message: str = ""
    created_at: float = 0.0
    source: str = ""  # "snapshot", "before edit", "demo"; git versions are not stored


@dataclass(frozen=True)
class GitVersion:
    """A commit that touched the draft's folder (read live from the repository)."""

    rev: str
    created_at: float
    message: str


@dataclass(frozen=True)
class DiffChange:
    """One change between two drafts. kind: changed, added, removed, moved, renamed."""

    kind: str
    section: str
    old: str
    new: str
    # word-level ops for a changed paragraph: ("=", text), ("-", old), ("+", new)
    words: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DiffSummary:
    numbers_removed: tuple[str, ...] = ()
    numbers_added: tuple[str, ...] = ()
    citations_added: tuple[str, ...] = ()
    citations_removed: tuple[str, ...] = ()
    refs_added: tuple[str, ...] = ()  # \ref/\label/\includegraphics targets (figures, tables)
    refs_removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class DraftDiff:
    old_label: str
    new_label: str
    changes: tuple[DiffChange, ...]
    summary: DiffSummary


@dataclass(frozen=True)
class ClaimSource:
    run: str
    metric: str
    value: float
    what: str = "value"  # value, mean, ci_low, ci_high, delta, p, se, macro, provenance


@dataclass(frozen=True)
class Claim:
    """A number or a statement of the draft and what the check found for it.

    status: matched, unmatched, stale, unbacked (a significance claim without a corrected
    test), contradicts (a setup fact against the runs' provenance), unchecked (a setup
    number nothing recorded can confirm or refute)."""

    text: str
    line: int
    section: str
    context: str
    status: str
    value: float | None = None
    source: ClaimSource | None = None
    note: str = ""

    @property
    def is_problem(self) -> bool:
        return self.status in PROBLEM_STATUSES


PROBLEM_STATUSES = frozenset({"unmatched", "stale", "unbacked", "contradicts"})


@dataclass(frozen=True)
class ClaimReport:
    draft: str
    claims: tuple[Claim, ...]

    @property
    def problems(self) -> tuple[Claim, ...]:
        return tuple(c for c in self.claims if c.is_problem)


@dataclass(frozen=True)
class Hunk:
    """One proposed edit: replace old[start:end] (character offsets) by `new`."""

    index: int
    start: int
    end: int
    old: str
    new: str


@dataclass(frozen=True)
class EditTarget:
    """A section or paragraph of a draft's file that an LLM edit can replace: the text
    file[start:end] as it was read (`text`)."""

    file: str
    label: str  # "Method" for a section, "Method ¶2" for its second paragraph
    kind: str  # "section" or "paragraph"
    start: int
    end: int
    text: str


# The NeurIPS reviewer form: text fields, then scores with their ranges.
REVIEW_TEXT_FIELDS = ("summary", "strengths", "weaknesses", "questions", "limitations")
REVIEW_SCORE_RANGES = {
    "soundness": (1, 4),
    "presentation": (1, 4),
    "contribution": (1, 4),
    "overall": (1, 10),
    "confidence": (1, 5),
}


@dataclass(frozen=True)
class Review:
    draft: str
    version: int
    index: int  # 0..n-1 for the reviewers, -1 for the meta-review
    fields: dict[str, Any] = field(default_factory=dict)
    backend: str = ""
    cost_usd: float = 0.0
    created_at: float = 0.0
