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
- throughput written as `<word>/s N` outside a bar (`tokens/s 2834`, `tok/s 45`,
  `samples/s 12.5`, `it/s 3.1`), as `<word>_per_s` (`tokens_per_s`, `it_per_s` …);
- `step N` / `iter N` / `Step N/M` markers, which set the step of the lines after them;
- lm-eval-harness result tables (`|mmlu|1|none|0|acc|↑|0.4512|±|0.0041|`), as `task/metric`.

ANSI escapes and control characters are dropped from each line before parsing. A metric
with no step in sight gets the number of its own points so far, so series stay ordered.
Non-finite values are not points: a NaN or inf loss raises a flag instead, as do a CUDA
out-of-memory error, a Python traceback and a loss spike, each with the line number to
jump to.

Speed: a training log repeats a few line templates millions of times. Lines equal but for
their digits (one *shape*) hold their tokens at the same byte offsets, so the token regex
runs once a shape, and the lines of a shape are read a column at a time by C-level map()
calls (a slice and a float() a value, no Python code a line). Steps are carried down to
the lines that set none by bisection, and a series fed by several shapes is merged back
into log order. Lines no slice can serve (tables, OOM and traceback lines, redrawn bars,
bytes that are not UTF-8) are read one by one. tests/unit/logparse_reference.py is the
plain line-by-line reading this must equal; tests/bench/bench_logs.py measures it.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from itertools import accumulate, chain, compress, count, repeat
from operator import call, gt, itemgetter
from typing import Any

from cockpit.log_index import MAX_LINE_BYTES
from cockpit.models import MetricRow

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
    # tokens/s 2834, samples/sec 12.5 (letters only: the name needs no cutting per line)
    + rf"|(?P<rkey>[A-Za-z_]++)/s(?:ec)?+\s++(?P<rvalue>{NUMBER})(?![\d:])"
    # a tqdm / Lightning bar: n/total [elapsed<left, rate it/s
    + r"|(?P<bar>(?P<n>\d++)/(?P<total>\d++|\?)\s*+\[[^\]\n]*?"
    + rf"(?P<rate>{NUMBER})\s*+(?P<unit>it/s|s/it))"
    # step 120, Step 3/100, iter 9, iteration 7, Step [100/600] (the PyTorch tutorials')
    + r"|(?P<marker>(?:[Ss]tep|STEP|[Ii]ter(?:ation)?)(?:\s++|\s*+\[\s*+)(?P<step>\d++)\b)"
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
# ("rate", value span, key span), ("traceback",). A name is None when it holds digits and
# must be cut from each line.
PlanStep = tuple[Any, ...]
Plan = tuple[PlanStep, ...]
# Digits all look alike to TOKEN, so lines equal but for their digits parse alike, at the
# same positions: a line's shape (its digits as 0) keys the plan of where its tokens are.
DIGITS_AS_ZERO = str.maketrans("123456789", "000000000")
MAX_SHAPES = 4096


def metric_name(key: str, qual: str | None) -> str:
    return f"{qual}_{key}" if qual and not key.lower().startswith(qual.lower()) else key


# Spellings of one unit, so `tok/s` and `tokens/s` are one series (as a chart names it).
RATE_UNITS = {"tok": "tokens", "toks": "tokens", "token": "tokens", "sample": "samples"}


def rate_name(unit: str) -> str:
    """The metric a `<unit>/s N` throughput is: tokens/s -> tokens_per_s, it/s -> it_per_s."""
    return f"{RATE_UNITS.get(unit.lower(), unit)}_per_s"


NUMBER_THEN_UNIT = re.compile(r"\d\.?([ \t]+)$")


