"""LLM backends as stored: a litellm model string and the NAME of the key's env var."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LlmBackend:
    name: str
    model: str  # a litellm model string, e.g. "openai/gpt-4o-mini"
    api_base: str | None = None
    # The NAME of the environment variable holding the key; the key itself is never stored.
    api_key_env: str | None = None
    budget_usd: float | None = None
