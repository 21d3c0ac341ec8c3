"""Ideas from a model and novelty checks, against loopback servers: the OpenAI-compatible
one for the model and one replaying Semantic Scholar / OpenAlex answers for the literature."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backends.literature import OPENALEX, SEMANTIC_SCHOLAR, HttpLiteratureClient
from backends.llm import LitellmClient
from cockpit.bus import CommandBus
from cockpit.cli.main import main
from cockpit.ideas import wire_llm
from cockpit.models import CommandStatus, Idea, LlmBackend
from cockpit.ports import LiteratureError
from cockpit.registry import CommandRegistry, llm_target
from cockpit.store import Store
from tests.literature_server import S2_HIT, Canned, PaperServer, papers
from tests.llm_server import ChatServer, Reply, llm_server

__all__ = ["llm_server", "papers"]

S2_EMPTY = {"total": 0, "offset": 0}  # no "data" key at all, as the API answers
OPENALEX_HIT = {
    "meta": {"count": 1},
    "results": [
        {
            "id": "https://openalex.org/W1",
            "display_name": "Discriminative learning rates",
            "publication_year": 2018,
            "cited_by_count": 50,
            "doi": "https://doi.org/10.2/y",
            "primary_location": {"source": {"display_name": "ACL"}},
            "abstract_inverted_index": {"rates": [1], "Layer": [0], "differ": [2]},
        }
    ],
}


def client(source: str, url: str, waits: list[float], **kw: Any) -> HttpLiteratureClient:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return HttpLiteratureClient(source, base_url=url, sleep=sleep, **kw)


async def test_semantic_scholar_results_and_429_retry_after(papers: PaperServer) -> None:
    waits: list[float] = []
    papers.script = [
        Canned(429, {"message": "Too Many Requests"}, headers={"Retry-After": "7"}),
        Canned(200, S2_HIT),
    ]
    found = await client(SEMANTIC_SCHOLAR, papers.url, waits, max_wait_s=5).search("lars")
    assert [p.title for p in found] == ["Layer-wise Adaptive Rate Scaling"]
    assert (found[0].year, found[0].citations, found[0].venue) == (2017, 900, "arXiv")
    assert waits == [5]  # Retry-After honoured, capped
    assert papers.queries[-1]["query"] == ["lars"]


async def test_empty_malformed_and_persistent_failures(
    papers: PaperServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    papers.script = [Canned(200, S2_EMPTY)]
    asked = len(papers.queries)
    assert await client(SEMANTIC_SCHOLAR, papers.url, waits).search("nothing") == []
    assert len(papers.queries) - asked == 2 and waits == [1]  # asked again once, after a wait
    papers.script = [Canned(200, S2_EMPTY), Canned(200, S2_HIT)]  # empty when overloaded
    found = await client(SEMANTIC_SCHOLAR, papers.url, waits).search("lars")
    assert [p.title for p in found] == ["Layer-wise Adaptive Rate Scaling"]
    waits.clear()
    papers.script = [Canned(200, raw=b"{not json")]
    with pytest.raises(LiteratureError, match="not valid JSON"):
        await client(SEMANTIC_SCHOLAR, papers.url, waits).search("x")
    papers.script = [Canned(500, {"error": "down"})]
    with pytest.raises(LiteratureError, match="gave up after 3 tries"):
        await client(SEMANTIC_SCHOLAR, papers.url, waits, max_tries=3, backoff_s=1).search("x")
    assert waits == [1, 2]  # exponential backoff between the tries
    papers.script = [Canned(403, {"message": "Forbidden"})]
    with pytest.raises(LiteratureError, match="403: Forbidden"):
        await client(SEMANTIC_SCHOLAR, papers.url, waits).search("x")
    monkeypatch.setenv("S2_API_KEY", "s2-key")
    papers.script = [Canned(200, S2_EMPTY)]
    await client(SEMANTIC_SCHOLAR, papers.url, waits).search("x")
    assert papers.headers[-1]["x-api-key"] == "s2-key"


async def test_openalex_and_a_timeout() -> None:
    import socket

    waits: list[float] = []
    with socket.socket() as silent:  # accepts, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        slow = client(OPENALEX, url, waits, timeout_s=0.2, max_tries=2)
        with pytest.raises(LiteratureError, match="timed out"):
            await slow.search("x")


async def test_openalex_shapes(papers: PaperServer) -> None:
    papers.script = [Canned(200, OPENALEX_HIT)]
    (paper,) = await client(OPENALEX, papers.url, []).search("layer rates")
    assert (paper.title, paper.venue, paper.citations) == (
        "Discriminative learning rates",
        "ACL",
        50,
    )
    assert paper.abstract == "Layer rates differ"
    assert papers.queries[-1]["search"] == ["layer rates"]


IDEA_V1 = {
    "Name": "layerwise_lr_adaptation",
    "Title": "Layer-wise Learning Rate Adaptation for Transformers",
    "Experiment": "Per layer.",
    "Interestingness": 6,
    "Feasibility": 8,
    "Novelty": 4,
}


def fenced(record: dict[str, Any], thought: str = "Looks fine.") -> str:
    return f"THOUGHT: {thought}\n\nNEW IDEA JSON:\n```json\n{json.dumps(record)}\n```"


@pytest.fixture
def backend(store: Store, llm_server: ChatServer) -> LlmBackend:
    b = LlmBackend("loop", "openai/gpt-4o-mini", api_base=llm_server.url)
    store.add_llm_backend(b)
    return b


async def test_generation_reflects_stops_when_done_repairs_and_flags(
    store: Store, backend: LlmBackend, llm_server: ChatServer
) -> None:
    store.add_idea(
        Idea(
            "layerwise_learning_rates",
            "Layer-wise Learning Rate Adaptation",
            "Per-layer learning rates for transformer layers.",
        )
    )
    improved = {**IDEA_V1, "Novelty": 3}
    llm_server.script = [
        Reply(fenced(IDEA_V1)),
        Reply(fenced(improved, "Novelty was too high.")),
        Reply(fenced(improved, "Nothing to change. I am done")),
        # Idea 2: prose and a trailing comma; then an answer with no JSON at all.
        Reply(
            'Here: {"Name": "warm", "Title": "Warmup length sweep", "Experiment": "x",'
            ' "Interestingness": 5, "Feasibility": 9, "Novelty": "3/10",} thanks'
        ),
        Reply("I cannot continue."),
        Reply("Still nothing."),
    ]
    bus = CommandBus(store, CommandRegistry())
    wire_llm(bus.registry, store, LitellmClient(), None)
    command = await bus.submit(
        "ideas",
        llm_target("loop"),
        "llm.generate",
        {"context": "nanoGPT on shakespeare", "n": 2, "reflections": 2},
    )
    assert command.status is CommandStatus.DONE, command.error
    result = command.result or {}
    assert result["ideas"] == ["layerwise_lr_adaptation", "warm"]
    assert result["calls"] == 6  # idea 1 stopped after "I am done": 3 calls, not 3 + more
    layer = store.get_idea("layerwise_lr_adaptation")
    assert (layer.novelty, layer.status, layer.source) == (3, "scored", "llm")
    assert "I am done" in layer.reasoning
    assert "possible duplicate of layerwise_learning_rates" in layer.notes
    assert result["duplicates"]["layerwise_lr_adaptation"][0][0] == "layerwise_learning_rates"
    warm = store.get_idea("warm")
    assert warm.novelty == 3 and "removed trailing commas" in warm.notes
    # The answers that had no JSON are reported with their raw text, not dropped.
    assert [p["raw"] for p in result["problems"]] == ["I cannot continue.", "Still nothing."]
    # The first reflection re-sent the conversation: the model saw its own answer.
    assert llm_server.received[1].body["messages"][-2]["role"] == "assistant"
    assert {c.purpose for c in store.llm_calls()} == {"ideas.generate", "ideas.reflect"}


async def test_novelty_check_queries_then_decides_and_records_papers(
    store: Store, backend: LlmBackend, llm_server: ChatServer, papers: PaperServer
) -> None:
    store.add_idea(Idea("layer_lr", "Layer-wise learning rates", "Per layer."))
    llm_server.script = [
        Reply('THOUGHT: search.\n```json\n{"Query": "layer-wise learning rate"}\n```'),
        Reply('```json\n{"Decision": "not novel", "Reasons": "LARS (2017) does this."}\n```'),
    ]
    papers.script = [Canned(200, S2_HIT)]
    bus = CommandBus(store, CommandRegistry())
    literature = HttpLiteratureClient(SEMANTIC_SCHOLAR, base_url=papers.url)
    wire_llm(bus.registry, store, LitellmClient(), literature)
    command = await bus.submit("ideas", llm_target("loop"), "llm.check", {"idea": "layer_lr"})
    assert command.status is CommandStatus.DONE, command.error
    idea = store.get_idea("layer_lr")
    assert idea.novel is False
    check = idea.novelty_check
    assert check is not None and check.reasons == "LARS (2017) does this."
    assert check.queries == ("layer-wise learning rate",)
    assert [p.title for p in check.papers] == ["Layer-wise Adaptive Rate Scaling"]
    # The model saw the papers in its second round.
    assert (
        "Layer-wise Adaptive Rate Scaling" in llm_server.received[1].body["messages"][-1]["content"]
    )
    assert all(c.idea == "layer_lr" for c in store.llm_calls())


def test_cli_generate_dry_run_prints_the_estimate_and_sends_nothing(
    store: Store,
    backend: LlmBackend,
    llm_server: ChatServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    context = tmp_path / "context.md"
    context.write_text("Task: nanoGPT. " * 100)
    code = main(
        [
            "--db",
            str(store.path),
            "ideas",
            "generate",
            "--llm",
            "loop",
            "--context",
            str(context),
            "--n",
            "3",
            "--reflections",
            "2",
            "--dry-run",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0 and "estimate: 9 call(s)" in err and "up to $" in err
    assert llm_server.received == []
