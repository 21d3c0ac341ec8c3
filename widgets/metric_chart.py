"""A metric's curves in braille, drawn to the widget's size (cockpit.render.chart draws).

Drawing only: the pane hands it a ChartData with `show`; the smoothing weight is the
widget's own (changing it redraws from the points it has, no reload). The same data shown
again is not repainted.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from cockpit.render.chart import ChartData, next_smoothing, render_chart

DEFAULT_SMOOTHING = 0.6


class MetricChart(Widget):
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

    def show(self, data: ChartData) -> bool:
        """Draw new data; False (and no repaint) when it is what is shown already."""
        if data == self.data:
            return False
        self.data = data
        self.refresh()
        return True

    def clear(self) -> None:
        self.data = None
        self.refresh()

    def smoother(self, direction: int) -> float:
        """`+` (1) or `-` (-1): the next smoothing weight, drawn at once."""
        self.smoothing = next_smoothing(self.smoothing, direction)
        self.refresh()
        return self.smoothing

    def lines(self) -> list[Text]:
        """The chart as drawn at the widget's size (what `render` shows)."""
        if self.data is None:
            return [Text("loading the metrics…", style="dim")]
        size = self.content_region.size
        return render_chart(self.data, size.width, size.height, self.smoothing)

    def render(self) -> Text:
        self.paints += 1
        return Text("\n", no_wrap=True, overflow="crop").join(self.lines())
