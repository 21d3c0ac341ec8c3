"""Results: configs of each sweep against its baseline, one metric at a time, with verdicts.

Drawing only. The app computes a ResultsMatrix (cockpit.results, in a thread) and hands it
to :meth:`ResultsPane.show_results`; every change of view (metric, baseline, sweep) goes
back to the app as a :class:`ResultsPane.MatrixRequested` message, the detail of a
comparison as :class:`ResultsPane.DetailRequested`, an export as ExportRequested.

Ten thousand configs stay smooth because the table holds a window of rows, not all of them:
sorting and filtering work on plain lists, and only the rows around the cursor are
formatted and handed to the DataTable, which measures every cell it is given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from cockpit.render.safe import printable, printable_text
from cockpit.render.text import VERDICT_STYLE, finite_magnitudes, p_value
from widgets.format import SPARK_CHARS, config_label, number
from widgets.requests import PaneRequest

if TYPE_CHECKING:  # the pane draws core objects; it never imports core code at run time
    from cockpit.models.results import (
        Comparison,
        ConfigResult,
        EffectsResult,
        ResultsMatrix,
        ScoreSummary,
        SweepResults,
    )

# Rows the table holds at least: two screens and more at 80x24 (twice its height on a taller
# one). Sliding costs one refill of this many rows, and so does the first paint of a view,
# each cell measured: 80 rows cost a third more time to first paint than 48 do.
WINDOW_ROWS = 48
VERDICT_ORDER = {v: i for i, v in enumerate(VERDICT_STYLE)}
SORTS = ("sweep order", "value", "delta", "verdict", "p")
# Other metrics shown as plain columns to the right. A DataTable renders every column of a
# visible line, on screen or not, so twenty would triple the paint time; `m` reaches the rest.
MAX_EXTRA_METRICS = 4
HEADER_WIDTH = 22  # sweep header rows in the all-sweeps view
# Where the verdict is too long for the width, a short word says it; the line under the
# table gives the full text of the highlighted row.
SHORT_VERDICT = {
    "no significant difference": "n.s.",
    "not enough data": "no data",
    "baseline has no value": "no base",
    "single run, no test possible": "1 run",
}
# Cell widths (padding included) the column plan budgets with; a column that does not fit
# gives way, in the reverse of the order of ``_OPTIONAL``.
CELL_PAD = 2
SCROLLBAR = 2
_NUMBER_W = 8 + CELL_PAD
_OPTIONAL: tuple[tuple[str, int], ...] = (
    ("ci", _NUMBER_W),
    ("verdict_full", 27 + CELL_PAD - (8 + CELL_PAD)),  # what the full text adds to the short
    ("forest", 11 + CELL_PAD),
    ("state", 9 + CELL_PAD),
)


# --------------------------------------------------------------------------- text helpers


def signed(value: float | None, digits: int = 4) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:+.{digits}f}"


def p_text(p: float | None) -> str:
    return p_value(p, trim=True)


def ci_half(summary: ScoreSummary | None) -> str:
    if summary is None or math.isnan(summary.ci_low) or math.isnan(summary.ci_high):
        return "—"
    return f"±{(summary.ci_high - summary.ci_low) / 2:.4f}"


def verdict_text(cmp: Comparison | None, is_baseline: bool, short: bool = False) -> Text:
    if is_baseline:
        return Text("baseline", style="bold")
    if cmp is None:
        return Text("—", style="dim")
    text = Text()
    if cmp.flags:
        text.append("⚠ ", style="bold yellow")
    verdict = str(cmp.verdict)
    shown = SHORT_VERDICT.get(verdict, verdict) if short else verdict
    text.append(shown, style=VERDICT_STYLE.get(verdict, ""))
    return text


@dataclass(frozen=True)
class ColumnPlan:
    """Which columns the table shows at a width: the verdict and p always, the rest as fits."""

    keys: tuple[str, ...]
    short_verdict: bool
    short_labels: bool


def plan_columns(width: int, config_width: int, extra: Sequence[str]) -> ColumnPlan:
    """Config, value, Δ, verdict (short) and p Holm first; then the CI, the full verdict
    text, the forest plot, the state and other metrics, each while it fits in ``width``."""
    budget = width - SCROLLBAR
    used = config_width + CELL_PAD + 3 * _NUMBER_W + (8 + CELL_PAD)
    shown: set[str] = set()
    for key, cost in _OPTIONAL:
        if used + cost > budget:
            break
        used += cost
        shown.add(key)
    extras: list[str] = []
    if "state" in shown:
        for m in extra:
            cost = max(len(m), 6) + CELL_PAD
            if used + cost > budget:
                break
            used += cost
            extras.append(f"metric:{m}")
    order = ("config", "value", "ci", "delta", "verdict", "forest", "p", "state")
    keys = tuple(k for k in order if k not in ("ci", "forest", "state") or k in shown)
    return ColumnPlan(
        keys=(*keys, *extras),
        short_verdict="verdict_full" not in shown,
        short_labels="forest" not in shown,
    )


def detail_line(cmp: Comparison | None) -> Text:
    """The line under the table: the highlighted row's verdict in full, Δ with its CI and
    p Holm first (what a narrow table shortens or drops), then why this test."""
    if cmp is None:
        return Text("")
    line = verdict_text(cmp, is_baseline=False)
    if cmp.flags:
        line.append(" (" + "; ".join(printable(f) for f in cmp.flags) + ")", style="yellow")
    if cmp.delta is not None and not math.isnan(cmp.delta):
        line.append(f" · Δ {signed(cmp.delta)}")
        if cmp.ci_low is not None and cmp.ci_high is not None:
            line.append(f" [{signed(cmp.ci_low)}, {signed(cmp.ci_high)}]")
    line.append(f" · p Holm {p_text(cmp.p_adjusted)}")
    if cmp.note:
        line.append(" · " + printable(cmp.note), style="dim")
    line.no_wrap = True
    line.overflow = "ellipsis"
    return line


def forest(cmp: Comparison | None, scale: float, width: int = 11) -> Text:
    """The CI of the difference on an axis centred on zero: a forest plot in one cell.

    A bar that crosses the centre line is a difference the data cannot tell from none.
    """
    if cmp is None or cmp.delta is None or scale <= 0:
        return Text(" " * width)
    mid = width // 2

    def col(x: float) -> int:
        if math.isnan(x):
            return mid
        if math.isinf(x):  # an Infinity from a results file: pinned to the edge
            return width - 1 if x > 0 else 0
        return max(0, min(width - 1, mid + round(x / scale * mid)))

    cells = [" "] * width
    cells[mid] = "│"
    if cmp.ci_low is not None and cmp.ci_high is not None:
        for i in range(col(cmp.ci_low), col(cmp.ci_high) + 1):
            cells[i] = "─" if i != mid else "┼"
    cells[col(cmp.delta)] = "●"
    style = VERDICT_STYLE.get(str(cmp.verdict), "") or "dim"
    return Text("".join(cells), style=style)


def spark(values: Sequence[float], width: int = 40) -> str:
    """Min-max scaled sparkline of a series, downsampled to ``width`` points."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return ""
    if len(vals) > width:
        step = len(vals) / width
        vals = [vals[int(i * step)] for i in range(width)]
    low, high = min(vals), max(vals)
    span = high - low or 1.0
    top = len(SPARK_CHARS) - 1
    return "".join(SPARK_CHARS[round((v - low) / span * top)] for v in vals)


