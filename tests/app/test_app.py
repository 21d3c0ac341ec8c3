"""The cockpit on the demo, driven by the keyboard alone at 80x24 (Textual Pilot)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from textual.widgets import DataTable, TabbedContent

from cockpit.app.demo import DemoWiring
from cockpit.app.shell import PANES, CockpitApp
from cockpit.demo import sample_runs_dir
from cockpit.models import CommandStatus, RunState
from cockpit.store import Store
from tests.conftest import wait_until
from widgets.dialogs import ConfirmScreen, HelpScreen
from widgets.run_log import LogLines

ROOT = Path(__file__).resolve().parents[2]
SIZE = (80, 24)


def demo_app(store: Store, replay_s: float = 600.0) -> CockpitApp:
    # Keys are pressed from the first frame on: no morning triage over the cockpit
    # (tests/app/test_app_triage.py has that).
    return CockpitApp(store, demo=DemoWiring.create(duration_s=replay_s), open_triage=False)


def table(app: CockpitApp, selector: str) -> DataTable[object]:
    return app.query_one(selector, DataTable)


def column_text(t: DataTable[object], column: int) -> list[str]:
    return [str(t.get_row_at(i)[column]) for i in range(t.row_count)]


async def test_every_pane_shows_the_demo(store: Store) -> None:
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        sweep = json.loads((sample_runs_dir() / "sweep.json").read_text())
        ideas = json.loads((sample_runs_dir() / "ideas.json").read_text())

        runs = table(app, "#runs-table")
        assert column_text(runs, 0) == sweep["runs"]
        states = column_text(runs, 3)
        assert states.count("succeeded") == 7 and states.count("running") == 1

        results = table(app, "#results-table")
        assert results.row_count == 8
        labels = [c.label.plain for c in results.columns.values()]
        assert "mmlu_acc" in labels and "Δ" in labels and "p Holm" in labels
        baseline_row = [str(c) for c in results.get_row(sweep["baseline"])]
        assert baseline_row[0].startswith("★") and "0.4415" in baseline_row

        ideas_table = table(app, "#ideas-table")
        assert ideas_table.row_count == len(ideas)
        versions = table(app, "#paper-versions")
        assert column_text(versions, 1) == ["3", "2", "1"]

        await pilot.press("2")
        await wait_until(lambda: table(app, "#gpu-table").row_count == 8)
        gpus = column_text(table(app, "#gpu-table"), 0)
        assert gpus == [f"demo-{h}:{i}" for h in "ab" for i in range(4)]


async def test_gpu_pane_moves_and_idle_view_filters(store: Store) -> None:
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("2")
        pane = app.query_one("GpuPane")
        await wait_until(lambda: len(pane.history("demo-b", 3)) >= 5)
        history = pane.history("demo-b", 3)  # the live run's GPU
        assert len(set(history)) > 1, "utilization should move between samples"
        assert min(v for v in history if v is not None) > 30
        await pilot.press("i")
        await wait_until(lambda: table(app, "#gpu-table").row_count > 0)
        idle = column_text(table(app, "#gpu-table"), 0)
        # The live run (demo-b:3) and a colleague's jobs (demo-b:1, demo-b:2) are busy.
        assert "demo-b:3" not in idle and "demo-b:1" not in idle
        assert "demo-a:0" in idle


async def test_a_log_is_replayed_live(store: Store) -> None:
    # The replay follows a clock the test moves, so what is visible when is exact.
    now = [1_000.0]
    app = CockpitApp(
        store, demo=DemoWiring.create(duration_s=100.0, clock=lambda: now[0]), open_triage=False
    )
    live = "doe-r64-cosine-wd0.2"
    total = sum(1 for _ in (sample_runs_dir() / "runs" / live / "out.log").open())
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("3")
        log = app.query_one("#run-log", LogLines)
        assert app.runs_pane.log_run == live
        now[0] += 10.0  # 10 % through
        await wait_until(lambda: log.line_count == round(0.1 * total))
        await wait_until(lambda: any(line.startswith("step") for line in log.visible_text()))
        now[0] += 40.0  # half way: only the new lines are appended
        await wait_until(lambda: log.line_count == round(0.5 * total))
        assert store.get_run(live).state is RunState.RUNNING
        now[0] += 60.0  # past the end: the run succeeds and its results land in the store
        await wait_until(lambda: store.get_run(live).state is RunState.SUCCEEDED)
        await wait_until(lambda: log.line_count == total)
        assert "mmlu_acc" in store.final_metrics([live])[live]


async def test_keyboard_reaches_every_pane_and_help_lists_bindings(store: Store) -> None:
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        tabs = app.query_one(TabbedContent)
        for pane, _title, key in PANES:
            await pilot.press(key)
            assert tabs.active == pane
            assert app.focused is not None and app.focused.id is not None
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = {(row.key, row.description) for row in app.screen.rows}
        for _pane, title, key in PANES:
            assert (key, title) in keys
        assert ("c", "Cancel run") in keys and ("y", "Confirm") in keys and ("?", "Help") in keys
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_cancel_a_run_after_confirming(store: Store) -> None:
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("3")
        runs = table(app, "#runs-table")
        runs.move_cursor(row=7)  # the running one
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # declining does nothing
        assert store.get_run("doe-r64-cosine-wd0.2").state is RunState.RUNNING
        await pilot.press("c")
        await pilot.press("y")
        await wait_until(lambda: store.get_run("doe-r64-cosine-wd0.2").state is RunState.CANCELLED)
        command = store.list_commands()[0]
        assert command.kind == "run.cancel" and command.status is CommandStatus.DONE


async def test_llm_proposed_command_runs_only_after_confirmation(store: Store) -> None:
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        proposed = store.list_commands(status=CommandStatus.NEEDS_CONFIRM)
        assert len(proposed) == 1
        run_id = proposed[0].payload["run_id"]
        assert store.get_run(run_id).state is RunState.SUCCEEDED
        await pilot.press("6")
        await pilot.press("y")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_until(lambda: store.get_command(proposed[0].id).status is CommandStatus.DONE)
        assert store.get_run(run_id).state is RunState.RUNNING


async def test_theme_choice_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    store = Store.open(path)
    app = demo_app(store)
    async with app.run_test(size=SIZE):
        await app.loaded.wait()
        assert app.theme == "cockpit-dark"
        app.theme = "cockpit-high-contrast"
        await wait_until(lambda: store.get_setting("ui.theme") == "cockpit-high-contrast")
    store.close()

    reopened = Store.open(path)
    app = CockpitApp(
        reopened,
        demo=DemoWiring.create(),
        theme=reopened.get_setting("ui.theme"),
        open_triage=False,
    )
    async with app.run_test(size=SIZE):
        await app.loaded.wait()
        assert app.theme == "cockpit-high-contrast"
        # The demo is not seeded twice: the store kept what it had.
        assert len(reopened.list_runs()) == 8
        assert len(reopened.list_commands()) == 1
    reopened.close()


async def test_palette_offers_panes_and_themes(store: Store) -> None:
    app = demo_app(store)
    async with app.run_test(size=SIZE):
        await app.loaded.wait()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Go to Results" in titles
        assert {
            "Theme: cockpit-dark",
            "Theme: cockpit-light",
            "Theme: cockpit-high-contrast",
        } <= set(titles)


def test_startup_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, cockpit.cli.main, cockpit.app.shell\n"
        "heavy = [m for m in ('litellm', 'scipy', 'matplotlib') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


async def test_kill_a_gpu_process_after_confirming(store: Store) -> None:
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("2")
        gpus = table(app, "#gpu-table")
        await wait_until(lambda: gpus.row_count == 8)
        gpus.move_cursor(row=column_text(gpus, 0).index("demo-b:1"))
        await pilot.press("k")
        assert isinstance(app.screen, ConfirmScreen)
        assert "4711" in app.screen.question and "alice" in app.screen.question
        assert "belongs to another user, alice (you are you on demo-b)" in app.screen.question
        await pilot.press("y")
        await wait_until(
            lambda: (
                bool(store.list_commands())
                and store.list_commands()[0].kind == "gpu.kill"
                and store.list_commands()[0].status.terminal
            )
        )
        command = store.list_commands()[0]
        assert command.status is CommandStatus.DONE
        assert command.payload["pid"] == 4711 and command.backend == "demo"
        pane = app.query_one("GpuPane")
        await wait_until(lambda: not pane.selected_gpu().processes)


async def test_killing_your_own_run_says_no_other_user(store: Store) -> None:
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("2")
        gpus = table(app, "#gpu-table")
        await wait_until(lambda: gpus.row_count == 8)
        pane = app.query_one("GpuPane")
        # The demo's own running run is on demo-b:3, owned by the demo's user.
        gpus.move_cursor(row=column_text(gpus, 0).index("demo-b:3"))
        await wait_until(lambda: bool(pane.selected_gpu().processes))
        assert pane.selected_gpu().processes[0].user == "you"
        await pilot.press("k")
        assert isinstance(app.screen, ConfirmScreen)
        assert "another user" not in app.screen.question
        await pilot.press("n")


def test_the_login_on_a_host_is_its_user_the_demo_user_or_the_local_one() -> None:
    import getpass

    from cockpit.app.gpus import login_on
    from cockpit.models import Host, HostKind

    assert login_on(Host("h", address="x", user="bob")) == "bob"
    assert login_on(Host("demo-b", HostKind.DEMO)) == "you"
    assert login_on(Host("h", address="x")) == getpass.getuser()


async def test_read_only_hosts_are_never_killed_on(store: Store) -> None:
    from dataclasses import replace

    from cockpit.demo import seed_demo

    seed_demo(store)
    store.add_host(replace(store.get_host("demo-b"), read_only=True), replace=True)
    app = demo_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("2")
        gpus = table(app, "#gpu-table")
        await wait_until(lambda: gpus.row_count == 8)
        gpus.move_cursor(row=column_text(gpus, 0).index("demo-b:1"))
        await pilot.press("k")
        assert not isinstance(app.screen, ConfirmScreen)
        assert all(c.kind != "gpu.kill" for c in store.list_commands())


ERRORING = (
    "import sys\n"
    "for i in range(60): print(f'step {i} loss={1/(i+1):.3f}\\x1b[32m ok\\x1b[0m\\x1b]0;t\\x07')\n"
    "print(' 50%|##  | 1/2\\r100%|####| 2/2')\n"
    "print('Traceback (most recent call last):')\n"
    "print('ValueError: bad batch')\n"
    "for i in range(60): print(f'after {i}')\n"
    "print('RuntimeError: again')\n"
    "sys.exit(3)\n"
)


async def test_the_log_follows_the_cursor_and_jumps_to_errors(tmp_path: Path) -> None:
    from cockpit.cli.main import main
    from cockpit.models import Host, HostKind

    db = tmp_path / "c.db"
    with Store.open(db) as setup:
        setup.add_host(Host(name="me", kind=HostKind.LOCAL, address="localhost"))
    for name, code in (("clean", "print('all good')"), ("broken", ERRORING)):
        argv = ["--db", str(db), "run", "--host", "me", "--gpus", "0", "--name", name]
        # (the CLI runs its own event loop: in a thread, as from another terminal)
        assert await asyncio.to_thread(main, [*argv, "--", sys.executable, "-c", code]) == 0
    store = Store.open(db)
    app = CockpitApp(store, open_triage=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("3")
        runs = table(app, "#runs-table")
        log = app.query_one("#run-log", LogLines)
        await wait_until(lambda: all(r.state.terminal for r in store.list_runs()), timeout=20)
        names = {r.id: r.spec.name for r in store.list_runs()}
        ids = column_text(runs, 0)
        broken = ids.index(next(i for i, n in names.items() if n == "broken"))
        runs.focus()
        runs.move_cursor(row=broken)  # no enter: the log is the highlighted run's
        await wait_until(lambda: names.get(app.runs_pane.log_run or "") == "broken")
        await wait_until(lambda: any("RuntimeError" in x for x in log.visible_text()), timeout=10)
        await pilot.press("g")
        assert log.top == 0 and not log.follow
        await wait_until(lambda: "step 3 loss=0.250 ok" in log.visible_text())
        await pilot.press("e")
        await wait_until(lambda: app.runs_pane.error_line is not None)
        assert log.texts[app.runs_pane.error_line or 0].startswith("Traceback")
        await wait_until(lambda: "100%|####| 2/2" in log.visible_text())  # the bar's last state
        shown = log.visible_text()
        assert not any("\x1b" in line or "\r" in line for line in shown)
        first = app.runs_pane.error_line
        await pilot.press("E")
        await wait_until(lambda: app.runs_pane.error_line != first)
        second = app.runs_pane.error_line
        await pilot.press("E")
        await wait_until(lambda: app.runs_pane.error_line != second)
        assert log.texts[app.runs_pane.error_line or 0] == "RuntimeError: again"
        assert "RuntimeError: again" in log.visible_text()  # the view went down to it
        await pilot.press("G")
        assert log.follow
        await pilot.press("up" if broken else "down")  # the log switches at once
        await wait_until(lambda: names.get(app.runs_pane.log_run or "") == "clean")
        await wait_until(lambda: log.visible_text() == ["all good"])
    store.close()
