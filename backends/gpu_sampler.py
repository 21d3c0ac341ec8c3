"""The GPU sampler that runs on a GPU host, and the client side that reads it.

Remote side: `SAMPLER_SOURCE` is a small stdlib-only Python program (plus pynvml when the
host has it; nothing is installed remotely). It keeps NVML open and writes one JSON line
per tick to stdout. It exits when its stdin closes or when the client stops sending
heartbeat lines, so dropped links never leave samplers piling up on a server.

Client side: `SampleAssembler` turns those lines (or the dicts built from nvidia-smi CSV
by `SmiBatcher`) into HostSnapshots. Anything malformed is counted and skipped; it never
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
import csv
import dataclasses
import json
import math
import re
import shlex
import time
import types
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cockpit.models import GpuProcess, GpuSample, HostSnapshot, HostState

PROTOCOL_VERSION = 2
SAMPLER_MARKER = "cockpit-gpu-sampler"  # in argv, so `pgrep -f` finds our samplers

# The remote program. Written for Python 3.6+ (servers run old distributions), hence no
# annotations, dataclasses or walrus. Kept free of non-ASCII and of triple quotes.
SAMPLER_SOURCE = r'''
import json
import os
import sys
import threading
import time

PROTOCOL = 2

# NVML return codes (stable across releases; pynvml exports the same numbers).
NOT_SUPPORTED = 3
NO_PERMISSION = 4
FUNCTION_NOT_FOUND = 13
GPU_IS_LOST = 15
UNSUPPORTED_CODES = (NOT_SUPPORTED, NO_PERMISSION, FUNCTION_NOT_FOUND)
PSTATE_UNKNOWN = 32
MIB = 1024.0 * 1024.0

FAST = ("util", "mem_used", "temp", "power", "sm", "fan", "pstate")
MEDIUM = ("ecc",)
SLOW = ("name", "uuid", "mem_total", "power_limit", "mig")


def _text(value):
    if isinstance(value, bytes):  # pynvml < 11 returns bytes
        return value.decode("utf-8", "replace")
    return str(value)


def _code(err):
    return getattr(err, "value", None)


def _getters(nv):
    temp_gpu = getattr(nv, "NVML_TEMPERATURE_GPU", 0)
    clock_sm = getattr(nv, "NVML_CLOCK_SM", 1)
    uncorrected = getattr(nv, "NVML_MEMORY_ERROR_TYPE_UNCORRECTED", 1)
    volatile = getattr(nv, "NVML_VOLATILE_ECC", 0)

    def pstate(h):
        p = nv.nvmlDeviceGetPerformanceState(h)
        return None if p == PSTATE_UNKNOWN else "P%d" % p

    return {
        "util": lambda h: nv.nvmlDeviceGetUtilizationRates(h).gpu,
        "mem_used": lambda h: nv.nvmlDeviceGetMemoryInfo(h).used / MIB,
        "temp": lambda h: nv.nvmlDeviceGetTemperature(h, temp_gpu),
        "power": lambda h: nv.nvmlDeviceGetPowerUsage(h) / 1000.0,
        "sm": lambda h: nv.nvmlDeviceGetClockInfo(h, clock_sm),
        "fan": lambda h: nv.nvmlDeviceGetFanSpeed(h),
        "pstate": pstate,
        "ecc": lambda h: nv.nvmlDeviceGetTotalEccErrors(h, uncorrected, volatile),
        "name": lambda h: _text(nv.nvmlDeviceGetName(h)),
        "uuid": lambda h: _text(nv.nvmlDeviceGetUUID(h)),
        "mem_total": lambda h: nv.nvmlDeviceGetMemoryInfo(h).total / MIB,
        "power_limit": lambda h: nv.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0,
        "mig": lambda h: bool(nv.nvmlDeviceGetMigMode(h)[0]),
    }


def _proc_owner(pid):
    """User and command line of a pid via /proc; None when hidden (containers)."""
    user = None
    command = None
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith("Uid:"):
                    uid = int(line.split()[1])
                    try:
                        import pwd
                        user = pwd.getpwuid(uid).pw_name
                    except (KeyError, ImportError):
                        user = str(uid)
                    break
    except (OSError, ValueError):
        pass
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            raw = fh.read(4096)
        parts = [p.decode("utf-8", "replace") for p in raw.split(b"\0") if p]
        command = " ".join(parts)[:512] or None
    except OSError:
        pass
    return user, command


class NvmlSampler(object):
    """Reads every GPU through NVML. Fields that say NotSupported are not asked again."""

    def __init__(self, nv, proc_every=5.0, slow_every=30.0, clock=time.monotonic):
        self.nv = nv
        self.proc_every = proc_every
        self.slow_every = slow_every
        self.clock = clock
        nv.nvmlInit()
        self.getters = _getters(nv)
        self.count = int(nv.nvmlDeviceGetCount())
        self.handles = []
        self.lost = {}
        for i in range(self.count):
            try:
                self.handles.append(nv.nvmlDeviceGetHandleByIndex(i))
            except nv.NVMLError as err:
                self.handles.append(None)
                self.lost[i] = "no handle: %s" % (err,)
        self.unsupported = [set() for _ in range(self.count)]
        self.mig = [None] * self.count
        self.last_procs = None
        self.last_slow = None

    def hello(self):
        nv = self.nv
        driver = None
        cuda = None
        try:
            driver = _text(nv.nvmlSystemGetDriverVersion())
        except Exception:
            pass
        try:
            v = int(nv.nvmlSystemGetCudaDriverVersion())
            cuda = "%d.%d" % (v // 1000, (v % 1000) // 10)
        except Exception:
            pass
        return {"type": "hello", "v": PROTOCOL, "source": "nvml", "driver": driver,
                "cuda": cuda, "count": self.count, "pid": os.getpid()}

    def _field(self, i, h, name):
        if name in self.unsupported[i]:
            return None
        try:
            value = self.getters[name](h)
        except self.nv.NVMLError as err:
            code = _code(err)
            if code in UNSUPPORTED_CODES:
                self.unsupported[i].add(name)
            elif code == GPU_IS_LOST:
                raise
            return None  # a transient failure: null now, asked again next tick
        except AttributeError:
            self.unsupported[i].add(name)  # a pynvml too old to have this call
            return None
        except Exception:
            return None  # an odd binding: never let one field stop the rest
        if isinstance(value, float):
            value = round(value, 2)
        return value

    def _processes(self, h):
        nv = self.nv
        found = {}
        for fname in ("nvmlDeviceGetComputeRunningProcesses",
                      "nvmlDeviceGetGraphicsRunningProcesses"):
            fn = getattr(nv, fname, None)
            if fn is None:
                continue
            try:
                procs = fn(h)
            except nv.NVMLError as err:
                if _code(err) == GPU_IS_LOST:
                    raise
                continue
            for p in procs:
                pid = int(p.pid)
                mem = getattr(p, "usedGpuMemory", None)
                if not isinstance(mem, int) or mem < 0 or mem >= 2 ** 63:
                    mem = None  # NVML_VALUE_NOT_AVAILABLE, or old pynvml returning -1
                if pid in found and found[pid][3] is not None:
                    continue
                user, command = _proc_owner(pid)
                found[pid] = [pid, user, command,
                              None if mem is None else round(mem / MIB, 1)]
        return [found[k] for k in sorted(found)]

    def sample(self):
        now = self.clock()
        do_procs = self.last_procs is None or now - self.last_procs >= self.proc_every
        do_slow = self.last_slow is None or now - self.last_slow >= self.slow_every
        if do_procs:
            self.last_procs = now
        if do_slow:
            self.last_slow = now
        names = list(FAST)
        if do_procs:
            names += MEDIUM
        if do_slow:
            names += SLOW
        gpus = []
        for i in range(self.count):
            h = self.handles[i]
            if i in self.lost:
                gpus.append({"i": i, "lost": self.lost[i]})
                continue
            entry = {"i": i}
            try:
                for name in names:
                    if name not in self.unsupported[i]:  # sent once as null, then omitted
                        entry[name] = self._field(i, h, name)
                if do_procs:
                    entry["procs"] = self._processes(h)
            except self.nv.NVMLError as err:
                self.lost[i] = "GPU is lost: %s" % (err,)
                gpus.append({"i": i, "lost": self.lost[i]})
                continue
            if do_slow and entry.get("mig") != self.mig[i]:
                if self.mig[i] is not None:
                    # MIG on/off changes what is supported (utilization, for one).
                    self.unsupported[i] = set(n for n in self.unsupported[i] if n == "mig")
                self.mig[i] = entry.get("mig")
            gpus.append(entry)
        return {"type": "sample", "t": round(time.time(), 3), "gpus": gpus}

    def close(self):
        try:
            self.nv.nvmlShutdown()
        except Exception:
            pass


def compact(msg):
    """A sample in the wire form: one positional row per GPU (protocol 2).

    [i, util, mem_used, temp, power, sm, fan, pstate] plus, when there is more, a dict of
    the other fields (ecc, procs, slow ones, or lost). A field left out of the entry (not
    supported, already sent once as null) is null here: its last value was null anyway.
    """
    rows = []
    for entry in msg["gpus"]:
        if "lost" in entry:
            row = [entry["i"]] + [None] * len(FAST) + [{"lost": entry["lost"]}]
        else:
            row = [entry["i"]] + [entry.get(name) for name in FAST]
            extra = dict((k, v) for k, v in entry.items() if k != "i" and k not in FAST)
            if extra:
                row.append(extra)
        rows.append(row)
    return {"type": "s", "g": rows}


def _emit(obj):
    try:
        sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        os._exit(0)  # the client is gone


class Watchdog(object):
    """Ends the process when stdin closes or heartbeats stop.

    Runs in threads and uses os._exit so that it works even while the main thread is
    stuck inside an NVML call on a wedged GPU.
    """

    def __init__(self, timeout):
        self.timeout = timeout
        self.last = time.monotonic()

    def start(self):
        for target in (self._read, self._check):
            t = threading.Thread(target=target)
            t.daemon = True
            t.start()

    def _read(self):
        stdin = getattr(sys.stdin, "buffer", sys.stdin)
        while True:
            try:
                line = stdin.readline()
            except (OSError, ValueError):
                line = b""
            if not line or line.strip() == b"quit":
                os._exit(0)
            self.last = time.monotonic()

    def _check(self):
        while True:
            time.sleep(min(1.0, self.timeout / 4.0))
            if time.monotonic() - self.last > self.timeout:
                os._exit(0)


def _until_next_tick(now, interval):
    """Seconds to the next multiple of the interval on the wall clock (never more than one
    interval, so the gap between samples never grows past it).

    Ticks on the wall clock's grid (as collectd and Telegraf do) make hosts whose clocks
    are NTP-synced sample at the same instants, so their samples reach the client
    together and it handles them in one wake-up instead of one per host. A sample that
    took longer than the interval skips the ticks it missed rather than bursting.
    """
    return interval - now % interval


def _args(argv):
    opts = {"interval": 1.0, "proc_every": 5.0, "slow_every": 30.0, "hb_timeout": 30.0,
            "align": 1.0}
    key = None
    for arg in argv:
        if arg.startswith("--"):
            key = arg[2:].replace("-", "_")
        elif key in opts:
            opts[key] = float(arg)
            key = None
    return opts


def main(argv):
    opts = _args(argv)
    if opts["hb_timeout"] > 0:
        Watchdog(opts["hb_timeout"]).start()
    try:
        import pynvml
    except Exception as err:
        _emit({"type": "unsupported", "code": "no-pynvml",
               "reason": "pynvml not importable: %s" % (err,)})
        return 3
    try:
        sampler = NvmlSampler(pynvml, opts["proc_every"], opts["slow_every"])
    except Exception as err:
        _emit({"type": "unsupported", "code": "no-nvml", "reason": "NVML: %s" % (err,)})
        return 3
    if sampler.count == 0:
        _emit({"type": "unsupported", "code": "no-gpu", "reason": "NVML sees no GPU"})
        return 3
    _emit(sampler.hello())
    interval = max(0.05, opts["interval"])
    deadline = time.monotonic()
    try:
        while True:
            _emit(compact(sampler.sample()))
            if opts["align"]:
                time.sleep(_until_next_tick(time.time(), interval))
                continue
            deadline += interval
            delay = deadline - time.monotonic()
            if delay < 0:
                deadline = time.monotonic()  # fell behind: skip ticks rather than burst
                delay = 0
            time.sleep(delay)
    finally:
        sampler.close()


if __name__ == "__main__":
    try:
        status = main(sys.argv[1:])
    except Exception as err:
        _emit({"type": "unsupported", "code": "crash", "reason": "sampler crashed: %r" % (err,)})
        status = 4
    try:
        sys.stdout.flush()
    except Exception:
        pass
    # os._exit: a daemon thread blocked on stdin makes a normal interpreter exit abort.
    os._exit(status or 0)
'''


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


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_prefix(env: Mapping[str, str]) -> str:
    """`env K=V ...` with every pair quoted; empty when there is nothing to set."""
    if not env:
        return ""
    for key in env:
        if not _ENV_NAME.match(key):
            raise ValueError(f"bad environment variable name {key!r}")
    pairs = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    return f"env {pairs} "


def _bootstrap() -> str:
    # The program travels base64-encoded inside `-c`: a multi-line script in single quotes
    # breaks under csh/tcsh login shells, and one opaque token survives every shell.
    packed = base64.b64encode(zlib.compress(SAMPLER_SOURCE.encode("utf-8"), 9)).decode()
    return f"import base64,zlib;exec(zlib.decompress(base64.b64decode('{packed}')))"


def sampler_argv(options: SamplerOptions, python: str | None = None) -> list[str]:
    """argv to run the sampler directly (locally, in tests)."""
    return [python or options.python, "-u", "-c", _bootstrap(), *options.sampler_args()]


def quote_remote_path(path: str) -> str:
    """shlex.quote, except that a leading ~/ still means the remote home directory."""
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def sampler_command(options: SamplerOptions) -> str:
    """The remote shell command line that starts the sampler."""
    python, *rest = sampler_argv(options)
    argv = " ".join([quote_remote_path(python), *(shlex.quote(a) for a in rest)])
    return f"exec {env_prefix(options.env)}{argv}"


def load_sampler_module() -> types.ModuleType:
    """SAMPLER_SOURCE as an importable module (without running main), for local NVML."""
    module = types.ModuleType("cockpit_gpu_sampler")
    exec(compile(SAMPLER_SOURCE, "<cockpit-gpu-sampler>", "exec"), module.__dict__)
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


# ------------------------------------------------------------------ nvidia-smi path

# Queried fields, in order. The optional ones are missing from old drivers, which reject
# the whole query ("is not a valid field to query"); then SMI_FIELDS_MINIMAL is used.
SMI_FIELDS: tuple[str, ...] = (
    "index",
    "uuid",
    "name",
    "utilization.gpu",
    "memory.used",
    "memory.total",
    "temperature.gpu",
    "power.draw",
    "power.limit",
    "clocks.sm",
    "fan.speed",
    "pstate",
    "driver_version",
    "ecc.errors.uncorrected.volatile.total",
    "mig.mode.current",
)
SMI_FIELDS_MINIMAL: tuple[str, ...] = SMI_FIELDS[:13]

_SMI_KEYS = {
    "index": "i",
    "uuid": "uuid",
    "name": "name",
    "utilization.gpu": "util",
    "memory.used": "mem_used",
    "memory.total": "mem_total",
    "temperature.gpu": "temp",
    "power.draw": "power",
    "power.limit": "power_limit",
    "clocks.sm": "sm",
    "fan.speed": "fan",
    "pstate": "pstate",
    "ecc.errors.uncorrected.volatile.total": "ecc",
    "mig.mode.current": "mig",
}
_SMI_TEXT = {"uuid", "name", "pstate", "driver_version"}


def _smi_missing(value: str) -> bool:
    v = value.strip()
    return not v or v in ("N/A", "[N/A]") or (v.startswith("[") and v.endswith("]"))


def _smi_lost(value: str) -> bool:
    v = value.lower()
    return "gpu is lost" in v or "requires reset" in v


def parse_smi_row(line: str, fields: Sequence[str] = SMI_FIELDS) -> dict[str, Any] | None:
    """One `--query-gpu` CSV row (noheader, nounits) -> a sampler GPU entry, or None.

    "[N/A]", "[Not Supported]" and friends become null; "[GPU is lost]" marks the GPU lost.
    A row with the wrong number of fields (truncated) is rejected.
    """
    try:
        rows = list(csv.reader([line], skipinitialspace=True))
    except csv.Error:
        return None
    if len(rows) != 1 or len(rows[0]) != len(fields):
        return None
    values = dict(zip(fields, (c.strip() for c in rows[0]), strict=True))
    index_text = values.get("index", "")
    if not index_text.isdigit():
        return None
    entry: dict[str, Any] = {"i": int(index_text)}
    if any(_smi_lost(v) for v in values.values()):
        entry["lost"] = next(v for v in values.values() if _smi_lost(v)).strip("[]")
        return entry
    for name, raw in values.items():
        key = _SMI_KEYS.get(name)
        if key is None or key == "i":
            continue
        if _smi_missing(raw):
            entry[key] = None
        elif key == "mig":
            entry[key] = {"enabled": True, "disabled": False}.get(raw.lower())
        elif key == "ecc":
            entry[key] = int(raw) if raw.isdigit() else None
        elif name in _SMI_TEXT:
            entry[key] = raw
        else:
            try:
                entry[key] = float(raw)
            except ValueError:
                entry[key] = None
    return entry


def smi_driver_version(line: str, fields: Sequence[str] = SMI_FIELDS) -> str | None:
    parts = [c.strip() for c in line.split(",")]
    if "driver_version" in fields and len(parts) == len(fields):
        value = parts[list(fields).index("driver_version")]
        return None if _smi_missing(value) else value
    return None


_CUDA_RE = re.compile(r"CUDA Version:\s*([0-9][0-9.]*)")
_DEVICE_ERROR_RE = re.compile(r"^(Unable to determine the device handle|.*GPU is lost)", re.I)


def parse_cuda_version(banner: str) -> str | None:
    """The CUDA version from plain `nvidia-smi` output ("CUDA Version: 12.4")."""
    m = _CUDA_RE.search(banner)
    return m.group(1) if m else None


class SmiBatcher:
    """Groups streamed `-lms` CSV rows into ticks: a tick ends at `expected` rows or when
    an index repeats. Device error lines (a GPU that fell off the bus) count as rows and
    turn the missing GPU into a lost entry."""

    def __init__(self, fields: Sequence[str] = SMI_FIELDS, expected: int | None = None) -> None:
        self.fields = tuple(fields)
        self.expected = expected
        self.known: set[int] = set()
        self._rows: list[dict[str, Any]] = []
        self._errors: list[str] = []
        self.malformed = 0

    def feed(self, line: str) -> list[dict[str, Any]] | None:
        """Returns a finished tick's GPU entries, or None while a tick is filling."""
        text = line.strip()
        if not text:
            return None
        entry = parse_smi_row(text, self.fields)
        out: list[dict[str, Any]] | None = None
        if entry is None:
            if _DEVICE_ERROR_RE.match(text):
                self._errors.append(text[:200])
                if self._full():
                    out = self._flush()
            else:
                self.malformed += 1
            return out
        if any(r["i"] == entry["i"] for r in self._rows):
            out = self._flush()
        self._rows.append(entry)
        if self._full():
            flushed = self._flush()
            out = flushed if out is None else out + flushed  # pragma: no cover - rare
        return out

    def _full(self) -> bool:
        return self.expected is not None and len(self._rows) + len(self._errors) >= self.expected

    def _flush(self) -> list[dict[str, Any]]:
        rows, errors = self._rows, self._errors
        self._rows, self._errors = [], []
        seen = {r["i"] for r in rows}
        missing = sorted(self.known - seen)
        for i, index in enumerate(missing):
            reason = errors[i] if i < len(errors) else "missing from nvidia-smi output"
            rows.append({"i": index, "lost": reason})
        self.known |= seen
        if self.expected is None or len(rows) > self.expected:
            self.expected = len(rows)
        return sorted(rows, key=lambda r: r["i"])


