"""Ideas in the queue, and the papers a novelty check found."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class IdeaStatus(enum.StrEnum):
    NEW = "new"
    SCORED = "scored"
    APPROVED = "approved"
    RUNNING = "running"
    DONE = "done"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Paper:
    title: str
    year: int | None = None
    venue: str = ""
    citations: int | None = None
    url: str = ""
    abstract: str = ""


@dataclass(frozen=True)
class NoveltyCheck:
    """The outcome of a literature check: the decision, why, and what was found."""

    novel: bool | None  # None: undecided (rounds ran out, or the search failed)
    reasons: str
    queries: tuple[str, ...] = ()
    papers: tuple[Paper, ...] = ()
    source: str = ""  # semantic_scholar | openalex
    checked_at: float = 0.0


@dataclass(frozen=True)
class Idea:
    name: str
    title: str
    experiment: str = ""
    interestingness: int | None = None
    feasibility: int | None = None
    novelty: int | None = None
    novel: bool | None = None
    status: str = IdeaStatus.NEW
    source: str = "user"  # user | llm | file
    priority: int = 0  # higher first
    notes: str = ""
    sweeps: tuple[str, ...] = ()  # the sweeps it produced (their results are theirs)
    reasoning: str = ""  # why the scores are what they are, as the model said
    # The idea as its ideas.json had it (v2 fields, the original Name, key order), so an
    # export gives back what was imported.
    fields: dict[str, Any] = field(default_factory=dict)
    novelty_check: NoveltyCheck | None = None
    created_at: float = 0.0

    @property
    def score(self) -> float | None:
        parts = [s for s in (self.interestingness, self.feasibility, self.novelty) if s is not None]
        return sum(parts) / len(parts) if parts else None
