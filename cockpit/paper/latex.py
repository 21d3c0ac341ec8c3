"""LaTeX read as a reviewer reads it: comments dropped, sections with their titles,
paragraphs, and word tokens where a command, a citation, a reference or a formula is one
token."""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMMENT = re.compile(r"(?<!\\)%.*")
_SECTION = re.compile(
    r"\\(part|chapter|section|subsection|subsubsection|paragraph)\*?\s*(?:\[[^\]]*\]\s*)?\{"
)
LEVELS = {"part": 0, "chapter": 1, "section": 2, "subsection": 3, "subsubsection": 4}
_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")

_MATH_ENVS = r"equation|align|gather|multline|eqnarray|displaymath|math"
TOKEN = re.compile(
    r"\$\$.*?\$\$"
    r"|\\\[.*?\\\]"
    rf"|\\begin\{{(?:{_MATH_ENVS})\*?\}}.*?\\end\{{(?:{_MATH_ENVS})\*?\}}"
    r"|\$(?:\\.|[^$\\])+\$"
    r"|\\\(.*?\\\)"
    r"|\\(?:[a-zA-Z]*cite[a-zA-Z]*|[a-zA-Z]*ref|label|includegraphics|url|href|input|include"
    r"|begin|end)\*?(?:\s*\[[^\]]*\])*\s*\{[^}]*\}"
    r"|\\[a-zA-Z@]+\*?"
    r"|\\."
    r"|\d+(?:[.,]\d+)*"
    r"|[^\W\d_]+(?:['\u2019-][^\W\d_]+)*"
    r"|\S",
    re.DOTALL,
)
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
CITE = re.compile(r"\\[a-zA-Z]*cite[a-zA-Z]*\*?(?:\s*\[[^\]]*\])*\s*\{([^}]*)\}")
REFERENCE = re.compile(
    r"\\(?:[a-zA-Z]*ref|label|includegraphics)\*?(?:\s*\[[^\]]*\])*\s*\{([^}]*)\}"
)


def strip_comments(text: str) -> str:
    """Drop % comments (not \\%); a line that was only a comment goes entirely, so it does not
    split a paragraph."""
    out = []
    for line in text.splitlines():
        if "%" in line:
            stripped = _COMMENT.sub("", line)
            if not stripped.strip() and line.strip():
                continue
            line = stripped
        out.append(line)
    return "\n".join(out)


def collapse(text: str) -> str:
    """Whitespace as LaTeX reads it: any run of spaces and line breaks is one space."""
    return " ".join(text.split())


def _balanced(text: str, start: int) -> int:
    """Index just past the group whose opening brace is at text[start - 1]."""
    depth = 1
    i = start
    while i < len(text) and depth:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        depth += ch == "{"
        depth -= ch == "}"
        i += 1
    return i


@dataclass(frozen=True)
class Section:
    key: str  # what aligns it with its counterpart: level and title, numbered if repeated
    title: str
    level: int
    heading: str  # the heading as written
    body: str

    def paragraphs(self) -> list[str]:
        return [p.strip() for p in _BLANK_LINE.split(self.body) if p.strip()]


def sections(text: str) -> list[Section]:
    text = strip_comments(text)
    found: list[Section] = []
    seen: dict[str, int] = {}
    starts = []
    for match in _SECTION.finditer(text):
        end = _balanced(text, match.end())
        starts.append((match.start(), end, match.group(1), collapse(text[match.end() : end - 1])))
    front_end = starts[0][0] if starts else len(text)
    found.append(Section("front matter", "front matter", -1, "", text[:front_end]))
    for i, (start, end, kind, title) in enumerate(starts):
        body_end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        base = f"{kind}:{title.lower()}"
        seen[base] = seen.get(base, 0) + 1
        key = base if seen[base] == 1 else f"{base}#{seen[base]}"
        found.append(Section(key, title, LEVELS.get(kind, 5), text[start:end], text[end:body_end]))
    return found


@dataclass(frozen=True)
class Heading:
    start: int  # offsets into the text as written (comments kept)
    end: int  # just past the closing brace of the title
    title: str


def headings(text: str) -> list[Heading]:
    """Section headings where they stand in the file as written, for edits; a heading after
    a % on its line is a comment and is left out."""
    found = []
    for match in _SECTION.finditer(text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        if _COMMENT.search(text[line_start : match.start()]):
            continue
        end = _balanced(text, match.end())
        found.append(Heading(match.start(), end, collapse(text[match.end() : end - 1])))
    return found


@dataclass(frozen=True)
class Token:
    norm: str  # what is compared: whitespace collapsed inside math and commands
    start: int
    end: int


def tokens(text: str) -> list[Token]:
    found = []
    for m in TOKEN.finditer(text):
        raw = m.group(0)
        # Most tokens are words: collapse only what can hold whitespace (math, commands).
        found.append(
            Token(collapse(raw) if len(raw) > 1 and raw[0] in "\\$" else raw, m.start(), m.end())
        )
    return found


def cite_keys(text: str) -> set[str]:
    return {k.strip() for m in CITE.finditer(text) for k in m.group(1).split(",") if k.strip()}


def reference_keys(text: str) -> set[str]:
    return {m.group(1).strip() for m in REFERENCE.finditer(text)}
