"""The idea queue: states, AI-Scientist ideas.json in and out, ideas from a model (with its
JSON repaired), near-duplicates, novelty checks against the literature, and sweep proposals.

A model's output is repaired where it can be (fences, trailing prose, trailing commas, a
truncated end, missing fields) and otherwise reported with the raw text: never dropped
silently, never a crash. A sweep an idea proposes is a command waiting in needs-confirm:
nothing an LLM proposes runs without a person.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cockpit.llm_jobs import JobContext, LlmCommandHandler, estimate_job
from cockpit.models import (
    ChatMessage,
    CostEstimate,
    Idea,
    IdeaStatus,
    LlmBackend,
    NoveltyCheck,
    Paper,
)
from cockpit.ports import LiteratureClient, LiteratureError, LlmClient
from cockpit.registry import LLM, CommandRegistry
from cockpit.store import Store
from cockpit.validate import NAME_RE, ValidationError, valid_input_file

SCORE_FIELDS = (
    ("Interestingness", "interestingness"),
    ("Feasibility", "feasibility"),
    ("Novelty", "novelty"),
)
# A person moves an idea along; `rejected` is reachable from anywhere and can be reopened.
MOVES: dict[str, frozenset[str]] = {
    IdeaStatus.NEW: frozenset({IdeaStatus.SCORED, IdeaStatus.APPROVED, IdeaStatus.REJECTED}),
    IdeaStatus.SCORED: frozenset({IdeaStatus.NEW, IdeaStatus.APPROVED, IdeaStatus.REJECTED}),
    IdeaStatus.APPROVED: frozenset({IdeaStatus.SCORED, IdeaStatus.RUNNING, IdeaStatus.REJECTED}),
    IdeaStatus.RUNNING: frozenset({IdeaStatus.DONE, IdeaStatus.REJECTED, IdeaStatus.APPROVED}),
    IdeaStatus.DONE: frozenset({IdeaStatus.RUNNING}),
    IdeaStatus.REJECTED: frozenset({IdeaStatus.NEW}),
}
IDEA_MAX_TOKENS = 1200
CHECK_MAX_TOKENS = 600
SWEEP_MAX_TOKENS = 900
DUPLICATE_THRESHOLD = 0.5


class IdeaError(ValidationError):
    """An idea cannot be read or moved as asked (one line for the user)."""


def move(idea: Idea, status: str) -> Idea:
    """The idea in its new state, if a person may move it there."""
    try:
        target = IdeaStatus(status)
    except ValueError:
        allowed = ", ".join(s.value for s in IdeaStatus)
        raise IdeaError(f"invalid status {status!r}: one of {allowed}") from None
    if target == idea.status:
        return idea
    if target not in MOVES.get(idea.status, frozenset()):
        raise IdeaError(f"idea {idea.name} is {idea.status}; it cannot move to {target}")
    return dataclasses.replace(idea, status=target)


def slug(text: str, limit: int = 48) -> str:
    """A name for the queue out of a title or a model's Name ('Sparse Attn!' -> sparse_attn)."""
    words = re.findall(r"[A-Za-z0-9]+", text.lower())
    name = "_".join(words)[:limit].strip("_")
    return name or "idea"


def unique_name(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name}-{n}" in taken:
        n += 1
    return f"{name}-{n}"


def has_scores(idea: Idea) -> bool:
    return any(getattr(idea, attr) is not None for _, attr in SCORE_FIELDS)


# -- AI-Scientist ideas.json ---------------------------------------------------------------


