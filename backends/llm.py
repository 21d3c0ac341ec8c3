"""litellm behind the LlmClient port: any provider, streamed, priced from litellm's own map.

litellm takes seconds and ~180 MB to import, so it is imported on first use, in a thread,
never at start-up. Offline it would also spend seconds retrying a download of its price map
at import; LITELLM_LOCAL_MODEL_COST_MAP=True makes it use the map it ships. The API key is
read from the backend's named environment variable for each call, passed to litellm and
dropped; any error text is scrubbed of it before it leaves this module.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import re
import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from cockpit.models import ChatMessage, LlmBackend, LlmReply
from cockpit.ports import DeltaSink, LlmCallError

# Tokens a model answers with, by litellm's rule of thumb, when no usage came back.
CHARS_PER_TOKEN = 4


def scrub(text: str, secret: str | None) -> str:
    """`text` with the key replaced, so an error that echoes it never reaches a log."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text


def one_line(exc: BaseException, secret: str | None) -> str:
    """The provider's error in one line: litellm's message without its banner and prefixes."""
    message = str(exc) or type(exc).__name__
    message = " ".join(message.split())
    for prefix in ("litellm.", "OpenAIException - "):
        message = message.replace(prefix, "")
    # litellm repeats the class name ("AuthenticationError: AuthenticationError: …").
    message = re.sub(r"^(\w+): \1: ", r"\1: ", message)
    return scrub(message, secret)[:400]


class LitellmClient:
    """The LlmClient the cockpit uses. One per process; holds litellm once imported."""

    def __init__(self) -> None:
        self._litellm: ModuleType | None = None
        self._import_lock = asyncio.Lock()

    async def litellm(self) -> ModuleType:
        if self._litellm is None:
            async with self._import_lock:
                if self._litellm is None:
                    self._litellm = await asyncio.to_thread(_import_litellm)
        return self._litellm

    async def complete(
        self,
        backend: LlmBackend,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        on_delta: DeltaSink | None = None,
        timeout_s: float = 120.0,
    ) -> LlmReply:
        key: str | None = None
        if backend.api_key_env:
            key = os.environ.get(backend.api_key_env)
            if not key:
                raise LlmCallError(
                    f"no API key: the environment variable {backend.api_key_env} is not set"
                )
        litellm = await self.litellm()
        kwargs: dict[str, Any] = {
            "model": backend.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
            "timeout": timeout_s,
            # Retries are the cockpit's decision (and the user's money), not litellm's.
            "num_retries": 0,
            "max_retries": 0,
        }
        if backend.api_base:
            kwargs["api_base"] = backend.api_base
        if key:
            kwargs["api_key"] = key
        elif backend.api_base:
            # A keyless OpenAI-compatible server (vLLM, llama.cpp): the OpenAI client insists
            # on some key, and the server ignores it.
            kwargs["api_key"] = "no-key"
        started = time.monotonic()
        parts: list[str] = []
        usage: Any = None
        model = backend.model
        try:
            stream = await litellm.acompletion(**kwargs)
            async for chunk in stream:
                usage = getattr(chunk, "usage", None) or usage
                for choice in getattr(chunk, "choices", None) or ():
                    piece = getattr(choice.delta, "content", None)
                    if piece:
                        parts.append(piece)
                        if on_delta is not None:
                            on_delta(piece)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise LlmCallError(
                one_line(exc, key),
                status_code=getattr(exc, "status_code", None),
                partial="".join(parts),
            ) from None
        text = "".join(parts)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        if usage is None:
            # Some servers send no usage: count as litellm would price it.
            prompt_tokens = await self.count_tokens(model, "\n".join(m.content for m in messages))
            completion_tokens = max(1, len(text) // CHARS_PER_TOKEN) if text else 0
        return LlmReply(
            text=text,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=await self.price(model, prompt_tokens, completion_tokens),
            latency_s=time.monotonic() - started,
        )

    async def price(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        litellm = await self.litellm()
        try:
            prompt_cost, completion_cost = litellm.cost_per_token(
                model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
            )
        except Exception:  # not in the price map (a local or custom model)
            return None
        return float(prompt_cost) + float(completion_cost)

    async def count_tokens(self, model: str, text: str) -> int:
        litellm = await self.litellm()
        try:
            return int(litellm.token_counter(model=model, text=text))
        except Exception:
            return max(1, len(text) // CHARS_PER_TOKEN)


def _import_litellm() -> ModuleType:
    # Must be set before the import: offline, litellm would retry a download for seconds.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    litellm = importlib.import_module("litellm")
    litellm.suppress_debug_info = True  # no "Give Feedback" banner on the user's terminal
    litellm.telemetry = False
    return litellm
