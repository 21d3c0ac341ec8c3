"""The plain way to read metrics out of a log: the whole log at once, a line at a time, every
token of every line through the regular expression. The fast scanner (line shapes, columns,
chunks) must give exactly what this gives."""

from __future__ import annotations

import math

from cockpit.logparse import (
    SPIKE_FACTOR,
    SPIKE_SMOOTHING,
    SPIKE_WARMUP,
    FlagKind,
    LogFlag,
    clean_text,
    metric_name,
    plan_of,
)

Point = tuple[int, str, float]
# `tok/s 45` and `tokens/s 45` are one throughput series, tokens_per_s.
UNIT_SPELLINGS = {"tok": "tokens", "toks": "tokens", "token": "tokens", "sample": "samples"}


def reference_scan(data: bytes) -> tuple[list[Point], list[LogFlag]]:
    """(step, name, value) points in log order, and the flags, of a whole log."""
    points: list[Point] = []
    flags: list[LogFlag] = []
    flagged: set[tuple[FlagKind, str]] = set()
    counts: dict[str, int] = {}
    trend: dict[str, tuple[int, float]] = {}
    step: int | None = None
    table_task = ""

    def flag(kind: FlagKind, line_no: int, text: str, key: str = "") -> None:
        if (kind, key) not in flagged:
            flagged.add((kind, key))
            flags.append(LogFlag(kind, line_no + 1, text[:160]))

    def point(name: str, value: float, line_no: int, step_here: int | None) -> None:
        is_loss = "loss" in name.lower()
        if not math.isfinite(value):
            if is_loss:
                flag(FlagKind.NAN_LOSS, line_no, f"{name}={value}", name)
            return
        if step_here is not None:
            at = step_here
        elif step is not None:
            at = step
        else:
            at = counts.get(name, 0)
            counts[name] = at + 1
        points.append((at, name, value))
        if is_loss:
            seen, average = trend.get(name, (0, value))
            if seen >= SPIKE_WARMUP and average > 0 and value > SPIKE_FACTOR * average:
                text = f"{name}={value:.4g}, {value / average:.1f}x its recent average"
                flag(FlagKind.LOSS_SPIKE, line_no, text, name)
            trend[name] = (seen + 1, average + SPIKE_SMOOTHING * (value - average))

    raw_lines = data.split(b"\n")
    if raw_lines[-1] == b"":
        raw_lines.pop()  # a log ending with a newline has no line after it
    for line_no, raw in enumerate(raw_lines):
        line = clean_text(raw.decode("utf-8", "replace"))
        step_here: int | None = None
        for entry in plan_of(line):
            kind = entry[0]
            if kind == "point":
                (v0, v1), (k0, k1) = entry[1], entry[3]
                point(metric_name(line[k0:k1], entry[4]), float(line[v0:v1]), line_no, step_here)
            elif kind in ("step", "marker"):
                number = float(line[entry[1][0] : entry[1][1]])
                if math.isfinite(number):
                    step = step_here = int(number)
            elif kind == "bar":
                (n0, n1), (r0, r1) = entry[1], entry[2]
                step = step_here = int(line[n0:n1])
                rate = float(line[r0:r1])
                if entry[3] and rate > 0:
                    rate = 1.0 / rate
                point("it_per_s", rate, line_no, step_here)
            elif kind == "rate":  # tokens/s 2834, outside a bar
                (v0, v1), (k0, k1) = entry[1], entry[2]
                unit = line[k0:k1]
                name = UNIT_SPELLINGS.get(unit.lower(), unit) + "_per_s"
                point(name, float(line[v0:v1]), line_no, step_here)
            elif kind == "table":
                (t0, t1), (m0, m1), (v0, v1) = entry[1], entry[2], entry[3]
                task = line[t0:t1].strip(" -") or table_task
                metric = line[m0:m1].strip()
                table_task = task
                if task and metric and metric.lower() != "metric":
                    point(f"{task}/{metric}", float(line[v0:v1]), line_no, step_here)
            elif kind == "oom":
                flag(FlagKind.OOM, line_no, line.strip())
            elif kind == "traceback":
                flag(FlagKind.TRACEBACK, line_no, "Traceback")
    return points, flags