def _score(value: Any) -> int | None:
    """1-10 from 7, 7.0, "7" or "7/10"; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        match = re.match(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?\s*$", value)
        value = float(match.group(1)) if match else None
    if isinstance(value, int | float) and 1 <= value <= 10 and float(value).is_integer():
        return int(value)
    return None


def _experiment_text(record: dict[str, Any]) -> str:
    for key in ("Experiment", "Experiments", "Short Hypothesis", "Abstract"):
        value = record.get(key)
        if isinstance(value, list):
            return "\n".join(str(v) for v in value)
        if isinstance(value, str) and value:
            return value
    return ""


def idea_from_record(
    record: dict[str, Any], taken: set[str], source: str = "file"
) -> tuple[Idea, list[str]]:
    """One AI-Scientist idea (v1: scores and `novel`; v2: hypothesis, abstract, …).

    The record is kept as it was, so an export writes it back; the queue's name is the
    record's Name made safe and unique. Returns the problems found (missing fields, scores
    out of range) for the caller to report.
    """
    problems: list[str] = []
    lowered = {k.lower(): k for k in record}
    # Models write "name"/"title"; the files write "Name"/"Title".
    fixed = {}
    for canonical in ("Name", "Title", "Experiment", *(k for k, _ in SCORE_FIELDS)):
        key = lowered.get(canonical.lower())
        if key is not None and key != canonical:
            fixed[canonical] = record[key]
    record = {**{k: v for k, v in record.items() if k not in fixed.values()}, **fixed}
    raw_name = record.get("Name")
    title = record.get("Title")
    if not isinstance(title, str) or not title.strip():
        if not isinstance(raw_name, str) or not raw_name.strip():
            raise IdeaError("an idea has neither a Name nor a Title")
        problems.append("no Title: the Name is used")
        title = str(raw_name)
    if not isinstance(raw_name, str) or not raw_name.strip():
        problems.append("no Name: one was made from the Title")
        name = slug(title)
    else:
        name = raw_name if NAME_RE.match(raw_name) else slug(raw_name)
    name = unique_name(name, taken)
    taken.add(name)
    scores: dict[str, int | None] = {}
    for key, attr in SCORE_FIELDS:
        value = record.get(key)
        scores[attr] = _score(value)
        if value is None:
            problems.append(f"no {key} score")
        elif scores[attr] is None:
            problems.append(f"{key} {value!r} is not a score from 1 to 10")
    experiment = _experiment_text(record)
    if not experiment:
        problems.append("no Experiment")
    novel = record.get("novel")
    idea = Idea(
        name=name,
        title=title.strip(),
        experiment=experiment,
        novel=novel if isinstance(novel, bool) else None,
        source=source,
        fields=dict(record),
        **scores,
    )
    if has_scores(idea):
        idea = dataclasses.replace(idea, status=IdeaStatus.SCORED)
    return idea, problems


def read_ideas_file(text: str, taken: Iterable[str] = ()) -> tuple[list[Idea], list[str]]:
    """Ideas out of an ideas.json; problems are `Name: what is wrong` lines."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IdeaError(f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:  # ([[[[… a hundred thousand deep: no ideas file is that)
        raise IdeaError("not an ideas file: JSON nested too deeply") from None
    if isinstance(data, dict):
        data = data.get("ideas", [data])
    if not isinstance(data, list):
        raise IdeaError("expected a list of ideas")
    names: set[str] = set(taken)
    ideas: list[Idea] = []
    problems: list[str] = []
    for i, record in enumerate(data):
        if not isinstance(record, dict):
            problems.append(f"entry {i + 1}: not an object, skipped")
            continue
        try:
            idea, found = idea_from_record(record, names)
        except IdeaError as exc:
            problems.append(f"entry {i + 1}: {exc}, skipped")
            continue
        ideas.append(idea)
        problems.extend(f"{idea.name}: {p}" for p in found if "score" not in p)
    return ideas, problems


def idea_record(idea: Idea) -> dict[str, Any]:
    """The idea as an AI-Scientist record: what its file held, with the queue's edits."""
    record = dict(idea.fields)
    record["Name"] = record.get("Name", idea.name) if idea.fields else idea.name
    record["Title"] = idea.title
    v2 = "Experiments" in record or "Short Hypothesis" in record
    if not v2 or "Experiment" in record:
        record["Experiment"] = idea.experiment
    elif idea.experiment != _experiment_text(record):
        key = "Experiments" if isinstance(record.get("Experiments"), str) else "Experiment"
        record[key] = idea.experiment
    for key, attr in SCORE_FIELDS:
        value = getattr(idea, attr)
        if value is not None or key in record:
            record[key] = value
    if idea.novel is not None or "novel" in record:
        record["novel"] = idea.novel
    return record


def write_ideas_file(ideas: Sequence[Idea]) -> str:
    return json.dumps([idea_record(i) for i in ideas], indent=4, ensure_ascii=False) + "\n"


MAX_CONTEXT_BYTES = 400_000


