"""The nvidia-smi path: for hosts where the NVML sampler cannot run (no pynvml, no python).

Commands to query nvidia-smi (once, streamed with -lms under a heartbeat watchdog, and the
processes on the GPUs), and parsers that turn its CSV into the sampler's GPU entries, so
SampleAssembler handles both paths alike.
"""

from __future__ import annotations

import csv
import math
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from backends.gpu.sampler_client import SamplerOptions
from backends.remote_shell import env_prefix
from cockpit.models import GpuProcess

# Queried fields, in order. The optional ones are missing from old drivers, which reject
# the whole query ("is not a valid field to query"); then SMI_FIELDS_MINIMAL is used.
SMI_FIELDS: tuple[str, ...] = (
    "index",
    "uuid",
    "name",
    "utilization.gpu",
    "memory.used",
    "memory.total",
    "temperature.gpu",
    "power.draw",
    "power.limit",
    "clocks.sm",
    "fan.speed",
    "pstate",
    "driver_version",
    "ecc.errors.uncorrected.volatile.total",
    "mig.mode.current",
)
SMI_FIELDS_MINIMAL: tuple[str, ...] = SMI_FIELDS[:13]

_SMI_KEYS = {
    "index": "i",
    "uuid": "uuid",
    "name": "name",
    "utilization.gpu": "util",
    "memory.used": "mem_used",
    "memory.total": "mem_total",
    "temperature.gpu": "temp",
    "power.draw": "power",
    "power.limit": "power_limit",
    "clocks.sm": "sm",
    "fan.speed": "fan",
    "pstate": "pstate",
    "ecc.errors.uncorrected.volatile.total": "ecc",
    "mig.mode.current": "mig",
}
_SMI_TEXT = {"uuid", "name", "pstate", "driver_version"}


def _smi_missing(value: str) -> bool:
    v = value.strip()
    return not v or v in ("N/A", "[N/A]") or (v.startswith("[") and v.endswith("]"))


def _smi_lost(value: str) -> bool:
    v = value.lower()
    return "gpu is lost" in v or "requires reset" in v


def parse_smi_row(line: str, fields: Sequence[str] = SMI_FIELDS) -> dict[str, Any] | None:
    """One `--query-gpu` CSV row (noheader, nounits) -> a sampler GPU entry, or None.

    "[N/A]", "[Not Supported]" and friends become null; "[GPU is lost]" marks the GPU lost.
    A row with the wrong number of fields (truncated) is rejected.
    """
    try:
        rows = list(csv.reader([line], skipinitialspace=True))
    except csv.Error:
        return None
    if len(rows) != 1 or len(rows[0]) != len(fields):
        return None
    values = dict(zip(fields, (c.strip() for c in rows[0]), strict=True))
    index_text = values.get("index", "")
    if not index_text.isdigit():
        return None
    entry: dict[str, Any] = {"i": int(index_text)}
    if any(_smi_lost(v) for v in values.values()):
        entry["lost"] = next(v for v in values.values() if _smi_lost(v)).strip("[]")
        return entry
    for name, raw in values.items():
        key = _SMI_KEYS.get(name)
        if key is None or key == "i":
            continue
        if _smi_missing(raw):
            entry[key] = None
        elif key == "mig":
            entry[key] = {"enabled": True, "disabled": False}.get(raw.lower())
        elif key == "ecc":
            entry[key] = int(raw) if raw.isdigit() else None
        elif name in _SMI_TEXT:
            entry[key] = raw
        else:
            try:
                entry[key] = float(raw)
            except ValueError:
                entry[key] = None
    return entry


def smi_driver_version(line: str, fields: Sequence[str] = SMI_FIELDS) -> str | None:
    parts = [c.strip() for c in line.split(",")]
    if "driver_version" in fields and len(parts) == len(fields):
        value = parts[list(fields).index("driver_version")]
        return None if _smi_missing(value) else value
    return None


_CUDA_RE = re.compile(r"CUDA Version:\s*([0-9][0-9.]*)")
_DEVICE_ERROR_RE = re.compile(r"^(Unable to determine the device handle|.*GPU is lost)", re.I)


def parse_cuda_version(banner: str) -> str | None:
    """The CUDA version from plain `nvidia-smi` output ("CUDA Version: 12.4")."""
    m = _CUDA_RE.search(banner)
    return m.group(1) if m else None


