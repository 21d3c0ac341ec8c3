"""GPU telemetry from remote hosts over SSH, and the one source for all configured hosts.

SshGpuSource keeps one sampler per host on the host's pooled SSH connection. Each host
has its own worker task, so one slow or dead server never delays the others. Per host:

  connect -> NVML sampler (python3 -u -c ...) -> else nvidia-smi -lms CSV -> else unsupported

and while it runs: heartbeats to the sampler, STALE when samples stop arriving (the
snapshot keeps the last GPUs and the time of the last sample, so the pane can show its
age), a restart of the sampler when it stays silent, and reconnects with backoff when the
link drops (DOWN with the reason while it cannot reconnect).

Cost per sample matters (every host, every second, in the UI's process), so the steady
state has no per-line task or timeout: asyncssh hands the sampler's output to a
LineSink in the step that decrypted it, the line becomes a HostSnapshot right there, and
that snapshot is the one thing per sample that crosses the event loop (to stream()). One
Ticker per source does staleness, restarts and heartbeats for all hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncssh

from backends.gpu.local_nvml import LocalNvmlSource
from backends.gpu.merged import MergedGpuSource
from backends.gpu.sampler_client import (
    SampleAssembler,
    SamplerHello,
    SamplerOptions,
    SamplerUnsupported,
    sampler_command,
)
from backends.gpu.smi import (
    SMI_FIELDS,
    SMI_FIELDS_MINIMAL,
    SmiBatcher,
    parse_cuda_version,
    parse_smi_processes,
    parse_smi_row,
    smi_driver_version,
    smi_probe_command,
    smi_processes_command,
    smi_stream_command,
)
from backends.ssh.connection import SshConnection, SshError, SshPool, backoff_delay
from cockpit.models import Host, HostKind, HostSnapshot, HostState
from cockpit.ports import GpuSource

log = logging.getLogger(__name__)

# What a host's snapshots are queued as before the consumer takes them; past this the
# oldest are dropped (a stalled pane must not grow memory for hours).
QUEUE_LIMIT = 1000


@dataclass(frozen=True)
class RemoteTiming:
    """When the client gives up on a quiet sampler. Seconds."""

    # No sample for this long: the host is shown STALE.
    stale_after_s: float = 3.0
    # Still nothing: the sampler is restarted (and the link dropped if it fails a probe).
    restart_after_s: float = 15.0
    # Time for a sampler to say hello (python start + NVML init on a busy host).
    startup_timeout_s: float = 30.0
    # A host without GPUs is asked again this often (a driver may get installed).
    unsupported_recheck_s: float = 300.0
    command_timeout_s: float = 20.0


class SamplerEnded(Exception):
    """Why a sampler (or nvidia-smi stream) stopped; HostWorker decides what comes next.

    unsupported: the host cannot be sampled this way (no pynvml, no GPU), so the next way
    is tried, or the host is shown UNSUPPORTED. link_lost: the SSH link went with it.
    """

    def __init__(self, reason: str, *, unsupported: bool = False, link_lost: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.unsupported = unsupported
        self.link_lost = link_lost


class HostWorker:
    """Samples one host for as long as the source runs: connect, sample, recover, repeat.

    Snapshots go to `emit`. A SamplerStream reports to its worker through emit_sample()
    (a sample arrived) and emit_state() (STALE, with the last GPUs kept).
    """

    def __init__(
        self,
        host: Host,
        link: SshConnection,
        options: SamplerOptions,
        timing: RemoteTiming,
        emit: Callable[[HostSnapshot], None],
        clock: Callable[[], float],
        ticker: Ticker | None = None,
    ) -> None:
        self.host = host
        self.link = link
        self.options = options
        self.timing = timing
        self._emit_cb = emit
        self.clock = clock
        self.ticker = ticker or Ticker(options, timing)
        self.assembler = SampleAssembler(host.name, clock=clock)
        self.hello: SamplerHello | None = None
        self.state = HostState.CONNECTING
        self.last_sample_at: float | None = None
        self.restarts = 0
        self._rng = random.Random()
        self._quick_failures = 0
        self._sampled = False

    # -- emitting

    def _emit(self, snap: HostSnapshot) -> None:
        self.state = snap.state
        self._emit_cb(snap)

    def emit_state(self, state: HostState, reason: str | None = None) -> None:
        last = self.assembler.last_snapshot
        if state is HostState.STALE and last is not None and self.last_sample_at is not None:
            # Keep the last GPUs and their time: the age of the data is the point.
            self._emit(
                HostSnapshot(
                    host=self.host.name,
                    state=state,
                    timestamp=self.last_sample_at,
                    gpus=last.gpus,
                    driver_version=last.driver_version,
                    cuda_version=last.cuda_version,
                    source=last.source,
                    reason=reason,
                )
            )
            return
        self._emit(
            HostSnapshot(
                host=self.host.name,
                state=state,
                timestamp=self.clock(),
                driver_version=self.assembler.driver_version,
                cuda_version=self.assembler.cuda_version,
                source=self.assembler.source if self.hello else None,
                reason=reason,
            )
        )

    def emit_sample(self, snap: HostSnapshot) -> None:
        self.last_sample_at = snap.timestamp
        self._quick_failures = 0
        self._sampled = True
        self._emit(snap)

    def _lost_state(self, reason: str) -> None:
        """The link is gone: STALE if we have data to show, else DOWN."""
        if self.last_sample_at is not None:
            self.emit_state(HostState.STALE, reason)
        else:
            self.emit_state(HostState.DOWN, reason)

    # -- the loop

    async def run(self) -> None:
        self.emit_state(HostState.CONNECTING)
        while True:
            try:
                await self.link.connect()
            except SshError as err:
                self.emit_state(err.state, err.reason)
                if not err.retryable:
                    await self.link.wait_retry_requested()
                continue
            self._sampled = False
            try:
                await self._sample_once()
            except SamplerEnded as end:
                if end.unsupported:
                    self.emit_state(HostState.UNSUPPORTED, end.reason)
                    await self._sleep_unless_lost(self.timing.unsupported_recheck_s)
                    continue
                log.info("gpu %s: sampler ended: %s", self.host.name, end.reason)
                self._lost_state(end.reason)
            except SshError as err:
                self._lost_state(err.reason)
            except (OSError, asyncssh.Error) as exc:
                self._lost_state(f"{type(exc).__name__}: {exc}")
            except Exception as exc:
                # A bug here must cost one host a restart, never the whole pane.
                log.exception("gpu %s: sampler worker failed", self.host.name)
                self._lost_state(f"internal error: {type(exc).__name__}: {exc}")
            self.restarts += 1
            if not self._sampled:
                # A sampler that dies before its first sample (python crash, a channel
                # refused, a link that drops right after the handshake) is retried with
                # backoff, not in a tight loop.
                self._quick_failures += 1
                s = self.link.settings
                await asyncio.sleep(
                    backoff_delay(
                        self._quick_failures,
                        s.backoff_initial_s,
                        s.backoff_max_s,
                        s.backoff_jitter,
                        self._rng,
                    )
                )

    async def _sleep_unless_lost(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.link.wait_lost()

    async def _sample_once(self) -> None:
        """Run the best available sampler until it ends; raises SamplerEnded."""
        try:
            await self._run_nvml()
        except SamplerEnded as end:
            if not end.unsupported:
                raise
            nvml_reason = end.reason
        else:  # pragma: no cover - _run_nvml only returns by raising
            return
        try:
            await self._run_smi()
        except SamplerEnded as end:
            if end.unsupported:
                raise SamplerEnded(f"{nvml_reason}; {end.reason}", unsupported=True) from None
            raise

    # -- NVML sampler

    async def _run_nvml(self) -> None:
        command = sampler_command(self.options)
        async with self.link.open_process(command) as proc:
            stream = SamplerStream(self, proc, self.assembler.feed_line)
            try:
                await stream.start()
                if not await stream.wait_started(self.timing.startup_timeout_s):
                    if not stream.finished:
                        raise SamplerEnded("sampler did not start in time")
                    stream.raise_error()  # unsupported, or a bug in our handling
                    # The output ended before any message: say why, from stderr.
                    await stream.wait_closed(2.0)
                    status = proc.exit_status
                    detail = " | ".join(stream.stderr_tail) or f"exit status {status}"
                    if status == 127 or "not found" in detail:
                        raise SamplerEnded(f"{self.options.python}: not found", unsupported=True)
                    raise SamplerEnded(
                        f"sampler failed to start: {detail}", link_lost=not self.link.connected
                    )
                await self._follow(stream)
            finally:
                stream.stop()
                with contextlib.suppress(Exception):
                    proc.stdin.write_eof()

    async def _follow(self, stream: SamplerStream) -> None:
        """Wait until the stream ends (samples are handled as they arrive); raises."""
        outcome = await stream.ended
        if outcome == STREAM_QUIET:
            quiet = stream.quiet_s()
            if not await self.link.probe():
                await self.link.disconnect("link silent")
                raise SamplerEnded("link silent; reconnecting", link_lost=True)
            raise SamplerEnded(f"no sample for {quiet:.0f} s; restarting sampler")
        if not self.link.connected or await stream.closed_without_status():
            # The channel died without an exit status: the link is going; let the
            # transport notice before reconnecting.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self.link.wait_lost()
            raise SamplerEnded(self.link.reason or "connection lost", link_lost=True)
        raise SamplerEnded("sampler exited")

    # -- nvidia-smi fallback

    async def _run_smi(self) -> None:
        fields = SMI_FIELDS
        probe = await self._smi_probe(fields)
        if _invalid_field(probe):
            fields = SMI_FIELDS_MINIMAL
            probe = await self._smi_probe(fields)
        out = probe.stdout
        if probe.exit_status != 0 or not out.strip():
            text = (probe.stderr or out).strip().splitlines()
            detail = text[0] if text else f"exit status {probe.exit_status}"
            if probe.exit_status == 127 or "not found" in detail:
                detail = "nvidia-smi not found"
            raise SamplerEnded(f"nvidia-smi: {detail}", unsupported=True)
        csv_part, _, banner = out.partition("@@cockpit-banner@@")
        rows = [r for r in csv_part.splitlines() if r.strip()]
        assembler = self.assembler
        assembler.source = "nvidia-smi"
        assembler.cuda_version = parse_cuda_version(banner)
        assembler.driver_version = next(
            (v for v in (smi_driver_version(r, fields) for r in rows) if v), None
        )
        self.hello = SamplerHello(
            "nvidia-smi", assembler.driver_version, assembler.cuda_version, len(rows), None
        )
        entries = [e for e in (parse_smi_row(r, fields) for r in rows) if e is not None]
        if not entries:
            raise SamplerEnded("nvidia-smi lists no GPU", unsupported=True)
        batcher = SmiBatcher(fields, expected=len(rows))
        batcher.known = {e["i"] for e in entries}
        assembler.feed_message({"type": "sample", "gpus": entries})
        # Processes before the first snapshot goes out: a one-shot `cockpit gpus` stops at
        # the first one, and a busy GPU must not be listed with no processes.
        await self._smi_processes()
        self.emit_sample(assembler.snapshot())

        def handle(line: bytes) -> object:
            tick = batcher.feed(line.decode("utf-8", "replace"))
            if tick is None:
                return None
            return assembler.feed_message({"type": "sample", "gpus": tick})

        async with self.link.open_process(smi_stream_command(fields, self.options)) as proc:
            stream = SamplerStream(self, proc, handle, started=True)
            procs = asyncio.create_task(self._smi_process_loop())
            try:
                await stream.start()
                await self._follow(stream)
            finally:
                stream.stop()
                procs.cancel()
                with contextlib.suppress(Exception):
                    proc.stdin.write_eof()

    async def _smi_probe(self, fields: Sequence[str]) -> Any:
        return await self.link.run(
            smi_probe_command(fields, self.options), timeout_s=self.timing.command_timeout_s
        )

    async def _smi_processes(self) -> None:
        try:
            result = await self.link.run(
                smi_processes_command(self.options), timeout_s=self.timing.command_timeout_s
            )
        except SshError:
            return
        if result.exit_status == 0:
            self.assembler.set_processes(
                parse_smi_processes(result.stdout, self.assembler.uuid_index())
            )

    async def _smi_process_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.process_interval_s)
            await self._smi_processes()


def _invalid_field(result: Any) -> bool:
    text = f"{result.stdout}\n{result.stderr}"
    return result.exit_status != 0 and "not a valid field" in text


# A line longer than this (no newline in 16 MiB) is dropped as malformed.
MAX_LINE_BYTES = 16 * 1024 * 1024
# What SamplerStream.ended resolves to: the output ended, or it stayed silent too long.
STREAM_EOF = "eof"
STREAM_QUIET = "quiet"


class LineSink:
    """A write-only file for asyncssh's redirect: splits output into lines as it arrives.

    asyncssh calls write() from inside its packet handler, so a sample is parsed and emitted
    in the same event-loop step that received it: no reader task, no queue, no per-line
    timeout. Nothing may raise out of here (asyncssh would drop the whole connection), so
    errors in the callback go to on_error. A line longer than `limit` is cut: its first
    200 bytes are handed on (the parser counts them as malformed), the rest is dropped.
    """

    def __init__(
        self,
        on_line: Callable[[bytes], None],
        on_close: Callable[[], None],
        on_error: Callable[[BaseException], None],
        limit: int = MAX_LINE_BYTES,
    ) -> None:
        self._on_line = on_line
        self._on_close = on_close
        self._on_error = on_error
        self._limit = limit
        self._chunks: list[bytes] = []  # the start of a line whose newline has not come
        self._size = 0
        self._skipping = False  # inside an overlong line: drop up to its newline
        self.closed = False

    def fileno(self) -> int:
        # Not a real file: asyncssh then writes to us directly instead of via a pipe.
        raise io.UnsupportedOperation("not a file descriptor")

    def write(self, data: bytes) -> int:
        size = len(data)
        if self.closed or not size:
            return size
        try:
            end = data.rfind(b"\n")
            if end < 0:
                self._keep(data)
                return size
            start = 0
            if self._chunks or self._skipping:  # the first newline ends an earlier line
                start = data.find(b"\n") + 1
                if self._skipping:
                    self._skipping = False
                else:
                    self._chunks.append(data[: start - 1])
                    line = b"".join(self._chunks)
                    self._chunks, self._size = [], 0
                    self._on_line(line)
            if start == 0 and end == size - 1 and data.find(b"\n") == end:
                self._on_line(data[:end])  # the usual case: exactly one whole line
            elif start <= end:
                for line in data[start:end].split(b"\n"):
                    self._on_line(line)
            if end + 1 < size:
                self._keep(data[end + 1 :])
        except Exception as exc:  # a bug in the handler must not reach asyncssh
            self._on_error(exc)
        return size

    def _keep(self, piece: bytes) -> None:
        if self._skipping:
            return
        self._size += len(piece)
        if self._size > self._limit:
            preview = (self._chunks[0] if self._chunks else piece)[:200]
            self._chunks, self._size = [], 0
            self._skipping = True
            self._on_line(preview)
            return
        self._chunks.append(piece)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        rest = b"".join(self._chunks)
        self._chunks, self._size = [], 0
        try:
            if rest and not self._skipping:
                self._on_line(rest)  # a last line without a newline
        except Exception as exc:
            self._on_error(exc)
        try:
            self._on_close()
        except Exception as exc:  # pragma: no cover - the callbacks only set futures
            self._on_error(exc)


class Ticker:
    """One loop timer for all sampler streams of a source: staleness and heartbeats.

    A timer (or a timed read) per host wakes the event loop once per host every few
    seconds even while samples flow; one sweep per check interval wakes it once for all
    hosts. The period is min(stale_after_s, interval_s, heartbeat_s), so STALE shows within
    one period of stale_after_s, as before, and heartbeats go out every heartbeat_s (late
    by at most one period; the sampler waits heartbeat_timeout_s, 30 s by default).
    """

    def __init__(self, options: SamplerOptions, timing: RemoteTiming) -> None:
        self.period = max(0.01, min(timing.stale_after_s, options.interval_s, options.heartbeat_s))
        self._streams: dict[SamplerStream, None] = {}
        self._handle: asyncio.TimerHandle | None = None

    def add(self, stream: SamplerStream) -> None:
        self._streams[stream] = None
        if self._handle is None:
            self._handle = stream.loop.call_later(self.period, self._tick, stream.loop)

    def __contains__(self, stream: object) -> bool:
        """Whether the ticker still watches this stream."""
        return stream in self._streams

    def discard(self, stream: SamplerStream) -> None:
        self._streams.pop(stream, None)
        if not self._streams and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self._handle = None
        now = loop.time()
        for stream in list(self._streams):
            try:
                stream.tick(now)
            except Exception as exc:  # pragma: no cover - a bug: that host restarts
                stream.fail(exc)
        if self._streams:
            self._handle = loop.call_later(self.period, self._tick, loop)


class SamplerStream:
    """One running sampler (or nvidia-smi -lms) on one channel, handled by callbacks.

    Lines are handled where asyncssh delivers them and HostSnapshots go straight to the
    source's queue, so a sample crosses the event loop once. Staleness, restarts and
    heartbeats run from the shared Ticker. `ended` resolves to STREAM_EOF or STREAM_QUIET,
    or fails with the SamplerEnded (or bug) that stopped the stream.
    """

    def __init__(
        self,
        worker: HostWorker,
        proc: asyncssh.SSHClientProcess[Any],
        handle: Callable[[bytes], object],
        *,
        started: bool = False,
    ) -> None:
        self.worker = worker
        self.proc = proc
        self.handle = handle
        self.loop = asyncio.get_running_loop()
        self.stderr_tail: deque[str] = deque(maxlen=20)
        self.ended: asyncio.Future[str] = self.loop.create_future()
        self._started_fut: asyncio.Future[bool] = self.loop.create_future()
        self._stderr_closed = asyncio.Event()
        self._stdout = LineSink(self._on_line, self._on_eof, self.fail)
        self._stderr = LineSink(self._on_stderr, self._stderr_closed.set, self.fail)
        self._stale_s = worker.timing.stale_after_s
        self._restart_s = worker.timing.restart_after_s
        self._heartbeat_s = worker.options.heartbeat_s
        self._last_heartbeat = self.loop.time()
        self._heartbeats = True
        self.silent_since = self.loop.time()
        self.started = False
        if started:
            self._mark_started()

    @property
    def finished(self) -> bool:
        return self.ended.done()

    async def start(self) -> None:
        # Output that arrived before this is in asyncssh's buffer and is fed to the sinks
        # here (as is an EOF that already came).
        await self.proc.redirect(stdout=self._stdout, stderr=self._stderr)
        self._last_heartbeat = self.loop.time()
        if not self.ended.done():
            self.worker.ticker.add(self)

    async def wait_started(self, timeout: float) -> bool:
        """True once the first message arrived; False at timeout or when the stream ended."""
        if not self.started and not self.ended.done():
            waiter = self.loop.create_future()

            def wake(_: object) -> None:
                if not waiter.done():
                    waiter.set_result(None)

            self._started_fut.add_done_callback(wake)
            self.ended.add_done_callback(wake)
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancel
                # that comes as the waited-for future completes (close() right after the
                # first sample), and the worker would then run on forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await waiter
            finally:
                self._started_fut.remove_done_callback(wake)
                self.ended.remove_done_callback(wake)
        return self.started

    def raise_error(self) -> None:
        """Re-raise what ended the stream, if it was an error."""
        if self.ended.done():
            self.ended.result()

    async def wait_closed(self, timeout: float) -> None:
        """After EOF: let stderr drain (it carries the reason) and the exit status come."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await self._stderr_closed.wait()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout):
                await self.proc.wait_closed()

    async def closed_without_status(self) -> bool:
        """After EOF: True when the remote side vanished rather than exited."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await self.proc.wait_closed()
        return self.proc.exit_status is None and self.proc.exit_signal is None

    def quiet_s(self) -> float:
        return self.loop.time() - self.silent_since

    def stop(self) -> None:
        self._finish(STREAM_EOF)
        if not self.ended.cancelled():
            self.ended.exception()  # seen: no "exception never retrieved" at exit

    def tick(self, now: float) -> None:
        """From the ticker: heartbeat when due; STALE, then restart, when quiet too long."""
        if self.ended.done():
            return
        if self._heartbeats and now - self._last_heartbeat >= self._heartbeat_s:
            self._last_heartbeat = now
            try:
                self.proc.stdin.write(b"hb\n")
            except Exception:  # the channel is going: its EOF ends the stream
                self._heartbeats = False
        if not self.started:
            return  # startup_timeout_s covers a sampler that never says anything
        quiet = now - self.silent_since
        if quiet >= self._restart_s:
            self._finish(STREAM_QUIET)
        elif quiet >= self._stale_s:
            self.worker.emit_state(HostState.STALE, f"no sample for {quiet:.0f} s")

    # -- callbacks (run inside asyncssh's packet handling; never raise)

    def _on_line(self, line: bytes) -> None:
        if self.ended.done():
            return
        event = self.handle(line)
        if event is None:
            return
        if isinstance(event, HostSnapshot):
            self.silent_since = self.loop.time()
            self.worker.emit_sample(event)
            if not self.started:
                self._mark_started()
        elif isinstance(event, SamplerUnsupported):
            self.fail(SamplerEnded(event.reason, unsupported=True))
        elif isinstance(event, SamplerHello) and not self.started:
            self.worker.hello = event
            self._mark_started()

    def _on_stderr(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace").strip()
        if text:
            self.stderr_tail.append(text[:300])

    def _on_eof(self) -> None:
        self._finish(STREAM_EOF)

    def fail(self, exc: BaseException) -> None:
        if not self.ended.done():
            self.ended.set_exception(exc)
        self._done()

    def _finish(self, outcome: str) -> None:
        if not self.ended.done():
            self.ended.set_result(outcome)
        self._done()

    def _done(self) -> None:
        self.worker.ticker.discard(self)
        if not self._started_fut.done():
            self._started_fut.set_result(False)

    def _mark_started(self) -> None:
        self.started = True
        self.silent_since = self.loop.time()
        if not self._started_fut.done():
            self._started_fut.set_result(True)


class SshGpuSource:
    """GpuSource for remote hosts: one sampler per host over a shared SshPool."""

    def __init__(
        self,
        hosts: Sequence[Host],
        pool: SshPool | None = None,
        options: SamplerOptions | None = None,
        timing: RemoteTiming | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hosts = [h for h in hosts if h.kind in (HostKind.SSH, HostKind.SLURM)]
        self._own_pool = pool is None
        self.pool = pool or SshPool()
        self.options = options or SamplerOptions()
        self.timing = timing or RemoteTiming()
        self.clock = clock
        self._queue: asyncio.Queue[HostSnapshot | None] = asyncio.Queue()
        self._workers: dict[str, HostWorker] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = asyncio.Event()
        self._ticker = Ticker(self.options, self.timing)
        self.latest: dict[str, HostSnapshot] = {}

    def _put(self, snap: HostSnapshot) -> None:
        self.latest[snap.host] = snap
        if self._queue.qsize() >= QUEUE_LIMIT:
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
        self._queue.put_nowait(snap)

    def _start(self) -> None:
        if self._tasks:
            return
        for host in self.hosts:
            worker = HostWorker(
                host,
                self.pool.connection(host),
                self.options,
                self.timing,
                self._put,
                self.clock,
                self._ticker,
            )
            self._workers[host.name] = worker
            task = asyncio.create_task(worker.run(), name=f"gpu-sampler-{host.name}")
            task.add_done_callback(self._worker_done)
            self._tasks.append(task)

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # A bug in a worker must show, not silently freeze one host's row.
            log.error("gpu worker crashed", exc_info=task.exception())

    def sampler_hello(self, host_name: str) -> SamplerHello | None:
        """What the running sampler said about itself (source, versions, remote pid)."""
        worker = self._workers.get(host_name)
        return worker.hello if worker else None

    def retry_now(self, host_name: str) -> None:
        """After the user trusted a host key or fixed a key: try that host again now."""
        self.pool.retry_now(host_name)

    async def stream(self) -> AsyncIterator[HostSnapshot]:
        self._start()
        while not self._closed.is_set():
            snap = await self._queue.get()
            if snap is None:  # close() wakes us
                break
            yield snap

    async def close(self) -> None:
        self._closed.set()
        self._queue.put_nowait(None)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._own_pool:
            await self.pool.close()


# ------------------------------------------------------------------- wiring


def gpu_source_for(
    hosts: Sequence[Host],
    pool: SshPool | None = None,
    options: SamplerOptions | None = None,
    timing: RemoteTiming | None = None,
) -> GpuSource | None:
    """One source for all configured hosts: SSH/Slurm over the pool, local via NVML."""
    sources: list[GpuSource] = []
    remote = [h for h in hosts if h.kind in (HostKind.SSH, HostKind.SLURM)]
    if remote:
        sources.append(SshGpuSource(remote, pool=pool, options=options, timing=timing))
    for host in hosts:
        if host.kind is HostKind.LOCAL:
            sources.append(LocalNvmlSource(host.name, options))
    if not sources:
        return None
    return sources[0] if len(sources) == 1 else MergedGpuSource(sources)
