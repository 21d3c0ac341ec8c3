"""Ideas in the queue."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Idea:
    name: str
    title: str
    experiment: str = ""
    interestingness: int | None = None
    feasibility: int | None = None
    novelty: int | None = None
    novel: bool | None = None
    status: str = "new"  # new | queued | running | done | rejected
    source: str = "user"  # user | llm | file

    @property
    def score(self) -> float | None:
        parts = [s for s in (self.interestingness, self.feasibility, self.novelty) if s is not None]
        return sum(parts) / len(parts) if parts else None