def plan_of(line: str) -> Plan:
    """Where the tokens of one line are, and of what kind (the regex runs once a shape)."""
    plan: list[PlanStep] = []
    # Where the last step, rate or `key=value` value ended: a number no unit follows
    # (`step 20 samples/s 12.5 it/s 3.1` is a step and two rates); a `key: value` may be
    # followed by its unit (`speed: 512 samples/s`), a bare number too.
    unitless_end = -1
    for m in TOKEN.finditer(line):
        if m["value"] is not None or m["wvalue"] is not None:
            value = "value" if m["value"] is not None else "wvalue"
            key, qual = ("key", "qual") if value == "value" else ("wkey", "wqual")
            name = metric_name(m[key], m[qual])
            if name.lower() in STEP_KEYS or m[key].lower() in STEP_KEYS:
                plan.append(("step", m.span(value)))
                unitless_end = m.end()
            elif m[key].lower() not in NOT_METRICS and not m[key].endswith(".py"):
                # (a source location like trainer.py:2134 is no metric either)
                static = None if any(c.isdigit() for c in name) else name
                plan.append(("point", m.span(value), static, m.span(key), m[qual]))
            if value == "wvalue" or "=" in line[m.end(key) : m.start(value)]:
                unitless_end = m.end()  # `loss=2.5 tokens/s 2834`: no unit after an `=` value
        elif m["rvalue"] is not None:
            # `2834 tokens/s 12.3 TFLOPS`, `speed: 512 samples/s 3 gpus`: tokens/s is the
            # unit of the number before it, and what follows no rate
            unit_of = NUMBER_THEN_UNIT.search(line, 0, m.start("rkey"))
            if unit_of is None or unit_of.end() - len(unit_of[1]) == unitless_end:
                plan.append(("rate", m.span("rvalue"), m.span("rkey")))
                unitless_end = m.end()
        elif m["bar"] is not None:
            plan.append(("bar", m.span("n"), m.span("rate"), m["unit"] == "s/it"))
        elif m["marker"] is not None:
            plan.append(("marker", m.span("step")))
            unitless_end = m.end()
        elif m["table"] is not None:
            plan.append(("table", m.span("task"), m.span("tmetric"), m.span("tvalue")))
        elif m["oom"] is not None:
            plan.append(("oom",))
        elif m["traceback"] is not None:
            plan.append(("traceback",))
    return tuple(plan)


# Terminal escapes: OSC (window titles, links) and the strings a terminal swallows whole
# (DCS, PM, APC, SOS: their text is not shown), CSI (colours, cursor moves), the rest; and
# the C0 controls a terminal would act on (bell, backspace…), tab and newline excepted.
ESCAPES = re.compile(
    r"\x1b[\]P^_X][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]?"
    r"|[\x00-\x08\x0b-\x1f\x7f]"
)
# Everything on a line up to its last carriage return: the states a progress bar replaced.
OVERDRAWN = re.compile(r"[^\n]*\r(?!\n|$)")
STEP_KEYS = frozenset(
    {"step", "global_step", "iter", "iteration", "train/global_step", "num_updates"}
)
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
        "eta",  # time left, often spelled `eta: 1 day, 2:03:04` (mmcv)
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


@dataclass
class Series:
    """The points one chunk gave one series, in log order: steps and values side by side
    (columns, not tuples: a gigabyte of log makes tens of millions of points)."""

    steps: list[int]
    values: list[float]


@dataclass
class ScanResult:
    """What one chunk added: each series' points, flags, and how many whole lines it
    completed. Points of one series are in log order; series come in no particular order."""

    series: dict[str, Series] = field(default_factory=dict)
    flags: list[LogFlag] = field(default_factory=list)
    lines: int = 0

    def points(self) -> Iterator[tuple[int, str, float]]:
        """Every point as (step, name, value), series after series."""
        return chain.from_iterable(
            zip(s.steps, repeat(name), s.values) for name, s in self.series.items()
        )

    def point_count(self) -> int:
        return sum(len(s.values) for s in self.series.values())

    def extend(self, later: ScanResult) -> None:
        """Add what the next chunk gave (lists are copied: chunks may share them)."""
        for name, part in later.series.items():
            mine = self.series.get(name)
            if mine is None:
                self.series[name] = Series(list(part.steps), list(part.values))
            else:
                mine.steps += part.steps
                mine.values += part.values
        self.flags += later.flags
        self.lines += later.lines


