"""Metric curves as terminal text: braille plots (2x4 dots a cell), smoothing, downsampling.

Shared by the Runs pane's chart and `cockpit chart`. Pure: series in, lines of Rich Text
out, no I/O. A plot is drawn at the resolution of its dots: each line is first cut to the
lowest and highest point of every dot column (so a spike is never averaged away), then
drawn point to point so a curve stays connected. Several runs in one plot are told apart
by colour and, for a terminal without colour or a pipe, by a letter at each curve's last
point that the legend names.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.text import Text

from cockpit.render.safe import printable

Point = tuple[float, float]  # (step, value)

BRAILLE_BLANK = 0x2800
# The bit of the dot at (column dx, row dy) of a braille cell, rows top to bottom (Unicode's
# dot numbering: 1 2 3 7 down the left column, 4 5 6 8 down the right).
DOT_BITS: tuple[tuple[int, int], ...] = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
DOTS_X, DOTS_Y = 2, 4
# Colours cycle; the letters do not repeat before 26 lines.
LINE_STYLES = ("cyan", "yellow", "magenta", "green", "red", "blue", "bright_white", "bright_cyan")
LINE_MARKS = "abcdefghijklmnopqrstuvwxyz"
MIXED_STYLE = "white"  # a cell two curves cross
AXIS_STYLE = "dim"
SMOOTHING_STEP = 0.1
SMOOTHING_MAX = 0.99
# Which metrics come first when a chart opens: losses, then the learning rate, then
# throughput; the rest alphabetically.
FIRST_METRICS = ("loss", "lr", "learning_rate")
THROUGHPUT_WORDS = ("it_per_s", "it/s", "tokens_per_s", "tokens/s", "samples_per_s", "samples/s")


@dataclass(frozen=True)
class ChartLine:
    """One curve: a run (or a config) and its points, in step order."""

    label: str
    points: tuple[Point, ...]


@dataclass(frozen=True)
class ChartData:
    """What a chart shows: one metric of one run or of every run of a sweep."""

    scope: str  # "run r1", "sweep galore"
    metric: str | None  # None: no metric logged yet
    lines: tuple[ChartLine, ...]
    metrics: tuple[str, ...]  # every metric these runs logged, in the order ]/[ go through


def metric_order(names: Iterable[str]) -> tuple[str, ...]:
    """Losses first, then the learning rate, then throughput, then the rest by name."""

    def rank(name: str) -> tuple[int, str]:
        low = name.lower()
        if "loss" in low:
            return (0, low)
        if low in FIRST_METRICS or low.endswith(("/lr", "_lr")):
            return (1, low)
        if any(word in low for word in THROUGHPUT_WORDS):
            return (2, low)
        return (3, low)

    return tuple(sorted(set(names), key=rank))


def ema(values: Sequence[float], weight: float) -> list[float]:
    """Exponential moving average with TensorBoard's debiasing: the first values are not
    pulled towards zero. weight 0 leaves the series as it is."""
    if weight <= 0:
        return list(values)
    out: list[float] = []
    last, scale = 0.0, 0.0
    for v in values:
        last = weight * last + (1 - weight) * v
        scale = weight * scale + (1 - weight)
        out.append(last / scale)
    return out


def smooth(points: Sequence[Point], weight: float) -> list[Point]:
    values = ema([v for _, v in points], weight)
    return [(s, v) for (s, _), v in zip(points, values, strict=True)]


def minmax_buckets(points: Sequence[Point], buckets: int, lo: float, hi: float) -> list[Point]:
    """At most two points a bucket of the step range [lo, hi]: its lowest and highest, in
    step order. Keeps every extreme a plot at this resolution can show."""
    if buckets <= 0 or len(points) <= 2 * buckets:
        return list(points)
    span = hi - lo or 1.0
    out: list[Point] = []
    current, low, high = -1, (0.0, 0.0), (0.0, 0.0)
    for point in points:
        b = min(buckets - 1, int((point[0] - lo) / span * buckets))
        if b != current:
            if current >= 0:
                out.extend(sorted({low, high}))
            current, low, high = b, point, point
        elif point[1] < low[1]:
            low = point
        elif point[1] > high[1]:
            high = point
    out.extend(sorted({low, high}))
    return out


def number(x: float) -> str:
    """An axis label: short, whatever the magnitude (1.234, 3e-05, 1.2e+04)."""
    if x == 0:
        return "0"
    text = f"{x:.4g}"
    return text if len(text) <= 8 else f"{x:.2g}"


def step_label(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else number(x)


@dataclass
class BrailleCanvas:
    """Cells of braille dots; each cell remembers which line drew it (-2: none, -1: several)."""

    width: int
    height: int

    def __post_init__(self) -> None:
        self.bits = [0] * (self.width * self.height)
        self.owner = [-2] * (self.width * self.height)

    def dot(self, x: int, y: int, line: int) -> None:
        """Set the dot at (x, y), origin top left, in dots."""
        if not (0 <= x < self.width * DOTS_X and 0 <= y < self.height * DOTS_Y):
            return
        cell = (y // DOTS_Y) * self.width + x // DOTS_X
        self.bits[cell] |= DOT_BITS[y % DOTS_Y][x % DOTS_X]
        owner = self.owner[cell]
        self.owner[cell] = line if owner in (-2, line) else -1

    def segment(self, x0: int, y0: int, x1: int, y1: int, line: int) -> None:
        """Every dot on the straight segment between two dots (Bresenham)."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        while True:
            self.dot(x0, y0, line)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def char(self, col: int, row: int) -> str:
        """The cell's braille character; a space where no dot is set (plain in a pipe)."""
        bits = self.bits[row * self.width + col]
        return chr(BRAILLE_BLANK + bits) if bits else " "

    def rows(self) -> list[str]:
        return ["".join(self.char(c, r) for c in range(self.width)) for r in range(self.height)]


