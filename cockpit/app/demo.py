"""What `cockpit demo` adds to the shell: sample data, a replaying runner, a simulated cluster."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from backends.gpu.simulated import A100, H100, SimulatedGpuSource, SimulatedHost
from backends.runners.demo import DemoRunner
from cockpit.demo import DemoCluster, DemoData, DemoGpuKillHandler, sample_runs_dir, seed_demo
from cockpit.models import HostKind, Run
from cockpit.ports import GpuSource, RunBackend
from cockpit.registry import DEMO, CommandRegistry
from cockpit.store import Store

if TYPE_CHECKING:
    from cockpit.runs import RunCommandHandler  # loads after the first frame


@dataclass
class DemoWiring:
    data: DemoData
    runner: DemoRunner
    cluster: DemoCluster = field(default_factory=DemoCluster)
    clock: Callable[[], float] = time.time
    gpu_interval_s: float = 1.0  # how often the simulated hosts are sampled

    @classmethod
    def create(
        cls, duration_s: float = 240.0, clock: Callable[[], float] = time.time
    ) -> DemoWiring:
        data = DemoData(sample_runs_dir())
        runner = DemoRunner(data.runs_dir, duration_s=duration_s, clock=clock)
        return cls(data=data, runner=runner, clock=clock)

    def run_backends(self) -> dict[HostKind, RunBackend]:
        return {HostKind.DEMO: self.runner}

    def register(self, registry: CommandRegistry, store: Store, runs: RunCommandHandler) -> None:
        """Everything simulated answers to the `demo` target."""
        registry.register("run", runs, namespace=DEMO)
        registry.register("gpu", DemoGpuKillHandler(store, runs, self.cluster), namespace=DEMO)

    async def seed(self, store: Store) -> None:
        await asyncio.to_thread(seed_demo, store, self.data, self.clock())

    def gpu_source(self, runs: Callable[[], list[Run]]) -> GpuSource:
        """Two simulated hosts; the demo's running runs and a colleague's jobs keep GPUs busy."""
        return SimulatedGpuSource(
            [SimulatedHost("demo-a", A100), SimulatedHost("demo-b", H100)],
            interval_s=self.gpu_interval_s,
            busy=lambda: self.cluster.busy_gpus(runs()),
            clock=self.clock,
        )
