"""An LLM's answer as the CLI and the app show it: the numbers it quotes that are not in
the data it was given are underlined and marked, with a legend that says so."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from cockpit.render.safe import printable

UNVERIFIED_MARK = "[?]"
UNVERIFIED_STYLE = "underline bold yellow"
LEGEND = f"{UNVERIFIED_MARK} a number not in the data the model was given: check it"


def marked_answer(text: str, unverified: Sequence[tuple[int, int]]) -> Text:
    """The answer with each unverified span underlined and followed by the mark. Spans are
    character offsets into `text`; each piece is made printable on its own, so escaping a
    control character never shifts a mark."""
    out = Text()
    at = 0
    for start, end in sorted(unverified):
        if start < at:
            continue
        out.append(printable(text[at:start], newlines=True))
        out.append(printable(text[start:end]), style=UNVERIFIED_STYLE)
        out.append(UNVERIFIED_MARK, style="bold yellow")
        at = end
    out.append(printable(text[at:], newlines=True))
    return out


def cost_line(result: dict[str, object]) -> str:
    """What the call cost, in one line (a model outside litellm's price map is unpriced)."""
    cost = result.get("cost_usd")
    price = "unpriced" if not isinstance(cost, int | float) else f"${cost:.6f}"
    return (
        f"{printable(str(result.get('model', '')))}: {result.get('prompt_tokens', 0)} prompt + "
        f"{result.get('completion_tokens', 0)} answer tokens, {price}, "
        f"{float(result.get('latency_s', 0) or 0):.1f}s"  # type: ignore[arg-type]
    )