@dataclass(frozen=True)
class Frame:
    """The ranges a plot maps onto its dots."""

    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float

    def dot(self, point: Point, canvas: BrailleCanvas) -> tuple[int, int]:
        width, height = canvas.width * DOTS_X - 1, canvas.height * DOTS_Y - 1
        x = (point[0] - self.x_lo) / ((self.x_hi - self.x_lo) or 1.0)
        y = (self.y_hi - point[1]) / ((self.y_hi - self.y_lo) or 1.0)
        return round(x * width), round(y * height)


def frame_of(lines: Sequence[Sequence[Point]]) -> Frame | None:
    xs = [p[0] for pts in lines for p in pts]
    ys = [p[1] for pts in lines for p in pts]
    if not xs:
        return None
    y_lo, y_hi = min(ys), max(ys)
    if y_lo == y_hi:  # a flat line sits in the middle, its value on both labels
        pad = abs(y_lo) * 0.05 or 0.5
        y_lo, y_hi = y_lo - pad, y_hi + pad
    return Frame(min(xs), max(xs), y_lo, y_hi)


def plot(lines: Sequence[Sequence[Point]], width: int, height: int, frame: Frame) -> BrailleCanvas:
    """The lines on a canvas of width x height cells."""
    canvas = BrailleCanvas(width, height)
    for index, points in enumerate(lines):
        thin = minmax_buckets(points, width * DOTS_X, frame.x_lo, frame.x_hi)
        dots = [frame.dot(p, canvas) for p in thin]
        if len(dots) == 1:
            canvas.dot(*dots[0], index)
        for (x0, y0), (x1, y1) in itertools.pairwise(dots):
            canvas.segment(x0, y0, x1, y1, index)
    return canvas


def finite(points: Iterable[Point]) -> list[Point]:
    return [p for p in points if math.isfinite(p[1])]


def legend_lines(labels: Sequence[str], width: int) -> list[Text]:
    """`a r64 cosine  b r128 cosine …`, packed into as few lines as fit."""
    out: list[Text] = []
    line = Text()
    for index, label in enumerate(labels):
        item = Text()
        item.append(LINE_MARKS[index % len(LINE_MARKS)], style=f"bold {line_style(index)}")
        item.append(" " + printable(label)[: max(1, width - 3)])
        if line.cell_len and line.cell_len + 2 + item.cell_len > width:
            out.append(line)
            line = Text()
        if line.cell_len:
            line.append("  ")
        line.append_text(item)
    if line.cell_len:
        out.append(line)
    return out


