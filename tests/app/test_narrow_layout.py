"""What a person needs to decide stays on screen at 80x24, and a wider terminal shows more
(Textual Pilot, reading what the terminal shows): the Commands outcome, the footer's keys,
the Ideas titles. The Results pane's columns are tested in test_app_results."""

from __future__ import annotations

from cockpit.app.demo import DemoWiring
from cockpit.app.shell import CockpitApp
from cockpit.store import Store
from tests.app.test_app_triage import screen_text
from tests.conftest import wait_until

SIZE = (80, 24)
LONG_TITLE = "Elastic Weight Consolidation in the GaLore Projected Subspace"  # 61 characters


def demo_app(store: Store) -> CockpitApp:
    return CockpitApp(store, demo=DemoWiring.create(duration_s=600.0), open_triage=False)


def footer(app: CockpitApp) -> str:
    return screen_text(app).splitlines()[-1]


async def test_commands_show_status_and_outcome_at_80x24_and_time_when_wider(
    store: Store,
) -> None:
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("6")
        await wait_until(lambda: app.commands_pane.table.row_count > 0)
        await pilot.pause()
        lines = screen_text(app).splitlines()
        header = next(line for line in lines if "Command" in line and "Status" in line)
        assert "Outcome" in header and "When" not in header
        proposed = next(line for line in lines if "run.relaunch" in line)
        assert "needs-confirm" in proposed and "replicate the strongest" in proposed

        await pilot.resize_terminal(150, 24)
        await wait_until(lambda: "When" in screen_text(app))
        await pilot.pause()
        proposed = next(line for line in screen_text(app).splitlines() if "run.relaunch" in line)
        assert "runs/llm" in proposed and "replicate the strongest config" in proposed


async def test_footer_shows_each_key_once_and_help_whole_at_80x24(store: Store) -> None:
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        for key in ("1", "2", "3", "4", "5", "6"):
            await pilot.press(key)
            await pilot.pause()
            line = footer(app)
            assert line.count("^p Palette") == 1, line
            assert "? Help" in line, line


async def test_ideas_titles_use_the_width_they_have(store: Store) -> None:
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("1")
        await wait_until(lambda: app.ideas_pane.table.row_count > 0)
        await pilot.pause()
        row = next(line for line in screen_text(app).splitlines() if "Elastic Weight" in line)
        assert LONG_TITLE not in row and "…" in row
        assert row.rstrip().endswith("new"), row  # the status is on screen

        await pilot.resize_terminal(160, 30)
        await wait_until(lambda: LONG_TITLE in screen_text(app))
