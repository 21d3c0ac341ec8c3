"""SshGpuSource, LocalNvmlSource and kill_gpu_process against a real sshd on loopback.

The "remote" host is this machine: the sampler runs under the test sshd with the stand-in
pynvml on its PYTHONPATH, or the fake nvidia-smi on its PATH.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backends.gpu.kill import kill_gpu_process
from backends.gpu.local_nvml import LocalNvmlSource
from backends.gpu.remote import (
    STREAM_QUIET,
    HostWorker,
    LineSink,
    RemoteTiming,
    SamplerEnded,
    SamplerStream,
    SshGpuSource,
)
from backends.gpu.sampler_client import SAMPLER_MARKER, SamplerOptions
from backends.ssh.connection import SshPool
from backends.ssh.host_keys import fetch_host_key, trust_host_key
from cockpit.models import Host, HostKind, HostSnapshot, HostState
from cockpit.ports import GpuSource
from tests.sshd_server import SshdInstance, make_key, process_name, sshd  # noqa: F401
from tests.unit.test_gpu_sampler import fake_nvml, nvml_scenario

FAKE = Path(__file__).parents[1] / "fake_gpu"
WAIT = 15.0
TIMING = RemoteTiming(
    stale_after_s=0.5, restart_after_s=2.0, startup_timeout_s=10.0, command_timeout_s=10.0
)


def options(
    tmp: Path,
    scenario: dict[str, Any] | None = None,
    *,
    pythonpath: Path = FAKE,
    smi_csv: str | None = None,
    apps: str | None = None,
    python: str = sys.executable,
) -> SamplerOptions:
    env = {"PYTHONPATH": str(pythonpath)}
    path = [str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]
    if smi_csv is not None:
        path.insert(0, str(FAKE / "bin"))
        env["FAKE_SMI_CSV"] = str(FAKE / "smi" / smi_csv)
    if apps is not None:
        (tmp / "apps.csv").write_text(apps)
        env["FAKE_SMI_APPS"] = str(tmp / "apps.csv")
    env["PATH"] = ":".join(path)
    if scenario is not None:
        (tmp / "scenario.json").write_text(json.dumps(scenario))
        env["FAKE_NVML_SCENARIO"] = str(tmp / "scenario.json")
    return SamplerOptions(
        interval_s=0.1,
        process_interval_s=0.3,
        slow_interval_s=1.0,
        heartbeat_s=0.5,
        heartbeat_timeout_s=5.0,
        python=python,
        env=env,
    )


class Watcher:
    """Consumes a GpuSource in the background; tests await conditions on what it saw."""

    def __init__(self, source: GpuSource) -> None:
        self.source = source
        self.seen: list[HostSnapshot] = []
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for snap in self.source.stream():
            async with self._changed:
                self.seen.append(snap)
                self._changed.notify_all()

    async def wait_for(
        self, pred: Callable[[HostSnapshot], bool], after: int = 0, timeout: float = WAIT
    ) -> HostSnapshot:
        """The first snapshot from index `after` on that satisfies pred."""

        def find() -> HostSnapshot | None:
            return next((s for s in self.seen[after:] if pred(s)), None)

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: find() is not None), timeout)
            except TimeoutError:
                states = [(s.host, s.state.value, s.reason) for s in self.seen[-8:]]
                raise AssertionError(f"no matching snapshot; last seen: {states}") from None
            found = find()
            assert found is not None
            return found

    def index(self, snap: HostSnapshot) -> int:
        return next(i for i, s in enumerate(self.seen) if s is snap)

    async def close(self) -> None:
        await self.source.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self._task, WAIT)
        assert self._task.done() and self._task.exception() is None


def live(host: str = "gpu-box") -> Callable[[HostSnapshot], bool]:
    return lambda s: s.host == host and s.state is HostState.LIVE and bool(s.gpus)


def state(st: HostState, host: str = "gpu-box") -> Callable[[HostSnapshot], bool]:
    return lambda s: s.host == host and s.state is st


async def wait_pid_gone(pid: int, timeout: float = WAIT) -> None:
    """Resolves when the process ends (pidfd: an event, not a poll)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except OSError:  # pragma: no cover - kernels before 5.3: poll /proc instead
        deadline = asyncio.get_running_loop().time() + timeout
        while Path(f"/proc/{pid}").exists():
            assert asyncio.get_running_loop().time() < deadline, f"pid {pid} still alive"
            await asyncio.sleep(0.05)
        return
    loop = asyncio.get_running_loop()
    gone = loop.create_future()
    loop.add_reader(fd, lambda: gone.done() or gone.set_result(None))
    try:
        await asyncio.wait_for(gone, timeout)
    finally:
        loop.remove_reader(fd)
        os.close(fd)


