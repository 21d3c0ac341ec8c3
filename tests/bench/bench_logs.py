"""Huge logs, by hand: metric extraction against `grep -c`, and opening a 10M-line log.

    python tests/bench/bench_logs.py [--gb 1.0] [--lines 10000000] [--open-only]

1. Metric extraction (cockpit.logparse) over a generated training log of about --gb GB,
   fed in the chunks the cockpit reads a log in, every (step, name, value) point taken out of
   the results, against `grep -c loss` on the same file in the same run (target: at least
   1/5 of grep's throughput). `loss` is on 4 lines in 5, the metric lines; in the C locale
   grep finds a regex for metric lines (`[A-Za-z_]+[=:]? *[-+]?[0-9.]+`) as fast. Wall
   and CPU seconds are both shown: on a shared machine the CPU ratio is the steadier.
2. A --lines log opened in a fresh process: time to show its last screen and the peak RSS
   (targets: under 1 s, under 200 MB), then the full index build, with its time and RSS.
3. The same log opened through the Runs pane's own code path (the app headless at 80x24,
   a local run whose out.log it is): from moving the cursor onto the run to its last line
   on screen, to the index complete, and a jump to the start and back to the end (G), with
   the process's peak RSS; against `tail -n 24` and `wc -l` on the same file in the same
   run (the baselines).
The files go to a temporary folder and are deleted afterwards.
"""

from __future__ import annotations

import argparse
import collections
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cockpit.log_metrics import SCAN_CHUNK_BYTES  # noqa: E402
from cockpit.logparse import LogScanner  # noqa: E402


def training_log(path: Path, target_bytes: int) -> int:
    """A log mixing the shapes real scripts print, written in big blocks."""
    rng = random.Random(0)
    shapes = [
        "step {i} | loss={loss:.4f} lr={lr:.2e} grad_norm={g:.3f} tok/s {t}",
        "{{'loss': {loss:.4f}, 'grad_norm': {g:.3f}, 'learning_rate': {lr:.2e}, 'epoch': {e:.2f}}}",
        "Epoch {e:.0f}:  45%|████▌     | {i}/100000 [01:10<01:12, 44.{t}it/s, "
        "train_loss={loss:.3f}]",
        "2024-05-01 10:00:00,000 - INFO - iter {i}: loss {loss:.4f}, time 101.23ms, mfu 38.12%",
        "saving checkpoint to /scratch/ckpt/step_{i}.pt",
    ]
    written, i = 0, 0
    with path.open("w") as fh:
        while written < target_bytes:
            block = []
            for _ in range(10_000):
                i += 1
                block.append(
                    rng.choice(shapes).format(
                        i=i,
                        loss=2.0 / (1 + i / 5e4),
                        lr=3e-4,
                        g=rng.random(),
                        t=rng.randint(10, 99),
                        e=i / 1e5,
                    )
                )
            text = "\n".join(block) + "\n"
            fh.write(text)
            written += len(text.encode())
    return written


