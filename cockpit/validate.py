"""One validation per user-facing field, used by the CLI, the app and the importers alike.

Each function takes the raw value and returns it parsed, or raises ValidationError with one
line that names the field. Values never reach a shell or a path unchecked.
"""

from __future__ import annotations

import re
from datetime import datetime

from cockpit.registry import RESERVED_NAMES

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
USER_RE = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$")
ADDRESS_RE = re.compile(r"^[A-Za-z0-9._:-]{1,253}$")
ENV_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$")
SINCE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ValidationError(ValueError):
    """A value the user gave is not acceptable (one line for the user)."""


def valid_name(value: str, what: str = "name") -> str:
    if not NAME_RE.match(value):
        raise ValidationError(
            f"invalid {what} {value!r}: use letters, digits, '.', '_' or '-' (max 64 chars)"
        )
    return value


def valid_backend_name(value: str, what: str = "host name") -> str:
    """A host or LLM backend name: a valid name that is not a reserved route key."""
    valid_name(value, what)
    if value.lower() in RESERVED_NAMES:
        raise ValidationError(
            f"invalid {what} {value!r}: {', '.join(sorted(RESERVED_NAMES))} are reserved"
        )
    return value


def valid_port(value: str | int) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"invalid port {value!r}: must be a number from 1 to 65535") from None
    if not 1 <= port <= 65535:
        raise ValidationError(f"invalid port {port}: must be from 1 to 65535")
    return port


def parse_ssh_target(target: str) -> tuple[str | None, str, int | None]:
    """'[user@]address[:port]' (IPv6 as [addr]:port) -> (user, address, port)."""
    user: str | None = None
    rest = target
    if "@" in target:
        user, _, rest = target.rpartition("@")
        if not USER_RE.match(user):
            raise ValidationError(f"invalid user {user!r} in {target!r}")
    port: int | None = None
    if rest.startswith("["):
        address, sep, tail = rest[1:].partition("]")
        if not sep:
            raise ValidationError(f"invalid address {rest!r}: missing ']'")
        if tail:
            if not tail.startswith(":"):
                raise ValidationError(f"invalid address {rest!r}")
            port = valid_port(tail[1:])
    elif rest.count(":") == 1:
        address, _, port_text = rest.partition(":")
        port = valid_port(port_text)
    else:
        address = rest
    if not address or not ADDRESS_RE.match(address):
        raise ValidationError(f"invalid address {address!r}: expected a hostname, IP or ssh alias")
    return user, address, port


def valid_env_var(value: str) -> str:
    if not ENV_VAR_RE.match(value):
        raise ValidationError(
            f"invalid --api-key-env {value!r}: give the NAME of an environment variable "
            "(e.g. OPENAI_API_KEY), never the key itself"
        )
    return value


def valid_url(value: str) -> str:
    if not URL_RE.match(value):
        raise ValidationError(f"invalid --api-base {value!r}: expected an http(s) URL")
    return value


def valid_budget(value: float) -> float:
    if not value >= 0 or value == float("inf"):
        raise ValidationError(f"invalid --budget {value}: must be a non-negative number of USD")
    return value


def valid_model(value: str) -> str:
    if not value.strip() or any(c.isspace() for c in value):
        raise ValidationError(f"invalid --model {value!r}: e.g. openai/gpt-4o-mini")
    return value


def parse_since(text: str, now: float) -> float:
    """'12h', '30m', '2d', '1w', '90s' before now, or a date/time like 2026-11-21T22:00."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", text.strip())
    if match:
        return now - float(match[1]) * SINCE_UNITS[match[2]]
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise ValidationError(
            f"invalid --since {text!r}: use a duration like 12h, 30m, 2d or a time like "
            "2026-11-21T22:00"
        ) from None


# -- ideas and LLM jobs (issue 9) ----------------------------------------------------------


def valid_score(value: str | int, what: str) -> int:
    """An idea's Interestingness, Feasibility or Novelty: a whole number from 1 to 10."""
    try:
        score = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"invalid --{what} {value!r}: a whole number from 1 to 10") from None
    if not 1 <= score <= 10:
        raise ValidationError(f"invalid --{what} {score}: must be from 1 to 10")
    return score


def valid_count(value: str | int, what: str, low: int, high: int) -> int:
    """A bounded count (--n ideas, --reflections, --rounds, --priority)."""
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"invalid --{what} {value!r}: a whole number") from None
    if not low <= count <= high:
        raise ValidationError(f"invalid --{what} {count}: must be from {low} to {high}")
    return count


def valid_title(value: str) -> str:
    title = " ".join(value.split())
    if not title:
        raise ValidationError("invalid --title: it is empty")
    if len(title) > 300:
        raise ValidationError(f"invalid --title: {len(title)} characters, at most 300")
    return title
