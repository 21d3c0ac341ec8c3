"""Every pane of the demo at 80x24, as SVG snapshots (pytest-textual-snapshot).

The demo runs on a fixed clock and its simulated GPUs are sampled once, so a snapshot only
changes when what a pane draws changes. After an intended change of the drawing, look at
the new pictures (`pytest tests/app/test_snapshots.py --snapshot-update` writes them; the
report shows the differences) before committing them.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from cockpit.app.demo import DemoWiring
from cockpit.app.shell import CockpitApp
from cockpit.demo import seed_demo
from cockpit.store import Store
from tests.conftest import wait_until

# 2027-01-15 06:40 UTC: the morning after the demo's night of runs.
FIXED_NOW = 1_800_000_000.0
SIZE = (80, 24)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times in panes are local: pin the zone so the pictures are the same everywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def frozen_demo(store: Store) -> CockpitApp:
    demo = DemoWiring.create(duration_s=600.0, clock=lambda: FIXED_NOW)
    seed_demo(store, demo.data, FIXED_NOW)
    # The store stamps commands with the wall clock; the picture needs the demo's.
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE commands SET created_at = ?", (FIXED_NOW,))
    demo.gpu_interval_s = 3600.0  # one sample of every GPU, then quiet
    return CockpitApp(store, demo=demo, open_triage=False)


def rows(app: CockpitApp, selector: str) -> int:
    return app.query_one(selector, DataTable).row_count


def after(key: str, ready: Callable[[CockpitApp], bool]) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, CockpitApp)
        await app.loaded.wait()
        await pilot.press(key)
        await wait_until(lambda: ready(app))
        await pilot.pause()

    return run_before


PANES: dict[str, tuple[str, Callable[[CockpitApp], bool]]] = {
    "ideas": ("1", lambda app: rows(app, "#ideas-table") > 0),
    "gpus": ("2", lambda app: rows(app, "#gpu-table") == 8),
    "runs": ("3", lambda app: rows(app, "#runs-table") == 8),
    "results": ("4", lambda app: app.results_pane.matrix is not None),
    "paper": ("5", lambda app: rows(app, "#paper-versions") > 0),
    "commands": ("6", lambda app: rows(app, "#commands-table") > 0),
}


@pytest.mark.parametrize("pane", list(PANES))
def test_pane_at_80x24(pane: str, store: Store, snap_compare: Any) -> None:
    key, ready = PANES[pane]
    assert snap_compare(frozen_demo(store), terminal_size=SIZE, run_before=after(key, ready))
