"""Metric charts: braille dots, EMA, downsampling and layout against independent references;
the store keeps a 1M-step series bounded; `cockpit chart` in a pipe and as JSON."""

from __future__ import annotations

import json
import math
import random
import unicodedata
from pathlib import Path

import pytest

from cockpit.cli.main import main
from cockpit.metric_charts import chart_data
from cockpit.models import MetricPoint, Run, RunSpec, RunState, Sweep
from cockpit.render.chart import (
    DOT_BITS,
    LINE_MARKS,
    BrailleCanvas,
    ChartData,
    ChartLine,
    Frame,
    ema,
    metric_order,
    minmax_buckets,
    next_smoothing,
    plot,
    render_chart,
)
from cockpit.store import SERIES_MAX_POINTS, Store

# Unicode numbers braille dots 1 2 3 7 down the left column and 4 5 6 8 down the right.
DOT_NUMBER = {
    (0, 0): 1,
    (0, 1): 2,
    (0, 2): 3,
    (0, 3): 7,
    (1, 0): 4,
    (1, 1): 5,
    (1, 2): 6,
    (1, 3): 8,
}


def dots_of(char: str) -> set[int]:
    """The dot numbers of a braille character, read from its Unicode name."""
    name = unicodedata.name(char)
    assert name.startswith("BRAILLE PATTERN DOTS-"), name
    return {int(d) for d in name.removeprefix("BRAILLE PATTERN DOTS-")}


@pytest.mark.parametrize(("dx", "dy"), list(DOT_NUMBER))
def test_each_dot_is_the_braille_dot_unicode_names(dx: int, dy: int) -> None:
    canvas = BrailleCanvas(1, 1)
    canvas.dot(dx, dy, 0)
    assert dots_of(canvas.char(0, 0)) == {DOT_NUMBER[(dx, dy)]}
    assert DOT_BITS[dy][dx] == 1 << (DOT_NUMBER[(dx, dy)] - 1)


def test_a_rising_diagonal_sets_the_dots_worked_out_by_hand() -> None:
    # 2x1 cells = 4x4 dots; (0, 0) at the bottom left and (3, 3) at the top right.
    canvas = plot([[(0.0, 0.0), (3.0, 3.0)]], 2, 1, Frame(0.0, 3.0, 0.0, 3.0))
    # Dots (x, y from the top): (0,3) (1,2) | (2,1) (3,0).
    assert dots_of(canvas.char(0, 0)) == {7, 6}
    assert dots_of(canvas.char(1, 0)) == {2, 4}


def test_a_flat_series_is_one_row_of_dots_and_empty_cells_are_spaces() -> None:
    canvas = plot([[(0.0, 5.0), (7.0, 5.0)]], 4, 2, Frame(0.0, 7.0, 0.0, 10.0))
    # y 5 of 0..10 over 8 dot rows: round(0.5 * 7) = 4, the top dot row of the second cell.
    assert canvas.rows()[0] == "    "
    assert all(dots_of(c) == {1, 4} for c in canvas.rows()[1])


def test_ema_equals_the_direct_debiased_weighted_sum() -> None:
    rng = random.Random(7)
    xs = [rng.uniform(-5, 5) for _ in range(200)]
    for w in (0.0, 0.3, 0.6, 0.9, 0.99):
        got = ema(xs, w)
        for t in range(len(xs)):
            if w == 0:
                want = xs[t]
            else:
                total = sum((1 - w) * w ** (t - i) * xs[i] for i in range(t + 1))
                want = total / (1 - w ** (t + 1))
            assert got[t] == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_minmax_buckets_keep_each_buckets_extremes() -> None:
    rng = random.Random(3)
    points = [(float(s), rng.gauss(0, 1)) for s in range(10_000)]
    thin = minmax_buckets(points, 50, 0.0, 9999.0)
    assert len(thin) <= 100
    assert thin == sorted(thin)
    for b in range(50):
        inside = [p for p in points if min(49, int(p[0] / 9999.0 * 50)) == b]
        kept = [p for p in thin if min(49, int(p[0] / 9999.0 * 50)) == b]
        assert min(inside, key=lambda p: p[1]) in kept
        assert max(inside, key=lambda p: p[1]) in kept


def test_smoothing_keys_step_by_a_tenth_between_raw_and_099() -> None:
    w, seen = 0.0, []
    for _ in range(12):
        w = next_smoothing(w, 1)
        seen.append(w)
    assert seen[:3] == [0.1, 0.2, 0.3] and seen[-1] == 0.99 and max(seen) == 0.99
    assert next_smoothing(0.99, -1) == 0.9
    assert next_smoothing(0.1, -1) == 0.0 and next_smoothing(0.0, -1) == 0.0


