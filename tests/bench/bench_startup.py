"""Cold start of `cockpit demo` to the first painted frame, against a bare Textual app.

Run by hand: python tests/bench/bench_startup.py [--runs N]
Both are measured in this run, as fresh processes (import time included), and the ratio is
printed; the target is <= 1.5x. Also checks that no heavy library was imported at start-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Both apps report the moment their first frame goes to the driver (App._display with
# something to draw, outside a batch): a private hook, acceptable in a benchmark, and the
# same for both, so the ratio compares like with like.
FIRST_FRAME = """
    _painted = False
    def _display(self, screen, renderable):
        super()._display(screen, renderable)
        if renderable is not None and not self._batch_count and not self._painted:
            self._painted = True
            print(time.time(), flush=True)
            self.call_later(self.exit)
"""

BARE = (
    """
import sys, time
from textual.app import App
from textual.widgets import Footer, Header
class Bare(App):
    def compose(self):
        yield Header()
        yield Footer()
"""
    + FIRST_FRAME
    + """
Bare().run(headless=True, size=(80, 24))
"""
)

COCKPIT = """
import sys, time
from cockpit.app.demo import DemoWiring
from cockpit.app.shell import CockpitApp
from cockpit.store import Store
store = Store.open(sys.argv[1])
class FirstFrame(CockpitApp):
    _painted = False
    def _display(self, screen, renderable):
        super()._display(screen, renderable)
        if renderable is None or self._batch_count:
            return
        if not self._painted:
            self._painted = True
            print(time.time(), flush=True)  # the cockpit's frame
            self.heavy = [m for m in ("litellm", "scipy", "matplotlib") if m in sys.modules]
        elif self.runs_pane.table.row_count:
            print(time.time(), flush=True)  # the frame with the demo's runs in it
            self.call_later(self.exit)
app = FirstFrame(store, demo=DemoWiring.create(), open_triage=False)
app.run(headless=True, size=(80, 24))
if app.heavy:  # statistics may load later, in a worker; never before the first frame
    sys.exit("heavy imports before the first frame: " + ", ".join(app.heavy))
"""


def time_process(code: str, *args: str) -> list[float]:
    """Seconds from spawning the process to each frame it reports (teardown excluded)."""
    # As a user runs it: bytecode cached after the first start (this machine's environment
    # sets PYTHONDONTWRITEBYTECODE, which would recompile the cockpit's modules every time
    # while Textual's come precompiled from its wheel).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.time()
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return [float(line) - start for line in out.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "demo.db")
        time_process(COCKPIT, db)  # seed the demo once; a user's second start is the norm
        time_process(BARE)  # warm the OS file cache for both
        bare, first, filled = [], [], []
        for _ in range(args.runs):  # interleaved so drift hits both alike
            bare.append(time_process(BARE)[0])
            frames = time_process(COCKPIT, db)
            first.append(frames[0])
            filled.append(frames[-1])
    b, c, f = (statistics.median(x) for x in (bare, first, filled))
    print(f"bare Textual app, first frame   : median {b * 1000:7.1f} ms  (n={args.runs})")
    print(f"cockpit demo, first frame       : median {c * 1000:7.1f} ms")
    print(f"cockpit demo, runs table filled : median {f * 1000:7.1f} ms  (for context)")
    print(f"ratio, first frame              : {c / b:.2f}x  (target <= 1.50x)")
    print(f"ratio, filled frame             : {f / b:.2f}x")


if __name__ == "__main__":
    main()