# Processes on the nvidia-smi path: the apps query, then `ps` for owners of those pids.
# A fixed script (no interpolation), so there is nothing to quote.
SMI_PROCESSES_SCRIPT = "; ".join(
    [
        "a=$(nvidia-smi --query-compute-apps=gpu_uuid,pid,used_memory,process_name"
        " --format=csv,noheader,nounits) || exit $?",
        "printf '%s\\n' \"$a\"",
        "echo @@cockpit-ps@@",
        "p=$(printf '%s\\n' \"$a\" | awk -F', *' 'NF>1 && $2 ~ /^[0-9]+$/ {print $2}'"
        " | paste -sd, -)",
        '[ -n "$p" ] && ps -ww -o pid= -o user:32= -o args= -p "$p"',
        "exit 0",
    ]
)


def parse_smi_processes(output: str, uuid_index: Mapping[str, int]) -> dict[int, list[GpuProcess]]:
    """Output of SMI_PROCESSES_SCRIPT -> processes per GPU index."""
    apps_text, _, ps_text = output.partition("@@cockpit-ps@@")
    owners: dict[int, tuple[str | None, str | None]] = {}
    for line in ps_text.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0].isdigit():
            owners[int(parts[0])] = (parts[1], parts[2] if len(parts) > 2 else None)
    out: dict[int, list[GpuProcess]] = {}
    for line in apps_text.splitlines():
        if not line.strip():
            continue
        try:
            cells = [c.strip() for c in next(csv.reader([line], skipinitialspace=True))]
        except (csv.Error, StopIteration):
            continue
        if len(cells) < 3 or not cells[1].isdigit():
            continue
        index = uuid_index.get(cells[0])
        if index is None:
            continue
        pid = int(cells[1])
        try:
            mem: float | None = float(cells[2])
        except ValueError:
            mem = None
        user, command = owners.get(pid, (None, None))
        if command is None and len(cells) > 3 and not _smi_missing(cells[3]):
            command = cells[3]
        out.setdefault(index, []).append(GpuProcess(pid, user, command, mem))
    return out


