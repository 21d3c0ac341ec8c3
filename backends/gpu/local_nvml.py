"""GPU telemetry for this machine, through NVML in-process."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from backends.gpu.sampler_client import SampleAssembler, SamplerOptions, load_sampler_module
from cockpit.models import HostSnapshot, HostState


class LocalNvmlSource:
    """GpuSource for this machine: the sampler's NVML code in-process, in a thread.

    The same NvmlSampler class the remote program uses (backends/gpu/nvml_sampler.py), so
    local and remote GPUs are read identically. NVML calls can block (a wedged GPU), so
    they run in a worker thread and the event loop never waits on them.
    """

    def __init__(
        self,
        host_name: str = "localhost",
        options: SamplerOptions | None = None,
        nvml_module: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host_name = host_name
        self.options = options or SamplerOptions()
        self._nvml = nvml_module
        self.clock = clock
        self._closed = asyncio.Event()

    def _open(self) -> Any:
        nv = self._nvml
        if nv is None:
            import pynvml as nv
        module = load_sampler_module()
        return module.NvmlSampler(nv, self.options.process_interval_s, self.options.slow_interval_s)

    async def stream(self) -> AsyncIterator[HostSnapshot]:
        assembler = SampleAssembler(self.host_name, clock=self.clock)
        try:
            sampler = await asyncio.to_thread(self._open)
        except Exception as exc:
            yield HostSnapshot(
                host=self.host_name,
                state=HostState.UNSUPPORTED,
                timestamp=self.clock(),
                source="nvml",
                reason=f"NVML: {exc}",
            )
            return
        try:
            if sampler.count == 0:
                yield HostSnapshot(
                    host=self.host_name,
                    state=HostState.UNSUPPORTED,
                    timestamp=self.clock(),
                    source="nvml",
                    reason="NVML sees no GPU",
                )
                return
            assembler.feed_message(sampler.hello())
            while not self._closed.is_set():
                message = await asyncio.to_thread(sampler.sample)
                event = assembler.feed_message(message)
                if isinstance(event, HostSnapshot):
                    yield event
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), timeout=self.options.interval_s)
        finally:
            await asyncio.to_thread(sampler.close)

    async def close(self) -> None:
        self._closed.set()
