"""One validation per user-facing field, used by the CLI, the app and the importers alike.

Each function takes the raw value and returns it parsed, or raises ValidationError with one
line that names the field. Values never reach a shell or a path unchecked.
"""

from __future__ import annotations

import math
import re
import stat
from datetime import datetime
from pathlib import Path

from cockpit.registry import RESERVED_NAMES

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
USER_RE = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$")
ADDRESS_RE = re.compile(r"^[A-Za-z0-9._:-]{1,253}$")
ENV_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$")
# Anything but these in a file name built from data becomes '_' (no '/', '\\', NUL, ESC).
UNSAFE_PATH_CHARS = re.compile(r"[^A-Za-z0-9._+=@,-]+")
MAX_COMPONENT = 120
MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")
# ssh's own tokens (%d, %h, %r, ~) are fine; shell syntax and options are not.
IDENTITY_RE = re.compile(
    r"^(?!-)[^\x00-\x1f\x7f-\x9f$`;|&<>(){}'\"\\!*?\[\]\u200e\u200f\u202a-\u202e\u2066-\u2069]{1,1024}$"
)
SINCE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


SHOWN_CHARS = 60


class ValidationError(ValueError):
    """A value the user gave is not acceptable (one line for the user)."""


def shown(value: object) -> str:
    """A value as an error message quotes it: repr (control characters escaped), and only a
    short prefix of a huge one, so one bad value still makes one short line."""
    text = str(value)
    if len(text) > SHOWN_CHARS:
        return f"{text[:SHOWN_CHARS]!r}… ({len(text)} chars)"
    return repr(text)


def valid_name(value: str, what: str = "name") -> str:
    if not NAME_RE.match(value):
        raise ValidationError(
            f"invalid {what} {shown(value)}: use letters, digits, '.', '_' or '-' (max 64 chars)"
        )
    return value


def valid_backend_name(value: str, what: str = "host name") -> str:
    """A host or LLM backend name: a valid name that is not a reserved route key."""
    valid_name(value, what)
    if value.lower() in RESERVED_NAMES:
        raise ValidationError(
            f"invalid {what} {shown(value)}: {', '.join(sorted(RESERVED_NAMES))} are reserved"
        )
    return value


def valid_port(value: str | int) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ValidationError(
            f"invalid port {shown(value)}: must be a number from 1 to 65535"
        ) from None
    if not 1 <= port <= 65535:
        raise ValidationError(f"invalid port {port}: must be from 1 to 65535")
    return port


def valid_user(value: str) -> str:
    if not USER_RE.match(value):
        raise ValidationError(f"invalid user {shown(value)}")
    return value


def parse_ssh_target(target: str) -> tuple[str | None, str, int | None]:
    """'[user@]address[:port]' (IPv6 as [addr]:port) -> (user, address, port)."""
    user: str | None = None
    rest = target
    if "@" in target:
        user, _, rest = target.rpartition("@")
        if not USER_RE.match(user):
            raise ValidationError(f"invalid user {shown(user)} in {shown(target)}")
    port: int | None = None
    if rest.startswith("["):
        address, sep, tail = rest[1:].partition("]")
        if not sep:
            raise ValidationError(f"invalid address {shown(rest)}: missing ']'")
        if tail:
            if not tail.startswith(":"):
                raise ValidationError(f"invalid address {shown(rest)}")
            port = valid_port(tail[1:])
    elif rest.count(":") == 1:
        address, _, port_text = rest.partition(":")
        port = valid_port(port_text)
    else:
        address = rest
    if not address or not ADDRESS_RE.match(address):
        raise ValidationError(
            f"invalid address {shown(address)}: expected a hostname, IP or ssh alias"
        )
    return user, address, port


def valid_env_var(value: str) -> str:
    if not ENV_VAR_RE.match(value):
        raise ValidationError(
            f"invalid --api-key-env {shown(value)}: give the NAME of an environment variable "
            "(e.g. OPENAI_API_KEY), never the key itself"
        )
    return value


def valid_url(value: str) -> str:
    if not URL_RE.match(value):
        raise ValidationError(f"invalid --api-base {shown(value)}: expected an http(s) URL")
    return value


def valid_budget(value: str | float) -> float:
    try:
        usd = float(value)
    except (TypeError, ValueError):
        usd = math.nan
    if not usd >= 0 or usd == math.inf:  # (NaN fails the first test)
        raise ValidationError(
            f"invalid --budget {shown(value)}: must be a non-negative number of USD"
        )
    return usd


