"""LLM work on drafts: edits that come back as hunks a person accepts or rejects one by one,
and reviews on the NeurIPS form (an ensemble of N and a meta-review) kept per version."""

from __future__ import annotations

import asyncio
import difflib
import json
import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cockpit.llm_jobs import JobContext, LlmCommandHandler
from cockpit.models import (
    REVIEW_SCORE_RANGES,
    REVIEW_TEXT_FIELDS,
    ChatMessage,
    Draft,
    DraftVersion,
    EditTarget,
    Hunk,
    Review,
)
from cockpit.paper.drafts import DraftError, write_with_snapshot
from cockpit.paper.latex import headings
from cockpit.store import Store

# -- edits as hunks --------------------------------------------------------------------------

EDIT_ASKS = {
    "tighten": "Tighten this LaTeX text: same meaning and claims, fewer words.",
    "grammar": "Fix grammar and spelling only; change nothing else.",
    "rewrite": "Rewrite this LaTeX text from the notes below, keeping every number as given.",
    "results": "Draft this section from the results table below; use only its numbers.",
}
EDIT_MAX_TOKENS = 2000


def hunks_between(old: str, new: str) -> list[Hunk]:
    """The proposal as hunks over the old text: runs of changed lines, by character offsets
    into `old`, so any subset of them can be applied."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    offsets = [0]
    for line in a:
        offsets.append(offsets[-1] + len(line))
    hunks = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, False).get_opcodes():
        if tag == "equal":
            continue
        if tag == "replace" and i2 - i1 == j2 - j1:
            # Line for line: each line is its own hunk, so one good sentence can be kept
            # without its bad neighbour.
            spans = [
                (i, i + 1, j, j + 1) for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            ]
        else:
            spans = [(i1, i2, j1, j2)]
        for o1, o2, n1, n2 in spans:
            hunks.append(
                Hunk(len(hunks), offsets[o1], offsets[o2], "".join(a[o1:o2]), "".join(b[n1:n2]))
            )
    return hunks


def apply_hunks(old: str, hunks: Iterable[Hunk], accepted: set[int]) -> str:
    """`old` with the accepted hunks applied (the others leave their text as it was)."""
    out, at = [], 0
    for hunk in sorted(hunks, key=lambda h: h.start):
        if hunk.index not in accepted:
            continue
        out.append(old[at : hunk.start])
        out.append(hunk.new)
        at = hunk.end
    out.append(old[at:])
    return "".join(out)


# Where a section's text ends besides the next heading: what follows is not its prose.
_BODY_END = re.compile(r"\\end\{document\}|\\bibliography|\\appendix\b")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


def edit_targets(file: str, text: str) -> list[EditTarget]:
    """Each section of a file and each of its paragraphs, with the offsets an edit replaces:
    a section from just after its heading to the next heading; a paragraph from its first
    character to the end of its last line."""
    found: list[EditTarget] = []
    marks = headings(text)
    for i, heading in enumerate(marks):
        end = marks[i + 1].start if i + 1 < len(marks) else len(text)
        stop = _BODY_END.search(text, heading.end, end)
        end = stop.start() if stop else end
        body = text[heading.end : end]
        if not body.strip():
            continue
        found.append(EditTarget(file, heading.title, "section", heading.end, end, body))
        at, number = heading.end, 0
        for brk in [*_PARAGRAPH_BREAK.finditer(text, heading.end, end), None]:
            para_end = brk.start() + 1 if brk else end
            chunk = text[at:para_end]
            if chunk.strip():
                lead = len(chunk) - len(chunk.lstrip())
                number += 1
                start = at + lead
                found.append(
                    EditTarget(
                        file,
                        f"{heading.title} ¶{number}",
                        "paragraph",
                        start,
                        para_end,
                        text[start:para_end],
                    )
                )
            if brk:
                at = brk.end()
    return found


def draft_edit_targets(main_file: Path) -> list[EditTarget]:
    """The edit targets of every file of a draft (the main file and what it includes)."""
    from cockpit.paper.drafts import draft_files

    return [
        t
        for file in draft_files(main_file)
        for t in edit_targets(str(file), file.read_text(encoding="utf-8"))
    ]


def find_target(targets: Sequence[EditTarget], section: str, paragraph: int | None) -> EditTarget:
    """The section titled `section` (case as written, or any case), or its n-th paragraph."""
    label = section if paragraph is None else f"{section} ¶{paragraph}"
    exact = next((t for t in targets if t.label == label), None)
    found = exact or next((t for t in targets if t.label.lower() == label.lower()), None)
    if found is not None:
        return found
    known = ", ".join(t.label for t in targets if t.kind == "section") or "none"
    where = f"paragraph {paragraph} in section" if paragraph is not None else "section"
    raise DraftError(f"no {where} {section!r} (sections: {known})")


def write_edit(
    store: Store, draft: Draft, target: EditTarget, hunks: Sequence[Hunk], accepted: set[int]
) -> DraftVersion | None:
    """Write the accepted hunks into the target's file, through `write_with_snapshot` (a
    snapshot first, then one rename). The rest of the file may have changed meanwhile and is
    kept; the selection itself must be as it was (found once), or nothing is written."""
    file = Path(target.file)
    current = file.read_text(encoding="utf-8")
    start = target.start
    if current[start : target.end] != target.text:
        # Text typed before the selection moves it: found again only where it is unique.
        start = current.find(target.text)
        if start < 0 or current.find(target.text, start + 1) >= 0:
            raise DraftError(
                f"{file.name} changed on disk where the edit was asked for: nothing written"
            )
    end = start + len(target.text)
    new_text = current[:start] + apply_hunks(target.text, hunks, accepted) + current[end:]
    return write_with_snapshot(store, draft, file, new_text)


def fit_proposal(selection: str, proposal: str) -> str:
    """The proposal with the selection's own leading and trailing whitespace: a model drops
    or adds blank lines at the ends, which are not edits anyone asked for."""
    body = selection.strip()
    if not body:
        return proposal
    lead = selection[: selection.index(body[0])]
    trail = selection[len(selection.rstrip()) :]
    return lead + proposal.strip() + trail


def edit_calls(selection: str, ask: str, notes: str = "") -> list[tuple[str, int]]:
    """An edit's one call as the cost estimate needs it: prompt text and max answer tokens."""
    prompt = "\n".join(m.content for m in edit_prompt(selection, ask, notes))
    return [(prompt, EDIT_MAX_TOKENS)]


