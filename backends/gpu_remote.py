"""Real GPU telemetry: remote hosts over SSH and the local machine through NVML.

SshGpuSource keeps one sampler per host on the host's pooled SSH connection. Each host
has its own worker task, so one slow or dead server never delays the others. Per host:

  connect -> NVML sampler (python3 -u -c ...) -> else nvidia-smi -lms CSV -> else unsupported

and while it runs: heartbeats to the sampler, STALE when samples stop arriving (the
snapshot keeps the last GPUs and the time of the last sample, so the pane can show its
age), a restart of the sampler when it stays silent, and reconnects with backoff when the
link drops (DOWN with the reason while it cannot reconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shlex
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncssh

from backends.gpu import GpuSource, MergedGpuSource
from backends.gpu_sampler import (
    SMI_FIELDS,
    SMI_FIELDS_MINIMAL,
    SampleAssembler,
    SamplerHello,
    SamplerOptions,
    SamplerUnsupported,
    SmiBatcher,
    load_sampler_module,
    parse_cuda_version,
    parse_smi_processes,
    parse_smi_row,
    sampler_command,
    smi_driver_version,
    smi_probe_command,
    smi_processes_command,
    smi_stream_command,
)
from backends.ssh import SshConnection, SshError, SshPool, backoff_delay
from cockpit.models import Command, Host, HostKind, HostSnapshot, HostState

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


class _SamplerEnded(Exception):
    def __init__(self, reason: str, *, unsupported: bool = False, link_lost: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.unsupported = unsupported
        self.link_lost = link_lost


class _HostWorker:
    def __init__(
        self,
        host: Host,
        link: SshConnection,
        options: SamplerOptions,
        timing: RemoteTiming,
        emit: Callable[[HostSnapshot], None],
        clock: Callable[[], float],
    ) -> None:
        self.host = host
        self.link = link
        self.options = options
        self.timing = timing
        self._emit_cb = emit
        self.clock = clock
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

    def _emit_state(self, state: HostState, reason: str | None = None) -> None:
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

    def _emit_sample(self, snap: HostSnapshot) -> None:
        self.last_sample_at = snap.timestamp
        self._quick_failures = 0
        self._sampled = True
        self._emit(snap)

    def _lost_state(self, reason: str) -> None:
        """The link is gone: STALE if we have data to show, else DOWN."""
        if self.last_sample_at is not None:
            self._emit_state(HostState.STALE, reason)
        else:
            self._emit_state(HostState.DOWN, reason)

    # -- the loop

    async def run(self) -> None:
        self._emit_state(HostState.CONNECTING)
        while True:
            try:
                await self.link.connect()
            except SshError as err:
                self._emit_state(err.state, err.reason)
                if not err.retryable:
                    await self.link.wait_retry_requested()
                continue
            self._sampled = False
            try:
                await self._sample_once()
            except _SamplerEnded as end:
                if end.unsupported:
                    self._emit_state(HostState.UNSUPPORTED, end.reason)
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
            await asyncio.wait_for(self.link.wait_lost(), timeout=seconds)

    async def _sample_once(self) -> None:
        """Run the best available sampler until it ends; raises _SamplerEnded."""
        try:
            await self._run_nvml()
        except _SamplerEnded as end:
            if not end.unsupported:
                raise
            nvml_reason = end.reason
        else:  # pragma: no cover - _run_nvml only returns by raising
            return
        try:
            await self._run_smi()
        except _SamplerEnded as end:
            if end.unsupported:
                raise _SamplerEnded(f"{nvml_reason}; {end.reason}", unsupported=True) from None
            raise

    # -- NVML sampler

    async def _run_nvml(self) -> None:
        command = sampler_command(self.options)
        async with self.link.open_process(command) as proc:
            stderr_tail: deque[str] = deque(maxlen=20)
            lines = _LineReader(proc, stderr_tail)
            heartbeat = asyncio.create_task(self._heartbeat(proc))
            try:
                event = None
                while event is None:
                    first = await lines.get(self.timing.startup_timeout_s)
                    if first is _TIMEOUT:
                        raise _SamplerEnded("sampler did not start in time")
                    if first is None:
                        break
                    assert isinstance(first, str)
                    event = self.assembler.feed_line(first)
                if isinstance(event, SamplerUnsupported):
                    raise _SamplerEnded(event.reason, unsupported=True)
                if isinstance(event, SamplerHello):
                    self.hello = event
                elif isinstance(event, HostSnapshot):  # no hello (old sampler): fine
                    self._emit_sample(event)
                else:
                    await lines.wait_done(2.0)
                    status = proc.exit_status
                    detail = " | ".join(stderr_tail) or f"exit status {status}"
                    if status == 127 or "not found" in detail:
                        raise _SamplerEnded(f"{self.options.python}: not found", unsupported=True)
                    raise _SamplerEnded(
                        f"sampler failed to start: {detail}", link_lost=not self.link.connected
                    )
                await self._consume(lines, lambda line: self.assembler.feed_line(line))
            finally:
                heartbeat.cancel()
                lines.cancel()
                with contextlib.suppress(Exception):
                    proc.stdin.write_eof()

    async def _consume(self, lines: _LineReader, handle: Callable[[str], object]) -> None:
        """Feed lines until the stream ends; handle staleness and silence."""
        t = self.timing
        silent_since = time.monotonic()
        while True:
            line = await lines.get(min(t.stale_after_s, self.options.interval_s))
            if line is _TIMEOUT:
                quiet = time.monotonic() - silent_since
                if quiet >= t.restart_after_s:
                    if not await self.link.probe():
                        await self.link.disconnect("link silent")
                        raise _SamplerEnded("link silent; reconnecting", link_lost=True)
                    raise _SamplerEnded(f"no sample for {quiet:.0f} s; restarting sampler")
                if quiet >= t.stale_after_s:
                    self._emit_state(HostState.STALE, f"no sample for {quiet:.0f} s")
                continue
            if line is None:
                if not self.link.connected or await lines.closed_without_status():
                    # The channel died without an exit status: the link is going; let
                    # the transport notice before reconnecting.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.link.wait_lost(), timeout=1.0)
                    raise _SamplerEnded(self.link.reason or "connection lost", link_lost=True)
                raise _SamplerEnded("sampler exited")
            assert isinstance(line, str)
            event = handle(line)
            if isinstance(event, HostSnapshot):
                silent_since = time.monotonic()
                self._emit_sample(event)
            elif isinstance(event, SamplerUnsupported):
                raise _SamplerEnded(event.reason, unsupported=True)

    async def _heartbeat(self, proc: asyncssh.SSHClientProcess[Any]) -> None:
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(self.options.heartbeat_s)
                proc.stdin.write(b"hb\n")

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
            raise _SamplerEnded(f"nvidia-smi: {detail}", unsupported=True)
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
            raise _SamplerEnded("nvidia-smi lists no GPU", unsupported=True)
        batcher = SmiBatcher(fields, expected=len(rows))
        batcher.known = {e["i"] for e in entries}
        self._emit_sample(assembler.feed_message({"type": "sample", "gpus": entries}))
        await self._smi_processes()

        async with self.link.open_process(smi_stream_command(fields, self.options)) as proc:
            stderr_tail: deque[str] = deque(maxlen=20)
            lines = _LineReader(proc, stderr_tail)
            heartbeat = asyncio.create_task(self._heartbeat(proc))
            procs = asyncio.create_task(self._smi_process_loop())

            def handle(line: str) -> object:
                tick = batcher.feed(line)
                if tick is None:
                    return None
                return assembler.feed_message({"type": "sample", "gpus": tick})

            try:
                await self._consume(lines, handle)
            finally:
                heartbeat.cancel()
                procs.cancel()
                lines.cancel()
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


_TIMEOUT = object()


class _LineReader:
    """Reads a process's stdout lines into a queue so waits can time out safely.

    (Cancelling asyncssh's readline mid-line could lose the partial line; a reader task
    that never gets cancelled mid-read avoids that.)
    """

    def __init__(self, proc: asyncssh.SSHClientProcess[Any], stderr_tail: deque[str]) -> None:
        self._proc = proc
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._done = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._read(proc)),
            asyncio.create_task(self._read_stderr(proc, stderr_tail)),
        ]

    async def _read(self, proc: asyncssh.SSHClientProcess[Any]) -> None:
        try:
            while True:
                raw = await proc.stdout.readline()
                if not raw:
                    break
                text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
                self._queue.put_nowait(text)
        except (OSError, asyncssh.Error, asyncio.IncompleteReadError):
            pass
        finally:
            self._done.set()
            self._queue.put_nowait(None)

    async def _read_stderr(self, proc: asyncssh.SSHClientProcess[Any], tail: deque[str]) -> None:
        with contextlib.suppress(OSError, asyncssh.Error):
            while True:
                raw = await proc.stderr.readline()
                if not raw:
                    return
                text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
                if text.strip():
                    tail.append(text.strip()[:300])

    async def get(self, timeout: float) -> str | object | None:
        try:
            return await asyncio.wait_for(self._queue.get(), timeout=timeout)
        except TimeoutError:
            return _TIMEOUT

    async def wait_done(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), timeout=timeout)
        # Give stderr a moment to drain after stdout closed: it carries the reason.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._tasks[1]), timeout=1.0)

    async def closed_without_status(self) -> bool:
        """After EOF: True when the remote side vanished rather than exited."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._proc.wait_closed(), timeout=1.0)
        return self._proc.exit_status is None and self._proc.exit_signal is None

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()


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
        self._workers: dict[str, _HostWorker] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = asyncio.Event()
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
            worker = _HostWorker(
                host, self.pool.connection(host), self.options, self.timing, self._put, self.clock
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


class LocalNvmlSource:
    """GpuSource for this machine: the sampler's NVML code in-process, in a thread.

    The same NvmlSampler class the remote program uses, loaded from SAMPLER_SOURCE, so
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


# ------------------------------------------------------------------- killing


@dataclass(frozen=True)
class KillResult:
    pid: int
    outcome: str  # "terminated" | "killed" | "not-found" | "denied" | "mismatch" | "error"
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in ("terminated", "killed")


# TERM, wait up to the grace for the process to go, then KILL. Values arrive as positional
# parameters ($1 pid, $2 grace in tenths of a second, $3 expected command prefix), never
# spliced into the script text. One line, so that csh-family login shells accept it too.
KILL_SCRIPT = "; ".join(
    [
        "pid=$1",
        "tenths=$2",
        "expect=$3",
        # A zombie still answers kill -0; it is gone for our purposes.
        'alive() { kill -0 "$pid" 2>/dev/null'
        " && ! grep -q ') Z' \"/proc/$pid/stat\" 2>/dev/null; }",
        'if ! kill -0 "$pid" 2>/dev/null; then err=$(kill -0 "$pid" 2>&1); case $err in'
        " *ermit*) echo \"denied: $err\"; exit 4;; *) echo 'no such process'; exit 3;; esac; fi",
        'if [ -n "$expect" ]; then args=$(ps -ww -o args= -p "$pid" 2>/dev/null); case $args'
        ' in "$expect"*) ;; *) echo "command is now: $args"; exit 5;; esac; fi',
        'if ! err=$(kill -TERM "$pid" 2>&1); then echo "denied: $err"; exit 4; fi',
        "i=0",
        'while [ "$i" -lt "$tenths" ]; do alive || exit 0; sleep 0.1; i=$((i+1)); done',
        "alive || exit 0",
        'kill -KILL "$pid" 2>/dev/null',
        "i=0",
        'while [ "$i" -lt 50 ]; do alive || exit 2; sleep 0.1; i=$((i+1)); done',
        "echo 'still alive after KILL'",
        "exit 6",
    ]
)
_KILL_OUTCOMES = {0: "terminated", 2: "killed", 3: "not-found", 4: "denied", 5: "mismatch"}


def kill_command(pid: int, grace_s: float, expected_command: str | None = None) -> str:
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 1:
        raise ValueError(f"refusing to signal pid {pid!r}")
    tenths = max(0, round(grace_s * 10))
    args = [str(pid), str(tenths), expected_command or ""]
    return "sh -c " + " ".join(shlex.quote(a) for a in [KILL_SCRIPT, "cockpit-kill", *args])


async def kill_gpu_process(
    pool: SshPool | None,
    host: Host,
    pid: int,
    grace_s: float = 10.0,
    *,
    expected_command: str | None = None,
) -> KillResult:
    """SIGTERM a GPU process, SIGKILL it if it is still there after grace_s.

    expected_command: the command line the pane showed; if the pid now runs something
    else (the process ended and the pid was reused), nothing is signalled.
    """
    command = kill_command(pid, grace_s, expected_command)
    timeout = grace_s + 15.0
    if host.kind is HostKind.LOCAL:
        proc = await asyncio.create_subprocess_shell(
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=timeout)
        except TimeoutError:
            proc.kill()
            return KillResult(pid, "error", "timed out")
        status, detail = proc.returncode, out.decode(errors="replace").strip()
    else:
        if pool is None:
            raise ValueError("an SshPool is needed for a remote host")
        try:
            # wait=False: a person is waiting; a host in backoff fails now, not in a minute.
            result = await pool.connection(host).run(command, timeout_s=timeout, wait=False)
        except SshError as err:
            return KillResult(pid, "error", err.reason)
        status, detail = result.exit_status, (result.stdout + result.stderr).strip()
    outcome = _KILL_OUTCOMES.get(status if status is not None else -1, "error")
    return KillResult(pid, outcome, detail)


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


class GpuKillHandler:
    """The bus backend for `gpu.kill` on real hosts (TERM, then KILL after a grace)."""

    def __init__(self, pool: SshPool, hosts: Sequence[Host]) -> None:
        self.pool = pool
        self.hosts = {h.name: h for h in hosts}

    async def handle(self, command: Command) -> dict[str, Any]:
        if command.kind != "gpu.kill":
            raise ValueError(f"cannot do {command.kind!r} on a host")
        host = self.hosts.get(str(command.payload.get("host")))
        if host is None:
            raise ValueError(f"unknown host {command.payload.get('host')!r}")
        if host.read_only:
            raise PermissionError(f"{host.name} is read-only")
        result = await kill_gpu_process(
            self.pool,
            host,
            int(command.payload["pid"]),
            float(command.payload.get("grace_s", 10.0)),
            expected_command=command.payload.get("command"),
        )
        if not result.ok:
            raise RuntimeError(f"pid {result.pid}: {result.outcome} {result.detail}".strip())
        return {"host": host.name, "pid": result.pid, "outcome": result.outcome}
