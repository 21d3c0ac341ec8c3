"""When the garbage collector may stop the UI: between keys, not during them.

A full (generation 2) collection walks every object the app holds with the GIL held. At
start-up the cockpit freezes what it built (modules, classes, widgets, CSS: 130-190 ms a
full walk here) out of the collector's walks. What is made later still piles into the
oldest generation, and a full collection of it took 10-30 ms whenever enough survived,
several times a minute while logs and GPU samples stream in: keys pressed meanwhile
waited. Automatic full collections are therefore off while the app runs; one is made on a
timer at most every `every_s`, once no key has come for `idle_s`, or after `longest_s`
whatever the keys. Young generations are collected as ever, and reference counting frees
everything else at once. Frozen objects are still freed by reference counting, but a
cycle among them would never be: every `thorough_s`, at a pause, the frozen objects are
handed back, everything is walked, and what is left is frozen again (cockpit.results
freezes what a matrix build made, too).
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field

NEVER = 2**30  # a generation-2 threshold no count reaches: no automatic full collection


@dataclass
class IdleCollector:
    idle_s: float = 2.0
    every_s: float = 30.0
    longest_s: float = 300.0
    thorough_s: float = 600.0
    last_key: float = field(default_factory=time.monotonic)
    last_full: float = field(default_factory=time.monotonic)
    last_thorough: float = field(default_factory=time.monotonic)
    saved: tuple[int, int, int] | None = None

    def start(self) -> None:
        """Freeze what exists now; full collections only when `tick` says so."""
        gc.freeze()
        self.saved = gc.get_threshold()
        gc.set_threshold(self.saved[0], self.saved[1], NEVER)

    def key_pressed(self, now: float | None = None) -> None:
        self.last_key = time.monotonic() if now is None else now

    def tick(self, now: float | None = None) -> bool:
        """A full collection if the user is idle (or it has waited too long); True if made."""
        now = time.monotonic() if now is None else now
        since = now - self.last_full
        idle = now - self.last_key >= self.idle_s
        if not (idle and since >= self.every_s) and since < self.longest_s:
            return False
        if idle and now - self.last_thorough >= self.thorough_s:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.last_thorough = now
        else:
            gc.collect()
        self.last_full = now
        return True

    def stop(self) -> None:
        """The app is closing: the collector as it was (tests run many apps a process)."""
        if self.saved is not None:
            gc.set_threshold(*self.saved)
            self.saved = None
            gc.unfreeze()
