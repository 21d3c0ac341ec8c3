"""The GPU pane with real-world host states, and the per-minute GPU history."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator

from cockpit.app.shell import CockpitApp
from cockpit.gpu_watch import GpuHistoryDownsampler
from cockpit.models import GpuProcess, GpuSample, HostSnapshot, HostState
from cockpit.store import Store
from tests.conftest import wait_until
from widgets.gpu import GpuPane

NOW = 1_800_000_000.0


def gpu(
    host: str, index: int, util: float, mem: float, procs: int = 0, t: float = NOW
) -> GpuSample:
    return GpuSample(
        host=host,
        index=index,
        timestamp=t,
        name="NVIDIA A100-SXM4-80GB",
        utilization_pct=util,
        memory_used_mib=mem,
        memory_total_mib=81920.0,
        temperature_c=40.0,
        power_w=100.0,
        power_limit_w=400.0,
        processes=tuple(GpuProcess(1000 + i, "bob", "python x.py", 1000.0) for i in range(procs)),
    )


class ScriptedSource:
    """A GpuSource that plays a fixed list of snapshots, then waits to be closed."""

    def __init__(self, snapshots: list[HostSnapshot]) -> None:
        self.snapshots = snapshots
        self.closed = asyncio.Event()

    async def stream(self) -> AsyncIterator[HostSnapshot]:
        for snap in self.snapshots:
            yield snap
        await self.closed.wait()

    async def close(self) -> None:
        self.closed.set()


async def test_pane_shows_every_host_state(store: Store) -> None:
    live = HostSnapshot(
        "alpha",
        HostState.LIVE,
        NOW,
        (gpu("alpha", 0, 90, 40000, 1), gpu("alpha", 1, 0, 10)),
        driver_version="550.54.15",
        cuda_version="12.4",
        source="nvml",
    )
    source = ScriptedSource(
        [
            live,
            HostSnapshot("bravo", HostState.DOWN, NOW, reason="connection refused"),
            HostSnapshot("charlie", HostState.AUTH_FAILED, NOW, reason="permission denied"),
            HostSnapshot("delta", HostState.HOST_KEY_UNKNOWN, NOW, reason="unknown host key"),
            HostSnapshot("echo", HostState.UNSUPPORTED, NOW, reason="no NVIDIA GPU"),
            # A stale host keeps its last GPUs, as SshGpuSource reports them.
            HostSnapshot(
                "foxtrot",
                HostState.STALE,
                NOW - 30,
                (gpu("foxtrot", 0, 50, 100, 1, t=NOW - 30),),
                reason="no sample for 30 s",
            ),
        ]
    )
    app = CockpitApp(store, gpu_source=source)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.loaded.wait()
        await pilot.press("2")
        pane = app.query_one(GpuPane)
        table = pane.table
        await wait_until(lambda: table.row_count == 7)
        rows = {str(table.get_row_at(i)[0]): table.get_row_at(i) for i in range(table.row_count)}
        assert str(rows["bravo"][1]) == "down"
        assert str(rows["charlie"][1]) == "auth-failed"
        assert str(rows["delta"][1]) == "host-key-unknown"
        assert str(rows["echo"][1]) == "unsupported"
        assert "foxtrot:0" in rows
        assert pane.host_state("foxtrot") is HostState.STALE
        line = str(pane.hosts_line.render())
        assert "1/6 hosts live" in line and "foxtrot stale" in line
        assert "1 idle" in line  # alpha:1 only: a stale host's GPUs are not offered as free
        table.move_cursor(row=list(rows).index("delta"))
        await pilot.pause()
        assert "cockpit host trust" in str(pane.detail.render())
        await pilot.press("i")
        await wait_until(lambda: table.row_count == 1)
        assert str(table.get_row_at(0)[0]) == "alpha:1"


async def test_gpu_that_falls_off_the_bus_leaves_the_table(store: Store) -> None:
    source = ScriptedSource(
        [
            HostSnapshot(
                "alpha", HostState.LIVE, NOW, (gpu("alpha", 0, 1, 1), gpu("alpha", 1, 1, 1))
            ),
            HostSnapshot(
                "alpha",
                HostState.LIVE,
                NOW + 1,
                (gpu("alpha", 0, 1, 1),),
                reason="GPU 1: GPU is lost",
            ),
        ]
    )
    app = CockpitApp(store, gpu_source=source)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.loaded.wait()
        await pilot.press("2")
        pane = app.query_one(GpuPane)
        await wait_until(lambda: pane.table.row_count == 1)


async def test_user_database_without_hosts_says_how_to_add_one(store: Store) -> None:
    app = CockpitApp(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.loaded.wait()
        await pilot.press("2")
        assert "cockpit host add" in str(app.query_one(GpuPane).hosts_line.render())


def test_history_is_averaged_per_minute() -> None:
    history = GpuHistoryDownsampler()
    start = NOW - NOW % 60
    for second in range(0, 120, 10):
        util = 20.0 if second < 60 else 80.0
        t = start + second
        history.add([HostSnapshot("a", HostState.LIVE, t, (gpu("a", 0, util, 1000, t=t),))])
    history.add([HostSnapshot("a", HostState.DOWN, start + 125)])  # not live: ignored
    rows = history.drain()
    assert rows == [("a", 0, start, 20.0, 1000.0, 81920.0, 100.0, 40.0)]
    assert history.drain(now=start + 180)[0][3] == 80.0
    assert history.drain(now=start + 240) == []


async def test_gpu_history_reaches_the_store(store: Store) -> None:
    history = GpuHistoryDownsampler()
    history.add([HostSnapshot("a", HostState.LIVE, NOW, (gpu("a", 0, 50, 1000),))])
    store.add_gpu_samples(history.drain(now=NOW + 120))
    with sqlite3.connect(store.path) as db:  # what another reader of the file sees
        rows = db.execute("SELECT host, gpu_index, utilization_pct FROM gpu_samples").fetchall()
    assert rows == [("a", 0, 50.0)]


class QueuedSource:
    """A GpuSource the test feeds one snapshot at a time."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[HostSnapshot | None] = asyncio.Queue()

    async def stream(self) -> AsyncIterator[HostSnapshot]:
        while (snap := await self.queue.get()) is not None:
            yield snap

    async def close(self) -> None:
        self.queue.put_nowait(None)


async def test_samples_that_arrive_behind_another_pane_show_when_it_comes_back(
    store: Store,
) -> None:
    source = QueuedSource()
    app = CockpitApp(store, gpu_source=source, open_triage=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.loaded.wait()
        await pilot.press("2")
        pane = app.query_one(GpuPane)
        source.queue.put_nowait(
            HostSnapshot("alpha", HostState.LIVE, NOW, (gpu("alpha", 0, 10, 1),))
        )
        await wait_until(lambda: pane.table.row_count == 1)
        util = pane.table.get_row_at(0)[1]
        assert "10" in str(util)

        await pilot.press("3")  # the Runs pane: the GPU pane is hidden
        await wait_until(lambda: not pane.is_on_screen)
        updates = pane.table.row_count, str(pane.table.get_row_at(0)[1])
        source.queue.put_nowait(
            HostSnapshot("alpha", HostState.LIVE, NOW + 1, (gpu("alpha", 0, 95, 1),))
        )
        await wait_until(lambda: len(pane.history("alpha", 0)) == 2)  # kept, not drawn
        await pilot.pause()
        assert (pane.table.row_count, str(pane.table.get_row_at(0)[1])) == updates

        await pilot.press("2")  # back: the latest sample is on screen
        await wait_until(lambda: "95" in str(pane.table.get_row_at(0)[1]))