def read_context_file(path_text: str) -> str:
    """A research context for generation (task, code template, results), size-capped."""
    path = valid_input_file(path_text.strip(), "context file")  # (a FIFO would block)
    try:
        size = path.stat().st_size
        if size > MAX_CONTEXT_BYTES:
            raise IdeaError(f"context file {path} is {size} bytes; at most {MAX_CONTEXT_BYTES}")
        data = path.read_bytes()
    except OSError as exc:
        raise IdeaError(f"cannot read context file {path}: {exc.strerror}") from None
    return data.decode("utf-8", errors="replace")


# -- JSON out of a model's answer ----------------------------------------------------------

FENCE_RE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
TRAILING_COMMA_RE = re.compile(r",(\s*[}\]])")


@dataclass(frozen=True)
class ModelJson:
    value: Any
    repairs: tuple[str, ...]


def _balanced(text: str, start: int) -> tuple[str, list[str]]:
    """From an opening bracket to its match; with the closers still open if it ends first."""
    stack: list[str] = []
    in_string = escaped = False
    for i in range(start, len(text)):
        c = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "{[":
            stack.append("}" if c == "{" else "]")
        elif c in "}]":
            if stack:
                stack.pop()
            if not stack:
                return text[start : i + 1], []
    closers = list(reversed(stack))
    if in_string:
        closers.insert(0, '"')
    return text[start:], closers


def parse_model_json(text: str) -> ModelJson:
    """The JSON in a model's answer, repaired where that is safe; IdeaError when it is not."""
    stripped = text.strip()
    try:
        return ModelJson(json.loads(stripped), ())
    except json.JSONDecodeError:
        pass
    repairs: list[str] = []
    candidate = stripped
    fence = FENCE_RE.search(stripped)
    if fence:
        candidate = fence.group(1).strip()
        repairs.append("took the fenced block")
    else:
        unclosed = stripped.split("```", 1)
        if len(unclosed) == 2:  # an opening fence that never closes: a truncated answer
            candidate = unclosed[1].removeprefix("json").strip()
            repairs.append("took the unclosed fenced block")
    starts = [i for i in (candidate.find("{"), candidate.find("[")) if i >= 0]
    if not starts:
        raise IdeaError("no JSON object in the answer")
    start = min(starts)
    body, closers = _balanced(candidate, start)
    if start > 0 or len(body) < len(candidate.rstrip()):
        repairs.append("dropped prose around the JSON")
    if closers:
        body = body.rstrip().rstrip(",") + "".join(closers)
        repairs.append("closed a truncated object")
    cleaned = body.replace("\u201c", '"').replace("\u201d", '"')
    if cleaned != body:
        repairs.append("replaced curly quotes")
    without_commas = TRAILING_COMMA_RE.sub(r"\1", cleaned)
    if without_commas != cleaned:
        repairs.append("removed trailing commas")
    try:
        return ModelJson(json.loads(without_commas), tuple(repairs))
    except json.JSONDecodeError as exc:
        raise IdeaError(f"the answer's JSON cannot be repaired ({exc.msg})") from None


def thought_of(text: str) -> str:
    """The reasoning a model wrote before its JSON ('THOUGHT: …'), kept with the scores."""
    head = FENCE_RE.split(text, maxsplit=1)[0]
    head = re.split(r"NEW IDEA JSON:|RESPONSE:|```", head, maxsplit=1)[0]
    head = re.sub(r"^\s*THOUGHT:\s*", "", head.strip(), flags=re.IGNORECASE)
    return head.strip()[:4000]


# -- near-duplicates -----------------------------------------------------------------------

# Words every ML idea shares; they would make any two ideas look alike.
STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        "a an and the of for in on to with by via from into using as is are be at or its this "
        "that we our model models training learning",
    )
)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOPWORDS and len(w) > 2}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def similarity(a: Idea, b: Idea) -> float:
    """0..1: the overlap of all their content words, or of their names and titles alone.

    Reworded repeats of one idea share their name and the title's key words while their
    experiments are worded apart, so names and titles weigh on their own as well.
    """
    whole = _jaccard(
        _words(f"{a.name.replace('_', ' ')} {a.title} {a.experiment}"),
        _words(f"{b.name.replace('_', ' ')} {b.title} {b.experiment}"),
    )
    names = _jaccard(_words(a.name.replace("_", " ")), _words(b.name.replace("_", " ")))
    titles = _jaccard(_words(a.title), _words(b.title))
    return max(whole, (names + titles) / 2)


