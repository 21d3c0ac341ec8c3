"""The client side of the GPU sampler: how it is started, and what its lines mean.

The sampler itself is backends/gpu/nvml_sampler.py, a stdlib-only program shipped with the
package. `sampler_command` packs its text into one shell command for a remote host;
`load_sampler_module` loads it in-process for the local GPUs.

`SampleAssembler` turns the sampler's lines (or the dicts built from nvidia-smi CSV by
backends.gpu.smi) into HostSnapshots. Anything malformed is counted and skipped; it never
raises, because one garbled line over a bad link must not take the GPU pane down.

Wire format (one JSON object per line, protocol 2):
  {"type":"hello","v":2,"source":"nvml","driver":"550.54.15","cuda":"12.4","count":8,"pid":1}
  {"type":"s","g":[[0,35,1234.0,64,312.5,1410,null,"P0"],[1,...,{"ecc":0,"procs":[...]}]]}
  {"type":"unsupported","code":"no-pynvml"|"no-nvml"|"no-gpu","reason":"..."}
A sample row is [i, util, mem_used, temp, power, sm, fan, pstate] (COMPACT_FIELDS, read
every tick), plus a dict of whatever else was read this tick: processes and ECC every few
seconds, name/uuid/limits/MIG mode rarely; the client keeps the last value of each. A null
field is unsupported (or failed this tick). A row whose dict is {"lost":"..."} marks a GPU
that fell off the bus. Positional rows keep the line short and the client's parsing cheap
(it runs once per host per second).

The client also takes protocol 1 samples, the same data as one dict per GPU (what
NvmlSampler.sample() returns, and what the nvidia-smi path builds):
  {"type":"sample","t":1712345678.1,"gpus":[{"i":0,"util":35,"mem_used":1234.0,...}]}
with {"i":3,"lost":"..."} for a lost GPU.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import time
import types
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.remote_shell import command_line, env_prefix
from cockpit.models import GpuProcess, GpuSample, HostSnapshot, HostState

PROTOCOL_VERSION = 2
SAMPLER_MARKER = "cockpit-gpu-sampler"  # in argv, so `pgrep -f` finds our samplers
# The sampler program, next to this module in the installed package.
SAMPLER_PATH = Path(__file__).with_name("nvml_sampler.py")


def sampler_source() -> str:
    """The sampler program's text, as it is sent to hosts."""
    return SAMPLER_PATH.read_text(encoding="utf-8")


@dataclass(frozen=True)
class SamplerOptions:
    """Cadences and remote environment of the sampler. Times in seconds."""

    interval_s: float = 1.0
    process_interval_s: float = 5.0
    slow_interval_s: float = 30.0
    heartbeat_s: float = 5.0
    # The sampler exits after this long without a heartbeat line on stdin.
    heartbeat_timeout_s: float = 30.0
    # Sample on the wall clock's grid of interval_s (all NTP-synced hosts at the same
    # instants, so the client handles their samples in one wake-up); False: every
    # interval_s from the sampler's start.
    align_ticks: bool = True
    python: str = "python3"
    # Extra environment for the remote commands (PYTHONPATH to a pynvml, LD_LIBRARY_PATH
    # to libnvidia-ml, PATH to nvidia-smi); always shell-quoted.
    env: Mapping[str, str] = field(default_factory=dict)

    def sampler_args(self) -> list[str]:
        return [
            SAMPLER_MARKER,
            "--interval",
            _num_arg(self.interval_s),
            "--proc-every",
            _num_arg(self.process_interval_s),
            "--slow-every",
            _num_arg(self.slow_interval_s),
            "--hb-timeout",
            _num_arg(self.heartbeat_timeout_s),
            "--align",
            "1" if self.align_ticks else "0",
        ]


def _num_arg(value: float) -> str:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"bad sampler option {value!r}")
    return repr(float(value))


def _bootstrap() -> str:
    # The program travels base64-encoded inside `-c`: a multi-line script in single quotes
    # breaks under csh/tcsh login shells, and one opaque token survives every shell.
    packed = base64.b64encode(zlib.compress(sampler_source().encode("utf-8"), 9)).decode()
    return f"import base64,zlib;exec(zlib.decompress(base64.b64decode('{packed}')))"


def sampler_argv(options: SamplerOptions, python: str | None = None) -> list[str]:
    """argv to run the sampler directly (locally, in tests)."""
    return [python or options.python, "-u", "-c", _bootstrap(), *options.sampler_args()]