def effect_bar(value: float, largest: float, width: int = 8) -> str:
    if not (largest > 0 and math.isfinite(largest) and math.isfinite(value)):
        return ""
    eighths = round(abs(value) / largest * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")).ljust(width)


# --------------------------------------------------------------------------- rows


class _Row(NamedTuple):
    """A line of the table: a sweep header or a config (a tuple: there are 10,000)."""

    key: str
    group: SweepResults
    config: ConfigResult | None = None


class WindowedTable(DataTable[object]):
    """A DataTable that holds a window of a long row list and slides it with the cursor.

    The DataTable measures every cell it is given (about a millisecond per ten rows), so
    10,000 rows would cost seconds; the window keeps that at WINDOW_ROWS rows (or twice the
    table's height, when that is more) whatever the length. Keyboard movement past either
    end of the window slides it.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._keys: Sequence[str] = ()
        self._render: Callable[[int], Sequence[object]] = lambda i: ()
        self._start = 0

    @property
    def total(self) -> int:
        return len(self._keys)

    @property
    def window_start(self) -> int:
        return self._start

    @property
    def absolute_row(self) -> int:
        return self._start + self.cursor_row

    def set_source(
        self,
        keys: Sequence[str],
        render: Callable[[int], Sequence[object]],
        cursor_key: str | None = None,
    ) -> None:
        self._keys, self._render = keys, render
        target = 0
        if cursor_key is not None:
            try:
                target = list(keys).index(cursor_key)
            except ValueError:
                target = 0
        self._show(target)

    def _show(self, target: int) -> None:
        """Fill the window so that absolute row ``target`` is in it, with the cursor on it."""
        total = self.total
        target = max(0, min(target, total - 1)) if total else 0
        start = self._start
        rows = self.window_rows
        if not start <= target < start + rows or start >= total:
            start = max(0, min(target - rows // 2, total - rows))
        self._start = start
        self.clear()
        for i in range(start, min(total, start + rows)):
            self.add_row(*self._render(i), key=self._keys[i])
        if total:
            self.move_cursor(row=target - start, animate=False)

    def cursor_key(self) -> str | None:
        if not self.total or self.row_count == 0:
            return None
        return self._keys[min(self.absolute_row, self.total - 1)]

    @property
    def window_rows(self) -> int:
        return max(WINDOW_ROWS, 2 * self.size.height)

    @property
    def windowed(self) -> bool:
        """Whether the rows do not all fit in the window (the title then says which show)."""
        return self.total > self.window_rows

    def on_resize(self) -> None:
        # Taller now than the window allows for: hold more rows, so none is left blank.
        if self.windowed and self.row_count < self.window_rows:
            self._show(self.absolute_row)

    def _slide(self, target: int) -> bool:
        if not self.windowed or not 0 <= target < self.total:
            return False
        if self._start <= target < self._start + self.row_count:
            return False
        self._show(target)
        return True

    def action_cursor_down(self) -> None:
        if self.cursor_row == self.row_count - 1 and self._slide(self.absolute_row + 1):
            return
        super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.cursor_row == 0 and self._slide(self.absolute_row - 1):
            return
        super().action_cursor_up()

    def action_page_down(self) -> None:
        page = max(1, self.scrollable_content_region.height - 1)
        if self.absolute_row + page >= self._start + self.row_count and self._slide(
            min(self.total - 1, self.absolute_row + page)
        ):
            return
        super().action_page_down()

    def action_page_up(self) -> None:
        page = max(1, self.scrollable_content_region.height - 1)
        if self.absolute_row - page < self._start and self._slide(max(0, self.absolute_row - page)):
            return
        super().action_page_up()

    def action_scroll_top(self) -> None:
        if not self._slide(0):
            super().action_scroll_top()

    def action_scroll_bottom(self) -> None:
        if not self._slide(self.total - 1):
            super().action_scroll_bottom()


# --------------------------------------------------------------------------- the pane


class ResultsPane(Vertical):
    DEFAULT_CSS = """
    ResultsPane #results-note { height: 1; padding: 0 1; color: $text-muted; }
    ResultsPane #results-filter { display: none; height: 3; }
    ResultsPane.filtering #results-filter { display: block; }
    ResultsPane #results-effects { display: none; }
    ResultsPane.effects #results-effects { display: block; }
    ResultsPane.effects #results-table { display: none; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter", "show_detail", "Detail of the comparison", id="results.detail", show=False
        ),
        Binding("s", "cycle_sort", "Sort", tooltip="Sort by next column", id="results.sort"),
        Binding("m", "cycle_metric", "Metric", tooltip="Next metric", id="results.metric"),
        Binding("b", "set_baseline", "Baseline", tooltip="Set baseline", id="results.baseline"),
        Binding("e", "toggle_effects", "Effects", tooltip="Effects view", id="results.effects"),
        Binding("d", "flip_direction", "Flip metric direction", id="results.direction", show=False),
        Binding("slash", "filter", "Filter", id="results.filter"),
        Binding("w", "cycle_sweep", "Next sweep or all", id="results.sweep", show=False),
        Binding("x", "export", "Export CSV, LaTeX, figures", id="results.export", show=False),
        Binding(
            "escape", "close_filter", "Clear the filter", id="results.clear_filter", show=False
        ),
        Binding(
            "A", "summarize", "Ask the LLM: summarize these results", id="results.ask", show=False
        ),
    ]

    class MatrixRequested(PaneRequest):
        """Recompute the view: ``sweep`` None is every sweep; ``baseline`` a run id or None."""

        def __init__(self, sweep: str | None, metric: str | None, baseline: str | None) -> None:
            super().__init__()
            self.sweep = sweep
            self.metric = metric
            self.baseline = baseline

    class DetailRequested(PaneRequest):
        """Show the detail of one config's comparison on one metric."""

        def __init__(
            self, matrix: ResultsMatrix, group: SweepResults, config: ConfigResult, metric: str
        ) -> None:
            super().__init__()
            self.matrix = matrix
            self.group = group
            self.config = config
            self.metric = metric

    class DirectionRequested(PaneRequest):
        """The user says which way ``metric`` is better (remembered in the store)."""

        def __init__(self, metric: str, higher_is_better: bool) -> None:
            super().__init__()
            self.metric = metric
            self.higher_is_better = higher_is_better

    class SummarizeRequested(PaneRequest):
        """A: ask the pane's LLM to summarize the matrix on screen."""

        def __init__(self, matrix: ResultsMatrix) -> None:
            super().__init__()
            self.matrix = matrix

    class ExportRequested(PaneRequest):
        def __init__(self, sweep: str, metric: str | None, baseline: str | None) -> None:
            super().__init__()
            self.sweep = sweep
            self.metric = metric
            self.baseline = baseline

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.matrix: ResultsMatrix | None = None
        self._scales = None
        self.sort = 0  # index into sort_keys()
        self.filter_text = ""
        self.rows: list[_Row] = []  # what the table shows, in order, after sort and filter
        self.column_plan: ColumnPlan | None = None
        self.title_line = Static("No results yet.", id="results-title")
        self.table = WindowedTable(id="results-table", cursor_type="row", zebra_stripes=True)
        self.effects_table: DataTable[object] = DataTable(
            id="results-effects", cursor_type="row", zebra_stripes=True
        )
        self.note_line = Static("", id="results-note")
        self.filter_input = Input(
            placeholder="filter: words in config, state or verdict (enter keeps, esc clears)",
            id="results-filter",
        )

    def compose(self) -> ComposeResult:
        yield self.title_line
        yield self.table
        yield self.effects_table
        yield self.note_line
        yield self.filter_input

    # -- data in ---------------------------------------------------------------------

    def show_results(self, matrix: ResultsMatrix) -> None:
        keep = self.table.cursor_key() if self.matrix is not None else None
        same_columns = (
            self.matrix is not None
            and self.matrix.compared == matrix.compared
            and self.matrix.metrics == matrix.metrics
        )
        self.matrix = matrix
        self._scales: dict[str, float] | None = None  # forest-plot axes, per sweep
        if not same_columns:
            self.sort = min(self.sort, len(self.sort_keys()) - 1)
        self._redraw(keep, rebuild_columns=not same_columns)
        if self.has_class("effects"):
            self._draw_effects()

    @property
    def metric(self) -> str | None:
        return self.matrix.metric if self.matrix else None

    def sort_keys(self) -> list[str]:
        return [*SORTS, *(f"metric:{m}" for m in self._extra_metrics())]

    def sort_name(self) -> str:
        key = self.sort_keys()[self.sort]
        return key.removeprefix("metric:") if key.startswith("metric:") else key

    # -- layout of the main table ---------------------------------------------------

    def _plan(self) -> ColumnPlan:
        assert self.matrix is not None
        # The pane's width once laid out; the screen's before (the first draw).
        width = self.size.width or self.app.size.width
        labels = (len(self._label(g, c)) + 2 for g in self.matrix.sweeps for c in g.configs[:200])
        config_width = min(max(labels, default=8), 32)
        return plan_columns(width, config_width, self._extra_metrics())

    def _columns(self, plan: ColumnPlan) -> list[tuple[str, str]]:
        metric = printable(self.metric or "value")
        if plan.short_labels:  # the title names the metric
            value = metric if len(metric) <= 10 else metric[:9] + "…"
            labels = {"value": value, "ci": "±CI", "delta": "Δ"}
        else:
            labels = {"value": metric, "ci": "±95% CI", "delta": f"Δ {metric}"}
        labels |= {
            "config": "Config",
            "verdict": "Verdict",
            "forest": "Δ CI vs 0",
            "p": "p Holm",
            "state": "State",
        }
        return [(k, labels.get(k, k.removeprefix("metric:"))) for k in plan.keys]

    def _extra_metrics(self) -> list[str]:
        if self.matrix is None:
            return []
        return [m for m in self.matrix.metrics if m != self.metric][:MAX_EXTRA_METRICS]

    def _ordered_rows(self) -> list[_Row]:
        assert self.matrix is not None
        matrix = self.matrix
        metric = self.metric
        key = self.sort_keys()[self.sort]
        terms = self.filter_text.lower().split()
        rows: list[_Row] = []
        for group in matrix.sweeps:
            configs = list(group.configs)
            if terms:
                configs = [c for c in configs if _matches(c, group, metric, terms)]
            if key != "sweep order":
                configs = _sorted(configs, key, metric, matrix)
            if len(matrix.sweeps) > 1:
                rows.append(_Row(f"sweep:{group.name}", group))
            rows.extend(_Row(c.key, group, c) for c in configs)
        return rows

    def _redraw(self, keep: str | None = None, rebuild_columns: bool = False) -> None:
        matrix = self.matrix
        if matrix is None:
            return
        table = self.table
        plan = self._plan()
        if rebuild_columns or not table.columns or plan != self.column_plan:
            self.column_plan = plan
            table.clear(columns=True)
            for key, label in self._columns(plan):
                table.add_column(label, key=key)
        self.rows = self._ordered_rows()
        if self._scales is None:
            self._scales = {g.name: _delta_scale(g, self.metric) for g in matrix.sweeps}
        scales = self._scales

        def render(i: int) -> Sequence[object]:
            return self._cells(self.rows[i], scales, plan)

        table.set_source([r.key for r in self.rows], render, keep)
        self._update_title()
        self._update_note()

    def _cells(self, row: _Row, scales: Mapping[str, float], plan: ColumnPlan) -> list[object]:
        group, config = row.group, row.config
        metric = self.metric
        if config is None:
            # Kept short: a header must not widen the Config column past the screen.
            title = Text(f"▸ {printable(group.name)}", style="bold", no_wrap=True)
            title.truncate(HEADER_WIDTH, overflow="ellipsis")
            return [title, *([Text("")] * (len(plan.keys) - 1))]
        summary = config.summaries.get(metric) if metric else None
        cmp = config.comparisons.get(metric) if metric else None
        value = summary.mean if summary is not None else config.values.get(metric or "")
        delta = cmp.delta if cmp is not None else None
        # Text, not str: a str cell is parsed as markup, which the window pays per cell.
        cell: dict[str, Callable[[], object]] = {
            "config": lambda: Text(
                ("★ " if config.is_baseline else "  ") + self._label(group, config)
            ),
            "value": lambda: Text(number(value)),
            "ci": lambda: Text(ci_half(summary)),
            "delta": lambda: Text("—" if config.is_baseline else signed(delta)),
            "verdict": lambda: verdict_text(cmp, config.is_baseline, plan.short_verdict),
            "forest": lambda: forest(cmp, scales.get(group.name, 0.0)),
            "p": lambda: Text(p_text(cmp.p_adjusted if cmp is not None else None)),
            "state": lambda: Text(config.state),
        }
        return [
            cell[k]() if k in cell else Text(number(config.values.get(k.removeprefix("metric:"))))
            for k in plan.keys
        ]

    @staticmethod
    def _label(group: SweepResults, config: ConfigResult) -> str:
        return printable(config_label(dict(config.params), group.label_keys) or config.key)

    def _update_title(self) -> None:
        matrix = self.matrix
        if matrix is None:
            return
        title = Text()
        scope = matrix.scope or (
            matrix.sweeps[0].name if len(matrix.sweeps) == 1 else f"{len(matrix.sweeps)} sweeps"
        )
        title.append(printable(scope), style="bold")
        if self.metric:
            arrow = "↑" if matrix.higher_is_better.get(self.metric, True) else "↓"
            title.append(f"  {printable(self.metric)} {arrow}")
            # Who said which way is better: the user (d), the file, the name, or nobody.
            title.append(f" ({matrix.direction_sources.get(self.metric, 'default')})", style="dim")
        title.append(f"  Holm m={matrix.family_size}", style="dim")
        if self.sort:
            title.append(f"  sort: {self.sort_name()}", style="dim")
        if self.filter_text:  # counted here only: the title is redrawn on every cursor move
            shown = sum(1 for r in self.rows if r.config is not None)
            total = sum(len(g.configs) for g in matrix.sweeps)
            title.append(f"  /{self.filter_text} {shown}/{total}", style="yellow")
        if self.table.windowed:
            start = self.table.window_start
            title.append(f"  rows {start + 1}-{start + self.table.row_count} of {len(self.rows)}")
        self.title_line.update(title)

    def _update_note(self) -> None:
        row = self.highlighted_row()
        if row is None or row.config is None or self.metric is None:
            self.note_line.update("")
            return
        config = row.config
        if config.is_baseline:
            self.note_line.update(
                Text(f"baseline of {printable(row.group.name)}: b on another row changes it")
            )
            return
        cmp = config.comparisons.get(self.metric)
        self.note_line.update(detail_line(cmp))

    def on_resize(self) -> None:
        # Wider or narrower: columns give way or come back, keeping the cursor's row.
        if self.matrix is not None and self._plan() != self.column_plan:
            # After the resize is laid out: new columns added during it keep their
            # header's width (the table measures the cells on a later idle).
            self.call_after_refresh(self._redraw, self.table.cursor_key())

    def highlighted_row(self) -> _Row | None:
        key = self.table.cursor_key()
        if key is None:
            return None
        index = self.table.absolute_row
        return self.rows[index] if 0 <= index < len(self.rows) else None

    @on(DataTable.RowHighlighted, "#results-table")
    def _on_highlight(self, event: DataTable.RowHighlighted) -> None:
        self._update_note()
        if self.table.windowed:
            self._update_title()

    # -- keys ----------------------------------------------------------------------

    def action_cycle_sort(self) -> None:
        if self.matrix is None:
            return
        self.sort = (self.sort + 1) % len(self.sort_keys())
        self._redraw(self.table.cursor_key())

    def action_cycle_metric(self) -> None:
        matrix = self.matrix
        if matrix is None or not matrix.metrics:
            return
        # Hyperparameters the runs logged (lr, epoch) are shown, never compared.
        metrics = [
            m for m in matrix.metrics if matrix.direction_sources.get(m) != "hyperparameter"
        ] or list(matrix.metrics)
        current = metrics.index(self.metric) if self.metric in metrics else -1
        nxt = metrics[(current + 1) % len(metrics)]
        self.post_message(self.MatrixRequested(matrix.scope, nxt, None))

    def action_flip_direction(self) -> None:
        matrix, metric = self.matrix, self.metric
        if matrix is None or metric is None:
            return
        higher = matrix.higher_is_better.get(metric, True)
        self.post_message(self.DirectionRequested(metric, not higher))

    def action_set_baseline(self) -> None:
        matrix, row = self.matrix, self.highlighted_row()
        if matrix is None or row is None or row.config is None:
            return
        target = row.config
        if target.is_baseline:
            # On the baseline itself, b moves the baseline on to the next config.
            configs = row.group.configs
            index = next(i for i, c in enumerate(configs) if c.key == target.key)
            target = configs[(index + 1) % len(configs)]
        self.post_message(self.MatrixRequested(matrix.scope, self.metric, target.key))

    def action_cycle_sweep(self) -> None:
        matrix = self.matrix
        if matrix is None or not matrix.all_sweeps:
            return
        scopes: list[str | None] = [None, *matrix.all_sweeps]
        current = scopes.index(matrix.scope) if matrix.scope in scopes else 0
        nxt = scopes[(current + 1) % len(scopes)]
        metric = self.metric
        self.post_message(self.MatrixRequested(nxt, metric, None))

    def action_show_detail(self) -> None:
        matrix, row = self.matrix, self.highlighted_row()
        if matrix is None or row is None or row.config is None or self.metric is None:
            return
        self.post_message(self.DetailRequested(matrix, row.group, row.config, self.metric))

    @on(DataTable.RowSelected, "#results-table")
    def _on_select(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_show_detail()

    def action_summarize(self) -> None:
        if self.matrix is not None and self.matrix.sweeps:
            self.post_message(self.SummarizeRequested(self.matrix))

    def action_export(self) -> None:
        matrix, row = self.matrix, self.highlighted_row()
        if matrix is None or not matrix.sweeps:
            return
        group = row.group if row is not None else matrix.sweeps[0]
        self.post_message(
            self.ExportRequested(group.name, self.metric, matrix.baselines.get(group.name))
        )

    def action_filter(self) -> None:
        self.add_class("filtering")
        self.filter_input.value = self.filter_text
        self.filter_input.focus()

    def action_close_filter(self) -> None:
        if not self.has_class("filtering") and not self.filter_text:
            return
        self.remove_class("filtering")
        if self.filter_text:
            self.filter_text = ""
            self._redraw(self.table.cursor_key())
        self.table.focus()

    @on(Input.Changed, "#results-filter")
    def _on_filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.filter_text = event.value.strip()
        self._redraw(self.table.cursor_key())

    @on(Input.Submitted, "#results-filter")
    def _on_filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.remove_class("filtering")
        self.table.focus()

    # -- effects view --------------------------------------------------------------

    def action_toggle_effects(self) -> None:
        if self.has_class("effects"):
            self.remove_class("effects")
            self.table.focus()
            self._update_note()
            return
        self.add_class("effects")
        self._draw_effects()
        self.effects_table.focus()

    def _draw_effects(self) -> None:
        matrix, table = self.matrix, self.effects_table
        table.clear(columns=True)
        for key, label in (
            ("effect", "Effect"),
            ("bar", "|effect|"),
            ("estimate", "Estimate"),
            ("se", "±SE"),
            ("p", "p Holm"),
            ("levels", "High vs low"),
            ("t", "t"),
        ):
            table.add_column(label, key=key)
        if matrix is None or self.metric is None:
            return
        notes: list[str] = []
        for group in matrix.sweeps:
            result = group.effects.get(self.metric)
            if result is None:
                continue
            if len(matrix.sweeps) > 1:
                table.add_row(
                    Text(f"▸ {printable(group.name)}", style="bold"),
                    *[""] * 6,
                    key=f"sweep:{group.name}",
                )
            notes.append(printable(f"{group.name}: {result.note}"))
            for cells, key in _effect_rows(result, group.sweep.factors):
                table.add_row(*cells, key=key)
        metric = self.metric
        self.note_line.update(
            Text(
                f"effects on {printable(metric)}, largest first · " + " · ".join(notes),
                no_wrap=True,
                overflow="ellipsis",
            )
        )


def _effect_rows(
    result: EffectsResult, levels: Mapping[str, Sequence[object]]
) -> list[tuple[list[object], str]]:
    if not result.effects:
        return []  # the reason is on the note line
    largest = max(finite_magnitudes(e.estimate for e in result.effects), default=0.0)
    rows: list[tuple[list[object], str]] = []
    for e in result.effects:
        significant = e.significant
        style = "bold" if significant else "dim"
        rows.append(
            (
                [
                    Text(printable(e.name), style=style),
                    Text(effect_bar(e.estimate, largest), style="green" if significant else "dim"),
                    signed(e.estimate),
                    "—" if e.se is None else f"±{e.se:.4f}",
                    p_text(e.p_adjusted),
                    printable(_levels(e.factors, levels)),
                    "—" if e.t is None else f"{e.t:.2f}",
                ],
                f"effect:{result.sweep}:{e.name}",
            )
        )
    return rows


def _levels(factors: Sequence[str], levels: Mapping[str, Sequence[object]]) -> str:
    """What a main effect compares, "64 vs 128"; interactions have no single pair of levels."""
    if len(factors) != 1 or len(levels.get(factors[0], ())) != 2:
        return ""
    low, high = levels[factors[0]]
    return f"{high} vs {low}"


def _matches(
    config: ConfigResult, group: SweepResults, metric: str | None, terms: list[str]
) -> bool:
    cmp = config.comparisons.get(metric) if metric else None
    hay = " ".join(
        [
            config_label(dict(config.params), group.label_keys),
            config.label,
            *config.run_ids,
            config.state,
            "baseline" if config.is_baseline else str(cmp.verdict) if cmp else "",
        ]
    ).lower()
    return all(t in hay for t in terms)


def _sorted(
    configs: list[ConfigResult], key: str, metric: str | None, matrix: ResultsMatrix
) -> list[ConfigResult]:
    """Best first for values and deltas (by the metric's direction); missing values last."""

    def value_of(c: ConfigResult, m: str | None) -> float | None:
        if m is None:
            return None
        s = c.summaries.get(m)
        v = s.mean if s is not None else c.values.get(m)
        return None if v is None or math.isnan(v) else v

    if key == "verdict":
        return sorted(
            configs,
            key=lambda c: (
                -1 if c.is_baseline else VERDICT_ORDER.get(str(_cmp_verdict(c, metric)), 9)
            ),
        )
    if key == "p":

        def p_key(c: ConfigResult) -> tuple[int, float]:
            cmp = c.comparisons.get(metric) if metric else None
            p = cmp.p_adjusted if cmp is not None else None
            return (0, p) if p is not None else (1, 0.0)

        return sorted(configs, key=p_key)
    m = metric if key in ("value", "delta") else key.removeprefix("metric:")
    sign = -1.0 if matrix.higher_is_better.get(m or "", True) else 1.0

    def num_key(c: ConfigResult) -> tuple[int, float]:
        if key == "delta":
            cmp = c.comparisons.get(m) if m else None
            v = 0.0 if c.is_baseline else (cmp.delta if cmp is not None else None)
        else:
            v = value_of(c, m) if key == "value" else c.values.get(m or "")
        if v is None or math.isnan(v):
            return (1, 0.0)
        return (0, sign * v)

    return sorted(configs, key=num_key)


def _cmp_verdict(config: ConfigResult, metric: str | None) -> str | None:
    cmp = config.comparisons.get(metric) if metric else None
    return str(cmp.verdict) if cmp is not None else None


def _delta_scale(group: SweepResults, metric: str | None) -> float:
    """Half-width of the forest-plot axis: the widest CI bound (or delta) in the sweep."""
    if metric is None:
        return 0.0
    span = group.spans.get(metric)
    if span is not None:  # worked out with the comparisons, in the core's thread
        return span
    largest = 0.0
    for c in group.configs:
        cmp = c.comparisons.get(metric)
        if cmp is None:
            continue
        for x in (cmp.ci_low, cmp.ci_high, cmp.delta):
            if x is not None and math.isfinite(x):
                largest = max(largest, abs(x))
    return largest


# --------------------------------------------------------------------------- detail modal


@dataclass(frozen=True)
class ResultDetail:
    """Everything the detail view shows, gathered by the app (series need the store)."""

    matrix: ResultsMatrix
    group: SweepResults
    config: ConfigResult
    metric: str
    series: Mapping[str, Mapping[str, Sequence[tuple[int, float]]]]  # run -> metric -> points


_KIND_TEXT = {
    "paired-binary": "0/1 scores on the same items, paired",
    "paired-continuous": "continuous scores on the same items, paired",
    "seeds": "independent seeds per config",
    "single": "one number per config",
}


def detail_text(detail: ResultDetail) -> Text:
    """The comparison said in full: data, test, statistic, raw and Holm p, CIs, verdict."""
    matrix, group, config, metric = detail.matrix, detail.group, detail.config, detail.metric
    baseline = next((c for c in group.configs if c.is_baseline), None)
    hib = matrix.higher_is_better.get(metric, True)
    label = config_label(dict(config.params), group.label_keys) or config.key
    out = Text()
    out.append(f"{label}", style="bold")
    if baseline is not None and not config.is_baseline:
        out.append("  vs baseline ★ ")
        out.append(config_label(dict(baseline.params), group.label_keys) or baseline.key)
    out.append(f"\nsweep {group.name} · runs {', '.join(config.run_ids)} · {config.state}\n")
    out.append(f"{metric} ({'higher' if hib else 'lower'} is better)\n\n", style="bold")

    def summary_line(name: str, c: ConfigResult | None) -> None:
        s = c.summaries.get(metric) if c is not None else None
        out.append(f"  {name:<10}")
        if s is None:
            out.append("no value\n", style="dim")
            return
        ci = (
            "no CI (one value)"
            if math.isnan(s.ci_low)
            else f"95% CI [{s.ci_low:.4f}, {s.ci_high:.4f}] ({s.method})"
        )
        out.append(f"{s.mean:.4f}  {ci}  n={s.n}\n")

    summary_line("this", config)
    if not config.is_baseline:
        summary_line("baseline", baseline)
    cmp = config.comparisons.get(metric)
    if config.is_baseline:
        out.append("\n  This is the baseline: every other config is compared with it.\n")
    elif cmp is not None:
        out.append("\n")
        delta_ci = (
            f"95% CI [{cmp.ci_low:+.4f}, {cmp.ci_high:+.4f}]"
            if cmp.ci_low is not None and cmp.ci_high is not None
            else "no CI"
        )
        se = f"  SE {cmp.se:.4f}" if cmp.se is not None and not math.isnan(cmp.se) else ""
        out.append(f"  Δ         {signed(cmp.delta)}  {delta_ci}{se}\n")
        out.append(f"  data      {_KIND_TEXT.get(str(cmp.kind), str(cmp.kind))}, n={cmp.n}\n")
        if str(cmp.test) == "none":
            out.append("  test      none possible\n")
        else:
            stat = "—" if cmp.statistic is None else f"{cmp.statistic:.4g}"
            out.append(f"  test      {cmp.test}: statistic {stat}, p = {p_text(cmp.p_value)}\n")
            out.append(
                f"  Holm      p = {p_text(cmp.p_adjusted)} over the {matrix.family_size} "
                f"tested comparisons in this view (alpha = {matrix.alpha:g})\n"
            )
        if cmp.mde is not None:
            out.append(f"  MDE       {cmp.mde:.4f} (found ~80 % of the time by one test alone)\n")
        out.append("  verdict   ")
        out.append(str(cmp.verdict), style=VERDICT_STYLE.get(str(cmp.verdict), "") or "bold")
        out.append("\n")
        out.append(f"  why       {cmp.note}\n")
        spec = group.sweep.thresholds
        for flag in cmp.flags:
            out.append(f"  ⚠ threshold  {flag}\n", style="bold yellow")
        if spec and not cmp.flags:
            out.append(f"  thresholds {spec}: none crossed\n", style="dim")
        out.append("\n")
        out.append(_ci_plot(baseline, config, metric))
    curves = _curves(detail, baseline)
    if curves.plain:
        out.append("\n")
        out.append(curves)
    return out


def _ci_plot(
    baseline: ConfigResult | None, config: ConfigResult, metric: str, width: int = 44
) -> Text:
    """Both configs' CIs on one axis, so overlap (or not) is seen at a glance."""
    rows = [("baseline", baseline), ("this", config)]
    spans = []
    for name, c in rows:
        s = c.summaries.get(metric) if c is not None else None
        if s is None:
            continue
        low = s.mean if math.isnan(s.ci_low) else s.ci_low
        high = s.mean if math.isnan(s.ci_high) else s.ci_high
        spans.append((name, low, s.mean, high))
    if not spans:
        return Text()
    lo = min(s[1] for s in spans)
    hi = max(s[3] for s in spans)
    span = hi - lo or 1.0
    out = Text()
    for name, low, mean, high in spans:
        cells = [" "] * width

        def col(x: float) -> int:
            return max(0, min(width - 1, round((x - lo) / span * (width - 1))))

        for i in range(col(low), col(high) + 1):
            cells[i] = "─"
        cells[col(low)], cells[col(high)] = "├", "┤"
        cells[col(mean)] = "●"
        out.append(f"  {name:<10}{''.join(cells)}\n")
    out.append(f"  {'':<10}{lo:<{width // 2}.4f}{hi:>{width - width // 2}.4f}\n", style="dim")
    return out


def _curves(detail: ResultDetail, baseline: ConfigResult | None) -> Text:
    out = Text()
    names: list[str] = []
    for points in detail.series.values():
        for name, series in points.items():
            if len(series) > 2 and name not in names:
                names.append(name)
    for name in names:
        out.append(f"  {name} over steps\n", style="bold")
        for who, c in (("baseline", baseline), ("this", detail.config)):
            if c is None:
                continue
            series = detail.series.get(c.run_ids[0], {}).get(name, ())
            if len(series) > 2:
                values = [v for _, v in series]
                out.append(f"  {who:<10}{spark(values)}  {values[0]:.4g} → {values[-1]:.4g}\n")
    return out


class ResultDetailScreen(ModalScreen[None]):
    """One comparison in full; escape (or enter, or q) closes it."""

    DEFAULT_CSS = """
    ResultDetailScreen { align: center middle; }
    #result-detail-box {
        width: 90%; max-width: 100; height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close", id="result_detail.close"),
    ]

    def __init__(self, detail: ResultDetail) -> None:
        super().__init__()
        self.detail = detail
        self.text = printable_text(detail_text(detail))  # labels and notes come from files

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="result-detail-box"):
            yield Static(self.text, id="result-detail")

    def action_close(self) -> None:
        self.dismiss(None)