def smi_query_args(fields: Sequence[str], interval_ms: int | None = None) -> list[str]:
    args = ["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"]
    if interval_ms is not None:
        args += ["-lms", str(int(interval_ms))]
    return args


def smi_stream_command(fields: Sequence[str], options: SamplerOptions) -> str:
    """nvidia-smi -lms under a heartbeat watchdog.

    nvidia-smi cannot notice a silently dropped link (sshd keeps the session until TCP
    gives up, hours later), so a shell loop kills it when heartbeats on stdin stop or
    stdin closes, the same contract as the Python sampler.
    """
    query = " ".join(
        shlex.quote(a) for a in smi_query_args(fields, max(50, int(options.interval_s * 1000)))
    )
    timeout = str(max(1, math.ceil(options.heartbeat_timeout_s)))
    # One line (csh-family login shells reject newlines inside quotes).
    script = (
        f"{query} </dev/null & p=$!; "
        "trap 'kill $p 2>/dev/null' EXIT HUP TERM; "
        f"while kill -0 $p 2>/dev/null && timeout {timeout} sh -c 'read x'; do :; done; "
        "kill $p 2>/dev/null; "
        "wait $p"
    )
    return f"exec {env_prefix(options.env)}sh -c {shlex.quote(script)}"


def smi_probe_command(fields: Sequence[str], options: SamplerOptions) -> str:
    """One query (first sample, GPU count, driver) plus the banner for the CUDA version."""
    query = " ".join(shlex.quote(a) for a in smi_query_args(fields))
    script = f"{query} || exit $?; echo @@cockpit-banner@@; nvidia-smi 2>/dev/null | head -n 6"
    return f"{env_prefix(options.env)}sh -c {shlex.quote(script)}"


def smi_processes_command(options: SamplerOptions) -> str:
    return f"{env_prefix(options.env)}sh -c {shlex.quote(SMI_PROCESSES_SCRIPT)}"
