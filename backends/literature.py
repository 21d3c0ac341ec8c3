"""Literature search for novelty checks: Semantic Scholar, or OpenAlex as the alternative.

Both are public HTTP APIs that rate-limit hard. A 429 is retried after its Retry-After
(seconds or an HTTP date), a 5xx or a timeout after an exponential backoff, each wait capped
and the number of tries bounded, so a check never hangs. An empty answer is asked once more
after the backoff: Semantic Scholar answers an overloaded search with no papers. An API
key is optional and read from the named environment variable at call time.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from cockpit.models import Paper
from cockpit.ports import LiteratureError

SEMANTIC_SCHOLAR = "semantic_scholar"
OPENALEX = "openalex"
BASE_URLS = {
    SEMANTIC_SCHOLAR: "https://api.semanticscholar.org/graph/v1",
    OPENALEX: "https://api.openalex.org",
}
KEY_ENV = {SEMANTIC_SCHOLAR: "S2_API_KEY", OPENALEX: "OPENALEX_API_KEY"}
# A mirror or proxy of an API (and the tests' loopback server) is named by these.
BASE_URL_ENV = {SEMANTIC_SCHOLAR: "COCKPIT_S2_URL", OPENALEX: "COCKPIT_OPENALEX_URL"}
S2_FIELDS = "title,year,venue,citationCount,url,abstract,externalIds"

Sleep = Callable[[float], Awaitable[None]]


def retry_after_s(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _abstract_from_index(index: dict[str, list[int]] | None) -> str:
    """OpenAlex ships abstracts as word -> positions; put the words back in order."""
    if not index:
        return ""
    slots: dict[int, str] = {}
    for word, positions in index.items():
        for pos in positions:
            slots[pos] = word
    return " ".join(slots[i] for i in sorted(slots))


def papers_from_semantic_scholar(data: dict[str, Any]) -> list[Paper]:
    papers = []
    for item in data.get("data") or []:  # no "data" key at all when nothing matched
        if not isinstance(item, dict) or not item.get("title"):
            continue
        url = item.get("url") or ""
        doi = (item.get("externalIds") or {}).get("DOI")
        papers.append(
            Paper(
                title=str(item["title"]),
                year=item.get("year"),
                venue=item.get("venue") or "",
                citations=item.get("citationCount"),
                url=url or (f"https://doi.org/{doi}" if doi else ""),
                abstract=item.get("abstract") or "",
            )
        )
    return papers


def papers_from_openalex(data: dict[str, Any]) -> list[Paper]:
    papers = []
    for item in data.get("results") or []:
        if not isinstance(item, dict):
            continue
        title = item.get("display_name") or item.get("title")
        if not title:
            continue
        source = ((item.get("primary_location") or {}).get("source") or {}).get("display_name")
        papers.append(
            Paper(
                title=str(title),
                year=item.get("publication_year"),
                venue=source or "",
                citations=item.get("cited_by_count"),
                url=item.get("doi") or item.get("id") or "",
                abstract=_abstract_from_index(item.get("abstract_inverted_index")),
            )
        )
    return papers


class HttpLiteratureClient:
    """A LiteratureClient over httpx, for Semantic Scholar or OpenAlex."""

    def __init__(
        self,
        source: str = SEMANTIC_SCHOLAR,
        *,
        base_url: str | None = None,
        api_key_env: str | None = None,
        timeout_s: float = 20.0,
        max_tries: int = 4,
        backoff_s: float = 1.0,
        max_wait_s: float = 30.0,
        empty_tries: int = 2,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if source not in BASE_URLS:
            raise ValueError(f"unknown literature source {source!r}")
        self.source = source
        base_url = base_url or os.environ.get(BASE_URL_ENV[source]) or BASE_URLS[source]
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env or KEY_ENV[source]
        self.timeout_s = timeout_s
        self.max_tries = max_tries
        self.backoff_s = backoff_s
        self.max_wait_s = max_wait_s
        self.empty_tries = empty_tries  # of max_tries, how many may come back empty
        self._sleep = sleep

    def _request(self, query: str, limit: int) -> tuple[str, dict[str, Any], dict[str, str]]:
        key = os.environ.get(self.api_key_env) or None
        if self.source == SEMANTIC_SCHOLAR:
            params: dict[str, Any] = {"query": query, "limit": limit, "fields": S2_FIELDS}
            return f"{self.base_url}/paper/search", params, ({"x-api-key": key} if key else {})
        params = {"search": query, "per-page": limit}
        if key:
            params["api_key"] = key
        return f"{self.base_url}/works", params, {}

    async def search(self, query: str, limit: int = 10) -> list[Paper]:
        url, params, headers = self._request(query, limit)
        last = "no answer"
        empties = 0
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            for attempt in range(self.max_tries):
                wait: float | None = None
                try:
                    response = await client.get(url, params=params, headers=headers)
                except httpx.TimeoutException:
                    last = f"timed out after {self.timeout_s:g}s"
                except httpx.HTTPError as exc:
                    last = f"cannot connect ({type(exc).__name__})"
                else:
                    if response.status_code == 200:
                        found = self._papers(response)
                        empties += 1
                        if found or empties >= self.empty_tries or attempt + 1 >= self.max_tries:
                            return found
                        last = "no results"
                    elif response.status_code == 429:
                        last = "rate limited (HTTP 429)"
                        wait = retry_after_s(response.headers.get("Retry-After"), time.time())
                    else:
                        last = f"HTTP {response.status_code}"
                        if response.status_code < 500:
                            raise LiteratureError(f"{self.source}: {last}: {_reason(response)}")
                if attempt + 1 < self.max_tries:
                    delay = wait if wait is not None else self.backoff_s * 2**attempt
                    await self._sleep(min(delay, self.max_wait_s))
        raise LiteratureError(f"{self.source}: {last}, gave up after {self.max_tries} tries")

    def _papers(self, response: httpx.Response) -> list[Paper]:
        try:
            data = response.json()
        except ValueError:
            raise LiteratureError(f"{self.source}: the answer is not valid JSON") from None
        if not isinstance(data, dict):
            raise LiteratureError(f"{self.source}: unexpected answer (not a JSON object)")
        if self.source == SEMANTIC_SCHOLAR:
            return papers_from_semantic_scholar(data)
        return papers_from_openalex(data)


def literature_clients() -> dict[str, HttpLiteratureClient]:
    """One client per source; a novelty check picks one by name."""
    return {source: HttpLiteratureClient(source) for source in BASE_URLS}


def _reason(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return " ".join(response.text.split())[:200]
    if isinstance(data, dict):
        for key in ("message", "error", "detail"):
            if data.get(key):
                return str(data[key])[:200]
    return ""