def near_duplicates(
    idea: Idea, others: Iterable[Idea], threshold: float = DUPLICATE_THRESHOLD
) -> list[tuple[str, float]]:
    """Ideas in `others` that say nearly the same, most similar first."""
    found = [
        (other.name, round(similarity(idea, other), 2))
        for other in others
        if other.name != idea.name
    ]
    return sorted((f for f in found if f[1] >= threshold), key=lambda f: -f[1])


# -- generation ----------------------------------------------------------------------------

IDEA_FORMAT = (
    "Answer in this format:\n\nTHOUGHT:\n<your reasoning: the intuition, the motivation, "
    "how the experiment tests it, and why you give the scores you give>\n\nNEW IDEA JSON:\n"
    "```json\n{\n"
    '  "Name": "short_snake_case_name",\n'
    '  "Title": "A title as for a paper",\n'
    '  "Experiment": "What to change in the code and what to measure",\n'
    '  "Interestingness": 1-10,\n  "Feasibility": 1-10,\n  "Novelty": 1-10\n}\n```\n'
    "Be cautious and realistic with the scores."
)


def generation_messages(context: str, existing_titles: Sequence[str]) -> list[ChatMessage]:
    titles = "\n".join(f"- {t}" for t in existing_titles) or "(none yet)"
    return [
        ChatMessage(
            "system",
            "You are an ambitious but careful ML researcher proposing the next experiment "
            "to a colleague who will run it on the code and data described.",
        ),
        ChatMessage(
            "user",
            f"Research context (task, code template, current results):\n\n{context}\n\n"
            f"Ideas already in the queue (propose something different):\n{titles}\n\n"
            f"Propose ONE new idea that can be tested with this code and compute.\n\n"
            f"{IDEA_FORMAT}",
        ),
    ]


def reflection_message(round_no: int, rounds: int) -> ChatMessage:
    return ChatMessage(
        "user",
        f"Round {round_no}/{rounds}. Look again at the idea you just proposed: its quality, "
        "novelty and feasibility, whether it can really be run here, and whether the scores "
        "are honest. Fix what is wrong and keep the spirit of the idea. Answer in the same "
        "format. If there is nothing to improve, repeat the JSON unchanged and write "
        '"I am done" at the end of your THOUGHT.\n\n' + IDEA_FORMAT,
    )


def _done(text: str) -> bool:
    return "i am done" in text.lower()


async def estimate_generation(
    client: LlmClient,
    backend: LlmBackend,
    context: str,
    existing_titles: Sequence[str],
    n: int,
    reflections: int,
) -> CostEstimate:
    """The most N ideas x (1 + R reflections) may cost: each round re-sends the talk so far."""
    first = "\n".join(m.content for m in generation_messages(context, existing_titles))
    reflect = reflection_message(1, reflections).content
    # An answer is at most IDEA_MAX_TOKENS tokens; as text, about 4 characters each.
    answer = "x" * (IDEA_MAX_TOKENS * 4)
    prompts = []
    for _ in range(n):
        talk = first
        prompts.append((talk, IDEA_MAX_TOKENS))
        for _ in range(reflections):
            talk = f"{talk}\n{answer}\n{reflect}"
            prompts.append((talk, IDEA_MAX_TOKENS))
    return await estimate_job(client, backend, prompts)