def valid_seconds(value: str | float, what: str, most: float) -> float:
    """A wait in seconds (--watch, --timeout): more than 0 and at most `most`; NaN and
    infinity would wait forever."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"invalid --{what} {shown(value)}: a number of seconds") from None
    if not 0 < seconds <= most:  # (NaN fails this too)
        raise ValidationError(f"invalid --{what} {shown(value)}: must be > 0 and <= {most:g} s")
    return seconds


def valid_command_id(value: str | int) -> int:
    """A command's number (cockpit confirm ID): a whole number SQLite can hold."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"invalid command id {shown(value)}: a whole number") from None
    if not 0 < number < 2**63:
        text = str(number)
        raise ValidationError(f"no command #{text if len(text) <= SHOWN_CHARS else shown(text)}")
    return number


def valid_model(value: str) -> str:
    """A litellm model string: provider/name[:tag], e.g. ollama/llama3:8b or
    bedrock/anthropic.claude-3-sonnet-20240229-v1:0 (no quotes, spaces or bidi controls)."""
    if not MODEL_RE.match(value):
        raise ValidationError(
            f"invalid --model {shown(value)}: e.g. openai/gpt-4o-mini "
            "(letters, digits and . _ : / @ + -, max 200 chars)"
        )
    return value


FINGERPRINT_RE = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}=?$")


def valid_fingerprint(value: str) -> str:
    """A host key fingerprint as `ssh-keygen -lf` prints it (SHA256:, 43 base64 chars)."""
    if not FINGERPRINT_RE.match(value.strip()):
        raise ValidationError(
            f"invalid --fingerprint {shown(value)}: SHA256: and 43 characters, as "
            "ssh-keygen -lf prints it"
        )
    return value.strip()


def valid_identity_file(value: str) -> str:
    """A private key path as `--identity` or an ssh config IdentityFile gives it: it is
    passed to ssh, so no leading '-' (an option), no shell syntax, no control characters."""
    if not IDENTITY_RE.match(value):
        raise ValidationError(
            f"invalid --identity {shown(value)}: give a key file path such as ~/.ssh/id_ed25519 "
            "(no leading '-', quotes, $, `, ;, |, &, <, > or control characters)"
        )
    return value


def valid_import_path(value: str) -> Path:
    """A results file or folder: FIFOs, devices and sockets would block or mean nothing."""
    if not value.strip():
        raise ValidationError("the path is empty")
    path = Path(value).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ValidationError(f"{shown(value)}: no such file or folder") from None
    except OSError as exc:
        raise ValidationError(f"{shown(value)}: {exc.strerror}") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ValidationError(f"{shown(value)}: not a file or a folder")
    return path


def valid_input_file(value: str | Path, what: str) -> Path:
    """A file a command reads whole (a sweep spec, an ideas.json, a context or notes
    file): a FIFO would block the read forever, a device never end it."""
    path = Path(value).expanduser()
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ValidationError(f"cannot read {what} {shown(value)}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise ValidationError(f"cannot read {what} {shown(value)}: it is a folder")
    if not stat.S_ISREG(mode):
        raise ValidationError(f"cannot read {what} {shown(value)}: not a regular file")
    return path


def read_input_text(value: str | Path, what: str) -> str:
    """The UTF-8 text of a file a command reads whole, or one line that says why not."""
    path = valid_input_file(value, what)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot read {what} {shown(value)}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValidationError(f"cannot read {what} {shown(value)}: not UTF-8 text") from None


def path_inside(root: Path, name: str) -> Path:
    """``root / name`` for a name that comes from data (a sweep named '/abs' or '../x' in an
    imported file): separators, '..' and control characters become '_', and the result is
    checked to stay inside ``root``."""
    component = UNSAFE_PATH_CHARS.sub("_", name).strip(". ")[:MAX_COMPONENT] or "_"
    path = root / component
    resolved_root = root.resolve()
    if path.resolve().parent != resolved_root:  # a symlink named like the sweep, say
        raise ValidationError(f"{shown(name)}: would be written outside {root}")
    return path


def parse_since(text: str, now: float) -> float:
    """'12h', '30m', '2d', '1w', '90s' before now, or a date/time like 2026-11-21T22:00."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", text.strip())
    # Before 1970 nothing was recorded: such a time means "everything", and stays one a
    # clock can print (99999999999d before now is a year no calendar has).
    if match:
        return max(0.0, now - float(match[1]) * SINCE_UNITS[match[2]])
    try:
        return max(0.0, datetime.fromisoformat(text.strip()).timestamp())
    except (ValueError, OverflowError, OSError):
        raise ValidationError(
            f"invalid --since {shown(text)}: use a duration like 12h, 30m, 2d or a time like "
            "2026-11-21T22:00"
        ) from None


def valid_time_limit(value: str | int, what: str = "time_limit") -> int:
    """A run's time limit in seconds: 8h, 30m, 90s, 2d, 1h30m, or a number of seconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    else:
        text = str(value).strip()
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhdw])", text)
        if text.isdigit():
            seconds = int(text)
        elif parts and re.fullmatch(r"(?:\s*\d+(?:\.\d+)?\s*[smhdw])+\s*", text):
            seconds = round(sum(float(n) * SINCE_UNITS[u] for n, u in parts))
        else:
            raise ValidationError(f"invalid {what} {shown(value)}: use e.g. 8h, 30m, 1h30m or 90s")
    if seconds <= 0:
        raise ValidationError(f"invalid {what} {shown(value)}: must be more than 0 seconds")
    return seconds


