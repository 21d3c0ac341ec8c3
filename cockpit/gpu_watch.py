"""Watching GPUs, without Textual: the latest snapshot per host, the history, settling.

Snapshots arrive as fast as hosts sample them; a pane is redrawn once per flush with the
latest per host (`GpuWatch`). The store keeps the long view, downsampled to one row per GPU
per minute (`GpuHistoryDownsampler`): 8 GPUs x 1440 minutes is 11,520 rows a day. One-shot
readers (`cockpit gpus`) read a source until every host is settled (`collect_snapshots`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from cockpit.models import HostSnapshot, HostState
from cockpit.ports import GpuSource

BUCKET_S = 60.0

# (host, gpu_index, ts, util, mem_used, mem_total, power, temp), as Store.add_gpu_samples takes
GpuHistoryRow = tuple[
    str, int, float, float | None, float | None, float | None, float | None, float | None
]


@dataclass
class _Bucket:
    start: float
    count: int = 0
    sums: list[float] = field(default_factory=lambda: [0.0] * 5)
    seen: list[int] = field(default_factory=lambda: [0] * 5)

    def add(self, values: tuple[float | None, ...]) -> None:
        self.count += 1
        for i, v in enumerate(values):
            if v is not None:
                self.sums[i] += v
                self.seen[i] += 1

    def means(self) -> list[float | None]:
        return [s / n if n else None for s, n in zip(self.sums, self.seen, strict=True)]


@dataclass
class GpuHistoryDownsampler:
    """Averages live samples into per-minute rows; `drain` hands over finished minutes."""

    bucket_s: float = BUCKET_S
    _buckets: dict[tuple[str, int], _Bucket] = field(default_factory=dict)
    _done: list[GpuHistoryRow] = field(default_factory=list)

    def add(self, snapshots: Iterable[HostSnapshot]) -> None:
        for snap in snapshots:
            if snap.state is not HostState.LIVE:
                continue
            for g in snap.gpus:
                start = g.timestamp - g.timestamp % self.bucket_s
                key = (g.host, g.index)
                bucket = self._buckets.get(key)
                if bucket is not None and bucket.start != start:
                    self._close(key, bucket)
                    bucket = None
                if bucket is None:
                    bucket = self._buckets[key] = _Bucket(start)
                bucket.add(
                    (
                        g.utilization_pct,
                        g.memory_used_mib,
                        g.memory_total_mib,
                        g.power_w,
                        g.temperature_c,
                    )
                )

    def _close(self, key: tuple[str, int], bucket: _Bucket) -> None:
        util, used, total, power, temp = bucket.means()
        self._done.append((key[0], key[1], bucket.start, util, used, total, power, temp))

    def drain(self, now: float | None = None) -> list[GpuHistoryRow]:
        """Finished minutes; with `now`, also minutes no sample will reach any more."""
        if now is not None:
            for key, bucket in list(self._buckets.items()):
                if bucket.start + self.bucket_s <= now:
                    self._close(key, bucket)
                    del self._buckets[key]
        rows, self._done = self._done, []
        return rows


class GpuWatch:
    """Buffers snapshots between flushes (latest per host) and feeds the history."""

    def __init__(self, bucket_s: float = BUCKET_S) -> None:
        self._batch: dict[str, HostSnapshot] = {}
        self.history = GpuHistoryDownsampler(bucket_s)

    def add(self, snapshot: HostSnapshot) -> None:
        self._batch[snapshot.host] = snapshot

    def take(self) -> list[HostSnapshot]:
        """The latest snapshot of every host heard from since the last take."""
        if not self._batch:
            return []
        batch = list(self._batch.values())
        self._batch = {}
        self.history.add(batch)
        return batch


# A host is settled when more waiting will not change what we can say about it.
SETTLED = frozenset(
    {
        HostState.LIVE,
        HostState.DOWN,
        HostState.AUTH_FAILED,
        HostState.HOST_KEY_UNKNOWN,
        HostState.UNSUPPORTED,
    }
)


def _settled(snap: HostSnapshot) -> bool:
    return snap.state in SETTLED and (snap.state is not HostState.LIVE or bool(snap.gpus))


async def collect_snapshots(
    source: GpuSource,
    hosts: Iterable[str],
    timeout_s: float,
    latest: dict[str, HostSnapshot] | None = None,
) -> dict[str, HostSnapshot]:
    """Read the source until every host is settled or `timeout_s` passes.

    `latest` carries state between calls so `--watch` keeps one connection per host.
    """
    wanted = list(hosts)
    latest = {} if latest is None else latest
    fresh: set[str] = set()

    async def consume() -> None:
        async for snap in source.stream():
            latest[snap.host] = snap
            if _settled(snap):
                fresh.add(snap.host)
            if fresh.issuperset(wanted):
                return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(consume(), timeout=timeout_s)
    now = time.time()
    for host in wanted:
        if host not in latest:
            latest[host] = HostSnapshot(
                host, HostState.DOWN, now, reason=f"no answer within {timeout_s:.0f} s"
            )
    return {h: latest[h] for h in wanted}


def snapshot_to_json(snap: HostSnapshot, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    return {
        "host": snap.host,
        "state": str(snap.state),
        "reason": snap.reason,
        "source": snap.source,
        "driver_version": snap.driver_version,
        "cuda_version": snap.cuda_version,
        "timestamp": snap.timestamp,
        "age_s": round(max(0.0, now - snap.timestamp), 3),
        "gpus": [
            {
                **{k: v for k, v in asdict(g).items() if k not in ("host", "processes")},
                "memory_pct": g.memory_pct,
                "idle": g.idle,
                "processes": [asdict(p) for p in g.processes],
            }
            for g in snap.gpus
        ],
    }


def all_reachable(snapshots: Iterable[HostSnapshot]) -> bool:
    """Exit status 1 for scripts and cron when any host could not be read."""
    return all(
        s.state in (HostState.LIVE, HostState.UNSUPPORTED, HostState.STALE) for s in snapshots
    )