# What a terminal may see of a log line: colours (SGR) are kept, every other escape and
# control is dropped, and so are C1 controls (U+009B acts as CSI on some terminals) and the
# bidi overrides that reorder what the user reads.
COLOUR = re.compile(r"\x1b\[[0-9;:]*m")
NOT_FOR_TERMINAL = re.compile("[\x80-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


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


# -- the fast path -------------------------------------------------------------------------
# Lines of one shape hold their numbers at the same byte offsets, so once a shape is known
# its lines are read by slicing, column by column, with C-level map() calls: a gigabyte of
# log is a few dozen shapes and no per-line Python. Lines the slices cannot serve (tables,
# OOM and traceback lines, redrawn progress bars, odd bytes) are read one by one.
SHAPE_OF_BYTES = bytes.maketrans(b"123456789", b"000000000")
# A chunk's points are ordered by position: line index * SLOTS + their place on the line.
SLOTS = 256
# Control bytes no text line holds (tab, newline, CR, ESC, BEL, backspace, SO/SI and NUL
# padding are left out): a line of them is binary (a core dump, a checkpoint cat'ed by
# mistake), whose chance "AB=6" or "OOM" must not become a metric or a flag.
BINARY_BYTES = bytes([*range(0x01, 0x07), 0x0B, 0x0C, *range(0x10, 0x1B), *range(0x1C, 0x20), 0x7F])
HIGH_BYTES = bytes(range(0x80, 0x100))


def binary_line(line: bytes) -> bool:
    """One byte in 32 a control no text holds, or a quarter of them high bytes that are not
    UTF-8 (Latin-1 text has a few; random bytes half)."""
    controls = len(line) - len(line.translate(None, BINARY_BYTES))
    if controls and controls * 32 >= len(line):
        return True
    if (len(line) - len(line.translate(None, HIGH_BYTES))) * 4 < len(line):
        return False
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def blank_binary_lines(lines: list[bytes], shapes: list[bytes]) -> None:
    """Empty (in place, so line numbers stay) the binary lines of a chunk that holds control
    bytes, and the lines beside them: random bytes make short lines too, which may look like
    text by chance."""
    binary = [binary_line(line) for line in lines]
    for i, is_binary in enumerate(binary):
        if is_binary or (i > 0 and binary[i - 1]) or (i + 1 < len(binary) and binary[i + 1]):
            lines[i] = shapes[i] = b""


# Of a line that has no newline yet, at most MAX_LINE_BYTES (the view's cap, so the scan
# reads what the view shows) is held back; a longer one (a tensor printed whole) is read by
# this head. A 200 MB line held whole would also be read again by each pass, which stops
# after 16 MB and restarts at the line's start: it never got past it.
NON_FINITE = frozenset({"nan", "inf", "infinity"})
FLOAT_TABLE_SAMPLE = 1024
Sink = Callable[[int], object]  # takes the index of a line in its chunk


def non_finite(number: str) -> float | None:
    """The value of a spelled-out nan/inf, None for digits."""
    return float(number) if number.lstrip("+-").lower() in NON_FINITE else None


def always_finite(number: str) -> bool:
    """Whether float() of any digits in this shape is finite (ASCII digits, an exponent of at
    most two digits and a mantissa far from 1e308)."""
    mantissa, _, exponent = number.lower().partition("e")
    return number.isascii() and len(mantissa) < 200 and len(exponent.lstrip("+-")) < 3


@dataclass(frozen=True)
class StepSlot:
    """A number on the line that sets the step of what follows it."""

    at: slice
    via_float: bool  # `step=1e3` goes through float (as the line-by-line path does)


@dataclass(frozen=True)
class ValueSlot:
    """One metric value on the line."""

    slot: int
    at: slice
    name: str | None  # None: the key holds digits (top1_acc), its bytes name the series
    key_at: slice | None
    qual: str | None
    step: int  # the StepSlot before it on the line (its index), -1: the step carried down
    per_iteration: bool  # a bar's s/it, read as it/s
    literal: float | None  # a spelled-out nan/inf: no point, a flag if it is a loss


@dataclass(frozen=True)
class FastPlan:
    steps: tuple[StepSlot, ...]
    values: tuple[ValueSlot, ...]


def fast_plan(line: bytes) -> FastPlan | None:
    """How to read every line of this line's shape straight from its bytes; None when the
    lines of this shape must be read one by one."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\r" in text[:-1]:
        return None
    # Where each character of the cleaned line was (escapes and controls fall out at the
    # same places in every line of a shape: they hold no digit that matters).
    kept: list[int] = []
    last = 0
    for m in ESCAPES.finditer(text):
        kept.extend(range(last, m.start()))
        last = m.end()
    kept.extend(range(last, len(text)))
    cleaned = "".join(map(text.__getitem__, kept))
    plan = plan_of(cleaned)
    if len(plan) >= SLOTS:
        return None
    offsets = None if text.isascii() else list(accumulate(map(len, map(str.encode, text))))

    def at(span: Span) -> slice | None:
        a, b = span
        start, end = kept[a], kept[b - 1] + 1
        if end - start != b - a:  # an escape inside the number: no slice holds it
            return None
        if offsets is not None:
            start, end = (offsets[start - 1] if start else 0), offsets[end - 1]
        return slice(start, end)

    steps: list[StepSlot] = []
    values: list[ValueSlot] = []
    for slot, entry in enumerate(plan):
        kind = entry[0]
        if kind == "point":
            number = cleaned[entry[1][0] : entry[1][1]]
            where = at(entry[1])
            key_at = at(entry[3]) if entry[2] is None else None
            literal = non_finite(number)
            if where is None or (entry[2] is None and key_at is None):
                return None
            if literal is None and not always_finite(number):
                return None
            value = ValueSlot(
                slot, where, entry[2], key_at, entry[4], len(steps) - 1, False, literal
            )
            values.append(value)
        elif kind in ("step", "marker"):
            number = cleaned[entry[1][0] : entry[1][1]]
            if non_finite(number) is not None:
                continue  # `step=nan` sets no step
            where = at(entry[1])
            if where is None or not always_finite(number):
                return None
            # int(float(x)) is int(x) for up to 15 digits, and skips a float
            steps.append(StepSlot(where, not (number.isdigit() and len(number) <= 15)))
        elif kind == "bar":
            n_at, rate_at = at(entry[1]), at(entry[2])
            count_text = cleaned[entry[1][0] : entry[1][1]]
            rate = cleaned[entry[2][0] : entry[2][1]]
            if n_at is None or rate_at is None or not count_text.isascii():
                return None
            if not always_finite(rate):
                return None
            steps.append(StepSlot(n_at, False))
            values.append(
                ValueSlot(slot, rate_at, "it_per_s", None, None, len(steps) - 1, entry[3], None)
            )
        elif kind == "rate":
            number = cleaned[entry[1][0] : entry[1][1]]
            where = at(entry[1])
            if where is None or not always_finite(number):
                return None
            name = rate_name(cleaned[entry[2][0] : entry[2][1]])
            values.append(ValueSlot(slot, where, name, None, None, len(steps) - 1, False, None))
        else:  # a table row, an OOM, a traceback: rare lines, read one by one
            return None
    return FastPlan(tuple(steps), tuple(values))


def last_states(lines: list[bytes]) -> list[bytes]:
    """Each line from just after its last carriage return that is not its last byte: a bar
    redrawn with \\r in its last state (as OVERDRAWN leaves it), in C. A bar is then a line
    of a regular shape, and a line that never ends (tqdm alone) is not held back whole."""
    ends = map((-1).__add__, map(len, lines))
    redrawn = map(bytes.rfind, lines, repeat(b"\r"), repeat(0), ends)
    starts = map(slice, map((1).__add__, redrawn), repeat(None))
    return list(map(bytes.__getitem__, lines, starts))


class LineSorter(dict[bytes, Sink]):
    """Line shape -> where the lines of that shape go (by their index in the chunk): the
    bucket of their fast plan, the lines read one by one, or nowhere. An unknown shape is
    learnt from its first line. Indices, not (index, line) tuples: millions of tuples a
    chunk would wake the garbage collector again and again."""

    def __init__(self) -> None:
        super().__init__()
        self.buckets: list[tuple[FastPlan, list[int]]] = []
        self.one_by_one: list[int] = []
        self.lines: list[bytes] = []  # the chunk being sorted

    def __missing__(self, shape: bytes) -> Sink:
        return partial(self.learn, shape)

    def learn(self, shape: bytes, number: int) -> None:
        plan = fast_plan(self.lines[number])
        sink: Sink
        if plan is None:
            sink = self.one_by_one.append
        elif not plan.steps and not plan.values:
            sink = id  # nothing to read: a C function that lets the line go
        else:
            bucket: list[int] = []
            self.buckets.append((plan, bucket))
            sink = bucket.append
        self[shape] = sink
        sink(number)

    def forget(self) -> None:
        self.clear()
        self.buckets.clear()


@dataclass
class Segment:
    """Points of one series from one column of one shape (or from the lines read one by
    one), in log order."""

    name: str
    lines: Sequence[int]  # the line of each point, in the chunk
    values: list[float]
    steps: list[int | None] | None  # None: each line's step is the one carried down to it
    slot: int = 0
    at: list[int] | None = None  # positions, when the points are not all at one slot

    def positions(self) -> list[int]:
        if self.at is not None:
            return self.at
        return list(map(self.slot.__add__, map(SLOTS.__mul__, self.lines)))


@dataclass
class ChunkFinds:
    """What the lines of one chunk hold before steps are carried and series merged."""

    segments: list[Segment] = field(default_factory=list)
    # The step each line that sets one leaves for the lines below: (line indices, steps).
    steps_left: list[tuple[Sequence[int], Sequence[int]]] = field(default_factory=list)
    non_finite: list[tuple[int, str, float]] = field(default_factory=list)  # pos, name, value
    # (position, kind, the key that makes it once only, text)
    flags: list[tuple[int, FlagKind, str, str]] = field(default_factory=list)


def column(lines: Sequence[bytes], at: slice) -> Iterator[bytes]:
    return map(itemgetter(at), lines)


def floats(texts: list[bytes]) -> list[float]:
    """float() of each text; through a table of the distinct texts when they repeat (a
    learning rate, an epoch, a loss printed to 3 places): a dict lookup costs a third of a
    float() here. A sample decides, as the table costs more than it saves on all-new texts."""
    sample = texts[:FLOAT_TABLE_SAMPLE]
    if len(set(sample)) * 4 < len(sample):
        distinct = set(texts)
        table = dict(zip(distinct, map(float, distinct), strict=True))
        return list(map(table.__getitem__, texts))
    return list(map(float, texts))


def read_bucket(plan: FastPlan, numbers: list[int], chunk: list[bytes], finds: ChunkFinds) -> None:
    """Every point and step of the lines of one shape, a column at a time."""
    lines = list(map(chunk.__getitem__, numbers))
    steps: list[list[int]] = []
    for step in plan.steps:
        raw = column(lines, step.at)
        steps.append(list(map(int, map(float, raw) if step.via_float else raw)))
    if steps:
        finds.steps_left.append((numbers, steps[-1]))
    for value in plan.values:
        if value.literal is not None:
            if value.name is not None and "loss" in value.name.lower():
                finds.non_finite.append(
                    (numbers[0] * SLOTS + value.slot, value.name, value.literal)
                )
            elif value.name is None:
                names = names_of(lines, value)
                for name, picked in names.items():
                    if "loss" in name.lower():
                        finds.non_finite.append(
                            (numbers[picked[0]] * SLOTS + value.slot, name, value.literal)
                        )
            continue
        values = floats(list(column(lines, value.at)))
        if value.per_iteration:
            values = [1.0 / v if v > 0 else v for v in values]
        on_line = steps[value.step] if value.step >= 0 else None
        if value.name is not None:
            finds.segments.append(Segment(value.name, numbers, values, on_line, value.slot))
            continue
        for name, picked in names_of(lines, value).items():
            finds.segments.append(
                Segment(
                    name,
                    list(map(numbers.__getitem__, picked)),
                    list(map(values.__getitem__, picked)),
                    None if on_line is None else list(map(on_line.__getitem__, picked)),
                    value.slot,
                )
            )


def names_of(lines: Sequence[bytes], value: ValueSlot) -> dict[str, list[int]]:
    """The series a column with digits in its key feeds (top1_acc, top5_acc), and which of
    the lines feed each."""
    assert value.key_at is not None
    keys = list(column(lines, value.key_at))
    if keys.count(keys[0]) == len(keys):
        return {metric_name(keys[0].decode(), value.qual): list(range(len(keys)))}
    picked: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        picked.setdefault(metric_name(key.decode(), value.qual), []).append(i)
    return picked


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
    # Inside a line longer than MAX_LINE_BYTES: its head was read (and counted) as its
    # line, the rest is dropped up to its newline, so it is never held however long.
    skipping: bool = False
    plans: dict[str, Plan] = field(default_factory=dict)  # lines read one by one, by shape
    sorter: LineSorter = field(default_factory=LineSorter, repr=False)

    def state(self) -> dict[str, Any]:
        """What the next chunk needs, as JSON can hold it (the line-shape caches are not
        needed: they are rebuilt). What is held back of the partial last line is not kept:
        resume at its offset (the line's start, or just after its last carriage return)."""
        return {
            "line": self.line,
            "step": self.step,
            "counts": self.counts,
            "loss_trend": {k: list(v) for k, v in self.loss_trend.items()},
            "flagged": sorted([str(k), t] for k, t in self.flagged),
            "table_task": self.table_task,
            "skipping": self.skipping,
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
            skipping=bool(state.get("skipping", False)),
        )

    def feed(self, data: bytes) -> ScanResult:
        """Parse the whole lines `data` completes; hold back a partial last line (at most
        MAX_LINE_BYTES of it: a longer one is read by its head, and the rest dropped)."""
        if self.skipping:
            end = data.find(b"\n")
            if end < 0:
                return ScanResult()
            self.skipping = False
            data = data[end + 1 :]
        if self.partial:
            data = self.partial + data
        lines = data.split(b"\n")
        if b"\r" in data:
            lines = last_states(lines)
            shapes = b"\n".join(lines).translate(SHAPE_OF_BYTES).split(b"\n")
        else:
            shapes = data.translate(SHAPE_OF_BYTES).split(b"\n")
        self.partial = lines.pop()
        shapes.pop()
        if len(data.translate(None, BINARY_BYTES)) != len(data):  # (a regex: 7x slower)
            blank_binary_lines(lines, shapes)
        if len(self.partial) <= MAX_LINE_BYTES:
            return self._scan(lines, shapes)
        head, self.partial, self.skipping = self.partial[:MAX_LINE_BYTES], b"", True
        lines.append(head)
        shapes.append(head.translate(SHAPE_OF_BYTES))
        return self._scan(lines, shapes)

    def finish(self) -> ScanResult:
        """The run is over: its last line counts even without a newline."""
        rest, self.partial = self.partial, b""
        return self._scan([rest], [rest.translate(SHAPE_OF_BYTES)]) if rest else ScanResult()

    def _scan(self, lines: list[bytes], shapes: list[bytes]) -> ScanResult:
        result = ScanResult(lines=len(lines))
        if not lines:
            return result
        sorter = self.sorter
        sorter.lines = lines
        # Each line to the bucket of its shape, in C: map() calls each sink with its index.
        deque(map(call, map(sorter.__getitem__, shapes), range(len(lines))), maxlen=0)
        finds = ChunkFinds()
        for plan, bucket in sorter.buckets:
            if bucket:
                read_bucket(plan, list(bucket), lines, finds)
                bucket.clear()
        if sorter.one_by_one:
            self._read_one_by_one(sorter.one_by_one, lines, finds)
            sorter.one_by_one.clear()
        sorter.lines = []
        if len(sorter) > MAX_SHAPES:
            sorter.forget()
        self._carry_steps(finds, len(lines))
        by_name: dict[str, list[Segment]] = {}
        for segment in finds.segments:
            by_name.setdefault(segment.name, []).append(segment)
        for name, segments in by_name.items():
            result.series[name] = self._series(name, segments, finds)
        first_non_finite: dict[str, tuple[int, float]] = {}
        for pos, name, value in finds.non_finite:
            if name not in first_non_finite or pos < first_non_finite[name][0]:
                first_non_finite[name] = (pos, value)
        for name, (pos, value) in first_non_finite.items():
            finds.flags.append((pos, FlagKind.NAN_LOSS, name, f"{name}={value}"))
        for pos, kind, key, text in sorted(finds.flags):
            if (kind, key) not in self.flagged:
                self.flagged.add((kind, key))
                result.flags.append(LogFlag(kind, self.line + pos // SLOTS + 1, text[:160]))
        self.line += len(lines)
        return result

    def _read_one_by_one(self, numbers: list[int], chunk: list[bytes], finds: ChunkFinds) -> None:
        """The lines no fast plan reads, in order, as the tokens say."""
        series: dict[str, tuple[list[int], list[int], list[int | None], list[float]]] = {}

        def point(name: str, value: float, pos: int, step: int | None) -> None:
            if value != value or value in (math.inf, -math.inf):
                if "loss" in name.lower():
                    finds.non_finite.append((pos, name, value))
                return
            lines, at, steps, values = series.setdefault(name, ([], [], [], []))
            lines.append(pos // SLOTS)
            at.append(pos)
            steps.append(step)
            values.append(value)

        plans = self.plans
        for number in numbers:
            line = clean_text(chunk[number].decode("utf-8", "replace"))
            shape = line.translate(DIGITS_AS_ZERO)
            plan = plans.get(shape)
            if plan is None:
                if len(plans) >= MAX_SHAPES:
                    plans.clear()
                plan = plans[shape] = plan_of(line)
            step_here: int | None = None  # a step set on this very line
            for slot, entry in enumerate(plan):
                pos = number * SLOTS + min(slot, SLOTS - 1)
                kind = entry[0]
                if kind == "point":
                    (v0, v1), name = entry[1], entry[2]
                    if name is None:
                        (k0, k1) = entry[3]
                        name = metric_name(line[k0:k1], entry[4])
                    point(name, float(line[v0:v1]), pos, step_here)
                elif kind in ("step", "marker"):
                    (v0, v1) = entry[1]
                    number_here = float(line[v0:v1])
                    if math.isfinite(number_here):
                        step_here = int(number_here)
                elif kind == "bar":
                    (n0, n1), (r0, r1) = entry[1], entry[2]
                    step_here = int(line[n0:n1])
                    rate = float(line[r0:r1])
                    if entry[3] and rate > 0:
                        rate = 1.0 / rate
                    point("it_per_s", rate, pos, step_here)
                elif kind == "rate":
                    (v0, v1), (k0, k1) = entry[1], entry[2]
                    point(rate_name(line[k0:k1]), float(line[v0:v1]), pos, step_here)
                elif kind == "table":
                    (t0, t1), (m0, m1), (v0, v1) = entry[1], entry[2], entry[3]
                    # A task's second metric row leaves the task cell empty.
                    task = line[t0:t1].strip(" -") or self.table_task
                    metric = line[m0:m1].strip()
                    self.table_task = task
                    if task and metric and metric.lower() != "metric":
                        point(f"{task}/{metric}", float(line[v0:v1]), pos, step_here)
                elif kind == "oom":
                    finds.flags.append((pos, FlagKind.OOM, "", line.strip()))
                elif kind == "traceback":
                    finds.flags.append((pos, FlagKind.TRACEBACK, "", "Traceback"))
            if step_here is not None:
                finds.steps_left.append(((number,), (step_here,)))
        for name, (lines, at, steps, values) in series.items():
            finds.segments.append(Segment(name, lines, values, steps, at=at))

    def _carry_steps(self, finds: ChunkFinds, line_count: int) -> None:
        """Give each point without a step on its own line the last step set above it (the
        step the previous chunk left when none was set in this one)."""
        lefts = finds.steps_left
        if not lefts:
            set_at: Sequence[int] = ()
        elif len(lefts) == 1:
            set_at = lefts[0][0]
        else:  # sorted runs of small ints: a merge, in C
            set_at = sorted(chain.from_iterable(at for at, _ in lefts))
        # step_left[i]: the step line i leaves below it; [-1]: the one the last chunk left
        step_left: list[int | None] = [None] * line_count + [self.step]
        for at, to in lefts:
            deque(map(step_left.__setitem__, at, to), maxlen=0)
        setter_above = [-1, *set_at]  # [k]: the k-th line that sets a step, -1 for none
        carried: dict[int, list[int | None]] = {}  # by id of the line numbers, shared by columns
        for segment in finds.segments:
            if segment.steps is None:
                got = carried.get(id(segment.lines))
                if got is None:
                    above = map(partial(bisect_left, set_at), segment.lines)
                    got = list(map(step_left.__getitem__, map(setter_above.__getitem__, above)))
                    carried[id(segment.lines)] = got
                segment.steps = got
            elif segment.at is not None and None in segment.steps:  # read one by one
                steps = segment.steps
                for i, step in enumerate(steps):
                    if step is None:
                        above = setter_above[bisect_left(set_at, segment.lines[i])]
                        steps[i] = step_left[above]
        if set_at:
            self.step = step_left[set_at[-1]]

    def _series(self, name: str, segments: list[Segment], finds: ChunkFinds) -> Series:
        """One series' points of the chunk in log order, steps counted where none was set,
        and its losses watched."""
        if len(segments) == 1:
            (only,) = segments
            steps, values = only.steps, only.values

            def position(i: int) -> int:
                return only.at[i] if only.at is not None else only.lines[i] * SLOTS + only.slot

        else:
            # Several shapes feed the series: merge by line (a line is of one shape, so points
            # of one line come from one segment list, in their order on the line, and the
            # sort is stable). Sorted runs of small ints: cheap.
            every_line = list(chain.from_iterable(s.lines for s in segments))
            order = sorted(range(len(every_line)), key=every_line.__getitem__)
            every_step = list(chain.from_iterable(s.steps or () for s in segments))
            every_value = list(chain.from_iterable(s.values for s in segments))
            steps = list(map(every_step.__getitem__, order))
            values = list(map(every_value.__getitem__, order))

            def position(i: int) -> int:  # seldom asked: only for a flag
                at = list(chain.from_iterable(s.positions() for s in segments))
                return at[order[i]]

        assert steps is not None
        unset = steps.count(None)  # no step seen yet: the points before the first are counted
        if unset:
            base = self.counts.get(name, 0)
            steps = [*range(base, base + unset), *steps[unset:]]
            self.counts[name] = base + unset
        if "loss" in name.lower():
            self._watch_loss(name, values, position, finds)
        return Series(steps, values)  # type: ignore[arg-type]  # no None is left

    def _watch_loss(
        self, name: str, values: list[float], position: Callable[[int], int], finds: ChunkFinds
    ) -> None:
        # Against an exponential moving average: O(1) a point, and slow enough to trust.
        if (FlagKind.LOSS_SPIKE, name) in self.flagged:
            return  # a series' spike is flagged once: its average no longer matters
        seen, average = self.loss_trend.get(name, (0, values[0]))
        averages = list(accumulate(values, ema, initial=average))  # [i]: before value i
        first = max(SPIKE_WARMUP - seen, 0)
        above = map(gt, values[first:], map(SPIKE_FACTOR.__mul__, averages[first:]))
        for i in compress(count(first), above):
            average = averages[i]
            if average > 0:
                value = values[i]
                text = f"{name}={value:.4g}, {value / average:.1f}x its recent average"
                finds.flags.append((position(i), FlagKind.LOSS_SPIKE, name, text))
                break
        self.loss_trend[name] = (seen + len(values), averages[-1])


def ema(average: float, value: float) -> float:
    return average + SPIKE_SMOOTHING * (value - average)


def metric_rows(run_id: str, result: ScanResult) -> list[MetricRow]:
    """The points as the store records them, as tuples made in C (no object a point)."""
    return list(
        chain.from_iterable(
            zip(repeat(run_id), s.steps, repeat(name), s.values)
            for name, s in result.series.items()
        )
    )


def stalled_flag(last_growth: float, now: float, lines: int, after_s: float) -> LogFlag | None:
    """A flag when a running run's log has not grown for `after_s` seconds."""
    quiet = now - last_growth
    if quiet < after_s:
        return None
    return LogFlag(FlagKind.STALLED, max(lines, 1), f"no new log line for {int(quiet // 60)} min")