def test_metric_order_puts_loss_then_lr_then_throughput_first() -> None:
    names = ["mmlu_acc", "tokens_per_s", "lr", "val_loss", "train_loss", "grad_norm"]
    assert metric_order(names) == (
        "train_loss",
        "val_loss",
        "lr",
        "tokens_per_s",
        "grad_norm",
        "mmlu_acc",
    )


def sweep_data() -> ChartData:
    lines = tuple(
        ChartLine(
            f"cfg{i}", tuple((float(s), 2.0 * math.exp(-s / (200 + 50 * i))) for s in range(500))
        )
        for i in range(8)
    )
    return ChartData("sweep s", "loss", lines, ("loss",))


def test_the_chart_fits_80x24_with_axis_labels_and_a_legend() -> None:
    data = sweep_data()
    lines = render_chart(data, 78, 14, 0.0)
    assert len(lines) <= 14 and all(line.cell_len <= 78 for line in lines)
    text = [line.plain for line in lines]
    assert text[0].startswith("loss") and "sweep s" in text[0] and "raw" in text[0]
    assert text[1].lstrip().startswith("2 ┤")  # the highest value, on the top row
    low = min(p[1] for line in data.lines for p in line.points)
    plot_rows = [t for t in text if "┤" in t or "│" in t]
    assert plot_rows[-1].lstrip().startswith(f"{low:.4g} ┤")
    axis = next(t for t in text if "└" in t)
    assert "└0" in axis and axis.rstrip().endswith("step 499")
    legend = " ".join(text[-2:])
    for i in range(8):  # told apart without colour: each curve's letter is in the plot
        assert f"{LINE_MARKS[i]} cfg{i}" in legend
        assert any(LINE_MARKS[i] in row.split("│")[-1].split("┤")[-1] for row in plot_rows)


def test_smoothing_is_shown_and_changes_the_labels_to_the_smoothed_range() -> None:
    rng = random.Random(1)
    noisy = tuple((float(s), 1.0 + rng.uniform(-0.5, 0.5)) for s in range(400))
    data = ChartData("run r", "loss", (ChartLine("r", noisy),), ("loss",))
    raw = render_chart(data, 60, 10, 0.0)[1].plain
    smoothed = render_chart(data, 60, 10, 0.9)
    assert "ema 0.90" in smoothed[0].plain
    top_raw, top_smooth = float(raw.split()[0]), float(smoothed[1].plain.split()[0])
    assert top_smooth < top_raw  # the smoothed curve's peak is lower than the noise's
    assert top_smooth == pytest.approx(max(ema([v for _, v in noisy], 0.9)), rel=1e-3)


def test_control_characters_in_labels_never_reach_the_terminal() -> None:
    data = ChartData("run \x1b[2J", "lo\x1bss", (ChartLine("a\x07", ((0, 1), (1, 2))),) * 2, ())
    for line in render_chart(data, 80, 10):
        assert "\x1b" not in line.plain and "\x07" not in line.plain


# -- the store ------------------------------------------------------------------------------


def add_run(store: Store, run_id: str, sweep: str | None = None, **config: object) -> None:
    spec = RunSpec(name=run_id, command="x", sweep=sweep, config=dict(config))
    store.upsert_run(Run(id=run_id, spec=spec, host="h", state=RunState.RUNNING))


def test_a_long_series_stays_bounded_and_keeps_its_extremes_and_last_point(
    store: Store,
) -> None:
    add_run(store, "r1")
    rng = random.Random(5)
    values: dict[int, float] = {}
    steps = 60_000
    for start in range(0, steps, 10_000):  # as the log scanner saves: a stretch at a time
        points = []
        for step in range(start, start + 10_000):
            values[step] = rng.gauss(0, 1)
            points.append(("r1", step, "loss", values[step]))
        store.save_log_scan("r1", start, "{}", None, False, points)
        assert len(store.metric_series("r1", "loss")) <= SERIES_MAX_POINTS
    series = store.metric_series("r1", "loss")
    assert series[0] == (0, values[0]) and series[-1] == (steps - 1, values[steps - 1])
    kept = dict(series)
    assert min(kept.values()) == min(values.values())
    assert max(kept.values()) == max(values.values())
    assert all(values[s] == v for s, v in series)  # thinned, never altered
    assert store.final_metrics(["r1"]) == {"r1": {"loss": values[steps - 1]}}
    # Results collected at the end (metrics.jsonl, every step again) are bounded too.
    store.add_metrics(MetricPoint("r1", s, "loss", v) for s, v in values.items())
    assert len(store.metric_series("r1", "loss")) <= SERIES_MAX_POINTS