def sampler_command(options: SamplerOptions) -> str:
    """The remote shell command line that starts the sampler."""
    return f"exec {env_prefix(options.env)}{command_line(sampler_argv(options))}"


def load_sampler_module() -> types.ModuleType:
    """The sampler program as a fresh module (its main() not run), for local NVML."""
    module = types.ModuleType("cockpit_gpu_sampler")
    module.__file__ = str(SAMPLER_PATH)
    exec(compile(sampler_source(), str(SAMPLER_PATH), "exec"), module.__dict__)
    return module


# --------------------------------------------------------------------- client side


@dataclass(frozen=True)
class SamplerHello:
    source: str
    driver_version: str | None
    cuda_version: str | None
    gpu_count: int | None
    pid: int | None


@dataclass(frozen=True)
class SamplerUnsupported:
    code: str
    reason: str


SamplerEvent = HostSnapshot | SamplerHello | SamplerUnsupported

# wire key -> GpuSample attribute, and how to coerce it
_NUMERIC = {
    "util": "utilization_pct",
    "mem_used": "memory_used_mib",
    "mem_total": "memory_total_mib",
    "temp": "temperature_c",
    "power": "power_w",
    "power_limit": "power_limit_w",
    "sm": "sm_clock_mhz",
    "fan": "fan_pct",
}
_TEXT = {"name": "name", "uuid": "uuid", "pstate": "pstate"}
_MAX_GPUS = 1024
_MAX_TEXT = 512

# The per-GPU fields of a compact ("s") sample row, in order: [i, *COMPACT_FIELDS, extra?].
# The sampler's FAST tuple (a test checks that both ends agree): numbers, then pstate.
COMPACT_FIELDS: tuple[str, ...] = ("util", "mem_used", "temp", "power", "sm", "fan", "pstate")


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return int(value)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)[:_MAX_TEXT]


def _as_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _as_process(item: Any) -> GpuProcess | None:
    if isinstance(item, Mapping):
        item = [item.get("pid"), item.get("user"), item.get("command"), item.get("mem")]
    if not isinstance(item, (list, tuple)) or len(item) < 4:
        return None
    pid = _as_int(item[0])
    if pid is None or pid <= 0:
        return None
    return GpuProcess(
        pid=pid,
        user=_as_text(item[1]),
        command=_as_text(item[2]),
        used_memory_mib=_as_float(item[3]),
    )


# A GPU's state is the attribute dict of its next GpuSample: merging a field is one dict
# store, and a snapshot copies the dict and sets the time.
_SAMPLE_FIELDS = tuple(f.name for f in dataclasses.fields(GpuSample))
# wire key -> (GpuSample attribute, coercion)
_WIRE: dict[str, tuple[str, Callable[[Any], Any]]] = {
    **{key: (attr, _as_float) for key, attr in _NUMERIC.items()},
    **{key: (attr, _as_text) for key, attr in _TEXT.items()},
    "ecc": ("ecc_volatile_uncorrected", _as_int),
    "mig": ("mig_mode", _as_bool),
}
# Attributes of a compact row's numeric fields, then of its text one (pstate comes last).
_COMPACT_NUMERIC = tuple(_WIRE[key][0] for key in COMPACT_FIELDS[:-1])
_COMPACT_TEXT = _WIRE[COMPACT_FIELDS[-1]][0]
_ROW_LEN = 1 + len(COMPACT_FIELDS)
# What a lost GPU keeps: only what identifies it, its readings are gone with it.
_LOST_KEEPS = ("host", "index", "name", "uuid", "memory_total_mib", "power_limit_w", "mig_mode")


def _sample_factory() -> Callable[[dict[str, Any]], GpuSample]:
    """How a snapshot makes a GpuSample from its attribute dict.

    GpuSample(**attrs) costs ~2 us: a frozen dataclass's __init__ sets each of its 17
    fields through object.__setattr__, x 8 GPUs x every host every second. Where the class
    allows it, the instance is made the way copy.copy() and pickle make one (a new object
    given its attribute dict), ~0.4 us. Checked here once against the constructor; any
    difference (a __post_init__, slots, a field that is not a plain init field) and the
    constructor is used.
    """

    def construct(attrs: dict[str, Any]) -> GpuSample:
        return GpuSample(**attrs)

    new = object.__new__
    set_attr = object.__setattr__

    def fast(attrs: dict[str, Any]) -> GpuSample:
        sample = new(GpuSample)
        set_attr(sample, "__dict__", attrs)
        return sample

    params = getattr(GpuSample, "__dataclass_params__", None)
    plain = (
        params is not None
        and params.init
        and not hasattr(GpuSample, "__post_init__")
        and "__slots__" not in vars(GpuSample)
        and all(f.init for f in dataclasses.fields(GpuSample))
    )
    if not plain:
        return construct
    probe = {name: None for name in _SAMPLE_FIELDS}
    probe.update(host="h", index=1, timestamp=2.0, name="n", processes=())
    try:
        made, built = fast(dict(probe)), construct(dict(probe))
        same = made == built and vars(made) == vars(built) and repr(made) == repr(built)
    except Exception:  # pragma: no cover - a GpuSample this cannot make
        same = False
    return fast if same else construct