class SmiBatcher:
    """Groups streamed `-lms` CSV rows into ticks: a tick ends at `expected` rows or when
    an index repeats. Device error lines (a GPU that fell off the bus) count as rows and
    turn the missing GPU into a lost entry."""

    def __init__(self, fields: Sequence[str] = SMI_FIELDS, expected: int | None = None) -> None:
        self.fields = tuple(fields)
        self.expected = expected
        self.known: set[int] = set()
        self._rows: list[dict[str, Any]] = []
        self._errors: list[str] = []
        self.malformed = 0

    def feed(self, line: str) -> list[dict[str, Any]] | None:
        """Returns a finished tick's GPU entries, or None while a tick is filling."""
        text = line.strip()
        if not text:
            return None
        entry = parse_smi_row(text, self.fields)
        out: list[dict[str, Any]] | None = None
        if entry is None:
            if _DEVICE_ERROR_RE.match(text):
                self._errors.append(text[:200])
                if self._full():
                    out = self._flush()
            else:
                self.malformed += 1
            return out
        if any(r["i"] == entry["i"] for r in self._rows):
            out = self._flush()
        self._rows.append(entry)
        if self._full():
            flushed = self._flush()
            out = flushed if out is None else out + flushed  # pragma: no cover - rare
        return out

    def _full(self) -> bool:
        return self.expected is not None and len(self._rows) + len(self._errors) >= self.expected

    def _flush(self) -> list[dict[str, Any]]:
        rows, errors = self._rows, self._errors
        self._rows, self._errors = [], []
        seen = {r["i"] for r in rows}
        missing = sorted(self.known - seen)
        for i, index in enumerate(missing):
            reason = errors[i] if i < len(errors) else "missing from nvidia-smi output"
            rows.append({"i": index, "lost": reason})
        self.known |= seen
        if self.expected is None or len(rows) > self.expected:
            self.expected = len(rows)
        return sorted(rows, key=lambda r: r["i"])


# Processes on the nvidia-smi path: the apps query, then `ps` for owners of those pids.
# A fixed script (no interpolation), so there is nothing to quote.
SMI_PROCESSES_SCRIPT = "; ".join(
    [
        "a=$(nvidia-smi --query-compute-apps=gpu_uuid,pid,used_memory,process_name"
        " --format=csv,noheader,nounits) || exit $?",
        "printf '%s\\n' \"$a\"",
        "echo @@cockpit-ps@@",
        "p=$(printf '%s\\n' \"$a\" | awk -F', *' 'NF>1 && $2 ~ /^[0-9]+$/ {print $2}'"
        " | paste -sd, -)",
        '[ -n "$p" ] && ps -ww -o pid= -o user:32= -o args= -p "$p"',
        "exit 0",
    ]
)


def parse_smi_processes(output: str, uuid_index: Mapping[str, int]) -> dict[int, list[GpuProcess]]:
    """Output of SMI_PROCESSES_SCRIPT -> processes per GPU index."""
    apps_text, _, ps_text = output.partition("@@cockpit-ps@@")
    owners: dict[int, tuple[str | None, str | None]] = {}
    for line in ps_text.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0].isdigit():
            owners[int(parts[0])] = (parts[1], parts[2] if len(parts) > 2 else None)
    out: dict[int, list[GpuProcess]] = {}
    for line in apps_text.splitlines():
        if not line.strip():
            continue
        try:
            cells = [c.strip() for c in next(csv.reader([line], skipinitialspace=True))]
        except (csv.Error, StopIteration):
            continue
        if len(cells) < 3 or not cells[1].isdigit():
            continue
        index = uuid_index.get(cells[0])
        if index is None:
            continue
        pid = int(cells[1])
        try:
            mem: float | None = float(cells[2])
        except ValueError:
            mem = None
        user, command = owners.get(pid, (None, None))
        if command is None and len(cells) > 3 and not _smi_missing(cells[3]):
            command = cells[3]
        out.setdefault(index, []).append(GpuProcess(pid, user, command, mem))
    return out


def smi_query_args(fields: Sequence[str], interval_ms: int | None = None) -> list[str]:
    args = ["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"]
    if interval_ms is not None:
        args += ["-lms", str(int(interval_ms))]
    return args


def smi_stream_command(fields: Sequence[str], options: SamplerOptions) -> str:
    """nvidia-smi -lms under a heartbeat watchdog.

    nvidia-smi cannot notice a silently dropped link (sshd keeps the session until TCP
    gives up, hours later), so a shell loop kills it when heartbeats on stdin stop or
    stdin closes, the same contract as the Python sampler.
    """
    query = shlex.join(smi_query_args(fields, max(50, int(options.interval_s * 1000))))
    timeout = str(max(1, math.ceil(options.heartbeat_timeout_s)))
    # One line (csh-family login shells reject newlines inside quotes).
    script = (
        f"{query} </dev/null & p=$!; "
        "trap 'kill $p 2>/dev/null' EXIT HUP TERM; "
        f"while kill -0 $p 2>/dev/null && timeout {timeout} sh -c 'read x'; do :; done; "
        "kill $p 2>/dev/null; "
        "wait $p"
    )
    return f"exec {env_prefix(options.env)}sh -c {shlex.quote(script)}"


def smi_probe_command(fields: Sequence[str], options: SamplerOptions) -> str:
    """One query (first sample, GPU count, driver) plus the banner for the CUDA version."""
    query = shlex.join(smi_query_args(fields))
    script = f"{query} || exit $?; echo @@cockpit-banner@@; nvidia-smi 2>/dev/null | head -n 6"
    return f"{env_prefix(options.env)}sh -c {shlex.quote(script)}"


def smi_processes_command(options: SamplerOptions) -> str:
    return f"{env_prefix(options.env)}sh -c {shlex.quote(SMI_PROCESSES_SCRIPT)}"