def line_style(index: int) -> str:
    return LINE_STYLES[index % len(LINE_STYLES)]


def render_chart(data: ChartData, width: int, height: int, smoothing: float = 0.0) -> list[Text]:
    """The chart in at most `height` lines of at most `width` cells: a title with the
    metric and the smoothing, the plot with the value range on its left, the step range
    under it, and for several lines a legend."""
    width, height = max(width, 20), max(height, 4)
    title = Text(printable(data.metric or "no metrics yet"), style="bold")
    title.append(f"  {printable(data.scope)}", style=AXIS_STYLE)
    title.append(f"  ema {smoothing:.2f}" if smoothing > 0 else "  raw", style=AXIS_STYLE)
    title.truncate(width)
    drawn = [smooth(finite(line.points), smoothing) for line in data.lines]
    frame = frame_of(drawn)
    if frame is None:
        return [title, Text("  no points logged yet", style=AXIS_STYLE)]
    several = len(data.lines) > 1
    legend = legend_lines([line.label for line in data.lines], width) if several else []
    legend = legend[: max(0, height - 4)]
    rows = height - 2 - len(legend)  # title, step axis
    top, bottom = number(frame.y_hi), number(frame.y_lo)
    gutter = max(len(top), len(bottom)) + 1
    cols = width - gutter - 1
    canvas = plot(drawn, cols, rows, frame)
    marks: dict[tuple[int, int], int] = {}
    if several:  # each curve's letter at its last point, or the nearest free cell
        for index, points in enumerate(drawn):
            if not points:
                continue
            x, y = frame.dot(points[-1], canvas)
            col, row = min(x // DOTS_X, cols - 1), min(y // DOTS_Y, rows - 1)
            free = (
                (col - back, row + shift)
                for back in range(min(4, cols))
                for shift in (0, -1, 1, -2, 2)
                if 0 <= row + shift < rows and (col - back, row + shift) not in marks
            )
            spot = next(free, None)
            if spot is not None:
                marks[spot] = index
    out = [title]
    for row in range(rows):
        label = top if row == 0 else bottom if row == rows - 1 else ""
        text = Text(label.rjust(gutter - 1) + " ┤" if label else " " * gutter + "│", AXIS_STYLE)
        for col in range(cols):
            mark = marks.get((col, row))
            if mark is not None:
                text.append(LINE_MARKS[mark % len(LINE_MARKS)], style=f"bold {line_style(mark)}")
                continue
            owner = canvas.owner[row * cols + col]
            style = "" if owner == -2 else MIXED_STYLE if owner == -1 else line_style(owner)
            text.append(canvas.char(col, row), style=style)
        out.append(text)
    left, right = step_label(frame.x_lo), f"step {step_label(frame.x_hi)}"
    axis = " " * gutter + "└" + left
    axis += right.rjust(max(1, width - len(axis)))
    out.append(Text(axis[:width], style=AXIS_STYLE))
    out.extend(legend)
    return out


def chart_json(data: ChartData, smoothing: float = 0.0) -> dict[str, object]:
    """The series as `cockpit chart --json` gives them: raw points, and the smoothed values
    when smoothing is asked for."""
    series = []
    for line in data.lines:
        points = finite(line.points)
        entry: dict[str, object] = {
            "label": line.label,
            "steps": [p[0] for p in points],
            "values": [p[1] for p in points],
        }
        if smoothing > 0:
            entry["smoothed"] = ema([p[1] for p in points], smoothing)
        series.append(entry)
    return {
        "scope": data.scope,
        "metric": data.metric,
        "metrics": list(data.metrics),
        "smoothing": smoothing,
        "series": series,
    }


def next_smoothing(weight: float, direction: int) -> float:
    """`+` / `-`: a step of 0.1 up to 0.99 (1.0 would freeze the curve) or down to 0."""
    if direction > 0:
        raised = round(weight + SMOOTHING_STEP, 2)
        return SMOOTHING_MAX if raised >= 1.0 else min(raised, SMOOTHING_MAX)
    if weight >= SMOOTHING_MAX:
        return 0.9
    return max(0.0, round(weight - SMOOTHING_STEP, 2))
