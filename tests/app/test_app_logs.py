"""The log view of the Runs pane at 80x24, on real local runs and real log files: search
with n/N, filters and clearing them, wrap, error jumps, pause/resume while a run writes,
and a log too big to index at once (progress, then a search cancelled with escape)."""

from __future__ import annotations

import asyncio
import re
import sys
import threading
import time
from pathlib import Path

from textual.pilot import Pilot

from backends.runners.local import local_root
from cockpit.app.shell import CockpitApp
from cockpit.log_index import CHUNK_BYTES
from cockpit.models import Host, HostKind, Run, RunSpec, RunState
from cockpit.paths import data_dir
from cockpit.ports import ByteReader
from cockpit.store import Store
from tests.conftest import wait_until
from tests.integration.runs_helpers import GATED_SCRIPT
from widgets.run_log import LogLines, RunLogView

SIZE = (80, 24)


def recorded_run(store: Store, name: str, log: bytes, started: float = 1000.0) -> Run:
    """A finished run on the local host whose out.log holds `log`."""
    if not store.list_hosts():
        store.add_host(Host(name="me", kind=HostKind.LOCAL, address="localhost"))
    run = Run(
        id=name,
        spec=RunSpec(name=name, command="true", host="me", gpus=0),
        state=RunState.SUCCEEDED,
        host="me",
        exit_code=0,
        started_at=started,
        ended_at=started + 60,
    )
    folder = Path(local_root(data_dir())) / "runs" / name
    folder.mkdir(parents=True)
    (folder / "out.log").write_bytes(log)
    store.upsert_run(run)
    return run


def status(app: CockpitApp) -> str:
    return str(app.query_one(RunLogView).title.render())


async def ask(
    pilot: Pilot[object], app: CockpitApp, key: str, text: str, accepted: bool = True
) -> None:
    """Open the / or \\ prompt, put `text` in it (as pasted) and press enter; then wait
    for the focus to be back where it was (keys pressed at once would go to the prompt)."""
    prompt = app.query_one(RunLogView).prompt
    await pilot.press(key)
    await wait_until(lambda: prompt.has_focus)
    prompt.value = text
    await pilot.press("enter")
    if accepted:
        await wait_until(lambda: not prompt.has_focus)


async def open_log(app: CockpitApp, name: str) -> LogLines:
    await app.loaded.wait()
    pane = app.runs_pane
    await wait_until(lambda: pane.table.row_count > 0)
    rows = [str(k.value) for k in pane.table.rows]
    pane.table.focus()  # the pane's keys work from its table
    pane.table.move_cursor(row=rows.index(name))
    await wait_until(lambda: pane.log_run == name)
    log = app.query_one("#run-log", LogLines)
    await wait_until(lambda: log.run_id == name and log.line_count > 0)
    return log