# --------------------------------------------------------------------- streaming


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_streams_live_samples_over_ssh(sshd: SshdInstance, tmp_path: Path) -> None:  # noqa: F811
    pool = SshPool(sshd.settings())
    source = SshGpuSource([sshd.host()], pool, options(tmp_path, nvml_scenario()), TIMING)
    assert isinstance(source, GpuSource)
    watch = Watcher(source)
    try:
        snap = await watch.wait_for(lambda s: live()(s) and bool(s.gpus[0].processes))
        assert watch.seen[0].state is HostState.CONNECTING
        assert (snap.source, snap.driver_version, snap.cuda_version) == (
            "nvml",
            "550.54.15",
            "12.4",
        )
        busy, idle = snap.gpus
        assert busy.utilization_pct in (97.0, 95.0, 98.0) and busy.power_limit_w == 400.0
        assert busy.fan_pct is None and idle.ecc_volatile_uncorrected is None
        (proc,) = busy.processes
        assert proc.pid == os.getpid() and proc.user == getpass.getuser()
        hello = source.sampler_hello("gpu-box")
        assert hello is not None and hello.pid is not None
        assert SAMPLER_MARKER in process_name(hello.pid)  # findable with pgrep -f
        sampler_pid = hello.pid
    finally:
        await watch.close()
        await pool.close()
    await wait_pid_gone(sampler_pid)  # closing the source leaves no sampler behind


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_session_killed_mid_stream_goes_stale_then_live(
    sshd: SshdInstance,  # noqa: F811
    tmp_path: Path,
) -> None:
    pool = SshPool(sshd.settings())
    source = SshGpuSource([sshd.host()], pool, options(tmp_path, nvml_scenario()), TIMING)
    watch = Watcher(source)
    try:
        first = await watch.wait_for(live())
        await watch.wait_for(live(), after=watch.index(first) + 1)
        hello = source.sampler_hello("gpu-box")
        assert hello is not None and hello.pid
        old_pid = hello.pid
        mark = len(watch.seen)
        assert sshd.kill_sessions(only_sshd=True)  # the link drops; the sampler is left

        stale = await watch.wait_for(state(HostState.STALE), after=mark)
        assert stale.gpus and stale.reason  # last data kept, with why
        # The last live sample is the one just before the state changed, not the last one
        # seen when the link was cut: samples already on the wire may still arrive after it.
        before = watch.seen[: watch.index(stale)]
        last_live = [s for s in before if s.host == "gpu-box" and s.state is HostState.LIVE][-1]
        assert stale.timestamp == last_live.timestamp  # so the pane shows the data's age
        back = await watch.wait_for(live(), after=watch.index(stale))
        assert back.gpus[0].name == "NVIDIA A100-SXM4-80GB"
        new = source.sampler_hello("gpu-box")
        assert new is not None and new.pid != old_pid
        assert sshd.log_text().count("Accepted publickey") == 2  # a new connection
        # The orphaned sampler saw its stdin close and exited by itself.
        await wait_pid_gone(old_pid)
    finally:
        await watch.close()
        await pool.close()


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_silent_sampler_goes_stale_and_is_restarted(
    sshd: SshdInstance,  # noqa: F811
    tmp_path: Path,
) -> None:
    pool = SshPool(sshd.settings())
    source = SshGpuSource([sshd.host()], pool, options(tmp_path, nvml_scenario()), TIMING)
    watch = Watcher(source)
    stopped: int | None = None
    try:
        await watch.wait_for(live())
        hello = source.sampler_hello("gpu-box")
        assert hello is not None and hello.pid
        stopped = hello.pid
        mark = len(watch.seen)
        os.kill(stopped, signal.SIGSTOP)  # a wedged sampler (a hung NVML call, say)
        stale = await watch.wait_for(state(HostState.STALE), after=mark)
        assert stale.reason and "no sample" in stale.reason
        await watch.wait_for(live(), after=watch.index(stale))
        new = source.sampler_hello("gpu-box")
        assert new is not None and new.pid != stopped
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGCONT)
            await wait_pid_gone(stopped)  # its channel is gone: it exits once it runs
        await watch.close()
        await pool.close()


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_gpu_falls_off_the_bus_over_ssh(sshd: SshdInstance, tmp_path: Path) -> None:  # noqa: F811
    scenario = nvml_scenario()
    opts = options(tmp_path, scenario)
    pool = SshPool(sshd.settings())
    watch = Watcher(SshGpuSource([sshd.host()], pool, opts, TIMING))
    try:
        first = await watch.wait_for(live())
        scenario["gpus"][1]["lost"] = True
        (tmp_path / "scenario.json").write_text(json.dumps(scenario))
        lost = await watch.wait_for(
            lambda s: s.state is HostState.LIVE and bool(s.reason), after=watch.index(first)
        )
        assert lost.reason is not None and lost.reason.startswith("GPU 1:")
        assert lost.gpus[0].utilization_pct is not None
        assert lost.gpus[1].utilization_pct is None and lost.gpus[1].name is not None
    finally:
        await watch.close()
        await pool.close()


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_malformed_sampler_output_never_crashes(sshd: SshdInstance, tmp_path: Path) -> None:  # noqa: F811
    """A 'python' that prints garbage, truncated JSON and binary between good lines."""
    liar = tmp_path / "liar-python"
    liar.write_text(
        "#!/bin/sh\n"
        'echo \'{"type":"hello","v":1,"source":"nvml","driver":"1.0","count":1}\'\n'
        'echo \'{"type":"sample","gpus":[{"i":0,"util":\'\n'
        "printf '\\377\\376\\000garbage\\n'\n"
        "echo 'null'\n"
        'echo \'{"type":"sample","gpus":[{"i":"zero"}]}\'\n'
        'echo \'{"type":"sample","gpus":[{"i":0,"util":42,"mem_used":1,"mem_total":2}]}\'\n'
        "exec cat >/dev/null\n"
    )
    liar.chmod(0o755)
    pool = SshPool(sshd.settings())
    opts = options(tmp_path, python=str(liar))
    watch = Watcher(SshGpuSource([sshd.host()], pool, opts, TIMING))
    try:
        snap = await watch.wait_for(live())
        assert snap.gpus[0].utilization_pct == 42.0 and snap.driver_version == "1.0"
    finally:
        await watch.close()
        await pool.close()


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_host_states_auth_failed_key_unknown_down(
    sshd: SshdInstance,  # noqa: F811
    tmp_path: Path,
) -> None:
    other = make_key(tmp_path / "wrong-key")
    with_wrong_key = sshd.host("wrong-key", identity_file=str(other))
    down = Host("down", address="127.0.0.1", port=1, user="x")
    good = sshd.host()
    pool = SshPool(sshd.settings())
    opts = options(tmp_path, nvml_scenario())
    watch = Watcher(SshGpuSource([with_wrong_key, down, good], pool, opts, TIMING))
    try:
        failed = await watch.wait_for(state(HostState.AUTH_FAILED, "wrong-key"))
        assert failed.reason and "authentication" in failed.reason
        gone = await watch.wait_for(state(HostState.DOWN, "down"))
        assert gone.reason and "refused" in gone.reason
        await watch.wait_for(live())  # the healthy host is not held up by the others
    finally:
        await watch.close()
        await pool.close()


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_unknown_host_key_until_the_user_accepts(sshd: SshdInstance, tmp_path: Path) -> None:  # noqa: F811
    known = tmp_path / "known_hosts"
    settings = sshd.settings(known_hosts=known)
    pool = SshPool(settings)
    source = SshGpuSource([sshd.host()], pool, options(tmp_path, nvml_scenario()), TIMING)
    watch = Watcher(source)
    try:
        refused = await watch.wait_for(state(HostState.HOST_KEY_UNKNOWN))
        assert refused.reason and "known_hosts" in refused.reason
        info = await fetch_host_key(sshd.host(), settings)
        assert info.fingerprint == sshd.host_key_fingerprint
        trust_host_key(info, known)
        source.retry_now("gpu-box")
        await watch.wait_for(live(), after=watch.index(refused))
    finally:
        await watch.close()
        await pool.close()


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_unsupported_without_nvml_or_nvidia_smi(sshd: SshdInstance, tmp_path: Path) -> None:  # noqa: F811
    pool = SshPool(sshd.settings())
    opts = options(tmp_path, pythonpath=FAKE / "no_pynvml")
    watch = Watcher(SshGpuSource([sshd.host()], pool, opts, TIMING))
    try:
        snap = await watch.wait_for(state(HostState.UNSUPPORTED))
        assert snap.reason and "pynvml" in snap.reason and "nvidia-smi" in snap.reason
    finally:
        await watch.close()
        await pool.close()


