"""The Runs pane on a real local host (LocalRunner), at 80x24: launch a spec with `L`
(preview, then confirm), watch true states and exit codes, cancel after a confirm."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from cockpit.app.shell import CockpitApp
from cockpit.models import CommandStatus, Host, HostKind, RunState
from cockpit.store import Store
from tests.conftest import wait_until
from widgets.dialogs import ConfirmScreen
from widgets.runs import LaunchPreviewScreen, SpecPathScreen

SIZE = (80, 24)


def spec_file(tmp_path: Path, gate: Path) -> Path:
    spec = tmp_path / "spec.toml"
    spec.write_text(
        'name = "pane"\n'
        f'command = "{sys.executable} -c \\"import sys, os, time\\n'
        f"while sys.argv[1] == 'wait' and not os.path.exists('{gate}'): time.sleep(0.05)\\n"
        'sys.exit(int(sys.argv[2]))\\" {mode} {code}"\n'
        "gpus = 0\n"
        '[factors]\nmode = ["wait", "go"]\ncode = [0, 3]\n'
    )
    return spec


async def test_launch_a_spec_from_the_pane_and_cancel_a_run(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COCKPIT_CPU_SLOTS", "4")  # all four runs at once on this host
    store.add_host(Host(name="me", kind=HostKind.LOCAL, address="localhost"))
    gate = tmp_path / "gate"
    spec = spec_file(tmp_path, gate)
    app = CockpitApp(store, open_triage=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        app.runs.channels = frozenset({"line"})
        await pilot.press("3")
        await pilot.press("L")
        await wait_until(lambda: isinstance(app.screen, SpecPathScreen))
        app.screen.query_one(Input).value = str(spec)
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, LaunchPreviewScreen))
        preview = app.screen
        assert isinstance(preview, LaunchPreviewScreen)
        assert preview.title_text == "Launch 4 run(s) of sweep pane?"
        assert sum(line.startswith("  $ ") for line in preview.lines) == 4
        await pilot.press("n")  # declining launches nothing
        assert store.list_runs() == []
        await pilot.press("L")
        await wait_until(lambda: isinstance(app.screen, SpecPathScreen))
        assert app.screen.query_one(Input).value == str(spec)  # remembered
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, LaunchPreviewScreen))
        await pilot.press("y")
        await wait_until(lambda: len(store.list_runs()) == 4)
        table = app.query_one("#runs-table", DataTable)
        await wait_until(lambda: table.row_count == 4, timeout=20)

        def states() -> dict[tuple[str, int], RunState]:
            return {
                (r.spec.config["mode"], r.spec.config["code"]): r.state for r in store.list_runs()
            }

        await wait_until(
            lambda: states()[("go", 3)] is RunState.FAILED and states()[("go", 0)].terminal,
            timeout=20,
        )
        await wait_until(
            lambda: any("failed 3" in str(table.get_row_at(i)[3]) for i in range(4)), timeout=10
        )
        # Cancel the waiting run with exit code 0 after saying yes.
        target = next(r for r in store.list_runs() if r.spec.config == {"mode": "wait", "code": 0})
        await wait_until(lambda: store.get_run(target.id).state is RunState.RUNNING, timeout=20)
        row = next(i for i in range(table.row_count) if table.get_row_at(i)[0] == target.id)
        table.move_cursor(row=row)
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_until(lambda: store.get_run(target.id).state is RunState.CANCELLED, timeout=20)
        # (the run is recorded cancelled inside the command, which is marked done after)
        await wait_until(lambda: store.list_commands()[0].status is CommandStatus.DONE)
        assert store.list_commands()[0].kind == "run.cancel"
        gate.touch()
        await wait_until(lambda: all(s.terminal for s in states().values()), timeout=20)
        assert states()[("wait", 3)] is RunState.FAILED


async def test_the_host_queue_from_the_pane_moves_and_drops_entries(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cockpit.cli.main import main as cli
    from widgets.run_queue import QueueScreen

    monkeypatch.setenv("COCKPIT_CPU_SLOTS", "1")  # one runs, the other two wait in the queue
    store.add_host(Host(name="me", kind=HostKind.LOCAL, address="localhost"))
    gate = tmp_path / "gate"
    spec = tmp_path / "q.toml"
    spec.write_text(
        f'name = "q"\ncommand = "{sys.executable} -c \\"import os, time\\n'
        f"while not os.path.exists('{gate}'): time.sleep(0.05)\\\" {{i}}\"\n"
        "gpus = 0\n[factors]\ni = [0, 1, 2]\n"
    )
    launch = ["--db", str(tmp_path / "cockpit.db"), "launch", str(spec)]
    assert await asyncio.to_thread(cli, launch) == 0
    app = CockpitApp(store, open_triage=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("3")
        table = app.query_one("#runs-table", DataTable)
        await wait_until(lambda: table.row_count == 3, timeout=20)
        await pilot.press("Q")
        await wait_until(lambda: isinstance(app.screen, QueueScreen), timeout=20)
        first = app.screen
        assert isinstance(first, QueueScreen) and first.host == "me"
        assert len(first.order) == 2  # one run holds the slot
        await pilot.press("J")  # the next one goes second
        await wait_until(lambda: isinstance(app.screen, QueueScreen) and app.screen is not first)
        moved = app.screen
        assert isinstance(moved, QueueScreen)
        assert moved.order == [first.order[1], first.order[0]]
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_until(lambda: isinstance(app.screen, QueueScreen) and app.screen is not moved)
        dropped = moved.order[1]  # the cursor followed the moved run
        assert app.screen.order == [first.order[1]]  # type: ignore[attr-defined]
        await pilot.press("escape")
        kinds = [(c.kind, c.payload.get("op"), c.status) for c in store.list_commands()]
        assert ("run.queue", "move", CommandStatus.DONE) in kinds
        assert ("run.queue", "drop", CommandStatus.DONE) in kinds
        gate.touch()
        await wait_until(lambda: all(r.state.terminal for r in store.list_runs()), timeout=30)
        states = {r.id: r.state for r in store.list_runs()}
        assert states.pop(dropped) is RunState.CANCELLED
        assert set(states.values()) == {RunState.SUCCEEDED}
