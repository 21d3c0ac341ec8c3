"""The morning triage in the cockpit, by keyboard at 80x24 (Textual Pilot): it opens over the
cockpit when something happened since the last look, closing it records the look, and the
palette, `t` and the help screen reach it any time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from textual.app import App

from cockpit.app.demo import DemoWiring
from cockpit.app.shell import CockpitApp
from cockpit.demo import seed_demo
from cockpit.models import Run, RunSpec, RunState
from cockpit.store import Store
from cockpit.triage import LAST_LOOK_KEY
from tests.conftest import wait_until
from widgets.dialogs import HelpScreen
from widgets.triage import TriageScreen

SIZE = (80, 24)
OOM = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"


def demo_app(store: Store) -> CockpitApp:
    return CockpitApp(store, demo=DemoWiring.create(duration_s=600.0))


def screen_text(app: App[None]) -> str:
    """What the terminal shows now, as plain text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def add_failed_run(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "oom-run"
    folder.mkdir()
    (folder / "out.log").write_text(f"step 10 | loss 2.31\n{OOM}\n")
    now = time.time()
    store.upsert_run(
        Run(
            "doe-r64-oom",
            RunSpec("doe-r64-oom", "python train.py", {"rank": 64}, sweep="galore-doe"),
            RunState.FAILED,
            host="demo-a",
            gpu_ids=(0,),
            exit_code=1,
            started_at=now - 2 * 3600,
            ended_at=now - 3600,
            provenance={"source_path": str(folder)},
        )
    )


async def test_triage_opens_at_start_lists_the_failure_and_escape_records_the_look(
    store: Store, tmp_path: Path
) -> None:
    seed_demo(store)
    add_failed_run(store, tmp_path)
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        assert isinstance(app.screen, TriageScreen)
        report = app.screen.report
        assert [o.run_id for o in report.failed] == ["doe-r64-oom"]
        assert report.failed[0].reason_kind == "oom"
        text = screen_text(app)
        assert "Morning triage" in text and "7 finished · 1 failed" in text
        assert "doe-r64-oom" in text and "out of memory" in text
        assert store.get_setting(LAST_LOOK_KEY) is None  # not until it is closed
        await pilot.press("escape")
        assert not isinstance(app.screen, TriageScreen)
        await wait_until(lambda: store.get_setting(LAST_LOOK_KEY) is not None)
        assert store.get_setting(LAST_LOOK_KEY) == pytest.approx(report.until)

    app = demo_app(store)  # nothing new since: the cockpit opens as it is
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.pause()
        assert not isinstance(app.screen, TriageScreen)
        assert app.active_pane == "runs"


async def test_a_fresh_demo_opens_on_its_night_and_r_goes_on_to_results(store: Store) -> None:
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        assert isinstance(app.screen, TriageScreen)
        report = app.screen.report
        assert len(report.finished) == 7 and len(report.running) == 1 and not report.failed
        assert report.since_source == "first look"
        text = screen_text(app)
        assert "7 finished · 0 failed · 1 still running" in text and "Finished (7)" in text
        await pilot.press("r")
        assert not isinstance(app.screen, TriageScreen)
        assert app.active_pane == "results"
        await wait_until(lambda: store.get_setting(LAST_LOOK_KEY) is not None)


async def test_palette_and_t_open_the_triage_again_and_help_lists_it(store: Store) -> None:
    seed_demo(store)
    store.set_setting(LAST_LOOK_KEY, time.time())  # looked just now: no news
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        assert not isinstance(app.screen, TriageScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Morning triage" in titles

        await pilot.press("ctrl+p")
        await pilot.press(*"Morning triage")
        await wait_until(lambda: "Morning triage" in screen_text(app))
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, TriageScreen))
        assert "Nothing finished or failed since then" in screen_text(app)
        await pilot.press("enter")
        assert not isinstance(app.screen, TriageScreen)

        await pilot.press("t")
        await wait_until(lambda: isinstance(app.screen, TriageScreen))
        await pilot.press("escape")
        assert not isinstance(app.screen, TriageScreen)

        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = {(row.key, row.description, row.scope) for row in app.screen.rows}
        assert ("t", "Morning triage", "everywhere") in rows
        assert ("r", "Go to Results", "Triage") in rows


async def test_pane_keys_and_help_work_from_the_triage_and_record_the_look(
    store: Store, tmp_path: Path
) -> None:
    seed_demo(store)
    add_failed_run(store, tmp_path)
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        assert isinstance(app.screen, TriageScreen)
        until = app.screen.report.until
        await pilot.press("2")  # the user wants the GPUs: the triage closes and they show
        await wait_until(lambda: app.active_pane == "gpus")
        assert not isinstance(app.screen, TriageScreen)
        await wait_until(lambda: store.get_setting(LAST_LOOK_KEY) is not None)
        assert store.get_setting(LAST_LOOK_KEY) == pytest.approx(until)
        assert "GPU" in screen_text(app) and "Morning triage" not in screen_text(app)

        await pilot.press("t")  # on again: ? closes it and opens the help
        await wait_until(lambda: isinstance(app.screen, TriageScreen))
        await pilot.press("question_mark")
        await wait_until(lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await wait_until(lambda: not isinstance(app.screen, HelpScreen))
        assert not isinstance(app.screen, TriageScreen)
