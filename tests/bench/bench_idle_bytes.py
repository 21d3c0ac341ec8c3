"""Bytes `cockpit demo` writes to a real terminal while a pane shows nothing new.

Run by hand: python tests/bench/bench_idle_bytes.py [--seconds S] [--panes 1456]
Each pane is measured in a fresh process on a real pseudo-terminal at 80x24 (the real
Textual driver, not Pilot): after start-up and a key to show the pane, the bytes written in
S seconds are counted. The demo's run goes on meanwhile, so the GPUs and Runs panes (2, 3)
are the baseline of a pane with something new each second; a static pane must write 0
(over a slow SSH link, 6 KB/s of repainted scrollbar is felt). Timing depends on the machine,
so this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_S = 8.0  # start-up and the demo's seeding, on a loaded 2-core machine
SHOW_S = 3.0  # the pane mounts and fills


def drain(fd: int, seconds: float) -> int:
    """Read what the app writes for `seconds`; return the byte count."""
    count, end = 0, time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                count += len(os.read(fd, 65536))
            except OSError:  # the app has gone
                break
    return count


def idle_bytes(pane_key: str, seconds: float) -> int:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "cockpit.cli.main", "--db", f"{tmp}/c.db", "demo"]
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        try:
            drain(master, START_S)
            os.write(master, b"\x1b")  # closes the morning triage, if it opened
            drain(master, 1.0)
            os.write(master, pane_key.encode())
            drain(master, SHOW_S)
            return drain(master, seconds)
        finally:
            proc.kill()
            proc.wait()
            os.close(master)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--panes", default="123456", help="pane keys to measure")
    args = parser.parse_args()
    for key in args.panes:
        n = idle_bytes(key, args.seconds)
        kind = "changing (baseline)" if key in "23" else "static: must be 0"
        rate = n / args.seconds
        print(f"pane {key}: {n:6d} bytes in {args.seconds:g} s = {rate:7.0f} B/s  {kind}")


if __name__ == "__main__":
    main()