async def generate_ideas(ctx: JobContext, store: Store) -> dict[str, Any]:
    """`llm.generate`: N ideas from a context, each refined by up to R reflection rounds."""
    payload = ctx.command.payload
    context = str(payload["context"])
    n = int(payload.get("n", 5))
    rounds = int(payload.get("reflections", 3))
    existing = await asyncio.to_thread(store.list_ideas)
    taken = {i.name for i in existing}
    created: list[str] = []
    problems: list[dict[str, str]] = []
    duplicates: dict[str, list[tuple[str, float]]] = {}
    total_calls = n * (1 + rounds)
    calls_done = 0

    def stream(piece: str) -> None:
        ctx.progress(delta=piece, calls_done=calls_done, calls_total=total_calls)

    for i in range(n):
        titles = [idea.title for idea in existing]
        messages = generation_messages(context, titles)
        ctx.progress(message=f"idea {i + 1}/{n}", calls_done=calls_done, calls_total=total_calls)
        reply = await ctx.llm.call(
            messages, purpose="ideas.generate", max_tokens=IDEA_MAX_TOKENS, on_delta=stream
        )
        calls_done += 1
        best: tuple[dict[str, Any], str, tuple[str, ...]] | None = None
        text = reply.text
        for round_no in range(rounds + 1):
            try:
                parsed = parse_model_json(text)
                if not isinstance(parsed.value, dict):
                    raise IdeaError("the answer's JSON is not one idea")
                best = (parsed.value, thought_of(text), parsed.repairs)
            except IdeaError as exc:
                problems.append(
                    {"idea": f"{i + 1}", "round": str(round_no), "problem": str(exc), "raw": text}
                )
            if round_no == rounds or _done(text):
                break
            messages = [*messages, ChatMessage("assistant", text)]
            messages.append(reflection_message(round_no + 1, rounds))
            ctx.progress(
                message=f"idea {i + 1}/{n}: reflection {round_no + 1}/{rounds}",
                calls_done=calls_done,
                calls_total=total_calls,
            )
            reply = await ctx.llm.call(
                messages, purpose="ideas.reflect", max_tokens=IDEA_MAX_TOKENS, on_delta=stream
            )
            calls_done += 1
            text = reply.text
        if best is None:
            continue
        record, thought, repairs = best
        try:
            idea, found = idea_from_record(record, taken, source="llm")
        except IdeaError as exc:
            problems.append({"idea": f"{i + 1}", "problem": str(exc), "raw": text})
            continue
        idea = dataclasses.replace(idea, reasoning=thought, fields={}, created_at=time.time())
        similar = near_duplicates(idea, existing)
        notes = [f"repaired: {', '.join(repairs)}"] if repairs else []
        notes += [f"model output: {p}" for p in found]
        if similar:
            duplicates[idea.name] = similar
            notes.append(
                "possible duplicate of "
                + ", ".join(f"{other} ({score:.2f})" for other, score in similar[:3])
            )
        idea = dataclasses.replace(idea, notes="\n".join(notes))
        await asyncio.to_thread(store.add_idea, idea)
        existing.append(idea)
        created.append(idea.name)
        ctx.progress(message=f"added {idea.name}", calls_done=calls_done, calls_total=total_calls)
    return {"ideas": created, "problems": problems, "duplicates": duplicates}


# -- novelty check -------------------------------------------------------------------------

CHECK_FORMAT = (
    "Answer with THOUGHT: <your reasoning> and then a JSON block, either\n"
    '```json\n{"Query": "a search query for the literature"}\n```\n'
    "to search again, or, once you are sure,\n"
    '```json\n{"Decision": "novel" or "not novel", "Reasons": "why, naming the papers"}\n```'
)


def check_messages(idea: Idea, rounds: int) -> list[ChatMessage]:
    return [
        ChatMessage(
            "system",
            "You are a demanding reviewer checking whether a research idea is novel. You may "
            f"search the literature for up to {rounds} rounds. Call an idea not novel only "
            "when a paper found does substantially the same thing.",
        ),
        ChatMessage(
            "user",
            f"Idea: {idea.title}\n\nExperiment: {idea.experiment}\n\n"
            f"Round 1/{rounds}. No search has been made yet.\n\n{CHECK_FORMAT}",
        ),
    ]


PAPERS_PER_QUERY = 10
# What one round adds to the talk the next round re-sends: the model's answer, and the
# papers found with their abstracts (each cut to 600 characters in papers_text).
ROUND_GROWTH_CHARS = CHECK_MAX_TOKENS * 4 + PAPERS_PER_QUERY * 700


async def estimate_check(
    client: LlmClient, backend: LlmBackend, idea: Idea, rounds: int
) -> CostEstimate:
    """The most a novelty check of R rounds may cost: each round re-sends the talk so far."""
    first = "\n".join(m.content for m in check_messages(idea, rounds))
    grown = "x" * ROUND_GROWTH_CHARS
    prompts = [(first + grown * i, CHECK_MAX_TOKENS) for i in range(rounds)]
    return await estimate_job(client, backend, prompts)


def paper_line(paper: Paper) -> str:
    """A paper as a person scans it: title, year, venue, citations, link."""
    cited = f"{paper.citations} citations" if paper.citations is not None else "? citations"
    return f"{paper.title} ({paper.year or '?'}, {paper.venue or 'no venue'}, {cited}) {paper.url}"


