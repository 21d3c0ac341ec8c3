"""The cockpit at 80x24 under odd data: names from files draw no control sequences and
export only inside the export folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from textual.widgets import Static

from cockpit import ingest
from cockpit.app.shell import CockpitApp
from cockpit.models import GpuProcess, Host, HostKind, HostSnapshot, HostState
from cockpit.store import Store
from tests.app.test_gpu_pane import NOW, ScriptedSource, gpu
from tests.conftest import wait_until
from tests.unit.test_terminal_safety import write_evil_lm_eval
from widgets.dialogs import ConfirmScreen
from widgets.gpu import GpuPane
from widgets.results import WindowedTable

SIZE = (80, 24)


def import_evil_sweep(store: Store, tmp_path: Path, sweep: str) -> None:
    folder = write_evil_lm_eval(tmp_path / "evil")
    ingest.record_imported_runs(store, ingest.import_path(folder), sweep=sweep, source=folder)


async def test_sweep_named_like_a_path_exports_inside_the_folder_and_draws_escaped(
    store: Store, tmp_path: Path
) -> None:
    import_evil_sweep(store, tmp_path, "../escape")
    root = tmp_path / "export"
    app = CockpitApp(store, open_triage=False)
    app.export_root = root
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("4")
        table = app.query_one("#results-table", WindowedTable)
        await wait_until(lambda: table.row_count == 1)
        label = str(table.get_row_at(0)[0])
        assert "evil" in label and "\x1b" not in label and "\\x1b" in label
        title = str(app.query_one("#results-title").render())
        assert "\x1b" not in title
        await pilot.press("x")
        await wait_until(lambda: (root / "_escape" / "results.csv").is_file(), timeout=60)
    assert not (tmp_path / "escape").exists()
    assert sorted(p.name for p in root.iterdir()) == ["_escape"]


async def test_a_confirm_shows_host_text_as_it_is_never_as_markup(store: Store) -> None:
    """A process's command line is the remote host's text: brackets in it are shown, and
    markup-like text neither styles the question nor breaks it."""
    command = "python train.py --tags [/b] [red]x[/red] [link=http://e.vil]y"
    snap = HostSnapshot("alpha", HostState.LIVE, NOW, (gpu("alpha", 0, 90, 40000, procs=1),))
    snap = dataclasses.replace(
        snap,
        gpus=(
            dataclasses.replace(
                snap.gpus[0], processes=(GpuProcess(4242, "bob", command, 1000.0),)
            ),
        ),
    )
    store.add_host(Host(name="alpha", kind=HostKind.SSH, address="alpha.example"))
    app = CockpitApp(store, gpu_source=ScriptedSource([snap]), open_triage=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("2")
        pane = app.query_one(GpuPane)
        await wait_until(lambda: pane.table.row_count == 1)
        pane.table.focus()
        await pilot.press("k")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen))
        shown = app.screen.query_one("#confirm-question", Static).render()
        assert command in str(shown)
        await pilot.press("n")


async def test_a_notice_quoting_brackets_shows_them_and_the_app_goes_on(store: Store) -> None:
    app = CockpitApp(store, open_triage=False)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await app.loaded.wait()
        message = "open [/scratch/ckpt] failed: [Errno 2] [b]x"
        app.notify(message, severity="error")
        await wait_until(lambda: bool(list(app.query("Toast"))))
        await pilot.pause()  # drawn: markup would have stopped the app here
        assert any(message in str(toast.render()) for toast in app.query("Toast"))
        await pilot.press("3")  # still running, still answering keys
        assert app.runs_pane.display
