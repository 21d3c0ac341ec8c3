"""LLM backends as stored (a litellm model string and the NAME of the key's env var), the
messages sent, the replies received and the calls logged."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LlmBackend:
    name: str
    model: str  # a litellm model string, e.g. "openai/gpt-4o-mini"
    api_base: str | None = None
    # The NAME of the environment variable holding the key; the key itself is never stored.
    api_key_env: str | None = None
    budget_usd: float | None = None


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system | user | assistant
    content: str


@dataclass(frozen=True)
class LlmReply:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None  # None: the model is not in litellm's price map
    latency_s: float


class LlmCallStatus(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"  # the provider or the network said no
    CANCELLED = "cancelled"  # a person pressed esc, or the job was stopped
    REFUSED = "refused"  # the budget stopped it before anything was sent
    # In flight: its row holds the most the call can cost, reserved against the budget
    # before it was sent, until the real cost replaces it.
    PENDING = "pending"


@dataclass(frozen=True)
class LlmCall:
    """One logged call: what it was for, what it cost, how it ended."""

    backend: str
    model: str
    status: LlmCallStatus
    pane: str = ""
    purpose: str = ""  # e.g. llm.test, ideas.generate, ideas.reflect, ideas.check
    idea: str | None = None
    draft: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    latency_s: float = 0.0
    error: str | None = None
    command_id: int | None = None
    created_at: float = 0.0
    id: int | None = None


@dataclass(frozen=True)
class CostEstimate:
    """What a job of several calls may cost, shown before it runs."""

    calls: int
    prompt_tokens: int
    completion_tokens: int  # the most the answers may use (max_tokens per call)
    cost_usd: float | None  # None: the model is not priced

    def describe(self) -> str:
        cost = "unknown cost (model not in the price map)"
        if self.cost_usd is not None:
            cost = f"up to ${self.cost_usd:.4f}"
        return (
            f"{self.calls} call(s), about {self.prompt_tokens} prompt tokens and up to "
            f"{self.completion_tokens} answer tokens: {cost}"
        )


@dataclass(frozen=True)
class LlmReservation:
    """A call's worst-case cost held against its backend's budget before it is sent."""

    call_id: int | None  # the pending row; None: refused, nothing was written
    spent_usd: float  # what the backend had spent (reservations included) before this one
    budget_usd: float | None
    worst_usd: float

    @property
    def refused(self) -> bool:
        return self.call_id is None


@dataclass
class UsageRow:
    key: str
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0  # calls whose model is not in the price map

    def add(self, call: LlmCall) -> None:
        self.calls += 1
        self.prompt_tokens += call.prompt_tokens
        self.completion_tokens += call.completion_tokens
        if call.cost_usd is None and call.status is LlmCallStatus.OK:
            self.unpriced += 1
        self.cost_usd += call.cost_usd or 0.0


@dataclass
class UsageReport:
    total: UsageRow
    by_day: list[UsageRow] = field(default_factory=list)
    by_pane: list[UsageRow] = field(default_factory=list)
    by_idea: list[UsageRow] = field(default_factory=list)
    by_backend: list[UsageRow] = field(default_factory=list)
    failed: int = 0
    refused: int = 0
    cancelled: int = 0
    pending: int = 0  # in flight (or cut off by a crash): counted at their worst case
