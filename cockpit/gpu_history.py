"""Downsampled GPU history for the store: one row per GPU per minute.

The pane keeps ten minutes at full rate in memory; the store keeps the long view (how busy
were the GPUs overnight) at a rate SQLite shrugs at: 8 GPUs x 1440 minutes is 11,520 rows
a day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cockpit.models import HostSnapshot, HostState

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
