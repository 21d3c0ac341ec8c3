"""A metric's curves in braille, drawn to the widget's size (cockpit.render.chart draws).

Drawing only: the pane hands it a ChartData with `show`; the smoothing weight is the
widget's own (changing it redraws from the points it has, no reload). The same data shown
again is not repainted.

Drawing a chart (smoothing, bucketing, braille) takes 10-40 ms of Python: done in a frame,
it would hold up every key pressed meanwhile while a live run's chart redraws. It is drawn
in a thread, for the size, smoothing and data it is for; a frame only shows the lines drawn
(the last drawing until the new one is ready, when only the size or smoothing changed).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from cockpit.render.chart import ChartData, next_smoothing, render_chart
from cockpit.render.safe import printable


@dataclass(frozen=True)
class ChartDrawing:
    """Lines drawn for one data object at one size and smoothing."""

    data: ChartData
    width: int
    height: int
    smoothing: float
    lines: list[Text]

    def drawn_for(self, data: ChartData, width: int, height: int, smoothing: float) -> bool:
        same = (self.width, self.height, self.smoothing) == (width, height, smoothing)
        return self.data is data and same


DEFAULT_SMOOTHING = 0.6


class MetricChart(Widget, can_focus=True):
    # Focusable: shown in place of a focused log, it keeps the focus (and so the pane's
    # keys) instead of letting it fall out of the pane.
    DEFAULT_CSS = """
    MetricChart {
        height: 1fr;
        padding: 0 1;
    }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.data: ChartData | None = None
        self.smoothing = DEFAULT_SMOOTHING
        self.paints = 0  # how often it was drawn (tests check nothing is drawn for nothing)
        self.drawing: ChartDrawing | None = None  # the last lines drawn in the thread

    def show(self, data: ChartData) -> bool:
        """Draw new data; False (and no repaint) when it is what is shown already."""
        if data == self.data:
            return False
        self.data = data
        if self.drawing is not None and self.drawing.data.scope != data.scope:
            self.drawing = None  # another run or sweep: no stale curves while it draws
        self._draw()
        return True

    def clear(self) -> None:
        self.data = None
        self.drawing = None
        self.refresh()

    def smoother(self, direction: int) -> float:
        """`+` (1) or `-` (-1): the next smoothing weight, drawn at once."""
        self.smoothing = next_smoothing(self.smoothing, direction)
        self._draw()
        return self.smoothing

    def lines(self) -> list[Text]:
        """The chart as drawn at the widget's size (what `render` shows once drawn)."""
        if self.data is None:
            return [Text("loading the metrics…", style="dim")]
        size = self.content_region.size
        return render_chart(self.data, size.width, size.height, self.smoothing)

    @property
    def drawn(self) -> bool:
        """Whether what is on screen is the data at the current size and smoothing."""
        size = self.content_region.size
        drawing, data = self.drawing, self.data
        if data is None:
            return True
        return drawing is not None and drawing.drawn_for(
            data, size.width, size.height, self.smoothing
        )

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        """Draw the data at the current size and smoothing in a thread (the newest asked
        for wins); the frame shows what is drawn meanwhile."""
        if self.data is None or self.drawn:
            self.refresh()
            return
        size = self.content_region.size
        if not size.width or not size.height:
            return  # not laid out yet: on_resize draws
        self.run_worker(
            self._draw_in_thread(self.data, size.width, size.height, self.smoothing),
            group="chart-draw",
            exclusive=True,
            exit_on_error=False,
        )

    async def _draw_in_thread(
        self, data: ChartData, width: int, height: int, smoothing: float
    ) -> None:
        try:
            lines = await asyncio.to_thread(render_chart, data, width, height, smoothing)
        except Exception as exc:  # (a chart that cannot be drawn says so, in its place)
            lines = [Text(f"the chart could not be drawn: {printable(str(exc))}", style="red")]
        drawing = ChartDrawing(data, width, height, smoothing, lines)
        size = self.content_region.size
        if self.data is None or not drawing.drawn_for(
            self.data, size.width, size.height, self.smoothing
        ):
            return  # drawn for what is no longer asked (cleared, another size or smoothing)
        self.drawing = drawing
        self.refresh()

    def render(self) -> Text:
        self.paints += 1
        if self.drawing is None:
            lines = [Text("loading the metrics…" if self.data is None else "drawing…", style="dim")]
        else:
            lines = self.drawing.lines
        return Text("\n", no_wrap=True, overflow="crop").join(lines)
