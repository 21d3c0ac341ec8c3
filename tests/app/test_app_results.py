"""The Results pane in the cockpit, by keyboard at 80x24 (Textual Pilot): the matrix, the
detail view, metric and baseline keys, the effects view, filter, sort, export, and a long
sweep through the windowed table."""

from __future__ import annotations

import re
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import DataTable

from cockpit.app.demo import DemoWiring
from cockpit.app.shell import CockpitApp
from cockpit.models import Run, RunSpec, RunState, Sweep
from cockpit.results import ResultsData, build_matrix
from cockpit.store import Store
from tests.app.test_app_triage import screen_text
from tests.conftest import wait_until
from tests.unit.test_results import BASELINE, R64, SWEEP, complete_demo
from widgets.dialogs import HelpScreen
from widgets.results import WINDOW_ROWS, ResultDetailScreen, ResultsPane, WindowedTable

SIZE = (80, 24)


def demo_app(store: Store) -> CockpitApp:
    return CockpitApp(store, demo=DemoWiring.create(duration_s=600.0), open_triage=False)


def results(app: App[None]) -> WindowedTable:
    return app.query_one("#results-table", WindowedTable)


def labels(table: DataTable[object]) -> list[str]:
    return [c.label.plain for c in table.columns.values()]


def cell(table: DataTable[object], row_key: str, column: str) -> str:
    return str(table.get_cell(row_key, column))


async def open_results(app: CockpitApp, pilot) -> WindowedTable:  # type: ignore[no-untyped-def]
    await app.loaded.wait()
    await pilot.press("4")
    table = results(app)
    await wait_until(lambda: table.row_count == 8)
    return table


async def test_matrix_detail_metric_and_baseline_keys(store: Store) -> None:
    app = demo_app(store)  # the demo as shipped: its last run is still running
    async with app.run_test(size=SIZE) as pilot:
        table = await open_results(app, pilot)
        # 80 columns: the CI plot and the state give way, the verdict is a short word
        assert labels(table) == ["Config", "mmlu_acc", "±CI", "Δ", "Verdict", "p Holm"]
        assert cell(table, BASELINE, "verdict") == "baseline"
        assert cell(table, BASELINE, "config").startswith("★")
        for run_id in R64[:3]:
            assert cell(table, run_id, "verdict") == "better"
        assert cell(table, "doe-r128-none-wd0.2", "verdict") == "n.s."
        assert cell(table, R64[3], "verdict") == "no data"  # still running
        assert "Holm m=6" in str(app.query_one("#results-title").render())

        # enter: the detail of r64 none wd0.1 against the baseline
        table.move_cursor(row=table.get_row_index(R64[0]))
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ResultDetailScreen))
        text = app.screen.text.plain  # type: ignore[attr-defined]
        assert "McNemar exact" in text and "0/1 scores on the same items" in text
        assert "over the 6 tested comparisons" in text and "verdict   better" in text
        assert re.search(r"95% CI \[\+0\.00\d\d, \+0\.0\d\d\d\]", text)
        assert "train_loss over steps" in text  # the learning curves, as sparklines
        await pilot.press("escape")
        assert not isinstance(app.screen, ResultDetailScreen)

        # m: the next metric, a single number per config
        await pilot.press("m")
        await wait_until(lambda: "holdout_p…" in labels(results(app)))
        assert "holdout_ppl" in str(app.query_one("#results-title").render())
        assert cell(results(app), R64[0], "verdict") == "1 run"

        # b on an r64 row: it becomes the baseline, the r128 configs are now worse
        await pilot.press("m", "m", "m")  # four outcomes: lr is not one
        await wait_until(lambda: labels(results(app))[1] == "mmlu_acc")
        table = results(app)
        table.move_cursor(row=table.get_row_index(R64[0]))
        await pilot.press("b")
        await wait_until(lambda: cell(results(app), R64[0], "verdict") == "baseline")
        assert cell(results(app), BASELINE, "verdict") == "worse"

        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = {(row.key, row.scope) for row in app.screen.rows}
        for key in ("enter", "s", "m", "b", "e", "slash", "w", "x"):
            assert (key, "Results") in keys, key


def visible_rows(app: App[None]) -> dict[str, str]:
    """Screen lines of the Results table by the config they start with."""
    rows = {}
    for line in screen_text(app).splitlines():
        for config in ("r128 none wd0.1", "r64 none wd0.1", "r128 none wd0.2"):
            if line.strip(" ★▎▍").startswith(config):
                rows[config] = line
    return rows


async def test_verdict_and_p_are_on_screen_at_80x24_and_wider_shows_more(store: Store) -> None:
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        table = await open_results(app, pilot)
        header = screen_text(app).splitlines()[4]
        assert "Verdict" in header and "p Holm" in header
        rows = visible_rows(app)
        assert "baseline" in rows["r128 none wd0.1"]
        assert re.search(r"\+0\.0130 +better +0\.0\d+\b", rows["r64 none wd0.1"])
        assert re.search(r"n\.s\. +[01](\.\d+)?\b", rows["r128 none wd0.2"])
        # the line under the table says the highlighted row's verdict in full
        table.move_cursor(row=table.get_row_index("doe-r128-none-wd0.2"))
        await pilot.pause()
        note = screen_text(app).splitlines()[-2]
        assert note.strip().startswith("no significant difference · Δ +0.0005 [")
        assert "p Holm 1" in note or re.search(r"p Holm 0\.\d+", note)

        await pilot.resize_terminal(140, 30)
        await wait_until(lambda: "State" in labels(results(app)))
        await pilot.pause()
        assert labels(results(app))[:8] == [
            "Config",
            "mmlu_acc",
            "±95% CI",
            "Δ mmlu_acc",
            "Verdict",
            "Δ CI vs 0",
            "p Holm",
            "State",
        ]
        rows = visible_rows(app)
        assert "no significant difference" in rows["r128 none wd0.2"]
        assert "succeeded" in rows["r128 none wd0.2"]

        await pilot.resize_terminal(*SIZE)  # and back: the columns give way again
        await wait_until(lambda: "State" not in labels(results(app)))