# ------------------------------------------------------------------ nvidia-smi path


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_nvidia_smi_fallback_over_ssh(sshd: SshdInstance, tmp_path: Path) -> None:  # noqa: F811
    apps = (
        f"GPU-5a8f1c3e-0b6d-4a1e-9f00-1d2c3b4a5e60, {os.getpid()}, 71000, python\n"
        "GPU-7c9d2e4f-1a2b-4c3d-8e9f-0a1b2c3d4e5f, 4194311, [N/A], /opt/ghost\n"
    )
    opts = options(tmp_path, pythonpath=FAKE / "no_pynvml", smi_csv="a100x2.csv", apps=apps)
    pool = SshPool(sshd.settings())
    source = SshGpuSource([sshd.host()], pool, opts, TIMING)
    watch = Watcher(source)
    try:
        snap = await watch.wait_for(lambda s: live()(s) and bool(s.gpus[0].processes))
        assert (snap.source, snap.driver_version, snap.cuda_version) == (
            "nvidia-smi",
            "550.54.15",
            "12.4",
        )
        busy, idle = snap.gpus
        assert busy.utilization_pct in (97.0, 95.0) and busy.memory_total_mib == 81920.0
        assert busy.fan_pct is None and idle.ecc_volatile_uncorrected is None
        assert busy.mig_mode is False and busy.pstate == "P0"
        (proc,) = busy.processes
        assert proc.pid == os.getpid() and proc.user == getpass.getuser()
        assert proc.used_memory_mib == 71000.0
        (ghost,) = idle.processes  # a pid ps cannot see: listed, owner unknown
        assert ghost.user is None and ghost.command == "/opt/ghost"
        assert ghost.used_memory_mib is None
        # Several ticks arrive from the -lms stream, not just the probe.
        await watch.wait_for(live(), after=watch.index(snap) + 1)
    finally:
        await watch.close()
        await pool.close()


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_nvidia_smi_old_driver_and_lost_gpu(sshd: SshdInstance, tmp_path: Path) -> None:  # noqa: F811
    old = sshd.host("old")
    pool = SshPool(sshd.settings())
    (tmp_path / "old").mkdir()
    # This host has no python3 at all: the sampler cannot start, nvidia-smi still works.
    old_opts = options(tmp_path / "old", smi_csv="old_driver.csv", python="/nonexistent/python3")
    lost_opts = options(tmp_path, pythonpath=FAKE / "no_pynvml", smi_csv="gpu_lost.csv")
    watch_old = Watcher(SshGpuSource([old], pool, old_opts, TIMING))
    watch_lost = Watcher(SshGpuSource([sshd.host()], pool, lost_opts, TIMING))
    try:
        snap = await watch_old.wait_for(live("old"))
        gpu = snap.gpus[0]
        # The full query is refused by this driver; the minimal field set is used instead.
        assert gpu.fan_pct == 27.0 and gpu.ecc_volatile_uncorrected is None
        assert gpu.power_limit_w is None and snap.driver_version == "418.226.00"
        lost = await watch_lost.wait_for(lambda s: live()(s) and bool(s.reason))
        assert lost.reason is not None and "GPU 1: Unable to determine" in lost.reason
        assert lost.gpus[0].utilization_pct == 87.0
    finally:
        await watch_old.close()
        await watch_lost.close()
        await pool.close()


