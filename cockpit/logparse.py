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
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from cockpit.models import MetricPoint

NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
# One pass finds every kind of token; which group matched says what it is.
QUALIFIER = r"(?:(?P<{0}>train|val|valid|validation|eval|test)[ _])?"
# Metric words printed as `loss 0.98` with neither '=' nor ':' (nanoGPT, many scripts).
BARE_WORDS = r"loss|acc|accuracy|ppl|perplexity|lr|mfu|reward|bleu|f1|grad_norm"
TOKEN = re.compile(
    ""
    # key=value, key: value, "key": value, 'key': value (a number not followed by ':',
    # so a clock time like 12:30:01 is not a value); `train loss=…` is train_loss
    + QUALIFIER.format("qual")
    + r"[\"']?(?P<key>[A-Za-z_][\w./-]*)[\"']?\s*[=:]\s*"
    # (nor by ',ddd', a thousands separator: 12,000 is not 12)
    rf"(?P<value>{NUMBER}|nan|NaN|-?inf|-?Infinity)(?![\d:]|,\d{{3}})"
    # loss 0.98, val acc 0.81
    + r"|\b"
    + QUALIFIER.format("wqual")
    + rf"(?P<wkey>{BARE_WORDS})\s+(?P<wvalue>{NUMBER}|nan|inf)(?![\d:])"
    # a tqdm / Lightning bar: n/total [elapsed<left, rate it/s
    r"|(?P<bar>(?<![\w/])(?P<n>\d+)/(?P<total>\d+|\?)\s*\[[^\]\n]*?"
    rf"(?P<rate>{NUMBER})\s*(?P<unit>it/s|s/it))"
    # step 120, Step 3/100, iter 9, iteration 7
    r"|(?P<marker>\b(?:[Ss]tep|STEP|[Ii]ter(?:ation)?)\s+(?P<step>\d+)\b)"
    # an lm-eval table row: |task|version|filter|n-shot|metric|dir|value|±|stderr|
    r"|(?P<table>^\|(?P<task>[^|\n]*)\|[^|\n]*\|[^|\n]*\|[^|\n]*\|(?P<tmetric>[^|\n]*)\|"
    rf"[^|\n]*\|\s*(?P<tvalue>{NUMBER})\s*\|)"
    # what is flagged wherever it appears
    r"|(?P<oom>CUDA out of memory|OutOfMemoryError|torch\.OutOfMemoryError)"
    r"|(?P<traceback>^Traceback \(most recent call last\):)",
    re.MULTILINE,
)
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
SPIKE_WINDOW = 20
SPIKE_FACTOR = 3.0  # a loss this many times its recent median is a spike


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
class ScanResult:
    """What one chunk added: metric points, flags, and how many whole lines it completed."""

    points: list[MetricPoint] = field(default_factory=list)
    flags: list[LogFlag] = field(default_factory=list)
    lines: int = 0


def clean_text(text: str) -> str:
    """Log text as the terminal would leave it: progress bars in their last state, and no
    escape sequence or control character left to act on a terminal."""
    if "\r" in text:
        text = OVERDRAWN.sub("", text)
    return ESCAPES.sub("", text)


@dataclass
class LogScanner:
    """Reads one run's log from the start, chunk by chunk; keeps what the next chunk needs."""

    run_id: str
    line: int = 0  # whole lines read so far
    step: int | None = None  # the step the lines being read belong to
    partial: bytes = b""
    counts: dict[str, int] = field(default_factory=dict)  # points of step-less series
    recent_loss: dict[str, deque[float]] = field(default_factory=dict)
    flagged: set[tuple[FlagKind, str]] = field(default_factory=set)
    table_task: str = ""  # the task of the lm-eval table row above

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
        text = clean_text(text)
        line, counted_to = self.line, 0
        line_step: tuple[int, int | None] = (-1, None)  # (line, step set on it)
        for m in TOKEN.finditer(text):
            start = m.start()
            line += text.count("\n", counted_to, start)
            counted_to = start
            if m["value"] is not None or m["wvalue"] is not None:
                if m["value"] is not None:
                    key, value, qual = m["key"], m["value"], m["qual"]
                else:
                    key, value, qual = m["wkey"], m["wvalue"], m["wqual"]
                if qual and not key.lower().startswith(qual.lower()):
                    key = f"{qual}_{key}"
                value = float(value.replace("Infinity", "inf"))
                if key.lower() in STEP_KEYS and math.isfinite(value):
                    self.step = int(value)
                    line_step = (line, self.step)
                    continue
                self._point(result, key, value, line, line_step)
            elif m["bar"] is not None:
                self.step = int(m["n"])
                line_step = (line, self.step)
                rate = float(m["rate"])
                if m["unit"] == "s/it" and rate > 0:
                    rate = 1.0 / rate
                self._point(result, "it_per_s", rate, line, line_step)
            elif m["marker"] is not None:
                self.step = int(m["step"])
                line_step = (line, self.step)
            elif m["table"] is not None:
                # A task's second metric row leaves the task cell empty.
                task = m["task"].strip(" -") or self.table_task
                metric = m["tmetric"].strip()
                self.table_task = task
                if task and metric and metric.lower() != "metric":
                    self._point(result, f"{task}/{metric}", float(m["tvalue"]), line, line_step)
            elif m["oom"] is not None:
                self._flag(result, FlagKind.OOM, line, _line_at(text, start))
            elif m["traceback"] is not None:
                self._flag(result, FlagKind.TRACEBACK, line, "Traceback")
        result.lines = text.count("\n")
        self.line += result.lines
        return result

    def _point(
        self,
        result: ScanResult,
        key: str,
        value: float,
        line: int,
        line_step: tuple[int, int | None],
    ) -> None:
        if key.lower() in NOT_METRICS or key.endswith(".py"):
            return  # configuration echoed, or a source location like trainer.py:2134
        is_loss = "loss" in key.lower()
        if not math.isfinite(value):
            if is_loss:
                self._flag(result, FlagKind.NAN_LOSS, line, f"{key}={value}", once=False)
            return
        if line_step[0] == line and line_step[1] is not None:
            step = line_step[1]
        elif self.step is not None:
            step = self.step
        else:
            step = self.counts.get(key, 0)
            self.counts[key] = step + 1
        result.points.append(MetricPoint(self.run_id, step, key, value))
        if is_loss:
            self._watch_loss(result, key, value, line)

    def _watch_loss(self, result: ScanResult, key: str, value: float, line: int) -> None:
        recent = self.recent_loss.setdefault(key, deque(maxlen=SPIKE_WINDOW))
        if len(recent) >= SPIKE_WINDOW // 2:
            median = sorted(recent)[len(recent) // 2]
            if median > 0 and value > SPIKE_FACTOR * median:
                self._flag(
                    result,
                    FlagKind.LOSS_SPIKE,
                    line,
                    f"{key}={value:.4g}, {value / median:.1f}x its recent median",
                    once=False,
                )
        recent.append(value)

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


def _line_at(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start : end if end >= 0 else len(text)].strip()


def stalled_flag(last_growth: float, now: float, lines: int, after_s: float) -> LogFlag | None:
    """A flag when a running run's log has not grown for `after_s` seconds."""
    quiet = now - last_growth
    if quiet < after_s:
        return None
    return LogFlag(FlagKind.STALLED, max(lines, 1), f"no new log line for {int(quiet // 60)} min")
