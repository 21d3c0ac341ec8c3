"""Full garbage collections wait for a pause in the keys."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from cockpit.app.collector import IdleCollector


@pytest.fixture
def collector() -> Iterator[IdleCollector]:
    before = gc.get_threshold()
    c = IdleCollector(
        idle_s=2.0, every_s=30.0, longest_s=300.0, thorough_s=600.0, last_key=0.0, last_full=0.0
    )
    c.last_thorough = 0.0
    c.start()
    yield c
    c.stop()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


class Cycle:
    def __init__(self) -> None:
        self.me = self


def full_collections() -> int:
    return gc.get_stats()[2]["collections"]


def test_no_full_collection_while_keys_come_and_one_once_they_pause(
    collector: IdleCollector,
) -> None:
    assert gc.get_freeze_count() > 0  # what existed at start is out of the walks
    start = full_collections()
    # What a streaming UI does: objects that live a while, and some cyclic garbage; plenty
    # to set off automatic full collections.
    kept = [[Cycle()] for _ in range(300_000)]
    assert full_collections() == start
    del kept
    collector.key_pressed(now=100.0)
    assert not collector.tick(now=101.0)  # a key a second ago: not now
    assert collector.tick(now=102.5)  # 2.5 s without a key
    assert full_collections() == start + 1
    assert not collector.tick(now=110.0)  # idle still, but one was made 7.5 s ago
    assert collector.tick(now=133.0)
    assert full_collections() == start + 2


def test_a_full_collection_comes_whatever_the_keys_after_the_longest_wait(
    collector: IdleCollector,
) -> None:
    for t in range(0, 300, 1):
        collector.key_pressed(now=float(t))
        assert not collector.tick(now=float(t))
    collector.key_pressed(now=300.0)
    assert collector.tick(now=300.5)


def test_a_cycle_frozen_with_the_rest_is_freed_by_the_thorough_collection_at_a_pause(
    collector: IdleCollector,
) -> None:
    cycle = Cycle()
    gone = weakref.ref(cycle)
    gc.freeze()  # as a results build does: it is frozen with whatever else lives now
    del cycle
    collector.key_pressed(now=500.0)
    assert collector.tick(now=503.0)  # a pause, but a plain collection: frozen stays
    assert gone() is not None
    assert collector.tick(now=603.0)  # 10 minutes since the last thorough one, at a pause
    assert gone() is None
    assert gc.get_freeze_count() > 0  # what lives is frozen again