# ------------------------------------------------------- the stream, without SSH


def test_line_sink_splits_lines_across_writes() -> None:
    lines: list[bytes] = []
    closed: list[bool] = []
    sink = LineSink(lines.append, lambda: closed.append(True), pytest.fail)
    with pytest.raises(OSError):  # asyncssh then calls write() directly, not via a pipe
        sink.fileno()
    for chunk in [b'{"a":1}\n', b'{"b"', b":2}\n{", b'"c":3}\n\n{"d":4}\n{"e"', b"", b":5}"]:
        assert sink.write(chunk) == len(chunk)
    assert lines == [b'{"a":1}', b'{"b":2}', b'{"c":3}', b"", b'{"d":4}']
    sink.close()
    sink.close()
    assert lines[-1] == b'{"e":5}' and closed == [True]  # the last line without newline
    sink.write(b"late\n")
    assert lines[-1] == b'{"e":5}'


def test_line_sink_cuts_overlong_lines_and_never_raises() -> None:
    lines: list[bytes] = []
    errors: list[BaseException] = []
    sink = LineSink(lines.append, lambda: None, errors.append, limit=10)
    for chunk in [b"x" * 8, b"y" * 8, b"z" * 50, b"zz\nok\n", b"w" * 30 + b"\nfine\n"]:
        sink.write(chunk)
    assert lines == [b"x" * 8, b"ok", b"w" * 30, b"fine"]  # a cut line: its start, once

    def boom(line: bytes) -> None:
        if line == b"bad":
            raise RuntimeError("a bug in the handler")
        lines.append(line)

    sink = LineSink(boom, lambda: None, errors.append)
    assert sink.write(b"bad\n") == 4  # nothing raises into asyncssh
    sink.write(b"good\n")
    assert lines[-1] == b"good" and isinstance(errors[0], RuntimeError)


