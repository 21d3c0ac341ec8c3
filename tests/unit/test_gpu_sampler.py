"""The GPU sampler program and its client-side parsers, without SSH.

NVML is the stand-in module in tests/fake_gpu (no GPU here); nvidia-smi is the fake
script in tests/fake_gpu/bin replaying CSV fixtures in nvidia-smi's format.
"""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import importlib.util
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from backends.gpu.kill import kill_command
from backends.gpu.sampler_client import (
    COMPACT_FIELDS,
    SAMPLER_MARKER,
    SampleAssembler,
    SamplerHello,
    SamplerOptions,
    load_sampler_module,
    sampler_argv,
    sampler_command,
)
from backends.gpu.smi import (
    SMI_FIELDS,
    SMI_FIELDS_MINIMAL,
    SmiBatcher,
    parse_cuda_version,
    parse_smi_processes,
    parse_smi_row,
    smi_stream_command,
)
from cockpit.models import GpuSample, HostSnapshot, HostState

FAKE = Path(__file__).parents[1] / "fake_gpu"
WAIT = 10.0  # upper bound for any single wait; the happy path takes milliseconds


def nvml_scenario() -> dict[str, Any]:
    data = json.loads((FAKE / "nvml_a100x2.json").read_text())
    # A real pid so the sampler's /proc lookup of user and command has something to find.
    data["gpus"][0]["procs"] = [{"pid": os.getpid(), "mem_mib": 71000.0}]
    return data


