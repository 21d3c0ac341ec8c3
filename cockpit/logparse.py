"""Metrics and warning flags out of plain training logs, incrementally.

Researchers' scripts print their metrics in many shapes, and a log is all the cockpit can
count on. One scanner reads them all, a chunk of new bytes at a time, whatever the chunk
boundaries:

- `key=value` and `key: value` pairs (`step 120 | loss=1.234 lr=3e-4`, `val_acc: 0.91`);
- JSON lines (`{"step": 10, "loss": 1.2}`) and Python-dict lines, as the Hugging Face
  Trainer prints them (`{'loss': 1.23, 'learning_rate': 5e-05, 'epoch': 0.5}`);
- tqdm and PyTorch Lightning progress bars (`450/1000 [00:10<00:12, 44.5it/s, loss=0.32]`):
  the iteration is the step, `it/s` the throughput; a bar redrawn with `\\r` counts once, in
  its last state;
- `step N` / `iter N` / `Step N/M` markers, which set the step of the lines after them;
- lm-eval-harness result tables (`|mmlu|1|none|0|acc|↑|0.4512|±|0.0041|`), as `task/metric`.

ANSI colour codes are dropped before parsing. A metric with no step in sight gets the
number of its own points so far, so series stay ordered. Non-finite values are not points:
a NaN or inf loss raises a flag instead, as do a CUDA out-of-memory error, a Python
traceback and a loss spike, each with the line number to jump to. The regular expressions
run over whole chunks, not line by line, so a gigabyte of log parses in seconds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from cockpit.models import MetricPoint

# Possessive quantifiers (*+, ++) and one look-behind at word starts keep the engine from
# retrying every suffix of every word: 3-4x faster on dense logs than the plain pattern.
NUMBER = r"[-+]?+(?:\d++(?:\.\d*+)?+|\.\d++)(?:[eE][-+]?\d++)?+"
QUALIFIER = r"(?:(?P<{0}>train|val|valid|validation|eval|test)[ _])?"
# Metric words printed as `loss 0.98` with neither '=' nor ':' (nanoGPT, many scripts).
BARE_WORDS = r"loss|acc|accuracy|ppl|perplexity|lr|mfu|reward|bleu|f1|grad_norm"
# One pass finds every kind of token; which group matched says what it is.
TOKEN = re.compile(
    r"(?<![\w./-])(?:"
    # key=value, key: value, "key": value, 'key': value, `train loss=…` (train_loss); not
    # a number followed by ':' (a clock time like 12:30:01) or by ',ddd' (12,000 is not 12)
    + QUALIFIER.format("qual")
    + r"[\"']?(?P<key>[A-Za-z_][\w./-]*+)[\"']?\s*+[=:]\s*+"
    + rf"(?P<value>{NUMBER}|nan|NaN|-?inf|-?Infinity)(?![\d:]|,\d{{3}})"
    # loss 0.98, val acc 0.81
    + "|"
    + QUALIFIER.format("wqual")
    + rf"(?P<wkey>{BARE_WORDS})\s++(?P<wvalue>{NUMBER}|nan|inf)(?![\d:])"
    # a tqdm / Lightning bar: n/total [elapsed<left, rate it/s
    + r"|(?P<bar>(?P<n>\d++)/(?P<total>\d++|\?)\s*+\[[^\]\n]*?"
    + rf"(?P<rate>{NUMBER})\s*+(?P<unit>it/s|s/it))"
    # step 120, Step 3/100, iter 9, iteration 7
    + r"|(?P<marker>(?:[Ss]tep|STEP|[Ii]ter(?:ation)?)\s++(?P<step>\d++)\b)"
    + r"|(?P<oom>CUDA out of memory|OutOfMemoryError|torch\.OutOfMemoryError)"
    + ")"
    # an lm-eval table row: |task|version|filter|n-shot|metric|dir|value|±|stderr|
    + r"|(?P<table>^\|(?P<task>[^|\n]*)\|[^|\n]*\|[^|\n]*\|[^|\n]*\|(?P<tmetric>[^|\n]*)\|"
    + rf"[^|\n]*\|\s*(?P<tvalue>{NUMBER})\s*\|)"
    + r"|(?P<traceback>^Traceback \(most recent call last\):)",
    re.MULTILINE,
)
Span = tuple[int, int]
# What a line holds, where: ("point", value span, name or None, key span), ("step", span),
# ("bar", n span, rate span, rate is s/it), ("table", task, metric, value spans), ("oom",),
# ("traceback",). A name is None when it holds digits and must be cut from each line.
PlanStep = tuple[Any, ...]
Plan = tuple[PlanStep, ...]
# Digits all look alike to TOKEN, so lines equal but for their digits parse alike, at the
# same positions: a line's shape (its digits as 0) keys the plan of where its tokens are.
DIGITS_AS_ZERO = str.maketrans("123456789", "000000000")
MAX_SHAPES = 4096


def metric_name(key: str, qual: str | None) -> str:
    return f"{qual}_{key}" if qual and not key.lower().startswith(qual.lower()) else key


def plan_of(line: str) -> Plan:
    """Where the tokens of one line are, and of what kind (the regex runs once a shape)."""
    plan: list[PlanStep] = []
    for m in TOKEN.finditer(line):
        if m["value"] is not None or m["wvalue"] is not None:
            value = "value" if m["value"] is not None else "wvalue"
            key, qual = ("key", "qual") if value == "value" else ("wkey", "wqual")
            name = metric_name(m[key], m[qual])
            if name.lower() in STEP_KEYS or m[key].lower() in STEP_KEYS:
                plan.append(("step", m.span(value)))
            elif m[key].lower() not in NOT_METRICS and not m[key].endswith(".py"):
                # (a source location like trainer.py:2134 is no metric either)
                static = None if any(c.isdigit() for c in name) else name
                plan.append(("point", m.span(value), static, m.span(key), m[qual]))
        elif m["bar"] is not None:
            plan.append(("bar", m.span("n"), m.span("rate"), m["unit"] == "s/it"))
        elif m["marker"] is not None:
            plan.append(("marker", m.span("step")))
        elif m["table"] is not None:
            plan.append(("table", m.span("task"), m.span("tmetric"), m.span("tvalue")))
        elif m["oom"] is not None:
            plan.append(("oom",))
        elif m["traceback"] is not None:
            plan.append(("traceback",))
    return tuple(plan)


# Terminal escapes: OSC (window titles, links), CSI (colours, cursor moves), the rest; and
# the C0 controls a terminal would act on (bell, backspace…), tab and newline excepted.
ESCAPES = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]?"
    r"|[\x00-\x08\x0b-\x1f\x7f]"
)
# Everything on a line up to its last carriage return: the states a progress bar replaced.
OVERDRAWN = re.compile(r"[^\n]*\r(?!\n|$)")
STEP_KEYS = frozenset({"step", "global_step", "iter", "iteration", "train/global_step"})
# Keys that name a run or echo its configuration, not a measurement.
NOT_METRICS = frozenset(
    {
        "v_num",
        "rank",
        "local_rank",
        "world_size",
        "pid",
        "seed",
        "version",
        "batch_size",
        "num_fewshot",
        "max_steps",
        "num_train_epochs",
        "warmup_steps",
        "gradient_accumulation_steps",
        "steps",
        "epochs",
    }
)
SPIKE_WARMUP = 10  # points of a loss before a spike can be told from the start of training
SPIKE_SMOOTHING = 0.1
SPIKE_FACTOR = 3.0  # a loss this many times its recent average is a spike


class FlagKind(StrEnum):
    NAN_LOSS = "nan-loss"
    OOM = "oom"
    TRACEBACK = "traceback"
    LOSS_SPIKE = "loss-spike"
    STALLED = "stalled"


@dataclass(frozen=True)
class LogFlag:
    kind: FlagKind
    line: int  # 1-based line number in the log
    text: str  # what was seen, short

    def __str__(self) -> str:
        return f"{self.kind} at line {self.line}: {self.text}"


class LogPoint(NamedTuple):
    """One value of one series (a tuple: a gigabyte of log makes tens of millions)."""

    step: int
    name: str
    value: float


@dataclass
class ScanResult:
    """What one chunk added: metric points, flags, and how many whole lines it completed."""

    points: list[LogPoint] = field(default_factory=list)
    flags: list[LogFlag] = field(default_factory=list)
    lines: int = 0


# What a terminal may see of a log line: colours (SGR) are kept, every other escape and
# control is dropped, and so are C1 controls (U+009B acts as CSI on some terminals) and the
# bidi overrides that reorder what the user reads.
COLOUR = re.compile(r"\x1b\[[0-9;:]*m")
NOT_FOR_TERMINAL = re.compile("[\x80-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_text(text: str, *, colours: bool = True) -> str:
    """Log text for a terminal: progress bars collapsed, colours kept (or not), nothing else
    that a terminal would act on."""
    if not colours:
        return NOT_FOR_TERMINAL.sub("", clean_text(text))
    if "\r" in text:
        text = OVERDRAWN.sub("", text)
    text = ESCAPES.sub(lambda m: m.group() if COLOUR.fullmatch(m.group()) else "", text)
    return NOT_FOR_TERMINAL.sub("", text)


def clean_text(text: str) -> str:
    """Log text as the terminal would leave it: progress bars in their last state, and no
    escape sequence or control character left to act on a terminal."""
    if "\r" in text:
        text = OVERDRAWN.sub("", text)
    return ESCAPES.sub("", text)


@dataclass
class LogScanner:
    """Reads one run's log from the start, chunk by chunk; keeps what the next chunk needs."""

    line: int = 0  # whole lines read so far
    step: int | None = None  # the step the lines being read belong to
    partial: bytes = b""
    counts: dict[str, int] = field(default_factory=dict)  # points of step-less series
    loss_trend: dict[str, tuple[int, float]] = field(default_factory=dict)  # (n, average)
    flagged: set[tuple[FlagKind, str]] = field(default_factory=set)
    table_task: str = ""  # the task of the lm-eval table row above
    plans: dict[str, Plan] = field(default_factory=dict)  # by line shape

    def state(self) -> dict[str, Any]:
        """What the next chunk needs, as JSON can hold it (the line-shape cache is not
        needed: it is rebuilt). The partial last line is not kept: resume at its offset."""
        return {
            "line": self.line,
            "step": self.step,
            "counts": self.counts,
            "loss_trend": {k: list(v) for k, v in self.loss_trend.items()},
            "flagged": sorted([str(k), t] for k, t in self.flagged),
            "table_task": self.table_task,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LogScanner:
        return cls(
            line=int(state.get("line", 0)),
            step=state.get("step"),
            counts={str(k): int(v) for k, v in state.get("counts", {}).items()},
            loss_trend={
                str(k): (int(v[0]), float(v[1])) for k, v in state.get("loss_trend", {}).items()
            },
            flagged={(FlagKind(k), str(t)) for k, t in state.get("flagged", [])},
            table_task=str(state.get("table_task", "")),
        )

    def feed(self, data: bytes) -> ScanResult:
        """Parse the whole lines `data` completes; hold back a partial last line."""
        data = self.partial + data
        end = data.rfind(b"\n") + 1
        self.partial = data[end:]
        return self._scan(data[:end].decode("utf-8", "replace"))

    def finish(self) -> ScanResult:
        """The run is over: its last line counts even without a newline."""
        rest, self.partial = self.partial, b""
        return self._scan(rest.decode("utf-8", "replace") + "\n") if rest else ScanResult()

    def _scan(self, text: str) -> ScanResult:
        result = ScanResult()
        if not text:
            return result
        lines = clean_text(text).split("\n")
        lines.pop()  # text ends with a newline: nothing after it
        plans, line_no = self.plans, self.line
        for line in lines:
            # Logs repeat a handful of line shapes; a shape is parsed once (see plan_of).
            shape = line.translate(DIGITS_AS_ZERO)
            plan = plans.get(shape)
            if plan is None:
                if len(plans) >= MAX_SHAPES:
                    plans.clear()
                plan = plans[shape] = plan_of(line)
            if plan:
                self._apply(plan, line, line_no, result)
            line_no += 1
        result.lines = len(lines)
        self.line = line_no
        return result

    def _apply(self, plan: Plan, line: str, line_no: int, result: ScanResult) -> None:
        step_here: int | None = None  # a step set on this very line
        for entry in plan:
            kind = entry[0]
            if kind == "point":
                (v0, v1), name = entry[1], entry[2]
                if name is None:
                    (k0, k1) = entry[3]
                    name = metric_name(line[k0:k1], entry[4])
                self._point(result, name, float(line[v0:v1]), line_no, step_here)
            elif kind in ("step", "marker"):
                (v0, v1) = entry[1]
                number = float(line[v0:v1])
                if math.isfinite(number):
                    self.step = step_here = int(number)
            elif kind == "bar":
                (n0, n1), (r0, r1) = entry[1], entry[2]
                self.step = step_here = int(line[n0:n1])
                rate = float(line[r0:r1])
                if entry[3] and rate > 0:
                    rate = 1.0 / rate
                self._point(result, "it_per_s", rate, line_no, step_here)
            elif kind == "table":
                (t0, t1), (m0, m1), (v0, v1) = entry[1], entry[2], entry[3]
                # A task's second metric row leaves the task cell empty.
                task = line[t0:t1].strip(" -") or self.table_task
                metric = line[m0:m1].strip()
                self.table_task = task
                if task and metric and metric.lower() != "metric":
                    self._point(result, f"{task}/{metric}", float(line[v0:v1]), line_no, step_here)
            elif kind == "oom":
                self._flag(result, FlagKind.OOM, line_no, line.strip())
            elif kind == "traceback":
                self._flag(result, FlagKind.TRACEBACK, line_no, "Traceback")

    def _point(
        self, result: ScanResult, name: str, value: float, line: int, step_here: int | None
    ) -> None:
        is_loss = "loss" in name.lower()
        if value != value or value in (math.inf, -math.inf):
            if is_loss:
                self._flag(result, FlagKind.NAN_LOSS, line, f"{name}={value}", once=False)
            return
        if step_here is not None:
            step = step_here
        elif self.step is not None:
            step = self.step
        else:
            step = self.counts.get(name, 0)
            self.counts[name] = step + 1
        result.points.append(LogPoint(step, name, value))
        if is_loss:
            self._watch_loss(result, name, value, line)

    def _watch_loss(self, result: ScanResult, name: str, value: float, line: int) -> None:
        # Against an exponential moving average: O(1) a point, and slow enough to trust.
        seen, average = self.loss_trend.get(name, (0, value))
        if seen >= SPIKE_WARMUP and average > 0 and value > SPIKE_FACTOR * average:
            self._flag(
                result,
                FlagKind.LOSS_SPIKE,
                line,
                f"{name}={value:.4g}, {value / average:.1f}x its recent average",
                once=False,
            )
        self.loss_trend[name] = (seen + 1, average + SPIKE_SMOOTHING * (value - average))

    def _flag(
        self, result: ScanResult, kind: FlagKind, line: int, text: str, *, once: bool = True
    ) -> None:
        # A traceback or OOM repeated by every rank is one problem; a NaN is flagged once a
        # series, the first time it is seen.
        key = (kind, "" if once else text.partition("=")[0])
        if key in self.flagged:
            return
        self.flagged.add(key)
        result.flags.append(LogFlag(kind, line + 1, text[:160]))


def metric_points(run_id: str, points: list[LogPoint]) -> list[MetricPoint]:
    """The points as the store records them."""
    return [MetricPoint(run_id, p.step, p.name, p.value) for p in points]


def stalled_flag(last_growth: float, now: float, lines: int, after_s: float) -> LogFlag | None:
    """A flag when a running run's log has not grown for `after_s` seconds."""
    quiet = now - last_growth
    if quiet < after_s:
        return None
    return LogFlag(FlagKind.STALLED, max(lines, 1), f"no new log line for {int(quiet // 60)} min")