class _FakeStdin:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


class _FakeProcess:
    """What SamplerStream uses of an asyncssh process: redirect() and stdin."""

    def __init__(self) -> None:
        self.stdin = _FakeStdin()
        self.stdout: Any = None
        self.stderr: Any = None
        self.exit_status: int | None = None
        self.exit_signal: Any = None

    async def redirect(self, stdout: Any = None, stderr: Any = None) -> None:
        self.stdout, self.stderr = stdout, stderr

    async def wait_closed(self) -> None:
        return None


@pytest.mark.asyncio
async def test_sampler_stream_samples_heartbeats_stale_restart() -> None:
    seen: list[HostSnapshot] = []
    timing = RemoteTiming(stale_after_s=3.0, restart_after_s=15.0)
    opts = SamplerOptions(interval_s=1.0, heartbeat_s=5.0)
    host = Host(name="gpu-box", kind=HostKind.SSH, address="127.0.0.1")
    worker = HostWorker(host, None, opts, timing, seen.append, lambda: 100.0)  # type: ignore[arg-type]
    assert worker.ticker.period == 1.0
    proc = _FakeProcess()
    stream = SamplerStream(worker, proc, worker.assembler.feed_line)  # type: ignore[arg-type]
    await stream.start()
    assert stream in worker.ticker
    t0 = stream.loop.time()
    proc.stdout.write(b'{"type":"hello","v":2,"source":"nvml","driver":"1","count":1,"pid":7}\n')
    assert await stream.wait_started(1.0)
    assert worker.hello is not None and worker.hello.pid == 7
    # One packet, two samples: both are handled where they arrive, in order.
    proc.stdout.write(b'{"type":"s","g":[[0,5,1,2,3,4,null,"P0"]]}\n{"type":"s","g":[[0,6,1')
    proc.stdout.write(b',2,3,4,null,"P0"]]}\n')
    assert [s.gpus[0].utilization_pct for s in seen] == [5.0, 6.0]
    assert all(s.state is HostState.LIVE for s in seen)
    stream.silent_since = t0
    stream.tick(t0 + 1.0)
    assert proc.stdin.written == [] and len(seen) == 2  # fresh: nothing to do
    stream.tick(t0 + 5.0)
    assert proc.stdin.written == [b"hb\n"]
    assert seen[-1].state is HostState.STALE and seen[-1].reason == "no sample for 5 s"
    assert seen[-1].gpus == seen[1].gpus  # the last data, kept
    stream.tick(t0 + 6.0)
    assert proc.stdin.written == [b"hb\n"]  # the next one is due 5 s after the last
    stream.tick(t0 + 15.0)
    assert stream.ended.done() and stream.ended.result() == STREAM_QUIET
    assert stream not in worker.ticker
    stream.stop()