def edit_prompt(selection: str, ask: str, notes: str = "") -> list[ChatMessage]:
    instruction = EDIT_ASKS.get(ask, ask)
    return [
        ChatMessage(
            "system",
            "You edit LaTeX papers. Answer with the edited LaTeX only, no fences, no comments;"
            " keep \\cite, \\ref, \\label and math exactly as they are unless told otherwise.",
        ),
        ChatMessage(
            "user",
            f"{instruction}\n\n"
            + (f"Notes / results:\n{notes}\n\n" if notes else "")
            + f"Text:\n{selection}",
        ),
    ]


def strip_fences(answer: str) -> str:
    fenced = re.match(r"^\s*```[a-zA-Z]*\n(.*?)\n```\s*$", answer, re.DOTALL)
    return fenced.group(1) if fenced else answer


async def propose_edit(ctx: JobContext) -> dict[str, Any]:
    """llm.paper_edit: {draft, selection, ask, notes} -> the proposed text of the selection."""
    payload = ctx.command.payload
    reply = await ctx.llm.call(
        edit_prompt(str(payload["selection"]), str(payload["ask"]), str(payload.get("notes", ""))),
        purpose="paper.edit",
        max_tokens=EDIT_MAX_TOKENS,
        draft=payload.get("draft"),
        on_delta=lambda piece: ctx.progress(delta=piece),
    )
    return {"proposal": strip_fences(reply.text), "model": reply.model}


# -- reviews ---------------------------------------------------------------------------------

TEXT_FIELDS = REVIEW_TEXT_FIELDS
SCORE_FIELDS = REVIEW_SCORE_RANGES
DECISIONS = ("accept", "reject")
REVIEW_MAX_TOKENS = 1500
# The draft is cut to this many characters: a 60-page draft would not fit most contexts.
REVIEW_MAX_CHARS = 60_000


def review_prompt(text: str) -> list[ChatMessage]:
    form = (
        ", ".join(TEXT_FIELDS)
        + ", "
        + ", ".join(f"{k} ({lo}-{hi})" for k, (lo, hi) in SCORE_FIELDS.items())
    )
    return [
        ChatMessage(
            "system",
            "You are a NeurIPS reviewer: critical, specific, fair. Answer with one JSON object"
            f" with the keys {form}, decision (accept or reject). Scores are integers.",
        ),
        ChatMessage("user", f"Review this paper (LaTeX source):\n\n{text[:REVIEW_MAX_CHARS]}"),
    ]


def meta_review_prompt(reviews: Sequence[dict[str, Any]]) -> list[ChatMessage]:
    return [
        ChatMessage(
            "system",
            "You are a NeurIPS area chair. Write the meta-review of these reviews as one JSON"
            " object with the same keys as they have; scores are your judgement, not an"
            " average.",
        ),
        ChatMessage("user", json.dumps(list(reviews), indent=1)),
    ]


