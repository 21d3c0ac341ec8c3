"""Hostile logs, by hand: one huge line against a log of the same size in short lines.

    python tests/bench/bench_hostile_logs.py [--mb 200]

Two logs of --mb MB each go to a temporary folder: the baseline, short `step N loss=X`
lines, and the hostile one, a first line, then a single line of --mb MB with no newline
before its end, then 200 short lines and a traceback. Each is read three ways, each in a
fresh process, and the wall time and peak RSS are printed with the hostile/baseline ratio:
1. `cockpit logs RUN` into a pseudo-terminal (`script -qc`): cleaned lines (a huge line
   goes out in pieces, never held);
2. `cockpit logs RUN --tail 5` into a pipe (read backwards from the end);
3. the Runs pane's reader: the log's index, its last screen, its first screen (the huge
   line's head) and a search over it all, as the app's worker threads do it.
A held 200 MB line costs 3-4 times its size in RSS (bytes, text, a cleaned copy); the
targets are a peak RSS within 100 MB of the baseline's and a wall time within 3x of it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024

READER = """
import json, re, resource, sys, time
sys.path.insert(0, sys.argv[2])
from backends.runners.log_readers import FileReader
from cockpit.log_index import LogIndex, read_tail
from pathlib import Path
started = time.perf_counter()
reader = FileReader(Path(sys.argv[1]))
tail = read_tail(reader, 200)
index = LogIndex(reader)
index.build()
last = index.read_lines(max(0, index.line_count - 24), 24)
first = index.read_lines(0, 24)
hits = sum(1 for _ in index.search(re.compile("loss=0\\\\.01", re.I)))
print(json.dumps({"s": time.perf_counter() - started, "lines": index.line_count,
    "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "hits": hits}))
"""


def write_logs(folder: Path, size: int) -> tuple[Path, Path]:
    short = folder / "short.log"
    line = b"".join(b"step %d loss=%0.3f\n" % (i, 2.0 / (i + 1)) for i in range(10_000))
    with short.open("wb") as fh:
        for _ in range(max(1, size // len(line))):
            fh.write(line)
    huge = folder / "huge.log"
    with huge.open("wb") as fh:
        fh.write(b"step 1 loss=2.5\n")
        for _ in range(size // MB):
            fh.write(b"x" * MB)
        fh.write(b"\n" + b"".join(b"step %d loss=%0.3f\n" % (i, 2.0 / i) for i in range(2, 200)))
        fh.write(b"Traceback (most recent call last):\nValueError: boom\n")
    return short, huge


def timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of a command, by GNU time."""
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    wall, rss = out.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss) / 1024


def cockpit_run(db: Path, env: dict[str, str], log: Path, name: str) -> str:
    launch = ["run", "--host", "me", "--gpus", "0", "--name", name, "--json"]
    out = subprocess.run(
        [sys.executable, "-m", "cockpit.cli", "--db", str(db), *launch, "--", "cat", str(log)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=ROOT,
    )
    return str(json.loads(out.stdout)[0]["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    if not shutil.which("script") or not Path("/usr/bin/time").exists():
        sys.exit("needs script (util-linux) and GNU time")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {**os.environ, "XDG_DATA_HOME": str(folder / "data")}
        short, huge = write_logs(folder, args.mb * MB)
        db = folder / "c.db"
        cli = [sys.executable, "-m", "cockpit.cli", "--db", str(db)]
        subprocess.run([*cli, "host", "add", "me", "--local"], check=True, env=env, cwd=ROOT)
        ids = {log: cockpit_run(db, env, log, log.stem) for log in (short, huge)}
        while True:  # `cat` of a few hundred MB: until both runs are over
            out = subprocess.run([*cli, "runs", "--json"], capture_output=True, env=env, cwd=ROOT)
            if all(r["state"] == "succeeded" for r in json.loads(out.stdout)):
                break
            time.sleep(0.5)
        os.environ.update(env)
        os.chdir(ROOT)
        results: dict[str, dict[Path, tuple[float, float]]] = {}
        for log, run in ids.items():
            command = " ".join([*cli, "logs", run])  # to script's pseudo-terminal
            results.setdefault("logs to a terminal", {})[log] = timed(
                ["script", "-qc", command, "/dev/null"]
            )
            results.setdefault("logs --tail 5", {})[log] = timed([*cli, "logs", run, "-n", "5"])
            started = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", READER, str(log), str(ROOT)],
                capture_output=True,
                text=True,
                check=True,
            )
            read = json.loads(out.stdout)
            results.setdefault("view: index, screens, search", {})[log] = (
                time.perf_counter() - started,
                read["rss"],
            )
        print(f"{'':32} {'baseline':>18} {'one huge line':>18} {'ratio':>14}")
        for what, by_log in results.items():
            (s_wall, s_rss), (h_wall, h_rss) = by_log[short], by_log[huge]
            print(
                f"{what:32} {s_wall:6.2f} s {s_rss:6.0f} MB {h_wall:6.2f} s {h_rss:6.0f} MB"
                f" {h_wall / s_wall:5.2f}x {h_rss / s_rss:5.2f}x"
            )


if __name__ == "__main__":
    main()
