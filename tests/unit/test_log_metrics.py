"""Metrics and flags from run logs reach the store incrementally, across restarts."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest

from cockpit.log_metrics import LogMetrics, stalled_after_s
from cockpit.models import Run, RunSpec, RunState
from cockpit.ports import LogChunk
from cockpit.store import Store


class GrowingLog:
    """A log file as a backend serves it: reads by byte offset, eof once the run ended."""

    def __init__(self) -> None:
        self.data = b""
        self.ended = False
        self.reads: list[int] = []

    async def read(self, offset: int, max_bytes: int) -> LogChunk:
        self.reads.append(offset)
        part = self.data[offset : offset + max_bytes]
        end = offset + len(part)
        return LogChunk(part, end, self.ended and end >= len(self.data), len(self.data))


def run(state: RunState = RunState.RUNNING) -> Run:
    return Run(id="r1", spec=RunSpec(name="t", command="x"), host="h", state=state)


async def test_points_and_flags_arrive_while_live_and_at_the_end(store: Store) -> None:
    log = GrowingLog()
    store.upsert_run(run())
    metrics = LogMetrics(store)
    log.data = b"step 1 loss=2.0\nstep 2 loss=1.5\nstep 3 lo"
    await metrics.scan(run(), log.read, now=100.0)
    assert store.metric_series("r1", "loss") == [(1, 2.0), (2, 1.5)]
    log.data += b"ss=nan\nTraceback (most recent call last):\nstep 4 loss=1.0"
    await metrics.scan(run(), log.read, now=110.0)
    kinds = [(f["kind"], f["line"]) for f in store.log_flags()["r1"]]
    assert kinds == [("nan-loss", 3), ("traceback", 4)]
    assert store.metric_series("r1", "loss") == [(1, 2.0), (2, 1.5)]  # line 5 not whole yet
    log.ended = True
    done = await metrics.scan(run(RunState.FAILED), log.read, now=120.0)
    assert done is not None and done.finished
    assert store.metric_series("r1", "loss") == [(1, 2.0), (2, 1.5), (4, 1.0)]
    assert await metrics.scan(run(RunState.FAILED), log.read, now=130.0) is None


async def test_only_new_bytes_are_read_even_after_a_restart(tmp_path: Path) -> None:
    log = GrowingLog()
    log.data = b"".join(b"step %d loss=%d\n" % (i, 100 - i) for i in range(50)) + b"step 50 lo"
    with Store.open(tmp_path / "c.db") as store:
        store.upsert_run(run())
        await LogMetrics(store).scan(run(), log.read, now=1.0)
        saved = store.log_scan("r1")
    assert saved is not None
    assert saved["byte_offset"] == len(log.data) - len(b"step 50 lo")
    log.reads.clear()
    log.data += b"ss=3\n"
    with Store.open(tmp_path / "c.db") as store:  # a new cockpit: a new LogMetrics
        await LogMetrics(store).scan(run(), log.read, now=2.0)
        assert log.reads[0] == saved["byte_offset"]
        series = store.metric_series("r1", "loss")
        assert series[-1] == (50, 3.0) and len(series) == 51
        assert json.loads(store.log_scan("r1")["state"])["line"] == 51


async def test_a_quiet_running_run_is_stalled_until_it_writes_again(store: Store) -> None:
    log = GrowingLog()
    log.data = b"step 1 loss=1\n"
    store.upsert_run(run())
    metrics = LogMetrics(store, stalled_after_s=600)
    await metrics.scan(run(), log.read, now=0.0)
    assert "r1" not in store.log_flags()
    await metrics.scan(run(), log.read, now=700.0)
    (flag,) = store.log_flags()["r1"]
    assert flag["kind"] == "stalled" and "11 min" in flag["text"]
    log.data += b"step 2 loss=1\n"
    await metrics.scan(run(), log.read, now=710.0)
    assert "r1" not in store.log_flags()


def test_stalled_minutes_come_from_the_environment() -> None:
    assert stalled_after_s({"COCKPIT_STALLED_MIN": "5"}) == 300.0
    assert stalled_after_s({"COCKPIT_STALLED_MIN": "junk"}) == 30 * 60.0
    assert stalled_after_s({}) == 30 * 60.0


def test_migration_from_version_4_keeps_metrics_and_adds_log_tables(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    old = Store.open(path, migrate=False)
    old.migrate(target=4)
    old.upsert_run(run())
    with old.write() as conn:
        conn.execute("INSERT INTO metrics(run_id, step, name, value) VALUES ('r1', 1, 'acc', .5)")
    old.close()
    with Store.open(path) as store:
        assert store.metric_series("r1", "acc") == [(1, 0.5)]
        assert store.log_scan("r1") is None and store.log_flags() == {}
        store.save_log_scan("r1", 10, "{}", 1.0, False, flags=[("oom", 3, "CUDA out of memory")])
        oom = {"kind": "oom", "line": 3, "text": "CUDA out of memory"}
        assert store.log_flags() == {"r1": [oom]}


async def test_runs_json_and_triage_show_what_the_log_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rich.console import Console

    from cockpit.cli.main import main
    from cockpit.render.triage import render_triage
    from cockpit.triage import build_triage

    log = GrowingLog()
    log.data = b"step 1 loss=2.0 lr=0.1\nstep 2 loss=nan\nCUDA out of memory. Tried\n"
    log.ended = True
    failed = Run(
        id="r1",
        spec=RunSpec(name="t", command="x"),
        host="h",
        state=RunState.FAILED,
        exit_code=1,
        started_at=10.0,
        ended_at=20.0,
    )
    with Store.open(tmp_path / "c.db") as store:
        store.upsert_run(failed)
        await LogMetrics(store).scan(failed, log.read, now=30.0)
        report = build_triage(store, since=0.0, now=40.0, logs=lambda run: [])
    assert report.failed[0].log_flags == (
        "nan-loss at line 2: loss=nan",
        "oom at line 3: CUDA out of memory. Tried",
    )
    console = Console(width=80, record=True, file=io.StringIO())
    render_triage(report, console)
    assert "r1  nan-loss at line 2: loss=nan; oom at line 3" in console.export_text()

    assert main(["--db", str(tmp_path / "c.db"), "runs", "--json", "--cached"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["metrics"] == {"loss": 2.0, "lr": 0.1}
    assert row["flags"][0] == {"kind": "nan-loss", "line": 2, "text": "loss=nan"}
    assert main(["--db", str(tmp_path / "c.db"), "runs", "--cached"]) == 0
    assert "!nan-loss+1" in capsys.readouterr().out


async def test_a_bar_redrawn_without_newlines_is_resumed_from_its_last_state(
    tmp_path: Path,
) -> None:
    log = GrowingLog()
    log.data = b"".join(
        b"\r %d/100 [00:01<00:09, 9.5it/s, loss=%d]" % (k, 100 - k) for k in range(1, 60)
    )
    with Store.open(tmp_path / "c.db") as store:
        store.upsert_run(run())
        await LogMetrics(store).scan(run(), log.read, now=1.0)
        saved = store.log_scan("r1")
    assert saved is not None  # only the bar's last state is still to be read
    assert saved["byte_offset"] == log.data.rindex(b"\r") + 1
    log.data += b"".join(
        b"\r %d/100 [00:02<00:08, 9.5it/s, loss=%d]" % (k, 100 - k) for k in range(60, 101)
    )
    log.data += b"\ndone\n"
    log.ended = True
    with Store.open(tmp_path / "c.db") as store:  # a new cockpit resumes at that offset
        await LogMetrics(store).scan(run(RunState.SUCCEEDED), log.read, now=2.0)
        assert store.metric_series("r1", "loss") == [(100, 0.0)]
        assert store.metric_series("r1", "it_per_s") == [(100, 9.5)]
        assert json.loads(store.log_scan("r1")["state"])["line"] == 2


@pytest.mark.parametrize("seed", range(4))
async def test_a_growing_log_read_across_restarts_stores_what_a_reading_of_the_whole_gives(
    tmp_path: Path, seed: int
) -> None:
    from tests.unit.logparse_reference import reference_scan
    from tests.unit.test_logparse_fast import generated_log

    final = generated_log(seed, lines=300)
    log = GrowingLog()
    rng = random.Random(seed)
    path = tmp_path / "c.db"
    with Store.open(path) as store:
        store.upsert_run(run())
    while len(log.data) < len(final):
        log.data = final[: len(log.data) + rng.randint(1, 3000)]  # the run writes a bit more
        log.ended = len(log.data) == len(final)
        state = RunState.SUCCEEDED if log.ended else RunState.RUNNING
        with Store.open(path) as store:  # each look a new cockpit: resumes from the store
            await LogMetrics(store).scan(run(state), log.read, now=1.0)
    points, flags = reference_scan(final)
    expected: dict[str, dict[int, float]] = {}
    for step, name, value in points:
        expected.setdefault(name, {})[step] = value  # the store keeps a step's last value
    with Store.open(path) as store:
        for name, by_step in expected.items():
            assert store.metric_series("r1", name) == sorted(by_step.items())
        stored = store.log_flags().get("r1", [])
    assert sorted((f["kind"], f["line"], f["text"]) for f in stored) == sorted(
        (str(f.kind), f.line, f.text) for f in flags
    )


async def test_a_truncated_log_is_parsed_again_from_its_start_and_stored_points_stay(
    store: Store,
) -> None:
    from tests.unit.logparse_reference import reference_scan

    log = GrowingLog()
    store.upsert_run(run())
    metrics = LogMetrics(store)
    log.data = b"".join(b"step %d loss=%d.5\n" % (i, 9 - i) for i in range(1, 6))
    log.data += b"Traceback (most recent call last):\nstep 6 val_acc=0.7 lo"
    first = await metrics.scan(run(), log.read, now=1.0)
    assert first is not None and not first.truncated
    seen = log.data  # what the scanner had when the script reopened its log with 'w'
    log.data = b"resumed from step 4\nstep 4 loss=3.25\nstep 7 loss=1.5\nstep 8 lo"
    again = await metrics.scan(run(), log.read, now=2.0)
    assert again is not None and again.truncated
    saved = store.log_scan("r1")
    assert saved is not None and saved["byte_offset"] == len(log.data) - len(b"step 8 lo")
    log.data += b"ss=1.25\nTraceback (most recent call last):\n"
    log.ended = True
    await metrics.scan(run(RunState.FAILED), log.read, now=3.0)
    # The reference: the whole lines seen before (the one cut short before its newline is
    # gone), then the log as it is now; at a step both gave, the later value.
    expected: dict[str, dict[int, float]] = {}
    for part in (seen[: seen.rindex(b"\n") + 1], log.data):
        for step, name, value in reference_scan(part)[0]:
            expected.setdefault(name, {})[step] = value
    for name, by_step in expected.items():
        assert store.metric_series("r1", name) == sorted(by_step.items())
    assert store.metric_series("r1", "loss") == [
        (1, 8.5),
        (2, 7.5),
        (3, 6.5),
        (4, 3.25),
        (5, 4.5),
        (7, 1.5),
        (8, 1.25),
    ]
    assert store.metric_series("r1", "val_acc") == []  # its line was cut short
    # the traceback before keeps its line (6); the one after is flagged at its line now (5)
    flags = [(f["kind"], f["line"]) for f in store.log_flags()["r1"]]
    assert flags == [("traceback", 5), ("traceback", 6)]


async def test_a_line_of_40_mb_is_read_past_across_passes_and_restarts(tmp_path: Path) -> None:
    """A tensor printed whole: each pass reads 16 MB at most and a restart keeps no bytes,
    so a line held whole until its newline was read again from its start forever."""
    log = GrowingLog()
    log.data = (
        b"step 1 loss=2.5\n"
        + b"loss=9 "
        + b"x" * (40 * 1024 * 1024)
        + b" loss=7\n"
        + b"".join(b"step %d loss=%d\n" % (i, 100 - i) for i in range(2, 50))
        + b"Traceback (most recent call last):\nValueError: boom\n"
    )
    log.ended = True
    passes = 0
    with Store.open(tmp_path / "c.db") as store:
        store.upsert_run(run(RunState.FAILED))
        while passes < 10:
            passes += 1
            # A cockpit started again for each pass: only the store carries on.
            done = await LogMetrics(Store.open(tmp_path / "c.db")).scan(
                run(RunState.FAILED), log.read, now=float(passes)
            )
            if done is None or done.finished:
                break
        assert passes <= 4  # 16 MB a pass
        loss = store.metric_series("r1", "loss")
        # The long line counts by its head: loss=9 at step 1 (the step above it); the
        # loss=7 at its end is not read.
        assert loss[0] == (1, 9.0) and loss[-1] == (49, 51.0) and len(loss) == 49
        flags = [(f["kind"], f["line"]) for f in store.log_flags()["r1"]]
        assert flags == [("traceback", 51)]