def papers_text(papers: Sequence[Paper]) -> str:
    if not papers:
        return "No papers found."
    lines = []
    for i, p in enumerate(papers, 1):
        lines.append(
            f"{i}. {p.title} ({p.year or '?'}, {p.venue or 'no venue'}, "
            f"{p.citations if p.citations is not None else '?'} citations)\n"
            f"   {p.abstract[:600]}"
        )
    return "\n".join(lines)


Literature = LiteratureClient | Mapping[str, LiteratureClient] | None


def pick_literature(literature: Literature, source: str | None) -> LiteratureClient:
    """The client a check uses: the one given, or the one its payload names."""
    if literature is None:
        raise LiteratureError("no literature source configured")
    if not isinstance(literature, Mapping):
        return literature
    if source is None:
        return next(iter(literature.values()))
    if source not in literature:
        raise LiteratureError(f"unknown literature source {source!r}: {', '.join(literature)}")
    return literature[source]


async def check_novelty(ctx: JobContext, store: Store, sources: Literature) -> dict[str, Any]:
    """`llm.check`: rounds of queries and results until the model decides, then record it."""
    payload = ctx.command.payload
    idea = await asyncio.to_thread(store.get_idea, str(payload["idea"]))
    rounds = int(payload.get("rounds", 5))
    literature = pick_literature(sources, payload.get("source"))
    messages = check_messages(idea, rounds)
    queries: list[str] = []
    papers: dict[str, Paper] = {}
    decision: bool | None = None
    reasons = f"no decision after {rounds} rounds"
    for round_no in range(1, rounds + 1):
        ctx.progress(
            message=f"{idea.name}: round {round_no}/{rounds}",
            calls_done=round_no - 1,
            calls_total=rounds,
        )
        reply = await ctx.llm.call(
            messages,
            purpose="ideas.check",
            idea=idea.name,
            max_tokens=CHECK_MAX_TOKENS,
            on_delta=lambda piece: ctx.progress(delta=piece),
        )
        try:
            answer = parse_model_json(reply.text).value
        except IdeaError as exc:
            answer = {}
            feedback = f"Your answer had no usable JSON ({exc}). {CHECK_FORMAT}"
        if isinstance(answer, dict) and "Decision" in answer:
            verdict = str(answer["Decision"]).strip().lower()
            decision = verdict.startswith("novel")
            reasons = str(answer.get("Reasons") or thought_of(reply.text) or verdict)
            break
        if isinstance(answer, dict) and answer.get("Query"):
            query = str(answer["Query"])[:300]
            queries.append(query)
            ctx.progress(message=f"searching {literature.source}: {query}")
            try:
                found = await literature.search(query, limit=PAPERS_PER_QUERY)
            except LiteratureError as exc:
                reasons = f"the literature search failed: {exc}"
                break
            ctx.progress(message=f"{len(found)} paper(s) for {query!r}")
            for paper in found:
                papers.setdefault(paper.title.lower(), paper)
                ctx.progress(delta=f"\n  · {paper_line(paper)}")
            ctx.progress(delta="\n")
            feedback = f"Results for {query!r}:\n{papers_text(found)}"
        elif isinstance(answer, dict):
            feedback = f"Give a Query or a Decision. {CHECK_FORMAT}"
        messages = [
            *messages,
            ChatMessage("assistant", reply.text),
            ChatMessage("user", f"Round {round_no + 1}/{rounds}. {feedback}"),
        ]
    check = NoveltyCheck(
        novel=decision,
        reasons=reasons,
        queries=tuple(queries),
        papers=tuple(papers.values()),
        source=literature.source,
        checked_at=time.time(),
    )
    current = await asyncio.to_thread(store.get_idea, idea.name)
    await asyncio.to_thread(
        store.save_idea,
        dataclasses.replace(
            current, novelty_check=check, novel=decision if decision is not None else current.novel
        ),
    )
    return {
        "idea": idea.name,
        "novel": decision,
        "reasons": reasons,
        "queries": queries,
        "papers": [dataclasses.asdict(p) for p in check.papers],
    }


# -- idea -> sweep proposal ----------------------------------------------------------------


def toml_string(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value)


