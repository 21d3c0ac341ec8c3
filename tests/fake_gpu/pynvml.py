"""A stand-in for pynvml (nvidia-ml-py) driven by a JSON scenario, for hosts without GPUs.

Put this directory first on PYTHONPATH and the sampler imports it as `pynvml`. The
scenario comes from the file named by $FAKE_NVML_SCENARIO (re-read whenever it changes,
so a test can make a GPU fall off the bus mid-stream) or from `configure()` in-process.
Names, constants and error codes follow nvidia-ml-py; only what the sampler calls exists.

Scenario:
  {"driver": "550.54.15", "cuda": 12040, "init_error": null | <NVML error code>,
   "gpus": [{"name": ..., "uuid": ..., "util": 35 | {"cycle": [35, 40]} | null, "mem_used_mib": ..,
             "mem_total_mib": .., "temp": .., "power_mw": .., "power_limit_mw": ..,
             "sm_clock": .., "fan": .., "pstate": 0, "ecc": 0, "mig": [1, 1],
             "procs": [{"pid": 123, "mem_mib": 1024 | null}], "lost": false}]}
A null (or absent) metric raises NVMLError_NotSupported; {"cycle": [...]} gives one value per
call in turn;
"lost": true makes every call on that GPU raise NVMLError_GpuIsLost.
"""

# Python 3.6-compatible like the sampler: the remote python may be old.
import json
import os

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_UNKNOWN = 999

NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_SM = 1
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_VOLATILE_ECC = 0
NVML_PSTATE_UNKNOWN = 32

_MESSAGES = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
    NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    NVML_ERROR_UNKNOWN: "Unknown Error",
}


class NVMLError(Exception):
    def __init__(self, value):
        Exception.__init__(self, value)
        self.value = value

    def __str__(self):
        return _MESSAGES.get(self.value, "Unknown Error")


class NVMLError_NotSupported(NVMLError):
    def __init__(self):
        NVMLError.__init__(self, NVML_ERROR_NOT_SUPPORTED)


class NVMLError_GpuIsLost(NVMLError):
    def __init__(self):
        NVMLError.__init__(self, NVML_ERROR_GPU_IS_LOST)


# Calls per function name: lets a test check an unsupported field is not asked again.
CALLS = {}

_state = {"scenario": None, "mtime": None, "initialized": False, "cycle": {}}


def configure(scenario):
    """Use this scenario (a dict) instead of $FAKE_NVML_SCENARIO; resets counters."""
    _state["scenario"] = scenario
    _state["mtime"] = "configured"
    _state["initialized"] = False
    _state["cycle"] = {}
    CALLS.clear()


def _scenario():
    path = os.environ.get("FAKE_NVML_SCENARIO")
    if _state["mtime"] == "configured" or not path:
        return _state["scenario"] or {"gpus": []}
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return {"gpus": []}
    if mtime != _state["mtime"]:
        with open(path) as fh:
            _state["scenario"] = json.load(fh)
        _state["mtime"] = mtime
    return _state["scenario"]


def _count(name):
    CALLS[name] = CALLS.get(name, 0) + 1


def _need_init():
    if not _state["initialized"]:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)


class _Handle:
    def __init__(self, index):
        self.index = index


def _gpu(handle):
    _need_init()
    gpus = _scenario().get("gpus", [])
    if handle.index >= len(gpus):
        raise NVMLError(NVML_ERROR_GPU_IS_LOST)
    gpu = gpus[handle.index]
    if gpu.get("lost"):
        raise NVMLError_GpuIsLost()
    return gpu


def _metric(handle, key, fname):
    _count(fname)
    value = _gpu(handle).get(key)
    if value is None:
        raise NVMLError_NotSupported()
    if isinstance(value, dict) and "cycle" in value:
        n = _state["cycle"].get((handle.index, key), 0)
        _state["cycle"][(handle.index, key)] = n + 1
        value = value["cycle"][n % len(value["cycle"])]
    return value


class c_nvmlUtilization_t:
    def __init__(self, gpu, memory):
        self.gpu = gpu
        self.memory = memory


class c_nvmlMemory_t:
    def __init__(self, total, used):
        self.total = total
        self.used = used
        self.free = total - used


class c_nvmlProcessInfo_t:
    def __init__(self, pid, used):
        self.pid = pid
        self.usedGpuMemory = used


def nvmlInit():
    _count("nvmlInit")
    scenario = _scenario()
    if scenario.get("init_error"):
        raise NVMLError(int(scenario["init_error"]))
    _state["initialized"] = True


def nvmlShutdown():
    _count("nvmlShutdown")
    _state["initialized"] = False


def nvmlSystemGetDriverVersion():
    _need_init()
    return _scenario().get("driver", "550.54.15")


def nvmlSystemGetCudaDriverVersion():
    _need_init()
    return _scenario().get("cuda", 12040)


def nvmlDeviceGetCount():
    _need_init()
    return len(_scenario().get("gpus", []))


def nvmlDeviceGetHandleByIndex(index):
    _need_init()
    if index >= len(_scenario().get("gpus", [])):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return _Handle(index)


def nvmlDeviceGetName(handle):
    return _metric(handle, "name", "nvmlDeviceGetName")


def nvmlDeviceGetUUID(handle):
    return _metric(handle, "uuid", "nvmlDeviceGetUUID")


def nvmlDeviceGetUtilizationRates(handle):
    return c_nvmlUtilization_t(_metric(handle, "util", "nvmlDeviceGetUtilizationRates"), 0)


def nvmlDeviceGetMemoryInfo(handle):
    _count("nvmlDeviceGetMemoryInfo")
    gpu = _gpu(handle)
    mib = 1024 * 1024
    return c_nvmlMemory_t(int(gpu["mem_total_mib"] * mib), int(gpu["mem_used_mib"] * mib))


def nvmlDeviceGetTemperature(handle, sensor):
    return _metric(handle, "temp", "nvmlDeviceGetTemperature")


def nvmlDeviceGetPowerUsage(handle):
    return _metric(handle, "power_mw", "nvmlDeviceGetPowerUsage")


def nvmlDeviceGetEnforcedPowerLimit(handle):
    return _metric(handle, "power_limit_mw", "nvmlDeviceGetEnforcedPowerLimit")


def nvmlDeviceGetClockInfo(handle, clock_type):
    return _metric(handle, "sm_clock", "nvmlDeviceGetClockInfo")


def nvmlDeviceGetFanSpeed(handle):
    return _metric(handle, "fan", "nvmlDeviceGetFanSpeed")


def nvmlDeviceGetPerformanceState(handle):
    return _metric(handle, "pstate", "nvmlDeviceGetPerformanceState")


def nvmlDeviceGetTotalEccErrors(handle, error_type, counter_type):
    return _metric(handle, "ecc", "nvmlDeviceGetTotalEccErrors")


def nvmlDeviceGetMigMode(handle):
    return list(_metric(handle, "mig", "nvmlDeviceGetMigMode"))


def nvmlDeviceGetComputeRunningProcesses(handle):
    _count("nvmlDeviceGetComputeRunningProcesses")
    out = []
    for p in _gpu(handle).get("procs", []):
        mem = p.get("mem_mib")
        # Real pynvml turns NVML_VALUE_NOT_AVAILABLE into None.
        out.append(c_nvmlProcessInfo_t(p["pid"], None if mem is None else int(mem * 1048576)))
    return out


def nvmlDeviceGetGraphicsRunningProcesses(handle):
    _count("nvmlDeviceGetGraphicsRunningProcesses")
    _gpu(handle)
    return []
