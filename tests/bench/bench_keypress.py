"""Benchmark: key-to-paint latency in the Runs pane while a log and GPU samples stream in.

Run by hand (pytest does not collect it): python tests/bench/bench_keypress.py [--keys 300]

The cockpit runs in this process on the demo at 80x24 (Textual's headless driver). Two
scenarios are measured in the same run, the same keys in the same order:

- baseline: the demo as it is (GPUs sampled at 1 Hz, the recorded run replayed slowly);
- streaming: the followed run's log grows by 5,000 lines a second (a second process
  appends 100 training-log lines every 20 ms, with metrics the log scan parses too; the
  view reads the file by offset, as for a local or SSH run), and the
  simulated GPUs are sampled 32 times a second (8 GPUs: 256 samples/s).

Keys: cursor moves in the runs table (each switches the log shown, as the cursor does) and
`m` (the metrics chart: the run's, the sweep's, off). A key's latency runs from posting the
key event to the app (as the terminal driver does) to the end of the first frame written
after the key took effect (the cursor moved, the chart toggled). The headless driver does
not turn frames into terminal bytes; here every frame is rendered to its escape sequences
as the real driver would, so that work counts. Target: p99 <= 50 ms with streaming.
Exit status 0 when the target is met.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402

from backends.runners.log_readers import FileReader  # noqa: E402
from cockpit.app.demo import DemoWiring  # noqa: E402
from cockpit.app.shell import CockpitApp  # noqa: E402
from cockpit.models import Run  # noqa: E402
from cockpit.ports import ByteReader, LogChunk  # noqa: E402
from cockpit.store import Store  # noqa: E402

SIZE = (80, 24)
LINES_PER_S = 5000
LINE_BATCH = 100  # lines a write: 50 writes a second
FOLLOW_POLL_S = 0.05
GPU_SAMPLES_PER_S = 256
DEMO_GPUS = 8
TARGET_P99_MS = 50.0
KEY_GAP_S = (0.05, 0.15)  # between keys, as a person types: alternated
WARMUP_S = 3.0
LIVE = "doe-r64-cosine-wd0.2"  # the demo's running run (the last row)
# (key, what it changes): the cursor, or the chart shown.
KEYS = ("up", "down", "up", "down", "m", "up", "down", "m", "up", "down", "m")


# The training script: another process, appending LINE_BATCH lines every 20 ms to out.log.
WRITER = f"""
import sys, time
out = open(sys.argv[1], "ab", buffering=0)
step, interval, next_at = 0, {LINE_BATCH} / {LINES_PER_S}, time.perf_counter()
while True:
    lines = []
    for _ in range({LINE_BATCH}):
        step += 1
        lines.append(
            f"step {{step:>7}}/1000000 | loss {{2.0 / (1 + step / 5e4):.4f}} | lr 1.00e-04 | "
            f"grad_norm {{1.5 + (step % 7) / 10:.2f}} | tok/s {{10000 + step % 500}}\\n"
        )
    out.write("".join(lines).encode())
    next_at += interval
    time.sleep(max(0.0, next_at - time.perf_counter()))
"""


@dataclass
class GrowingLog:
    """The live run's out.log as the training process writes it, read by byte offset."""

    path: Path
    writer: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.path.touch()
        self.writer = subprocess.Popen([sys.executable, "-c", WRITER, str(self.path)])

    def stop(self) -> int:
        if self.writer is not None:
            self.writer.kill()
            self.writer.wait()
        return sum(1 for _ in self.path.open("rb"))

    def read(self, offset: int, max_bytes: int) -> LogChunk:
        with self.path.open("rb") as fh:
            fh.seek(offset)
            part = fh.read(max_bytes)
        return LogChunk(part, offset + len(part), eof=False)

    async def follow(self, offset: int, max_bytes: int) -> AsyncIterator[LogChunk]:
        """As a follower polls a file: what is new, then a short wait when there is none."""
        while True:
            chunk = await asyncio.to_thread(self.read, offset, max_bytes)
            if chunk.data:
                offset = chunk.next_offset
                yield chunk
                continue
            await asyncio.sleep(FOLLOW_POLL_S)


def stream_into(wiring: DemoWiring, log: GrowingLog) -> None:
    """The live run's log is the growing one, for the follower and the metric scan alike."""
    runner = wiring.runner
    read_log, follow = runner.read_log, runner.follow

    async def read_live(run: Run, offset: int, max_bytes: int = 65536) -> LogChunk:
        if run.id == LIVE:
            return await asyncio.to_thread(log.read, offset, max_bytes)
        return await read_log(run, offset, max_bytes)

    def follow_live(run: Run, offset: int, **kwargs: Any) -> AsyncIterator[LogChunk]:
        if run.id == LIVE:
            return log.follow(offset, kwargs.get("max_bytes", 256 * 1024))
        return follow(run, offset, **kwargs)

    async def open_log_reader(run: Run) -> ByteReader:
        # The live run's log is a file the view reads where it looks, as for a local or
        # SSH run; the demo's other runs stream (a reader that cannot size falls back).
        return FileReader(log.path) if run.id == LIVE else Unseekable()

    runner.read_log = read_live  # type: ignore[method-assign]
    runner.follow = follow_live  # type: ignore[method-assign]
    runner.open_log_reader = open_log_reader  # type: ignore[attr-defined]
    wiring.gpu_interval_s = DEMO_GPUS / GPU_SAMPLES_PER_S


