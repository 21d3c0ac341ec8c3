"""A simulated GPU cluster for the demo: deterministic, looks like busy research hosts.

A source yields HostSnapshots, one per host per tick; the app batches them before they
reach the pane. Real sources (backends.gpu.local_nvml, backends.gpu.remote) implement the
same GpuSource protocol. No asyncssh here: the demo must start fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from cockpit.models import GpuProcess, GpuSample, HostSnapshot, HostState


@dataclass(frozen=True)
class SimulatedGpu:
    name: str
    memory_total_mib: float
    power_limit_w: float


A100 = SimulatedGpu("NVIDIA A100-SXM4-80GB", 81920.0, 400.0)
H100 = SimulatedGpu("NVIDIA H100 80GB HBM3", 81559.0, 700.0)


@dataclass(frozen=True)
class SimulatedHost:
    name: str
    gpu: SimulatedGpu
    count: int = 4


# Which (host, gpu index) is busy and with what: the demo wires this to its running runs.
BusyMap = Callable[[], dict[tuple[str, int], GpuProcess]]


class SimulatedGpuSource:
    """A deterministic random walk that looks like a busy research cluster.

    GPUs that `busy()` reports as running a process sit at high utilization and memory;
    the rest idle near zero, so the idle-GPU view has something true to show.
    """

    def __init__(
        self,
        hosts: Sequence[SimulatedHost],
        busy: BusyMap | None = None,
        interval_s: float = 1.0,
        seed: int = 7,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._hosts = list(hosts)
        self._busy = busy or (lambda: {})
        self._interval_s = interval_s
        self._rng = random.Random(seed)
        self._clock = clock
        self._util: dict[tuple[str, int], float] = {}
        self._closed = asyncio.Event()

    def sample_once(self) -> list[HostSnapshot]:
        now = self._clock()
        busy = self._busy()
        out: list[HostSnapshot] = []
        for host in self._hosts:
            gpus = []
            for i in range(host.count):
                gpus.append(self._sample_gpu(host, i, now, busy.get((host.name, i))))
            out.append(
                HostSnapshot(
                    host=host.name,
                    state=HostState.LIVE,
                    timestamp=now,
                    gpus=tuple(gpus),
                    driver_version="550.54.15",
                    cuda_version="12.4",
                    source="simulated",
                )
            )
        return out

    def _sample_gpu(
        self, host: SimulatedHost, index: int, now: float, proc: GpuProcess | None
    ) -> GpuSample:
        key = (host.name, index)
        target = 86.0 if proc else 0.0  # below 100 so the walk is rarely clipped flat
        prev = self._util.get(key, target)
        # Mean-reverting walk with a slow wave: data-loader stalls make real curves jagged.
        wave = 6.0 * math.sin(now / 7.0 + index) if proc else 0.0
        util = prev + 0.5 * (target - prev) + self._rng.gauss(0.0, 4.0 if proc else 0.3) + wave
        util = min(100.0, max(0.0, util))
        self._util[key] = util
        gpu = host.gpu
        if proc:
            mem = min(gpu.memory_total_mib, (proc.used_memory_mib or 0.0) + 600.0)
            mem += self._rng.uniform(-200.0, 200.0)
        else:
            mem = 4.0
        power = gpu.power_limit_w * (0.15 + 0.8 * util / 100.0)
        sample = GpuSample(
            host=host.name,
            index=index,
            timestamp=now,
            name=gpu.name,
            uuid=f"GPU-{host.name}-{index:02d}",
            utilization_pct=round(util, 1),
            memory_used_mib=round(max(0.0, mem), 1),
            memory_total_mib=gpu.memory_total_mib,
            temperature_c=round(32.0 + 0.45 * util + self._rng.uniform(-1.0, 1.0), 0),
            power_w=round(power + self._rng.uniform(-5.0, 5.0), 1),
            power_limit_w=gpu.power_limit_w,
            sm_clock_mhz=1980.0 if util > 5 else 210.0,
            fan_pct=None,  # datacenter parts have no fan reading
            pstate="P0" if util > 5 else "P8",
            ecc_volatile_uncorrected=0,
            mig_mode=False,
            processes=(proc,) if proc else (),
        )
        return sample

    async def stream(self) -> AsyncIterator[HostSnapshot]:
        while not self._closed.is_set():
            for snap in self.sample_once():
                yield snap
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), timeout=self._interval_s)

    async def close(self) -> None:
        self._closed.set()