async def test_search_moves_match_by_match_and_a_bad_regex_is_one_line(store: Store) -> None:
    lines = [f"step {i} loss={1 / (i + 1):.3f}" for i in range(300)]
    for i in (40, 90, 140, 190, 240, 290):
        lines[i] += " SPIKE here"
    recorded_run(store, "r1", ("\n".join(lines) + "\n").encode())
    app = CockpitApp(store, open_triage=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        log = await open_log(app, "r1")
        await ask(pilot, app, "slash", "spike")  # lower case: any case matches
        await wait_until(lambda: "match 1 of 6" in status(app))
        await wait_until(lambda: "step 40 loss=0.024 SPIKE here" in log.visible_text())
        assert not log.follow  # the view stays on the match
        await pilot.press("n")
        assert "match 2 of 6" in status(app)
        await wait_until(lambda: lines[90] in log.visible_text())
        await pilot.press("N", "N")  # back to the first, then around to the last
        assert "match 6 of 6" in status(app) and "search wrapped" in status(app)
        await wait_until(lambda: lines[290] in log.visible_text())
        await ask(pilot, app, "slash", "SPIKE(", accepted=False)
        assert "bad regex 'SPIKE('" in status(app)
        assert app.query_one(RunLogView).prompt_mode == "find"  # still asking, no crash
        await pilot.press("escape")
        assert app.query_one(RunLogView).prompt_mode is None
        await ask(pilot, app, "slash", "Spike")  # a capital: case matters
        await wait_until(lambda: "0 matches" in status(app) or "no match" in status(app))


async def test_a_level_filter_then_clearing_it_keeps_the_place(store: Store) -> None:
    levels = ["INFO", "DEBUG", "INFO", "WARNING", "INFO", "DEBUG", "ERROR"]
    lines = [f"2024-05-01 {levels[i % 7]} line {i}" for i in range(700)]
    recorded_run(store, "r1", ("\n".join(lines) + "\n").encode())
    app = CockpitApp(store, open_triage=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        log = await open_log(app, "r1")
        await ask(pilot, app, "backslash", "error")
        await wait_until(lambda: "filter error: 100 lines" in status(app))
        shown = log.visible_text()
        assert shown and all("ERROR" in line for line in shown)
        assert shown[-1] == "2024-05-01 ERROR line 699"  # following: the last ones
        await ask(pilot, app, "backslash", "warn")  # warnings and above
        await wait_until(lambda: "filter warn: 200 lines" in status(app))
        assert {line.split()[1] for line in log.visible_text()} == {"WARNING", "ERROR"}
        await pilot.press("g")  # the first filtered line at the top, then 3 down
        log.focus()
        await pilot.press("down", "down", "down")
        top = log.visible_text()[0]
        assert top == "2024-05-01 ERROR line 13"  # lines 3, 6, 10, then 13
        await ask(pilot, app, "backslash", "")  # empty: every line again
        assert "filter" not in status(app)
        await wait_until(lambda: log.visible_text()[0] == top)  # at the same place
        assert log.visible_text()[1] == "2024-05-01 INFO line 14"
        await ask(pilot, app, "backslash", "line 1[0-9]$")  # a regex
        await wait_until(lambda: "filter line 1[0-9]$: 10 lines" in status(app))


async def test_long_lines_scroll_sideways_or_wrap(store: Store) -> None:
    long = "A" * 70 + "BBBBBBBBBB" + "C" * 100
    recorded_run(store, "r1", f"short\n{long}\nlast\n".encode())
    app = CockpitApp(store, open_triage=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        log = await open_log(app, "r1")
        await wait_until(lambda: log.visible_text() == ["short", long[:80], "last"])
        log.focus()
        await pilot.press("right")  # sideways by 8 columns
        assert log.visible_text()[1] == long[8:88]
        await pilot.press("w")
        assert "wrap" in status(app)
        assert log.visible_text() == ["short", long[:80], long[80:160], long[160:], "last"]
        await pilot.press("w")
        assert log.visible_text()[1] == long[:80]  # back, from the first column


async def test_jump_to_end_and_start_and_errors_in_a_long_log(store: Store) -> None:
    lines = [f"step {i}" for i in range(5000)]
    lines[1200] = "Traceback (most recent call last):"
    lines[3100] = "torch.cuda.OutOfMemoryError: CUDA out of memory"
    recorded_run(store, "r1", ("\n".join(lines) + "\n").encode())
    app = CockpitApp(store, open_triage=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        log = await open_log(app, "r1")
        await wait_until(lambda: log.visible_text()[-1:] == ["step 4999"])
        await pilot.press("e")
        await wait_until(lambda: lines[1200] in log.visible_text())
        assert app.runs_pane.error_line == 1200 and not log.follow
        await pilot.press("E")
        await wait_until(lambda: lines[3100] in log.visible_text())
        await pilot.press("E")
        await wait_until(lambda: "no error below" in status(app))
        await pilot.press("g")
        await wait_until(lambda: log.visible_text()[0] == "step 0")
        await pilot.press("G")
        await wait_until(lambda: log.visible_text()[-1] == "step 4999")
        assert log.follow and "end of 5,000" in status(app)


async def launch_local(tmp_path: Path, script_text: str, argument: Path) -> Store:
    """The script as a run of the local host (`cockpit run`, a real detached process), in a
    store of its own that the test opens the app on."""
    from cockpit.cli.main import main

    db = tmp_path / "c.db"
    with Store.open(db) as setup:
        setup.add_host(Host(name="me", kind=HostKind.LOCAL, address="localhost"))
    script = tmp_path / "w.py"
    script.write_text(script_text)
    argv = ["--db", str(db), "run", "--host", "me", "--gpus", "0", "--name", "live"]
    command = ["--", sys.executable, str(script), str(argument)]
    assert await asyncio.to_thread(main, [*argv, *command]) == 0
    return Store.open(db)


WRITER = """
import os, sys, time
gate = sys.argv[1]
for i in range(40):
    print(f"INFO step {i}" + (" ERROR early" if i == 7 else ""), flush=True)
while not os.path.exists(gate):
    time.sleep(0.02)
for i in range(40, 60):
    print(f"INFO step {i}" + (" ERROR late" if i == 55 else ""), flush=True)
"""


async def test_pause_and_resume_follow_while_a_filter_takes_new_lines(
    store: Store, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    live = await launch_local(tmp_path, WRITER, gate)
    app = CockpitApp(live, open_triage=False)
    app_feed_poll = 0.05
    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        app.runs.log_feed.poll_s = app_feed_poll
        await pilot.press("3")
        (run,) = live.list_runs()
        log = await open_log(app, run.id)
        await wait_until(lambda: log.line_count == 40)
        await ask(pilot, app, "backslash", "error")
        await wait_until(lambda: log.visible_text() == ["INFO step 7 ERROR early"])
        await pilot.press("f")  # pause: new lines come in, the view stays
        assert not log.follow and "paused" in status(app)
        await ask(pilot, app, "backslash", "")  # no filter, paused at the top
        await pilot.press("g")
        before = log.visible_text()
        gate.touch()
        await wait_until(lambda: log.line_count == 60, timeout=20)
        assert log.visible_text() == before
        await ask(pilot, app, "backslash", "error")
        await wait_until(lambda: "filter error: 2 lines" in status(app), timeout=20)
        await pilot.press("f")  # follow again: at the end, the new match below the old
        assert log.follow
        await wait_until(
            lambda: log.visible_text() == ["INFO step 7 ERROR early", "INFO step 55 ERROR late"]
        )
    live.close()


class HeldReader:
    """A real log file whose big reads (index and search chunks) can be held at a point,
    so the test sees the pane mid-way; the small window and tail reads always pass."""

    def __init__(self, inner: ByteReader) -> None:
        self.inner = inner
        self.free = threading.Event()
        self.free.set()
        self.waiting = threading.Event()
        self.budget = 0
        self.lock = threading.Lock()

    def hold_after(self, big_reads: int) -> None:
        with self.lock:
            self.budget = big_reads
            self.waiting.clear()
            self.free.clear()

    def size(self) -> int:
        return self.inner.size()

    def read_at(self, offset: int, size: int) -> bytes:
        if size >= CHUNK_BYTES // 2:
            with self.lock:
                held = not self.free.is_set() and self.budget == 0
                if not held and not self.free.is_set():
                    self.budget -= 1
            if held:
                self.waiting.set()
                self.free.wait(30)
        return self.inner.read_at(offset, size)

    def close(self) -> None:
        self.inner.close()


async def test_a_huge_log_shows_its_end_and_index_progress_and_a_search_can_be_cancelled(
    store: Store,
) -> None:
    line_count = 300_000
    text = "".join(f"{i:07d} step={i} loss=0.5 tokens/s 1234 ok\n" for i in range(line_count))
    recorded_run(store, "small", b"hello\n", started=2000.0)
    recorded_run(store, "huge", text.encode(), started=1000.0)
    assert len(text) > 12_000_000  # over the threshold: tail first, index with progress
    app = CockpitApp(store, open_triage=False)
    held: list[HeldReader] = []

    def wrap(reader: ByteReader) -> ByteReader:
        held.append(HeldReader(reader))
        held[-1].hold_after(1)  # the index's first chunk, then wait
        return held[-1]

    async with app.run_test(size=SIZE) as pilot:
        await app.loaded.wait()
        await pilot.press("3")
        app.runs.log_feed.wrap_reader = wrap
        pane = app.runs_pane
        rows = [str(k.value) for k in pane.table.rows]
        pane.table.move_cursor(row=rows.index("huge"))
        log = app.query_one("#run-log", LogLines)
        await wait_until(lambda: bool(held) and held[-1].waiting.is_set())
        # The end is there before the index: read backwards from the last byte.
        await wait_until(
            lambda: (
                log.visible_text()[-1:]
                == [f"{line_count - 1:07d} step=299999 loss=0.5 tokens/s 1234 ok"]
            )
        )
        await wait_until(lambda: "indexing" in status(app))
        percent = int(status(app).split("indexing ")[1].split("%")[0])
        assert 0 < percent < 100
        reader = held[-1]
        reader.free.set()
        await wait_until(lambda: f"end of {line_count:,}" in status(app), timeout=20)
        assert "indexing" not in status(app)
        reader.hold_after(1)  # the search's first chunk, then wait
        await ask(pilot, app, "slash", r"step=\d+5 ")
        await wait_until(lambda: reader.waiting.is_set())
        await wait_until(lambda: "searching" in status(app))
        found = len(log.find.lines) if log.find else 0
        assert found > 0  # the matches of the first chunk are there already
        await pilot.press("escape")
        assert "(cancelled)" in status(app)
        reader.free.set()
        await asyncio.sleep(0.3)  # nothing to await: the cancelled scan must stay silent
        assert log.find is not None and len(log.find.lines) == found
        started = time.monotonic()
        await pilot.press("g")
        await wait_until(lambda: log.visible_text()[0].startswith("0000000 step=0"))
        assert time.monotonic() - started < 2


TRUNCATING = (
    GATED_SCRIPT
    + """
for i in range(40):
    print(f"INFO step {i}" + (" ERROR before" if i == 7 else ""), flush=True)
wait("truncate")
with open(os.readlink("/proc/self/fd/1"), "w") as log:  # logrotate's copytruncate, in short
    log.write("")
print("INFO step 0 again", flush=True)
print("INFO step 1 ERROR after", flush=True)
wait("end")
"""
)


async def test_a_local_log_truncated_while_filtered_is_shown_from_its_new_start(
    store: Store, tmp_path: Path
) -> None:
    gates = tmp_path / "gates"
    gates.mkdir()
    live = await launch_local(tmp_path, TRUNCATING, gates)
    app = CockpitApp(live, open_triage=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await app.loaded.wait()
            app.runs.log_feed.poll_s = 0.05
            await pilot.press("3")
            (run,) = live.list_runs()
            log = await open_log(app, run.id)
            await wait_until(lambda: log.line_count == 40)
            await ask(pilot, app, "backslash", "error")
            await wait_until(lambda: log.visible_text() == ["INFO step 7 ERROR before"])
            (gates / "truncate").touch()
            # the filter runs again over the log as it is now, and keeps following
            await wait_until(lambda: log.visible_text() == ["INFO step 1 ERROR after"])
            assert log.line_count == 2 and "filter error: 1 line" in status(app)
            assert "1 lines" not in status(app)
            await ask(pilot, app, "backslash", "")
            await wait_until(
                lambda: log.visible_text() == ["INFO step 0 again", "INFO step 1 ERROR after"]
            )
            (gates / "end").touch()
    finally:
        live.close()


# Every control a terminal acts on, C1 included (U+009B is CSI to some terminals), and the
# bidi marks, embeddings, overrides and isolates that reorder what is read.
ACTS_ON_A_TERMINAL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
HOSTILE_LOG = b"\n".join(
    [
        b"osc52 \x1b]52;c;ZWNobyBwd25lZA==\x07 after",
        b"title \x1b]0;pwned\x07 \x1b]2;pwned2\x1b\\ after",
        b"csi \x1b[10;10H\x1b[2J\x1b[1A\x1b[K after",
        b"c1raw \x9b31m after",
        "c1 \u009b2J \u0085 \u009d0;x\u0007 after".encode(),
        "bidi \u202eevil\u202c \u2066iso\u2069 \u061c after".encode(),
        b"bel \x07 bs abc\x08\x08\x08XYZ after",
        b"crlf line after\r",
        b"ValueError: boom after",
    ]
)


async def test_a_hostile_log_reaches_the_screen_without_controls(store: Store) -> None:
    recorded_run(store, "r1", HOSTILE_LOG + b"\n")
    app = CockpitApp(store, open_triage=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        log = await open_log(app, "r1")
        await wait_until(lambda: "ValueError: boom after" in log.visible_text())
        drawn = [segment.text for row in range(log.size.height) for segment in log.render_line(row)]
        assert not ACTS_ON_A_TERMINAL.findall("".join(drawn))
        shown = log.visible_text()
        assert "bidi evil iso  after" in shown and "crlf line after" in shown  # CRLF: kept
        await ask(pilot, app, "slash", "after")
        await wait_until(lambda: "match 1 of 9" in status(app))
        await pilot.press("e")
        await wait_until(lambda: log.error_line == 8)