def sweep_spec_template(idea: Idea, host: str | None) -> str:
    """A sweep spec (TOML) to start from: the idea against a baseline, three seeds."""
    hosts = f"hosts = [{toml_string(host)}]\n" if host else ""
    comment = " ".join(idea.title.split())
    return (
        f"# Sweep proposed for idea {idea.name}: {comment}\n"
        "# Edit before confirming: nothing runs until a person confirms it.\n"
        f"name = {toml_string(slug(idea.name, 40).replace('_', '-'))}\n"
        'command = "python experiment.py --variant {variant} --seed {seed} --out_dir run"\n'
        "seeds = [0, 1, 2]\n"
        "gpus = 1\n"
        'time_limit = "4h"\n'
        f"{hosts}"
        f'factors = {{ variant = ["baseline", {toml_string(idea.name)}] }}\n'
        'baseline = { variant = "baseline" }\n'
    )


def check_spec_text(text: str) -> dict[str, Any]:
    """The spec as TOML, with the fields every sweep needs (the runs module checks the rest)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise IdeaError(f"the proposed spec is not valid TOML: {exc}") from None
    for key in ("name", "command"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise IdeaError(f"the proposed spec has no {key}")
    return data


def sweep_messages(idea: Idea, template: str) -> list[ChatMessage]:
    return [
        ChatMessage(
            "system",
            "You turn an approved research idea into a sweep spec in TOML for the "
            "researcher to review. Keep the fields of the template; answer with the TOML "
            "only, in a ```toml block.",
        ),
        ChatMessage(
            "user",
            f"Idea: {idea.title}\n\nExperiment: {idea.experiment}\n\nTemplate:\n```toml\n"
            f"{template}```",
        ),
    ]


async def estimate_proposal(
    client: LlmClient, backend: LlmBackend, idea: Idea, host: str | None
) -> CostEstimate:
    """The most the one call that writes a sweep spec may cost."""
    text = "\n".join(m.content for m in sweep_messages(idea, sweep_spec_template(idea, host)))
    return await estimate_job(client, backend, [(text, SWEEP_MAX_TOKENS)])


async def propose_sweep(ctx: JobContext, store: Store) -> dict[str, Any]:
    """`llm.propose`: the model writes a spec from the template; it is only a proposal."""
    payload = ctx.command.payload
    idea = await asyncio.to_thread(store.get_idea, str(payload["idea"]))
    template = sweep_spec_template(idea, payload.get("host"))
    reply = await ctx.llm.call(
        sweep_messages(idea, template),
        purpose="ideas.sweep",
        idea=idea.name,
        max_tokens=SWEEP_MAX_TOKENS,
        on_delta=lambda piece: ctx.progress(delta=piece),
    )
    fenced = re.search(r"```(?:toml)?\s*\n(.*?)```", reply.text, re.DOTALL)
    text = fenced.group(1) if fenced else reply.text
    try:
        check_spec_text(text)
    except IdeaError as exc:
        return {"idea": idea.name, "spec_toml": template, "problem": f"{exc}; template used"}
    return {"idea": idea.name, "spec_toml": text if text.endswith("\n") else text + "\n"}


SWEEP_PROPOSAL_KIND = "run.sweep"


def sweep_proposal_payload(idea: Idea, spec_toml: str) -> dict[str, Any]:
    """The payload of the needs-confirm command that launches the sweep once confirmed."""
    check_spec_text(spec_toml)
    return {
        "idea": idea.name,
        "spec_toml": spec_toml,
        "reason": f"sweep proposed for idea {idea.name}: confirm with y",
    }


# -- wiring --------------------------------------------------------------------------------


def wire_llm(
    registry: CommandRegistry,
    store: Store,
    client: LlmClient,
    literature: Literature,
) -> LlmCommandHandler:
    """The `llm.*` handler with the idea jobs, registered for `llm:NAME` targets."""
    handler = LlmCommandHandler(store, client)

    async def generate(ctx: JobContext) -> dict[str, Any]:
        return await generate_ideas(ctx, store)

    async def check(ctx: JobContext) -> dict[str, Any]:
        return await check_novelty(ctx, store, literature)

    async def propose(ctx: JobContext) -> dict[str, Any]:
        return await propose_sweep(ctx, store)

    handler.add_job("llm.generate", generate)
    handler.add_job("llm.check", check)
    handler.add_job("llm.propose", propose)
    registry.register("llm", handler, namespace=LLM)
    return handler