@pytest.mark.asyncio
async def test_cancel_as_the_first_message_arrives_is_not_lost() -> None:
    """close() right after the first sample: the worker must end, not stream on forever."""
    host = Host(name="gpu-box", kind=HostKind.SSH, address="127.0.0.1")
    worker = HostWorker(host, None, SamplerOptions(), RemoteTiming(), lambda s: None, time.time)  # type: ignore[arg-type]
    proc = _FakeProcess()
    stream = SamplerStream(worker, proc, worker.assembler.feed_line)  # type: ignore[arg-type]
    await stream.start()
    waiting = asyncio.create_task(stream.wait_started(10.0))
    await asyncio.sleep(0)
    proc.stdout.write(
        b'{"type":"hello","v":2,"count":1}\n{"type":"s","g":[[0,1,2,3,4,5,6,"P0"]]}\n'
    )
    waiting.cancel()  # in the same loop step as the wake-up
    with pytest.raises(asyncio.CancelledError):
        await waiting
    stream.stop()


@pytest.mark.asyncio
async def test_sampler_stream_unsupported_and_eof() -> None:
    host = Host(name="gpu-box", kind=HostKind.SSH, address="127.0.0.1")
    worker = HostWorker(host, None, SamplerOptions(), RemoteTiming(), lambda s: None, time.time)  # type: ignore[arg-type]
    proc = _FakeProcess()
    stream = SamplerStream(worker, proc, worker.assembler.feed_line)  # type: ignore[arg-type]
    await stream.start()
    proc.stderr.write(b"warning: something\n")
    proc.stdout.write(b'{"type":"unsupported","code":"no-gpu","reason":"NVML sees no GPU"}\n')
    assert not await stream.wait_started(1.0)
    with pytest.raises(SamplerEnded) as ended:
        stream.raise_error()
    assert ended.value.unsupported and ended.value.reason == "NVML sees no GPU"
    assert list(stream.stderr_tail) == ["warning: something"]
    stream.stop()

    proc = _FakeProcess()
    stream = SamplerStream(worker, proc, worker.assembler.feed_line)  # type: ignore[arg-type]
    await stream.start()
    proc.stdout.close()  # EOF before any message
    assert not await stream.wait_started(1.0) and stream.finished
    stream.raise_error()  # an EOF, not an error
    assert stream.ended.result() == "eof"
    stream.stop()