_new_sample = _sample_factory()


class _GpuState:
    """The last known value of every field of one GPU, as its GpuSample's attributes."""

    __slots__ = ("attrs", "lost")

    def __init__(self, host: str, index: int) -> None:
        attrs: dict[str, Any] = dict.fromkeys(_SAMPLE_FIELDS)
        attrs["host"] = host
        attrs["index"] = index
        attrs["processes"] = ()
        self.attrs = attrs
        self.lost: str | None = None

    def get(self, key: str) -> Any:
        """A field by wire key ("uuid", "util", ...)."""
        return self.attrs[_WIRE[key][0]]

    @property
    def processes(self) -> tuple[GpuProcess, ...]:
        return self.attrs["processes"]  # type: ignore[no-any-return]

    @processes.setter
    def processes(self, value: tuple[GpuProcess, ...]) -> None:
        self.attrs["processes"] = value


class SampleAssembler:
    """Folds sampler messages for one host into HostSnapshots. Never raises on input."""

    def __init__(
        self, host: str, source: str = "nvml", clock: Callable[[], float] = time.time
    ) -> None:
        self.host = host
        self.source = source
        self.clock = clock
        self.driver_version: str | None = None
        self.cuda_version: str | None = None
        self.hello: SamplerHello | None = None
        self.malformed = 0
        self.last_malformed: str | None = None
        self._gpus: dict[int, _GpuState] = {}
        self._order: list[_GpuState] = []  # self._gpus by index; rebuilt when it changes
        self.last_snapshot: HostSnapshot | None = None

    def feed_line(self, line: str | bytes) -> SamplerEvent | None:
        if isinstance(line, bytes):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                text = line.decode("utf-8", errors="replace")
        else:
            text = line
        try:
            msg = _loads(text)
        except (ValueError, RecursionError):
            stripped = text.strip()
            if not stripped:
                return None
            if stripped == text:
                return self._bad(text)
            try:  # whitespace JSON does not skip (form feeds, NBSP, ...)
                msg = _loads(stripped)
            except (ValueError, RecursionError):
                return self._bad(stripped)
        try:
            return self._feed(msg)
        except Exception:
            return self._bad(text.strip())

    def feed_message(self, msg: Any, raw: str | None = None) -> SamplerEvent | None:
        try:
            return self._feed(msg)
        except Exception:
            return self._bad(raw if raw is not None else repr(msg))

    def _bad(self, text: str) -> None:
        self.malformed += 1
        self.last_malformed = text[:200]
        return None

    def _feed(self, msg: Any) -> SamplerEvent | None:
        if type(msg) is not dict:
            return self._bad(repr(msg)[:200])
        kind = msg.get("type")
        if kind == "s":  # compact sample (protocol 2): one positional row per GPU
            rows = msg.get("g")
            if type(rows) is not list:
                return self._bad(repr(msg)[:200])
            for row in rows:
                self._merge_row(row)
            return self.snapshot()
        if kind == "sample":
            gpus = msg.get("gpus")
            if not isinstance(gpus, list):
                return self._bad(repr(msg)[:200])
            for entry in gpus:
                self._merge(entry)
            return self.snapshot()
        if kind == "hello":
            self.source = _as_text(msg.get("source")) or self.source
            self.driver_version = _as_text(msg.get("driver"))
            self.cuda_version = _as_text(msg.get("cuda"))
            count = _as_int(msg.get("count"))
            self.hello = SamplerHello(
                source=self.source,
                driver_version=self.driver_version,
                cuda_version=self.cuda_version,
                gpu_count=count,
                pid=_as_int(msg.get("pid")),
            )
            if count is not None and 0 <= count <= _MAX_GPUS:
                # Forget GPUs beyond the count (a restarted sampler on a changed host).
                self._gpus = {i: g for i, g in self._gpus.items() if i < count}
                self._order = []
            return self.hello
        if kind == "unsupported":
            return SamplerUnsupported(
                code=_as_text(msg.get("code")) or "unsupported",
                reason=_as_text(msg.get("reason")) or "unsupported",
            )
        return self._bad(repr(msg)[:200])

    def _state(self, index: Any, what: Any) -> _GpuState | None:
        if type(index) is not int:
            index = _as_int(index) if type(index) is float else None
        if index is None or not 0 <= index < _MAX_GPUS:
            self._bad(repr(what))
            return None
        state = self._gpus.get(index)
        if state is None:
            state = self._gpus[index] = _GpuState(self.host, index)
            self._order = []
        return state

    def _merge(self, entry: Any) -> None:
        if not isinstance(entry, dict):
            self._bad(repr(entry))
            return
        state = self._state(entry.get("i"), entry)
        if state is None:
            return
        if "lost" in entry:
            state.lost = _as_text(entry.get("lost")) or "GPU is lost"
            state.processes = ()
            return
        state.lost = None
        self._merge_fields(state, entry)

    @staticmethod
    def _merge_fields(state: _GpuState, entry: dict[str, Any]) -> None:
        attrs = state.attrs
        for key, value in entry.items():
            spec = _WIRE.get(key)
            if spec is not None:
                attrs[spec[0]] = spec[1](value)
            elif key == "procs":
                if isinstance(value, list):
                    procs = (_as_process(p) for p in value)
                    attrs["processes"] = tuple(p for p in procs if p is not None)
                else:
                    attrs["processes"] = ()

    def _merge_row(self, row: Any) -> None:
        """[i, util, mem_used, temp, power, sm, fan, pstate] (+ {other fields}) -> state."""
        if type(row) is not list or not _ROW_LEN <= len(row) <= _ROW_LEN + 1:
            self._bad(repr(row))
            return
        extra = row[_ROW_LEN] if len(row) > _ROW_LEN else None
        if extra is not None and type(extra) is not dict:
            self._bad(repr(row))
            return
        state = self._state(row[0], row)
        if state is None:
            return
        if extra is not None:
            if "lost" in extra:
                state.lost = _as_text(extra.get("lost")) or "GPU is lost"
                state.processes = ()
                return
            self._merge_fields(state, extra)
        state.lost = None
        attrs = state.attrs
        i = 1
        for attr in _COMPACT_NUMERIC:
            v = row[i]
            i += 1
            t = type(v)
            if t is float:
                attrs[attr] = v if v - v == 0.0 else None  # NaN and infinities: None
            elif t is int:
                attrs[attr] = float(v)
            else:
                attrs[attr] = None
        v = row[i]
        attrs[_COMPACT_TEXT] = v if type(v) is str and len(v) <= _MAX_TEXT else _as_text(v)

    def set_processes(self, by_index: Mapping[int, Sequence[GpuProcess]]) -> None:
        """Processes learnt out of band (the nvidia-smi path queries them separately)."""
        for index, state in self._gpus.items():
            if state.lost is None:
                state.processes = tuple(by_index.get(index, ()))

    def uuid_index(self) -> dict[str, int]:
        return {str(g.get("uuid")): i for i, g in self._gpus.items() if g.get("uuid")}

    def snapshot(self, state: HostState = HostState.LIVE) -> HostSnapshot:
        # Timestamps are the client's clock: the age of a sample must not depend on the
        # remote host's clock being right.
        now = self.clock()
        order = self._order
        if len(order) != len(self._gpus):
            order = self._order = [self._gpus[i] for i in sorted(self._gpus)]
        gpus = []
        lost = []
        new_sample = _new_sample
        for g in order:
            if g.lost is None:
                attrs = g.attrs.copy()
                attrs["timestamp"] = now
                gpus.append(new_sample(attrs))
                continue
            lost.append(f"GPU {g.attrs['index']}: {g.lost}")
            kept = {name: g.attrs[name] for name in _LOST_KEEPS}
            gpus.append(GpuSample(timestamp=now, **kept))
        snap = HostSnapshot(
            host=self.host,
            state=state,
            timestamp=now,
            gpus=tuple(gpus),
            driver_version=self.driver_version,
            cuda_version=self.cuda_version,
            source=self.source,
            reason="; ".join(lost) or None,
        )
        self.last_snapshot = snap
        return snap


_loads = json.JSONDecoder().decode
