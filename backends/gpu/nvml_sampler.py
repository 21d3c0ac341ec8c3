"""The GPU sampler that runs on a GPU host (and, imported, reads the local GPUs).

This file is sent as it is: over SSH to `python3 -u -c` (zlib + base64 inside the command,
see backends.gpu.sampler_client) or loaded in-process by LocalNvmlSource, so local and
remote GPUs are read by the same code. Nothing is installed remotely.

It must run on the Python of old server distributions: stdlib only (plus pynvml when the
host has it), Python 3.6 syntax and library, so no annotations, f-strings, dataclasses or
walrus, and ASCII only. It keeps NVML open and writes one JSON line per tick to stdout;
it exits when its stdin closes or heartbeat lines stop coming, so dropped links never
leave samplers piling up on a server. The wire format is described in sampler_client.
"""
# Old-Python source: the linter's modernisations (f-strings, contextlib.suppress, bare
# classes) and the formatter's layout are kept out of it.
# ruff: noqa: UP004, UP031, SIM105
# fmt: off

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


def until_next_tick(now, interval):
    """Seconds to the next multiple of the interval on the wall clock (never more than one
    interval, so the gap between samples never grows past it).

    Ticks on the wall clock's grid (as collectd and Telegraf do) make hosts whose clocks
    are NTP-synced sample at the same instants, so their samples reach the client
    together and it handles them in one wake-up instead of one per host. A sample that
    took longer than the interval skips the ticks it missed rather than bursting.
    """
    return interval - now % interval


def parse_args(argv):
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
    opts = parse_args(argv)
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
                time.sleep(until_next_tick(time.time(), interval))
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