def parse_review(answer: str) -> dict[str, Any]:
    """The form's fields from a model's answer; scores out of range or missing become None
    and are listed under "problems", so a bad answer is said, never averaged in."""
    match = re.search(r"\{.*\}", answer, re.DOTALL)
    problems: list[str] = []
    try:
        raw = json.loads(match.group(0)) if match else {}
    except json.JSONDecodeError:
        raw = {}
    if not isinstance(raw, dict) or not raw:
        return {"problems": ["the answer holds no JSON object"], "raw": answer[:2000]}
    fields: dict[str, Any] = {}
    for key in TEXT_FIELDS:
        value = raw.get(key, "")
        fields[key] = "\n".join(map(str, value)) if isinstance(value, list) else str(value)
    for key, (lo, hi) in SCORE_FIELDS.items():
        value = raw.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and lo <= value <= hi:
            fields[key] = int(value) if float(value).is_integer() else float(value)
        else:
            fields[key] = None
            problems.append(f"{key} {value!r} is not in {lo}-{hi}")
    decision = str(raw.get("decision", "")).strip().lower()
    fields["decision"] = decision if decision in DECISIONS else None
    if fields["decision"] is None:
        problems.append(f"decision {raw.get('decision')!r} is not accept or reject")
    if problems:
        fields["problems"] = problems
    return fields


def review_estimate_calls(text: str, n: int) -> list[tuple[str, int]]:
    """A review job's calls as the cost estimate needs them: n reviews of the draft, and a
    meta-review whose prompt is at most the n answers."""
    prompt = "\n".join(m.content for m in review_prompt(text))
    meta_prompt = "x" * (4 * REVIEW_MAX_TOKENS * n)
    return [(prompt, REVIEW_MAX_TOKENS)] * n + [(meta_prompt, REVIEW_MAX_TOKENS)]


async def review_draft(ctx: JobContext, store: Store) -> dict[str, Any]:
    """llm.paper_review: {draft, version, n} -> n reviews and a meta-review, stored."""
    payload = ctx.command.payload
    draft, version, n = str(payload["draft"]), int(payload["version"]), int(payload["n"])
    versions = await asyncio.to_thread(store.list_draft_versions, draft)
    found = next((v for v in versions if v.version == version), None)
    if found is None:
        raise ValueError(f"draft {draft!r} has no version {version}")
    reviews: list[dict[str, Any]] = []
    for i in range(n):
        ctx.progress(message=f"review {i + 1} of {n}", calls_done=i, calls_total=n + 1)
        spent = ctx.llm.spent_usd
        reply = await ctx.llm.call(
            review_prompt(found.text),
            purpose="paper.review",
            max_tokens=REVIEW_MAX_TOKENS,
            draft=draft,
        )
        fields = parse_review(reply.text)
        reviews.append(fields)
        await asyncio.to_thread(
            store.add_review,
            Review(
                draft,
                version,
                i,
                fields,
                ctx.command.backend,
                ctx.llm.spent_usd - spent,
                time.time(),
            ),
        )
    ctx.progress(message="meta-review", calls_done=n, calls_total=n + 1)
    spent = ctx.llm.spent_usd
    reply = await ctx.llm.call(
        meta_review_prompt(reviews),
        purpose="paper.meta_review",
        max_tokens=REVIEW_MAX_TOKENS,
        draft=draft,
    )
    meta = parse_review(reply.text)
    await asyncio.to_thread(
        store.add_review,
        Review(
            draft, version, -1, meta, ctx.command.backend, ctx.llm.spent_usd - spent, time.time()
        ),
    )
    return {"draft": draft, "version": version, "reviews": reviews, "meta": meta}


def add_paper_jobs(handler: LlmCommandHandler, store: Store) -> None:
    async def review(ctx: JobContext) -> dict[str, Any]:
        return await review_draft(ctx, store)

    handler.add_job("llm.paper_edit", propose_edit)
    handler.add_job("llm.paper_review", review)


def score_history(reviews: Iterable[Review]) -> list[dict[str, Any]]:
    """Per version: the meta-review's scores and the reviewers' mean, to see them move."""
    by_version: dict[int, list[Review]] = {}
    for r in reviews:
        by_version.setdefault(r.version, []).append(r)
    rows = []
    for version, found in sorted(by_version.items()):
        meta = next((r for r in found if r.index == -1), None)
        row: dict[str, Any] = {"version": version, "reviews": sum(r.index >= 0 for r in found)}
        for key in SCORE_FIELDS:
            scores = [r.fields.get(key) for r in found if r.index >= 0]
            scores = [s for s in scores if isinstance(s, int | float)]
            row[f"{key}_mean"] = round(sum(scores) / len(scores), 2) if scores else None
            row[f"{key}_meta"] = meta.fields.get(key) if meta else None
        row["decision"] = meta.fields.get("decision") if meta else None
        rows.append(row)
    return rows