def test_an_imported_history_is_bounded_like_a_logged_one(store: Store) -> None:
    rng = random.Random(7)
    values = {step: rng.gauss(0, 1) for step in range(0, 90_000, 3)}
    spec = RunSpec(name="mlf", command="x")
    run = Run(id="mlf", spec=spec, host=None, state=RunState.SUCCEEDED)
    points = [MetricPoint("mlf", s, "loss", v) for s, v in values.items()]
    store.import_runs(None, [(run, points, [])])
    series = store.metric_series("mlf", "loss")
    assert len(series) <= SERIES_MAX_POINTS
    assert series[0] == (0, values[0]) and series[-1] == (89_997, values[89_997])
    assert {min(values.values()), max(values.values())} <= {v for _, v in series}
    assert all(values[s] == v for s, v in series)  # thinned, never altered


def test_a_short_series_keeps_every_point(store: Store) -> None:
    add_run(store, "r1")
    points = [("r1", s, "loss", 1.0 / (s + 1)) for s in range(SERIES_MAX_POINTS)]
    store.save_log_scan("r1", 0, "{}", None, False, points)
    assert len(store.metric_series("r1", "loss")) == SERIES_MAX_POINTS


def test_chart_data_offers_the_metrics_logged_more_than_once(store: Store) -> None:
    store.upsert_sweep(Sweep(name="s", factors={}, created_at=0.0))
    add_run(store, "r1", "s", rank=64)
    add_run(store, "r2", "s", rank=128)
    store.add_metrics(
        [
            MetricPoint("r1", 0, "batch_tokens", 4096.0),  # printed once: no curve
            *(MetricPoint("r1", s, "lr", 1e-4) for s in range(3)),
            *(MetricPoint("r1", s, "loss", 2.0 - s / 10) for s in range(3)),
            *(MetricPoint("r2", s, "loss", 2.5 - s / 10) for s in range(5)),
        ]
    )
    runs = store.list_runs(sweep="s")
    data = chart_data(store, runs, "sweep s", labels={"r1": "r64", "r2": "r128"})
    assert data.metrics == ("loss", "lr") and data.metric == "loss"
    assert {line.label: len(line.points) for line in data.lines} == {"r64": 3, "r128": 5}
    lr = chart_data(store, runs, "sweep s", "lr")
    assert [line.label for line in lr.lines] == ["r1"]  # r2 logged no lr
    assert chart_data(store, runs, "sweep s", "gone").metric == "loss"


# -- the CLI -------------------------------------------------------------------------------


@pytest.fixture
def chart_db(tmp_path: Path) -> str:
    path = tmp_path / "c.db"
    with Store.open(path) as store:
        store.upsert_sweep(Sweep(name="s", factors={}, created_at=0.0))
        add_run(store, "r1", "s", rank=64)
        add_run(store, "r2", "s", rank=128)
        store.add_metrics(MetricPoint("r1", s, "loss", 3.0 - s / 100) for s in range(100))
        store.add_metrics(MetricPoint("r2", s, "loss", 2.0 + s / 100) for s in range(100))
    return str(path)


def test_cli_chart_prints_plain_text_into_a_pipe(
    chart_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", chart_db, "chart", "--sweep", "s", "--cached", "--width", "60"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    lines = out.splitlines()
    assert lines[0].startswith("loss  sweep s  raw")
    assert lines[1].startswith("3 ┤") and "└0" in out and "step 99" in out
    assert "a rank=64  b rank=128" in out or "a r64  b r128" in out
    assert all(len(line) <= 60 for line in lines)


def test_cli_chart_json_gives_the_series(chart_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--db", chart_db, "chart", "r1", "--cached", "--json", "--smoothing", "0.5"]
    assert main(args) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["metric"] == "loss" and got["metrics"] == ["loss"] and got["smoothing"] == 0.5
    (series,) = got["series"]
    assert series["label"] == "r1" and series["steps"] == list(range(100))
    assert series["values"][:2] == [3.0, 2.99]
    assert series["smoothed"] == pytest.approx(ema(series["values"], 0.5))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["chart", "--cached"], "give a RUN or --sweep NAME"),
        (["chart", "r1", "--sweep", "s", "--cached"], "give a RUN or --sweep NAME"),
        (["chart", "nope", "--cached"], "no run"),
        (["chart", "--sweep", "nope", "--cached"], "no sweep named 'nope'"),
        (["chart", "r1", "--metric", "acc", "--cached"], "no metric 'acc'"),
        (["chart", "r1", "--smoothing", "nan", "--cached"], "invalid --smoothing"),
        (["chart", "r1", "--smoothing", "1", "--cached"], "invalid --smoothing"),
        (["chart", "r1", "--height", "2", "--cached"], "invalid --height"),
    ],
)
def test_cli_chart_bad_input_is_one_line_and_exit_2(
    chart_db: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["--db", chart_db, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