# -------------------------------------------------------------------- local NVML


@pytest.mark.asyncio
async def test_local_nvml_source() -> None:
    nv = fake_nvml(nvml_scenario())
    source = LocalNvmlSource("laptop", SamplerOptions(interval_s=0.05), nvml_module=nv)
    watch = Watcher(source)
    try:
        first = await watch.wait_for(live("laptop"))
        await watch.wait_for(live("laptop"), after=watch.index(first) + 1)
        assert first.source == "nvml" and first.cuda_version == "12.4"
        assert first.gpus[0].processes[0].pid == os.getpid()
    finally:
        await watch.close()
    assert nv.CALLS["nvmlShutdown"] == 1


@pytest.mark.asyncio
async def test_local_nvml_unsupported() -> None:
    for scenario, words in (({"init_error": 9}, "Driver Not Loaded"), ({"gpus": []}, "no GPU")):
        source = LocalNvmlSource("laptop", nvml_module=fake_nvml(scenario))
        snaps = [s async for s in source.stream()]
        assert len(snaps) == 1 and snaps[0].state is HostState.UNSUPPORTED
        assert snaps[0].reason and words in snaps[0].reason


# ------------------------------------------------------------------------ killing


async def _victim(ignore_term: bool) -> asyncio.subprocess.Process:
    """A stand-in GPU job. asyncio reaps it when it dies, so no zombie lingers."""
    code = "import signal, time\n"
    if ignore_term:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    code += "print('ready', flush=True)\ntime.sleep(60)\n"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    # Only signal it once its handler is in place.
    assert await asyncio.wait_for(proc.stdout.readline(), WAIT) == b"ready\n"
    return proc


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_kill_gpu_process_term_then_kill(sshd: SshdInstance) -> None:  # noqa: F811
    pool = SshPool(sshd.settings())
    host = sshd.host()
    polite = await _victim(ignore_term=False)
    stubborn = await _victim(ignore_term=True)
    try:
        result = await kill_gpu_process(pool, host, polite.pid, grace_s=5.0)
        assert (result.outcome, result.ok) == ("terminated", True)
        assert await asyncio.wait_for(polite.wait(), WAIT) == -signal.SIGTERM

        result = await kill_gpu_process(pool, host, stubborn.pid, grace_s=0.3)
        assert result.outcome == "killed"
        assert await asyncio.wait_for(stubborn.wait(), WAIT) == -signal.SIGKILL

        result = await kill_gpu_process(pool, host, polite.pid, grace_s=0.3)
        assert result.outcome == "not-found" and not result.ok
    finally:
        for proc in (polite, stubborn):
            if proc.returncode is None:
                proc.kill()
        await pool.close()


@pytest.mark.asyncio
async def test_kill_refuses_a_reused_pid_and_works_locally() -> None:
    victim = await _victim(ignore_term=False)
    local = Host("laptop", kind=HostKind.LOCAL)
    try:
        wrong = await kill_gpu_process(None, local, victim.pid, 1.0, expected_command="vllm serve")
        assert wrong.outcome == "mismatch" and victim.returncode is None
        right = await kill_gpu_process(
            None, local, victim.pid, 5.0, expected_command=f"{sys.executable} -c"
        )
        assert right.outcome == "terminated"
        await asyncio.wait_for(victim.wait(), WAIT)
    finally:
        if victim.returncode is None:
            victim.kill()
