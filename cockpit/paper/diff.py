"""The LaTeX-aware diff: sections aligned by title (moved ones said to be moved), paragraphs
compared as LaTeX reads them (re-flowed text is unchanged), word-level changes where a
command, citation, reference or formula is one token, and a summary of what a reviewer
checks first: numbers, citations, figure and table references."""

from __future__ import annotations

import difflib

from cockpit.models import DiffChange, DiffSummary, DraftDiff
from cockpit.paper.latex import (
    NUMBER,
    Section,
    Token,
    cite_keys,
    collapse,
    reference_keys,
    sections,
    strip_comments,
    tokens,
)

# Below this similarity two paragraphs at the same place are a removal and an addition,
# not one edited paragraph: word marks over a rewrite are noise.
_EDIT_SIMILARITY = 0.35
_RENAME_SIMILARITY = 0.6


def _word_matcher(
    old: str, new: str
) -> tuple[difflib.SequenceMatcher[str], list[Token], list[Token]]:
    a, b = tokens(old), tokens(new)
    matcher = difflib.SequenceMatcher(None, [t.norm for t in a], [t.norm for t in b], False)
    return matcher, a, b


def _ops(
    old: str, new: str, matcher: difflib.SequenceMatcher[str], a: list[Token], b: list[Token]
) -> tuple[tuple[str, str], ...]:
    def span(text: str, toks: list[Token], i: int, j: int) -> str:
        return collapse(text[toks[i].start : toks[j - 1].end]) if j > i else ""

    ops: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            ops.append(("=", span(new, b, j1, j2)))
            continue
        if i2 > i1:
            ops.append(("-", span(old, a, i1, i2)))
        if j2 > j1:
            ops.append(("+", span(new, b, j1, j2)))
    return tuple(ops)


def word_ops(old: str, new: str) -> tuple[tuple[str, str], ...]:
    """("=", text), ("-", removed), ("+", added), in reading order, whitespace collapsed."""
    return _ops(old, new, *_word_matcher(old, new))


def _section_changes(label: str, old: Section | None, new: Section | None) -> list[DiffChange]:
    old_paras = old.paragraphs() if old else []
    new_paras = new.paragraphs() if new else []
    a = [collapse(p) for p in old_paras]
    b = [collapse(p) for p in new_paras]
    changes: list[DiffChange] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, False).get_opcodes():
        if tag == "equal":
            continue
        pairs = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for k in range(pairs):
            o, n = a[i1 + k], b[j1 + k]
            # Similarity by tokens, not characters: as good a judge, and ~20x cheaper.
            matcher, ta, tb = _word_matcher(o, n)
            if matcher.ratio() >= _EDIT_SIMILARITY:
                changes.append(DiffChange("changed", label, o, n, _ops(o, n, matcher, ta, tb)))
            else:
                changes.append(DiffChange("removed", label, o, ""))
                changes.append(DiffChange("added", label, "", n))
        changes.extend(DiffChange("removed", label, o, "") for o in a[i1 + pairs : i2])
        changes.extend(DiffChange("added", label, "", n) for n in b[j1 + pairs : j2])
    return changes


def _similar(a: Section, b: Section) -> bool:
    return (
        difflib.SequenceMatcher(None, collapse(a.body), collapse(b.body), False).quick_ratio()
        >= _RENAME_SIMILARITY
        and difflib.SequenceMatcher(None, collapse(a.body), collapse(b.body), False).ratio()
        >= _RENAME_SIMILARITY
    )


def diff_drafts(
    old_text: str, new_text: str, old_label: str = "old", new_label: str = "new"
) -> DraftDiff:
    """Every change from old_text to new_text, in the new draft's reading order (removed
    sections where they stood)."""
    old_secs, new_secs = sections(old_text), sections(new_text)
    old_by_key = {s.key: s for s in old_secs}
    new_by_key = {s.key: s for s in new_secs}
    old_keys = [s.key for s in old_secs]
    new_keys = [s.key for s in new_secs]
    common_old = [k for k in old_keys if k in new_by_key]
    common_new = [k for k in new_keys if k in old_by_key]
    in_order: set[str] = set()
    matcher = difflib.SequenceMatcher(None, common_old, common_new, False)
    for block in matcher.get_matching_blocks():
        in_order.update(common_old[block.a : block.a + block.size])
    # A section that only changed its title: paired with the removed one its body resembles.
    removed = [old_by_key[k] for k in old_keys if k not in new_by_key]
    renamed_from: dict[str, Section] = {}
    for key in new_keys:
        if key in old_by_key:
            continue
        match = next((s for s in removed if _similar(s, new_by_key[key])), None)
        if match is not None:
            renamed_from[key] = match
            removed.remove(match)
    changes: list[DiffChange] = []
    removed_keys = {s.key for s in removed}
    emitted_removed: set[str] = set()

    def emit_removed_before(old_index: int) -> None:
        for k in old_keys[:old_index]:
            if k in removed_keys and k not in emitted_removed:
                emitted_removed.add(k)
                s = old_by_key[k]
                changes.append(DiffChange("removed", s.title, collapse(s.heading + s.body), ""))

    for sec in new_secs:
        label = sec.title
        if sec.key in old_by_key:
            emit_removed_before(old_keys.index(sec.key))
            old = old_by_key[sec.key]
            if sec.key not in in_order:
                changes.append(DiffChange("moved", label, old.heading, sec.heading))
            changes.extend(_section_changes(label, old, sec))
        elif sec.key in renamed_from:
            old = renamed_from[sec.key]
            changes.append(DiffChange("renamed", label, old.heading, sec.heading))
            changes.extend(_section_changes(label, old, sec))
        else:
            changes.append(DiffChange("added", label, "", collapse(sec.heading + sec.body)))
    emit_removed_before(len(old_keys))
    return DraftDiff(old_label, new_label, tuple(changes), _summary(old_text, new_text, changes))


def _numbers(text: str) -> list[str]:
    """Numbers of the prose and tables: not the digits of a citation key or a label."""
    return [t.norm for t in tokens(text) if NUMBER.fullmatch(t.norm)]


def _summary(old_text: str, new_text: str, changes: list[DiffChange]) -> DiffSummary:
    removed_numbers: list[str] = []
    added_numbers: list[str] = []
    for change in changes:
        if change.kind == "changed":
            for op, text in change.words:
                if op == "-":
                    removed_numbers.extend(_numbers(text))
                elif op == "+":
                    added_numbers.extend(_numbers(text))
        elif change.kind in ("added", "removed"):
            removed_numbers.extend(_numbers(change.old))
            added_numbers.extend(_numbers(change.new))
    old_clean, new_clean = strip_comments(old_text), strip_comments(new_text)
    old_cites, new_cites = cite_keys(old_clean), cite_keys(new_clean)
    old_refs, new_refs = reference_keys(old_clean), reference_keys(new_clean)
    return DiffSummary(
        numbers_removed=tuple(removed_numbers),
        numbers_added=tuple(added_numbers),
        citations_added=tuple(sorted(new_cites - old_cites)),
        citations_removed=tuple(sorted(old_cites - new_cites)),
        refs_added=tuple(sorted(new_refs - old_refs)),
        refs_removed=tuple(sorted(old_refs - new_refs)),
    )