MAX_GPUS_PER_RUN = 64


def valid_gpus(value: object, what: str = "gpus") -> int:
    """GPUs per run (--gpus, a spec's gpus): 0 is a CPU job."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_GPUS_PER_RUN:
        raise ValidationError(
            f"invalid {what} {shown(value)}: must be a whole number from 0 to {MAX_GPUS_PER_RUN}"
        )
    return value


def valid_workdir(value: object, what: str = "workdir") -> str:
    """Where a run's command starts on its host; it reaches the shell only quoted."""
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ValidationError(f"invalid {what} {shown(value)}: must be a path on the host")
    return value


def valid_env_name(value: str, what: str = "env") -> str:
    """An environment variable's name as a shell's `export` takes it (ASCII only)."""
    if not ENV_VAR_RE.match(value):
        raise ValidationError(
            f"{what}: {shown(value)} is not an environment variable name (letters, digits, _)"
        )
    return value


def valid_direction(text: str) -> tuple[str, bool]:
    """`--direction METRIC=lower|higher` -> (metric, higher-is-better)."""
    from cockpit.metric_names import parse_direction_word

    metric, sep, word = text.rpartition("=")
    if not sep or not metric.strip():
        raise ValidationError(
            f"invalid --direction {shown(text)}: use METRIC=lower or METRIC=higher"
        )
    try:
        return metric.strip(), parse_direction_word(word)
    except ValueError:
        raise ValidationError(
            f"invalid --direction {shown(text)}: the direction is higher or lower"
        ) from None


# -- ideas and LLM jobs (issue 9) ----------------------------------------------------------


def valid_score(value: str | int, what: str) -> int:
    """An idea's Interestingness, Feasibility or Novelty: a whole number from 1 to 10."""
    try:
        score = int(value)
    except (TypeError, ValueError):
        raise ValidationError(
            f"invalid --{what} {shown(value)}: a whole number from 1 to 10"
        ) from None
    if not 1 <= score <= 10:
        raise ValidationError(f"invalid --{what} {shown(score)}: must be from 1 to 10")
    return score


def valid_count(value: str | int, what: str, low: int, high: int) -> int:
    """A bounded count (--n ideas, --reflections, --rounds, --priority)."""
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"invalid --{what} {shown(value)}: a whole number") from None
    if not low <= count <= high:
        raise ValidationError(f"invalid --{what} {shown(count)}: must be from {low} to {high}")
    return count


def valid_title(value: str) -> str:
    title = " ".join(value.split())
    if not title:
        raise ValidationError("invalid --title: it is empty")
    if len(title) > 300:
        raise ValidationError(f"invalid --title: {len(title)} characters, at most 300")
    return title


def valid_regex(value: str, what: str = "grep") -> re.Pattern[str]:
    """A search pattern typed by the user (--grep, the log view's / and filter)."""
    if len(value) > 1000:
        raise ValidationError(f"invalid --{what}: {len(value)} characters, at most 1000")
    try:
        return re.compile(value)
    except re.error as exc:
        raise ValidationError(f"invalid --{what} {shown(value)}: {exc}") from None


def valid_smoothing(value: str | float) -> float:
    """A chart's EMA weight (--smoothing): 0 draws the raw points, 0.99 the smoothest."""
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise ValidationError(
            f"invalid --smoothing {shown(value)}: a number from 0 to 0.99"
        ) from None
    if not 0.0 <= weight <= 0.99:  # (NaN fails this too)
        raise ValidationError(f"invalid --smoothing {shown(value)}: must be from 0 to 0.99")
    return weight
