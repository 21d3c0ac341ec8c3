"""Cold start of `cockpit demo` to the first painted frame, against a bare Textual app.

Run by hand: python tests/bench/bench_startup.py [--runs N]
Both are measured in this run, as fresh processes (import time included), and the ratio is
printed; the target is <= 1.5x. Also checks that no heavy library was imported at start-up.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BARE = """
import sys, time
from textual.app import App
from textual.widgets import Footer, Header
class Bare(App):
    def compose(self):
        yield Header()
        yield Footer()
    def on_mount(self):
        self.call_after_refresh(self.first_frame)
    def first_frame(self):
        print(time.time(), flush=True)
        self.exit()
Bare().run(headless=True, size=(80, 24))
"""

COCKPIT = """
import sys, time
from cockpit.app import CockpitApp, DemoWiring
from cockpit.store import Store
store = Store.open(sys.argv[1])
class FirstFrame(CockpitApp):
    def on_mount(self):
        super().on_mount()
        self.call_after_refresh(self.first_frame)
    def first_frame(self):
        print(time.time(), flush=True)
        self.exit()
FirstFrame(store, demo=DemoWiring.create()).run(headless=True, size=(80, 24))
heavy = [m for m in ("litellm", "scipy", "matplotlib") if m in sys.modules]
if heavy:
    sys.exit("heavy imports at start-up: " + ", ".join(heavy))
"""


def time_process(code: str, *args: str) -> float:
    """Seconds from spawning the process to its first painted frame (teardown excluded)."""
    start = time.time()
    out = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return float(out.stdout.strip().splitlines()[-1]) - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "demo.db")
        time_process(COCKPIT, db)  # seed the demo once; a user's second start is the norm
        time_process(BARE)  # warm the OS file cache for both
        bare, cockpit = [], []
        for _ in range(args.runs):  # interleaved so drift hits both alike
            bare.append(time_process(BARE))
            cockpit.append(time_process(COCKPIT, db))
    b, c = statistics.median(bare), statistics.median(cockpit)
    print(f"bare Textual app : median {b * 1000:7.1f} ms  (n={args.runs})")
    print(f"cockpit demo     : median {c * 1000:7.1f} ms  (n={args.runs})")
    print(f"ratio            : {c / b:.2f}x  (target <= 1.50x)")


if __name__ == "__main__":
    main()