class Unseekable:
    """A ByteReader that cannot be used: the view streams that run's log instead."""

    def size(self) -> int:
        raise OSError("not seekable")

    def read_at(self, offset: int, size: int) -> bytes:
        raise OSError("not seekable")

    def close(self) -> None:
        pass


class PaintClock:
    """Times frames: wraps the app's display step (private to Textual: a benchmark's
    probe) and renders each frame to terminal bytes as the real driver would."""

    def __init__(self, app: CockpitApp) -> None:
        self.app = app
        self.frames = 0
        self.frame_s: list[float] = []
        self.armed: Callable[[], bool] | None = None
        self.painted: asyncio.Future[float] | None = None
        display = app._display

        def timed(screen: Any, renderable: Any) -> None:
            start = time.perf_counter()
            display(screen, renderable)
            if renderable is not None and hasattr(renderable, "render_segments"):
                renderable.render_segments(app.console)
            end = time.perf_counter()
            self.frames += 1
            self.frame_s.append(end - start)
            if self.armed is not None and self.armed() and self.painted is not None:
                if not self.painted.done():
                    self.painted.set_result(end)
                self.armed = None

        app._display = timed  # type: ignore[method-assign]

    async def key_to_paint(self, key: str, took_effect: Callable[[], bool]) -> float:
        loop = asyncio.get_running_loop()
        self.painted = loop.create_future()
        self.armed = took_effect
        start = time.perf_counter()
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(self.app)  # exactly as the terminal driver hands a key to the app
        driver = self.app._driver
        assert driver is not None
        driver.send_message(event)
        end = await asyncio.wait_for(self.painted, timeout=10.0)
        return end - start


async def measure(streaming: bool, n_keys: int) -> tuple[list[float], dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "c.db")
        wiring = DemoWiring.create(duration_s=3600.0)
        log = GrowingLog(Path(tmp) / "out.log")
        if streaming:
            stream_into(wiring, log)
        app = CockpitApp(store, demo=wiring, open_triage=False)
        clock = PaintClock(app)
        latencies: list[float] = []
        async with app.run_test(size=SIZE) as pilot:
            await app.loaded.wait()
            await pilot.press("3")
            if streaming:
                log.start()
            await asyncio.sleep(WARMUP_S)
            pane, table = app.runs_pane, app.runs_pane.table
            frames0, t0 = clock.frames, time.perf_counter()
            for i in range(n_keys):
                key = KEYS[i % len(KEYS)]
                if key == "m":
                    before_chart = pane.chart_key

                    def effect(before: object = before_chart) -> bool:
                        return pane.chart_key != before
                else:
                    before_row = table.cursor_row

                    def effect(before: int = before_row) -> bool:
                        return table.cursor_row != before

                try:
                    latencies.append(await clock.key_to_paint(key, effect))
                except TimeoutError:
                    print(f"key {key!r} not painted within 10 s", file=sys.stderr)
                    latencies.append(10.0)
                await asyncio.sleep(KEY_GAP_S[i % 2])
            elapsed = time.perf_counter() - t0
            stats = {
                "fps": (clock.frames - frames0) / elapsed,
                "lines": float(log.stop() if streaming else 0),
                "gpu_samples_per_s": DEMO_GPUS / wiring.gpu_interval_s,
                "frame_p50_ms": 1000 * statistics.median(clock.frame_s),
            }
        store.close()
    return latencies, stats


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(name: str, lat: list[float], stats: dict[str, float]) -> str:
    ms = [1000 * v for v in lat]
    worst = sorted(range(len(ms)), key=ms.__getitem__)[-3:]
    slowest = ", ".join(f"#{i} {KEYS[i % len(KEYS)]} {ms[i]:.0f} ms" for i in reversed(worst))
    return (
        f"{name:<10} slowest keys: {slowest}\n"
        f"{name:<10} keys {len(ms):4d}  p50 {percentile(ms, 50):6.1f} ms  "
        f"p90 {percentile(ms, 90):6.1f}  p99 {percentile(ms, 99):6.1f}  max {max(ms):6.1f}  "
        f"| {stats['fps']:.0f} frames/s, frame p50 {stats['frame_p50_ms']:.1f} ms, "
        f"{stats['gpu_samples_per_s']:.0f} GPU samples/s, {int(stats['lines'])} log lines"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=300)  # p99: the 3rd slowest
    args = parser.parse_args()
    base, base_stats = asyncio.run(measure(False, args.keys))
    print(summary("baseline", base, base_stats))
    busy, busy_stats = asyncio.run(measure(True, args.keys))
    print(summary("streaming", busy, busy_stats))
    p99, p99_base = 1000 * percentile(busy, 99), 1000 * percentile(base, 99)
    ok = p99 <= TARGET_P99_MS
    print(
        f"p99 streaming / baseline = {p99 / p99_base:.2f}x; target p99 <= {TARGET_P99_MS:g} ms: "
        + ("met" if ok else "MISSED")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