def extract(path: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds to take every point out of the log, and how many there were."""
    scanner, points = LogScanner(), 0
    start, cpu = time.perf_counter(), time.process_time()
    with path.open("rb") as fh:
        while data := fh.read(SCAN_CHUNK_BYTES):
            result = scanner.feed(data)
            collections.deque(result.points(), maxlen=0)  # every (step, name, value) tuple
            points += result.point_count()
    return time.perf_counter() - start, time.process_time() - cpu, points


def grep_count(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of `grep -c loss`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(["grep", "-c", "loss", str(path)], check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu


OPEN_TAIL = """
import resource, sys, time
start = time.perf_counter()
from backends.runners.log_readers import FileReader
from cockpit.log_index import LogIndex, read_tail
reader = FileReader(__import__("pathlib").Path(sys.argv[1]))
lines = read_tail(reader, 24)
shown = time.perf_counter() - start
rss_shown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
index = LogIndex(reader)
index.build()
built = time.perf_counter() - start
last = index.read_lines(index.line_count - 24, 24)
assert last == lines, "the index and the tail disagree"
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{shown:.3f} {rss_shown:.0f} {built:.3f} {rss:.0f} {index.line_count}")
"""


IN_PANE = """
import asyncio, resource, sys, time
from cockpit.app.shell import CockpitApp
from cockpit.store import Store
from widgets.run_log import LogLines

db, name, last, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def until(check) -> float:
    start = time.perf_counter()
    while not check():
        await asyncio.sleep(0.002)
    return time.perf_counter() - start


async def main() -> None:
    store = Store.open(db)
    app = CockpitApp(store, open_triage=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.loaded.wait()
        await pilot.press("3")
        pane, log = app.runs_pane, app.query_one("#run-log", LogLines)
        await until(lambda: pane.table.row_count == 2)
        rows = [str(k.value) for k in pane.table.rows]
        other = rows[1 - rows.index(name)]
        pane.table.move_cursor(row=rows.index(other))
        await until(lambda: log.run_id == other and log.line_count > 0)
        start_rss = rss()
        start = time.perf_counter()
        pane.table.move_cursor(row=rows.index(name))
        await until(lambda: log.run_id == name and log.visible_text()[-1:] == [last])
        shown, rss_shown = time.perf_counter() - start, rss()
        await until(lambda: log.complete and log.line_count == count)
        indexed = time.perf_counter() - start
        await pilot.press("g")
        await until(lambda: log.visible_text()[:1] == ["0 step=0 loss=0.5 ok"])
        start = time.perf_counter()
        await pilot.press("G")
        await until(lambda: log.visible_text()[-1:] == [last])
        jump = time.perf_counter() - start
        print(f"{shown:.3f} {rss_shown:.0f} {indexed:.3f} {jump:.3f} {rss():.0f} {start_rss:.0f}")


asyncio.run(main())
"""


def pane_open(big: Path, lines: int, tmp: Path) -> list[str]:
    """The log as the Runs pane opens it, in a fresh process with its own data dir."""
    import os

    env = {**os.environ, "XDG_DATA_HOME": str(tmp / "data")}
    os.environ["XDG_DATA_HOME"] = env["XDG_DATA_HOME"]
    from backends.runners.local import local_root
    from cockpit.models import Host, HostKind, Run, RunSpec, RunState
    from cockpit.paths import data_dir
    from cockpit.store import Store

    db = tmp / "bench.db"
    with Store.open(db) as store:
        store.add_host(Host(name="me", kind=HostKind.LOCAL, address="localhost"))
        for name, at in (("huge", 1000.0), ("small", 2000.0)):
            spec = RunSpec(name=name, command="true", host="me", gpus=0)
            run = Run(name, spec, RunState.SUCCEEDED, "me", exit_code=0, started_at=at)
            run.ended_at = at + 1
            store.upsert_run(run)
            folder = Path(local_root(data_dir())) / "runs" / name
            folder.mkdir(parents=True)
            if name == "huge":
                os.link(big, folder / "out.log")
            else:
                (folder / "out.log").write_text("hello\n")
    last = f"{lines - 1} step={lines - 1} loss=0.5 ok"
    return subprocess.run(
        [sys.executable, "-c", IN_PANE, str(db), "huge", last, str(lines)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


def baseline(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=1.0)
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--open-only", action="store_true", help="skip 1. (metric extraction)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.open_only:
            extraction(Path(tmp), args.gb)
        opening(Path(tmp), args.lines)


def extraction(tmp: Path, gb: float) -> None:
    log = Path(tmp) / "train.log"
    size = training_log(log, int(gb * 1e9))
    grep_count(log)  # warm the page cache for both
    runs = [grep_count(log) for _ in range(3)]
    grep_s, grep_cpu = min(w for w, _ in runs), min(c for _, c in runs)
    ours_s, ours_cpu, points = extract(log)
    mb = size / 1e6
    print(f"log                      : {mb:,.0f} MB")
    print(
        f"grep -c loss             : {grep_s:6.2f} s  ({mb / grep_s:,.0f} MB/s), "
        f"CPU {grep_cpu:.2f} s"
    )
    rate = f"{mb / ours_s:,.0f} MB/s, {points:,} points"
    print(f"metric extraction        : {ours_s:6.2f} s  ({rate}), CPU {ours_cpu:.2f} s")
    print(
        f"ratio (ours / grep rate) : {grep_s / ours_s:.3f} wall, "
        f"{grep_cpu / ours_cpu:.3f} CPU  (target >= 0.20)"
    )
    log.unlink()


def opening(tmp: Path, lines: int) -> None:
    big = Path(tmp) / "big.log"
    with big.open("w") as fh:
        for start in range(0, lines, 100_000):
            fh.write("".join(f"{i} step={i} loss=0.5 ok\n" for i in range(start, start + 100_000)))
    out = subprocess.run(
        [sys.executable, "-c", OPEN_TAIL, str(big)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    shown, rss_shown, built, rss, count = out
    print(f"{int(count):,}-line log ({big.stat().st_size / 1e6:,.0f} MB):")
    print(
        f"  last screen shown      : {float(shown):.3f} s, peak RSS {rss_shown} MB"
        "  (targets < 1 s, < 200 MB)"
    )
    print(f"  full index built       : {float(built):.3f} s, peak RSS {rss} MB")

    tail_s = min(baseline(["tail", "-n", "24", str(big)]) for _ in range(3))
    wc_s = min(baseline(["wc", "-l", str(big)]) for _ in range(3))
    shown, rss_shown, indexed, jump, rss, rss_before = pane_open(big, lines, Path(tmp))
    print("through the Runs pane (app headless, 80x24):")
    print(f"  baseline tail -n 24     : {tail_s:.3f} s;  wc -l: {wc_s:.3f} s")
    print(
        f"  last line on screen     : {float(shown):.3f} s"
        f"  ({float(shown) / tail_s:.1f}x tail; target < 1 s)"
    )
    print(
        f"  index complete          : {float(indexed):.3f} s  ({float(indexed) / wc_s:.1f}x wc -l)"
    )
    print(f"  G (start -> end)        : {float(jump):.3f} s")
    print(
        f"  peak RSS                : {rss} MB (app before the log: {rss_before} MB;"
        " target < 200 MB)"
    )


if __name__ == "__main__":
    main()