async def test_effects_filter_sort_and_export(store: Store, tmp_path: Path) -> None:
    complete_demo(store)
    app = demo_app(store)
    app.export_root = tmp_path
    async with app.run_test(size=SIZE) as pilot:
        table = await open_results(app, pilot)
        assert "Holm m=7" in str(app.query_one("#results-title").render())

        await pilot.press("e")
        effects = app.query_one("#results-effects", DataTable)
        assert effects.display and not table.display
        first = [str(c) for c in effects.get_row_at(0)]
        assert first[0] == "rank" and first[2].startswith("+0.01")
        assert "per-item contrasts" in str(app.query_one("#results-note").render())
        await pilot.press("e")
        assert table.display

        await pilot.press("slash", "r", "6", "4", "enter")
        await wait_until(lambda: results(app).row_count == 4)
        assert all(k.value.startswith("doe-r64") for k in results(app).rows)

        await pilot.press("s")  # sort by value, best first
        await wait_until(lambda: "sort: value" in str(app.query_one("#results-title").render()))
        order = [str(results(app).get_row_at(i)[1]) for i in range(4)]
        assert order == sorted(order, reverse=True) and order[0] == "0.4585"

        await pilot.press("escape")  # clears the filter
        await wait_until(lambda: results(app).row_count == 8)

        await pilot.press("x")
        out = tmp_path / SWEEP
        await wait_until(lambda: (out / "figures.tex").is_file(), timeout=60)
        assert (out / "values_mmlu-acc.pdf").read_bytes().startswith(b"%PDF-")
        assert (out / "values_mmlu-acc.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        snippet = (out / "figures.tex").read_text()
        assert "\\includegraphics[width=\\linewidth]{values_mmlu-acc.pdf}" in snippet
        assert "effects_mmlu-acc.pdf" in snippet and (out / "results.tex").is_file()


class PaneApp(App[None]):
    def compose(self) -> ComposeResult:
        self.pane = ResultsPane(id="results-pane")
        yield self.pane


def many_configs(n: int) -> ResultsData:
    sweep = Sweep("big", {}, "c00000", "acc", {}, 1.0)
    runs = tuple(
        Run(f"c{i:05d}", RunSpec(f"c{i:05d}", "x", {"lr": i}, sweep="big"), RunState.SUCCEEDED)
        for i in range(n)
    )
    finals = {r.id: {"acc": 0.5 + (i % 97) / 1000, "loss": 1.0} for i, r in enumerate(runs)}
    return ResultsData((sweep,), runs, finals, {})


async def test_a_long_sweep_is_windowed_and_the_cursor_slides_through_it() -> None:
    matrix = build_matrix(many_configs(1000))
    app = PaneApp()
    async with app.run_test(size=SIZE) as pilot:
        app.pane.show_results(matrix)
        table = app.pane.table
        table.focus()
        await pilot.pause()
        assert table.total == 1000 and table.row_count == WINDOW_ROWS
        await pilot.press("ctrl+end")
        assert table.cursor_key() == "c00999" and table.absolute_row == 999
        assert table.row_count == WINDOW_ROWS
        await pilot.press("ctrl+home")
        assert table.cursor_key() == "c00000"
        table.move_cursor(row=WINDOW_ROWS - 1)
        await pilot.press("down")  # past the end of the window: it slides
        assert table.absolute_row == WINDOW_ROWS and table.cursor_key() == f"c{WINDOW_ROWS:05d}"
        await pilot.press("pagedown")
        assert table.absolute_row > WINDOW_ROWS
        assert "rows" in str(app.pane.title_line.render())
        # The cursor stays on its config when the order changes.
        key = table.cursor_key()
        await pilot.press("s")
        assert table.cursor_key() == key
        await pilot.press("slash", "c", "0", "0", "9", "9", "enter")
        await wait_until(lambda: table.total == 10)  # c00990 .. c00999


async def test_a_taller_terminal_holds_more_rows_in_the_window() -> None:
    matrix = build_matrix(many_configs(1000))
    app = PaneApp()
    async with app.run_test(size=SIZE) as pilot:
        app.pane.show_results(matrix)
        table = app.pane.table
        table.focus()
        await pilot.press("down", "down")
        assert table.row_count == WINDOW_ROWS
        await pilot.resize_terminal(80, 70)
        await wait_until(lambda: table.row_count == 2 * table.size.height > WINDOW_ROWS)
        assert table.cursor_key() == "c00002"  # the cursor stays on its config


async def test_d_flips_the_metric_direction_and_the_store_remembers(store: Store) -> None:
    from cockpit.results import remembered_directions

    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        table = await open_results(app, pilot)
        pane = app.query_one(ResultsPane)
        assert pane.matrix is not None and pane.matrix.direction_sources["mmlu_acc"] == "name"
        await pilot.press("d")
        await wait_until(
            lambda: (
                pane.matrix is not None and pane.matrix.direction_sources.get("mmlu_acc") == "user"
            )
        )
        assert remembered_directions(store) == {"mmlu_acc": False}
        # Lower is better now: the configs that were better are worse.
        await wait_until(lambda: cell(table, R64[0], "verdict") == "worse")