def fake_nvml(scenario: dict[str, Any]) -> ModuleType:
    """A fresh copy of the stand-in pynvml, configured in-process."""
    spec = importlib.util.spec_from_file_location(f"fake_pynvml_{id(scenario)}", FAKE / "pynvml.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.configure(scenario)
    return module


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_sampler(scenario: dict[str, Any], clock: Clock | None = None) -> tuple[Any, ModuleType]:
    nv = fake_nvml(scenario)
    module = load_sampler_module()
    sampler = module.NvmlSampler(nv, 5.0, 30.0, clock or Clock())
    return sampler, nv


def smi_ticks(name: str) -> tuple[dict[str, str], list[list[str]]]:
    meta: dict[str, str] = {}
    ticks: list[list[str]] = []
    cur: list[str] = []
    for line in (FAKE / "smi" / name).read_text().splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            meta[key.strip()] = value.strip()
        elif not line.strip():
            if cur:
                ticks.append(cur)
            cur = []
        else:
            cur.append(line)
    if cur:
        ticks.append(cur)
    return meta, ticks


# ------------------------------------------------------------------ NVML in-process


def test_nvml_sampler_reads_every_field() -> None:
    sampler, _ = make_sampler(nvml_scenario())
    asm = SampleAssembler("gpu-box")
    hello = asm.feed_message(sampler.hello())
    assert isinstance(hello, SamplerHello)
    assert (hello.source, hello.driver_version, hello.cuda_version, hello.gpu_count) == (
        "nvml",
        "550.54.15",
        "12.4",
        2,
    )
    snap = asm.feed_message(sampler.sample())
    assert isinstance(snap, HostSnapshot)
    assert snap.state is HostState.LIVE and snap.source == "nvml" and snap.reason is None
    busy, idle = snap.gpus
    assert busy.name == "NVIDIA A100-SXM4-80GB"
    assert busy.uuid == "GPU-5a8f1c3e-0b6d-4a1e-9f00-1d2c3b4a5e60"
    assert busy.utilization_pct == 97.0
    assert busy.memory_used_mib == 71234.0 and busy.memory_total_mib == 81920.0
    assert busy.temperature_c == 64.0
    assert busy.power_w == 312.48 and busy.power_limit_w == 400.0
    assert busy.sm_clock_mhz == 1410.0
    assert busy.fan_pct is None  # NotSupported on datacenter parts
    assert busy.pstate == "P0"
    assert busy.ecc_volatile_uncorrected == 0 and idle.ecc_volatile_uncorrected is None
    assert busy.mig_mode is False
    (proc,) = busy.processes
    assert proc.pid == os.getpid()
    assert proc.user == getpass.getuser()
    assert proc.command and "py" in proc.command  # this pytest process
    assert proc.used_memory_mib == 71000.0
    assert idle.processes == () and idle.idle


def test_not_supported_fields_are_not_asked_again() -> None:
    sampler, nv = make_sampler(nvml_scenario())
    first = sampler.sample()
    for _ in range(4):
        later = sampler.sample()
    assert nv.CALLS["nvmlDeviceGetFanSpeed"] == 2  # once per GPU, ever
    assert nv.CALLS["nvmlDeviceGetUtilizationRates"] == 10
    assert first["gpus"][0]["fan"] is None  # reported once as null...
    assert "fan" not in later["gpus"][0]  # ...then no longer sent


def test_slow_and_process_fields_have_their_own_cadence() -> None:
    clock = Clock()
    sampler, nv = make_sampler(nvml_scenario(), clock)
    asm = SampleAssembler("gpu-box")
    keys = []
    for t in (0.0, 1.0, 2.0, 5.0, 6.0, 30.0):
        clock.now = t
        msg = sampler.sample()
        keys.append(set(msg["gpus"][0]))
        snap = asm.feed_message(msg)
        assert isinstance(snap, HostSnapshot)
        assert snap.gpus[0].name == "NVIDIA A100-SXM4-80GB"  # kept between slow reads
        assert len(snap.gpus[0].processes) == 1  # kept between process reads
    assert {"name", "procs", "ecc"} <= keys[0]
    assert not {"name", "procs", "ecc"} & keys[1]
    assert "procs" in keys[3] and "name" not in keys[3]
    assert "name" in keys[5]
    assert nv.CALLS["nvmlDeviceGetName"] == 4  # t=0 and t=30, two GPUs


def test_mig_enabled_gpu_reports_mode_and_processes() -> None:
    scenario = nvml_scenario()
    gpu = scenario["gpus"][0]
    gpu.update(mig=[1, 1], util=None, name="NVIDIA A100-SXM4-40GB")  # no util under MIG
    sampler, _ = make_sampler(scenario)
    asm = SampleAssembler("gpu-box")
    snap = asm.feed_message(sampler.sample())
    assert isinstance(snap, HostSnapshot)
    mig = snap.gpus[0]
    assert mig.mig_mode is True
    assert mig.utilization_pct is None
    assert mig.memory_used_mib == 71234.0
    assert [p.pid for p in mig.processes] == [os.getpid()]


def test_no_processes_anywhere() -> None:
    scenario = nvml_scenario()
    for gpu in scenario["gpus"]:
        gpu["procs"] = []
    sampler, _ = make_sampler(scenario)
    snap = SampleAssembler("gpu-box").feed_message(sampler.sample())
    assert isinstance(snap, HostSnapshot)
    assert all(g.processes == () for g in snap.gpus)


def test_process_memory_not_available_is_none() -> None:
    scenario = nvml_scenario()
    scenario["gpus"][1]["procs"] = [{"pid": os.getpid(), "mem_mib": None}, {"pid": 2**22 + 7}]
    sampler, _ = make_sampler(scenario)
    snap = SampleAssembler("gpu-box").feed_message(sampler.sample())
    assert isinstance(snap, HostSnapshot)
    mine, ghost = snap.gpus[1].processes
    assert mine.used_memory_mib is None and mine.user == getpass.getuser()
    # A pid we cannot see (another container's): no user, no command, still listed.
    assert (ghost.pid, ghost.user, ghost.command) == (2**22 + 7, None, None)


def test_gpu_falls_off_the_bus_mid_stream() -> None:
    scenario = nvml_scenario()
    sampler, nv = make_sampler(scenario)
    asm = SampleAssembler("gpu-box")
    assert isinstance(asm.feed_message(sampler.sample()), HostSnapshot)
    scenario["gpus"][1]["lost"] = True
    nv.configure(scenario)
    nv._state["initialized"] = True  # configure() resets it; the sampler already did init
    msg = sampler.sample()
    assert msg["gpus"][1] == {"i": 1, "lost": "GPU is lost: GPU is lost"}
    snap = asm.feed_message(msg)
    assert isinstance(snap, HostSnapshot)
    assert snap.state is HostState.LIVE
    assert snap.reason and "GPU 1" in snap.reason and "lost" in snap.reason
    good, lost = snap.gpus
    assert good.utilization_pct is not None
    assert lost.name == "NVIDIA A100-SXM4-80GB"  # identity kept, so the pane can say which
    assert lost.utilization_pct is None and lost.memory_used_mib is None
    assert lost.processes == ()
    calls = dict(nv.CALLS)
    sampler.sample()
    # The lost GPU is not queried again; the good one is.
    assert nv.CALLS["nvmlDeviceGetUtilizationRates"] == calls["nvmlDeviceGetUtilizationRates"] + 1


def test_mig_toggle_asks_unsupported_fields_again() -> None:
    scenario = nvml_scenario()
    scenario["gpus"][0].update(mig=[1, 1], util=None)
    clock = Clock()
    sampler, nv = make_sampler(scenario, clock)
    assert sampler.sample()["gpus"][0]["util"] is None
    scenario["gpus"][0].update(mig=[0, 0], util=55)
    nv.configure(scenario)
    nv._state["initialized"] = True
    clock.now = 31.0  # next slow read sees MIG off
    sampler.sample()
    clock.now = 32.0
    assert sampler.sample()["gpus"][0]["util"] == 55


# ------------------------------------------------------------- the program, spawned


def _env(scenario_path: Path | None = None, pythonpath: Path = FAKE) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FAKE_NVML_SCENARIO")}
    env["PYTHONPATH"] = str(pythonpath)
    if scenario_path is not None:
        env["FAKE_NVML_SCENARIO"] = str(scenario_path)
    return env


async def _spawn(argv: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def _line(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    assert proc.stdout is not None
    raw = await asyncio.wait_for(proc.stdout.readline(), WAIT)
    assert raw, "sampler ended early"
    return json.loads(raw)


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "scenario dir with 'quotes'" / "nvml.json"
    path.parent.mkdir()
    path.write_text(json.dumps(nvml_scenario()))
    return path


@pytest.mark.asyncio
async def test_sampler_streams_and_exits_when_stdin_closes(scenario_file: Path) -> None:
    opts = SamplerOptions(interval_s=0.05, heartbeat_timeout_s=30.0)
    proc = await _spawn(sampler_argv(opts, sys.executable), _env(scenario_file))
    try:
        hello = await _line(proc)
        assert hello["type"] == "hello" and hello["pid"] == proc.pid
        asm = SampleAssembler("local")
        asm.feed_message(hello)
        for _ in range(3):
            snap = asm.feed_message(await _line(proc))
            assert isinstance(snap, HostSnapshot) and len(snap.gpus) == 2
        assert proc.stdin is not None
        proc.stdin.close()  # the SSH channel closing looks like this to the sampler
        assert await asyncio.wait_for(proc.wait(), WAIT) == 0
    finally:
        if proc.returncode is None:
            proc.kill()


@pytest.mark.asyncio
async def test_sampler_exits_when_heartbeats_stop(scenario_file: Path) -> None:
    opts = SamplerOptions(interval_s=0.05, heartbeat_timeout_s=0.6)
    proc = await _spawn(sampler_argv(opts, sys.executable), _env(scenario_file))
    try:
        assert (await _line(proc))["type"] == "hello"
        assert proc.stdin is not None
        # Heartbeats for twice the timeout keep it alive...
        for _ in range(6):
            proc.stdin.write(b"hb\n")
            await proc.stdin.drain()
            await asyncio.sleep(0.2)
        assert proc.returncode is None
        # ...then silence with stdin still open (a dead link) ends it.
        assert await asyncio.wait_for(proc.wait(), WAIT) == 0
    finally:
        if proc.returncode is None:
            proc.kill()


@pytest.mark.asyncio
async def test_sampler_command_survives_the_shell(scenario_file: Path, tmp_path: Path) -> None:
    """The exact remote command line, env quoting included, run by /bin/sh."""
    opts = SamplerOptions(
        interval_s=0.05,
        python=sys.executable,
        env={"PYTHONPATH": str(FAKE), "FAKE_NVML_SCENARIO": str(scenario_file)},
    )
    command = sampler_command(opts)
    assert SAMPLER_MARKER in shlex.split(command)
    assert "\n" not in command  # one line: csh/tcsh login shells cannot take more
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FAKE_NVML_SCENARIO")}
    proc = await asyncio.create_subprocess_shell(
        command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        hello = await _line(proc)
        assert hello["type"] == "hello" and hello["count"] == 2  # the scenario was found
        assert proc.stdin is not None
        proc.stdin.close()
        assert await asyncio.wait_for(proc.wait(), WAIT) == 0
    finally:
        if proc.returncode is None:
            proc.kill()


@pytest.mark.asyncio
async def test_sampler_without_pynvml_says_unsupported() -> None:
    opts = SamplerOptions(heartbeat_timeout_s=5.0)
    proc = await _spawn(sampler_argv(opts, sys.executable), _env(None, FAKE / "no_pynvml"))
    msg = await _line(proc)
    assert msg["type"] == "unsupported" and msg["code"] == "no-pynvml"
    assert await asyncio.wait_for(proc.wait(), WAIT) == 3


@pytest.mark.asyncio
async def test_sampler_when_nvml_cannot_start(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"init_error": 12, "gpus": []}))
    proc = await _spawn(sampler_argv(SamplerOptions(), sys.executable), _env(path))
    msg = await _line(proc)
    assert msg == {
        "type": "unsupported",
        "code": "no-nvml",
        "reason": "NVML: NVML Shared Library Not Found",
    }
    assert await asyncio.wait_for(proc.wait(), WAIT) == 3


# ------------------------------------------------------------ client-side parsing


GOOD = (
    '{"type":"sample","t":1.0,"gpus":[{"i":0,"util":50,"mem_used":10,"mem_total":100,'
    '"name":"G","procs":[[42,"ann","python train.py",512.5]]}]}'
)
GARBAGE = [
    "",
    "   ",
    "{",
    "}",
    "null",
    "[]",
    '"just a string"',
    "42",
    '{"type":"sample"}',
    '{"type":"sample","gpus":"nope"}',
    '{"type":"sample","gpus":[1,2,null]}',
    '{"type":"sample","gpus":[{"i":-1,"util":5}]}',
    '{"type":"sample","gpus":[{"i":"0","util":5}]}',
    '{"type":"sample","gpus":[{"i":99999999,"util":5}]}',
    '{"type":"sample","gpus":[{"i":0,"util":"high","mem_used":NaN,"temp":Infinity}]}',
    '{"type":"sample","gpus":[{"i":0,"util":true,"ecc":"x","mig":"yes","pstate":{}}]}',
    '{"type":"sample","gpus":[{"i":0,"procs":[[1],[-5,"u","c",1],["x",1,2,3],7]}]}',
    '{"type":"sample","gpus":[{"i":0,"procs":"all of them"}]}',
    '{"type":"hello","count":"many","driver":{"a":1},"pid":"x"}',
    '{"type":"telemetry-from-the-future","x":1}',
    "\udcff\x00binary\x1b[31m",
    "[" * 50_000,
    '{"type":"sample","gpus":[{"i":0,"util":' + "9" * 5000 + "}]}",
]


def test_assembler_never_raises_on_malformed_lines() -> None:
    asm = SampleAssembler("gpu-box")
    lines = [*GARBAGE, *(GOOD[:n] for n in range(len(GOOD)))]  # every truncation of a line
    for line in lines:
        event = asm.feed_line(line)
        assert event is None or isinstance(event, (HostSnapshot, SamplerHello))
    assert asm.malformed >= len(GOOD) - 1
    assert asm.feed_line(b"\xff\xfe\xfd not utf-8") is None
    snap = asm.feed_line(GOOD)
    assert isinstance(snap, HostSnapshot)
    gpu = snap.gpus[0]
    assert (gpu.utilization_pct, gpu.memory_used_mib, gpu.memory_total_mib) == (50.0, 10.0, 100.0)
    assert gpu.processes[0].user == "ann" and gpu.processes[0].used_memory_mib == 512.5


def test_assembler_coerces_bad_values_to_none() -> None:
    asm = SampleAssembler("gpu-box")
    line = '{"type":"sample","gpus":[{"i":0,"util":"high","mem_used":NaN,"ecc":"x","mig":"on"}]}'
    snap = asm.feed_line(line)
    assert isinstance(snap, HostSnapshot)
    g = snap.gpus[0]
    assert (g.utilization_pct, g.memory_used_mib, g.ecc_volatile_uncorrected, g.mig_mode) == (
        None,
        None,
        None,
        None,
    )


def _wire(msg: dict[str, Any]) -> bytes:
    """A message as the sampler writes it (compact form for samples), one line of bytes."""
    module = load_sampler_module()
    if msg.get("type") == "sample":
        msg = module.compact(msg)
    return json.dumps(msg, separators=(",", ":")).encode() + b"\n"


def test_compact_fields_are_the_samplers_fast_fields() -> None:
    assert tuple(load_sampler_module().FAST) == COMPACT_FIELDS


def test_compact_samples_give_the_same_snapshots_as_dict_samples() -> None:
    """Every kind of tick (fast, processes, slow, MIG, a lost GPU) read both ways."""
    scenario = nvml_scenario()
    scenario["gpus"][1]["procs"] = [{"pid": os.getpid(), "mem_mib": None}]
    clock = Clock()
    sampler, nv = make_sampler(scenario, clock)
    as_dicts, as_rows = (
        SampleAssembler("gpu-box", clock=clock),
        SampleAssembler("gpu-box", clock=clock),
    )
    hello = sampler.hello()
    assert as_dicts.feed_message(hello) == as_rows.feed_line(_wire(hello))
    for t in (0.0, 1.0, 2.0, 5.0, 6.0, 30.0, 31.0, 32.0, 36.0):
        clock.now = t
        if t == 31.0:
            scenario["gpus"][1]["lost"] = True
            nv.configure(scenario)
            nv._state["initialized"] = True
        msg = sampler.sample()
        line = _wire(msg)
        assert len(line) < len(json.dumps(msg)) or t in (0.0, 30.0)
        want, got = as_dicts.feed_message(msg), as_rows.feed_line(line)
        assert isinstance(got, HostSnapshot) and got == want, t
    assert got.reason and got.reason.startswith("GPU 1:")
    assert got.gpus[1].name and got.gpus[1].utilization_pct is None
    assert as_rows.malformed == as_dicts.malformed == 0


def test_compact_row_after_fields_stop_being_sent() -> None:
    """A field sent once as null then left out (not supported) stays None."""
    sampler, _ = make_sampler(nvml_scenario())
    asm = SampleAssembler("gpu-box")
    for _ in range(3):
        snap = asm.feed_line(_wire(sampler.sample()))
    assert isinstance(snap, HostSnapshot)
    assert snap.gpus[0].fan_pct is None and snap.gpus[0].utilization_pct is not None


COMPACT_GARBAGE = [
    '{"type":"s"}',
    '{"type":"s","g":"rows"}',
    '{"type":"s","g":[1,null,"x",{}]}',
    '{"type":"s","g":[[],[0],[0,1,2,3],[0,1,2,3,4,5,6,"P0",{},9]]}',
    '{"type":"s","g":[[-1,1,2,3,4,5,6,"P0"],[1024,1,2,3,4,5,6,"P0"],["0",1,2,3,4,5,6,"P0"]]}',
    '{"type":"s","g":[[true,1,2,3,4,5,6,"P0"],[null,1,2,3,4,5,6,"P0"]]}',
    '{"type":"s","g":[[0,1,2,3,4,5,6,"P0","not a dict"]]}',
    '{"type":"s","g":[[0,"high",NaN,Infinity,-Infinity,true,[],{"p":0}]]}',
    '{"type":"s","g":[[0,1,2,3,4,5,6,"P0",{"procs":"all","ecc":"x","mig":"on","name":[]}]]}',
    '{"type":"s","g":[[0,1,2,3,4,5,6,"P0",{"procs":[[1],[-5,"u","c",1],7,["x",1,2,3]]}]]}',
    '{"type":"s","g":[[0,1,2,3,4,5,6,"P0",{"lost":null}]]}',
    '{"type":"s","g":[[0,' + "9" * 400 + ',2,3,4,5,6,"P0"]]}',
    '{"type":"s","g":[[0,1,2,3,4,5,6,"' + "P" * 5000 + '"]]}',
]


def test_compact_garbage_never_raises() -> None:
    good = _wire({"type": "sample", "gpus": [{"i": 0, "util": 50, "mem_used": 10, "name": "G"}]})
    asm = SampleAssembler("gpu-box")
    lines = [*COMPACT_GARBAGE, *(good[:n] for n in range(len(good)))]
    for line in lines:
        event = asm.feed_line(line)
        assert event is None or isinstance(event, HostSnapshot)
        if isinstance(event, HostSnapshot):
            for g in event.gpus:  # whatever got through is typed right
                for value in (g.utilization_pct, g.memory_used_mib, g.temperature_c, g.power_w):
                    assert value is None or (type(value) is float and math.isfinite(value))
                assert g.pstate is None or (isinstance(g.pstate, str) and len(g.pstate) <= 512)
                assert all(p.pid > 0 for p in g.processes)
    assert asm.malformed >= len(good) - 2
    snap = asm.feed_line(good)
    assert isinstance(snap, HostSnapshot)
    assert (snap.gpus[0].utilization_pct, snap.gpus[0].name) == (50.0, "G")


def test_snapshot_samples_equal_constructed_ones() -> None:
    """Snapshots build GpuSamples without __init__ where that is the same thing."""
    asm = SampleAssembler("gpu-box", clock=lambda: 7.0)
    snap = asm.feed_line(GOOD)
    assert isinstance(snap, HostSnapshot)
    gpu = snap.gpus[0]
    built = GpuSample(**{f.name: getattr(gpu, f.name) for f in dataclasses.fields(GpuSample)})
    assert gpu == built and hash(gpu) == hash(built) and repr(gpu) == repr(built)
    assert gpu.timestamp == 7.0 and gpu.memory_pct == 10.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        gpu.utilization_pct = 1.0  # type: ignore[misc]
    again = asm.snapshot()
    assert again.gpus[0] is not gpu and again.gpus[0] == gpu  # a new object every time


def test_sampler_ticks_on_the_wall_clock_grid() -> None:
    module = load_sampler_module()
    assert module.until_next_tick(100.25, 1.0) == pytest.approx(0.75)
    assert module.until_next_tick(100.99, 1.0) == pytest.approx(0.01)  # never > one tick
    assert module.until_next_tick(100.0, 1.0) == pytest.approx(1.0)
    assert module.until_next_tick(12.34, 0.5) == pytest.approx(0.16)
    args = SamplerOptions().sampler_args()
    assert args[args.index("--align") + 1] == "1"
    args = SamplerOptions(align_ticks=False).sampler_args()
    assert module.parse_args(args)["align"] == 0.0


@pytest.mark.asyncio
async def test_sampler_streams_compact_samples_on_the_grid(scenario_file: Path) -> None:
    opts = SamplerOptions(interval_s=0.4, heartbeat_timeout_s=30.0)
    proc = await _spawn(sampler_argv(opts, sys.executable), _env(scenario_file))
    try:
        assert (await _line(proc))["type"] == "hello"
        await _line(proc)  # the first sample comes at once
        phases = []
        for _ in range(3):
            msg = await _line(proc)
            phases.append(time.time() % 0.4)
            assert msg["type"] == "s" and len(msg["g"]) == 2
        # Just after multiples of the interval (a loaded box may delay one of them).
        assert sorted(phases)[1] < 0.15, phases
        assert proc.stdin is not None
        proc.stdin.close()
        assert await asyncio.wait_for(proc.wait(), WAIT) == 0
    finally:
        if proc.returncode is None:
            proc.kill()


# ------------------------------------------------------------------ nvidia-smi CSV


def test_smi_rows_with_na_and_not_supported() -> None:
    meta, ticks = smi_ticks("a100x2.csv")
    assert tuple(meta["fields"].split(",")) == SMI_FIELDS
    busy, idle = (parse_smi_row(r) for r in ticks[0])
    assert busy is not None and idle is not None
    assert busy["i"] == 0 and busy["util"] == 97.0 and busy["mem_used"] == 71234.0
    assert busy["power"] == 312.48 and busy["power_limit"] == 400.0
    assert busy["fan"] is None  # [N/A]
    assert busy["pstate"] == "P0" and busy["mig"] is False and busy["ecc"] == 0
    assert idle["ecc"] is None  # [Not Supported]
    snap = SampleAssembler("box", source="nvidia-smi").feed_message(
        {"type": "sample", "gpus": [busy, idle]}
    )
    assert isinstance(snap, HostSnapshot)
    assert snap.source == "nvidia-smi" and snap.gpus[1].idle


def test_smi_rows_rejects_truncated_and_marks_lost() -> None:
    _, ticks = smi_ticks("a100x2.csv")
    row = ticks[0][0]
    assert parse_smi_row(row[: len(row) // 2]) is None
    assert parse_smi_row("") is None
    assert parse_smi_row("x, y") is None
    lost = "3, [GPU requires reset], [GPU requires reset]" + ", [GPU requires reset]" * 12
    assert parse_smi_row(lost) == {"i": 3, "lost": "GPU requires reset"}


def test_smi_mig_and_old_driver_rows() -> None:
    _, ticks = smi_ticks("mig.csv")
    mig = parse_smi_row(ticks[0][0])
    assert mig is not None and mig["mig"] is True and mig["util"] is None
    _, ticks = smi_ticks("old_driver.csv")
    old = parse_smi_row(ticks[0][0], SMI_FIELDS_MINIMAL)
    assert old is not None
    assert old["fan"] == 27.0 and old["power_limit"] is None and old["pstate"] == "P2"
    assert "ecc" not in old and "mig" not in old


def test_smi_batcher_groups_ticks_and_marks_a_lost_gpu() -> None:
    _, ticks = smi_ticks("gpu_lost.csv")
    batcher = SmiBatcher(SMI_FIELDS, expected=2)
    out = [t for line in ticks[0] + ticks[1] if (t := batcher.feed(line)) is not None]
    assert len(out) == 2
    assert [g["i"] for g in out[0]] == [0, 1] and "lost" not in out[0][1]
    assert out[1][0]["util"] == 87.0
    assert out[1][1]["i"] == 1 and "GPU is lost" in out[1][1]["lost"]
    asm = SampleAssembler("h100", source="nvidia-smi")
    asm.feed_message({"type": "sample", "gpus": out[0]})
    snap = asm.feed_message({"type": "sample", "gpus": out[1]})
    assert isinstance(snap, HostSnapshot) and snap.reason and snap.reason.startswith("GPU 1:")


def test_smi_batcher_without_a_known_count() -> None:
    _, ticks = smi_ticks("a100x2.csv")
    batcher = SmiBatcher(SMI_FIELDS)
    assert batcher.feed(ticks[0][0]) is None
    assert batcher.feed(ticks[0][1]) is None
    assert batcher.feed("garbage line") is None
    first = batcher.feed(ticks[1][0])  # index 0 again: the previous tick is complete
    assert first is not None and [g["i"] for g in first] == [0, 1]
    assert batcher.expected == 2 and batcher.malformed == 1


def test_smi_processes_and_owners() -> None:
    output = (
        "GPU-5a8f1c3e-0b6d-4a1e-9f00-1d2c3b4a5e60, 4242, 71000, python\n"
        "GPU-7c9d2e4f-1a2b-4c3d-8e9f-0a1b2c3d4e5f, 4343, [N/A], /usr/bin/python3\n"
        "GPU-unknown, 1, 5, ghost\n"
        "@@cockpit-ps@@\n"
        " 4242 ann      python train.py --lr 3e-4\n"
    )
    uuids = {
        "GPU-5a8f1c3e-0b6d-4a1e-9f00-1d2c3b4a5e60": 0,
        "GPU-7c9d2e4f-1a2b-4c3d-8e9f-0a1b2c3d4e5f": 1,
    }
    procs = parse_smi_processes(output, uuids)
    (p0,) = procs[0]
    assert (p0.pid, p0.user, p0.command, p0.used_memory_mib) == (
        4242,
        "ann",
        "python train.py --lr 3e-4",
        71000.0,
    )
    (p1,) = procs[1]
    assert (p1.user, p1.command, p1.used_memory_mib) == (None, "/usr/bin/python3", None)


def test_cuda_version_from_banner() -> None:
    banner = "| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: 12.4     |"
    assert parse_cuda_version(banner) == "12.4"
    assert parse_cuda_version("no banner") is None


@pytest.mark.asyncio
async def test_smi_stream_command_with_fake_nvidia_smi() -> None:
    """The -lms stream under its watchdog, through /bin/sh, ends when stdin closes."""
    opts = SamplerOptions(interval_s=0.05, heartbeat_timeout_s=30)
    env = dict(os.environ)
    env["PATH"] = f"{FAKE / 'bin'}:{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env["FAKE_SMI_CSV"] = str(FAKE / "smi" / "a100x2.csv")
    proc = await asyncio.create_subprocess_shell(
        smi_stream_command(SMI_FIELDS, opts),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        batcher = SmiBatcher(SMI_FIELDS, expected=2)
        ticks = []
        assert proc.stdout is not None
        while len(ticks) < 3:
            line = await asyncio.wait_for(proc.stdout.readline(), WAIT)
            assert line, "nvidia-smi stream ended early"
            tick = batcher.feed(line.decode())
            if tick is not None:
                ticks.append(tick)
        assert [g["i"] for g in ticks[2]] == [0, 1]
        assert proc.stdin is not None
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), WAIT)
    finally:
        if proc.returncode is None:
            proc.kill()


# ------------------------------------------------------------------------ quoting


def test_kill_command_quotes_everything() -> None:
    nasty = "python train.py '; rm -rf / #\" $(reboot) `id`"
    argv = shlex.split(kill_command(4242, 2.5, nasty))
    assert argv[0:2] == ["sh", "-c"]
    assert argv[3:] == ["cockpit-kill", "4242", "25", nasty]
    for bad in (0, 1, -5, True, "12; reboot", 3.0):
        with pytest.raises(ValueError):
            kill_command(bad, 1.0)  # type: ignore[arg-type]


def test_env_prefix_rejects_bad_names_and_quotes_values() -> None:
    cmd = sampler_command(SamplerOptions(env={"A_B": "x y'z $HOME"}))
    argv = shlex.split(cmd)
    assert argv[:3] == ["exec", "env", "A_B=x y'z $HOME"]
    venv = shlex.split(sampler_command(SamplerOptions(python="~/venv/bin/py thon")))[1]
    assert venv == "$HOME/venv/bin/py thon"  # only $HOME is left for the remote shell
    with pytest.raises(ValueError):
        sampler_command(SamplerOptions(env={"A;reboot": "1"}))
    with pytest.raises(ValueError):
        sampler_command(SamplerOptions(interval_s=float("nan")))
