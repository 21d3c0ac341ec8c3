"""The cockpit at 80x24 under odd data: names from files draw no control sequences and
export only inside the export folder."""

from __future__ import annotations

from pathlib import Path

from cockpit import ingest
from cockpit.app.shell import CockpitApp
from cockpit.store import Store
from tests.conftest import wait_until
from tests.unit.test_terminal_safety import write_evil_lm_eval
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
