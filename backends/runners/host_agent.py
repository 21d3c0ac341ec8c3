#!/usr/bin/env python3
"""The cockpit's agent on a run host: wrapper, queue runner and batched status, in one file.

Shipped as package data and sent to the host by the cockpit (over SSH, or run locally);
nothing is installed. Standard library only, Python 3.6+, because the host's python3 may
be old. One file so that the wrapper, the queue runner and the status reader share one
reading of the run folder and one lock.

    python3 host_agent.py COMMAND ROOT      (request JSON on stdin, answer JSON on stdout)
    python3 host_agent.py serve ROOT [IDLE_S]   (JSON lines in, JSON lines out)

ROOT (e.g. ~/.cockpit) holds runs/<run_id>/ (spec.json, cmd.sh, out.log, pid, pgid,
boot_id, gpus, metrics.jsonl, provenance.json, exit_code) and the host's queue:
queue.json, changed only under the flock on ROOT/lock, so two cockpits (or a cockpit and
the queue runner) never place two runs on one GPU.

Commands: submit, status, cancel, queue (list/move/drop), read-log, files; serve (one
long-lived process answering status and read-log requests, a JSON line each, so that a
poller pays one SSH round trip per poll and no process start); and, started
detached by the agent itself: wrap RUN_DIR (the wrapper of one run), queue-run (keeps the
queue moving while the laptop is closed; exits when the queue is empty).

The wrapper reads the time limit once, before the run starts, and enforces it from a
process outside the run's process group: a run can neither extend its limit nor escape
the group kill (TERM, then KILL after the grace).
"""

# Python 3.6 on the host: no f-strings with =, no dataclasses, old-style classes and % formatting.
# ruff: noqa: UP004, UP031

import base64
import fcntl
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

STARTING_TIMEOUT_S = 60.0  # a placed run whose wrapper never wrote its pid is lost
FREE_MEMORY_FRACTION = 0.05  # a GPU with more memory in use than this is not free
DEFAULT_GRACE_S = 10.0
DEFAULT_POLL_S = 5.0
DEFAULT_CPU_SLOTS = 2
MAX_FILE_BYTES = 8 * 1024 * 1024
# Environment worth keeping in provenance: what changes numerics or placement, never
# anything that looks like a secret.
ENV_OF_INTEREST = re.compile(
    r"^(CUDA_|NCCL_|CUBLAS_|TORCH_|PYTORCH_|XLA_|JAX_|TF_|OMP_|MKL_|HF_|TRANSFORMERS_|"
    r"PYTHONHASHSEED$|PYTHONPATH$|VIRTUAL_ENV$|CONDA_DEFAULT_ENV$|COCKPIT_)"
)
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
KEY_PACKAGES = ("torch", "jax", "tensorflow", "numpy", "transformers", "accelerate", "datasets")
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


# ----------------------------------------------------------------------------- files


def read_text(path, default=None):
    try:
        with open(path) as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):
        return default


def read_json(path, default=None):
    text = read_text(path)
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def write_atomic(path, text):
    """Readers see the old file or the whole new one, never half of it."""
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def boot_id():
    return (read_text("/proc/sys/kernel/random/boot_id") or "").strip()


def process_start(pid):
    """The process's start time in clock ticks since boot: with the pid, a guard against
    a pid reused by an unrelated process. None when the process does not exist."""
    stat = read_text("/proc/%d/stat" % pid)
    if stat is None:
        if os.path.isdir("/proc/self"):
            return None
        try:  # no /proc (macOS): only existence can be checked
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "?"
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None  # a zombie is dead, only not yet reaped
    return fields[19]


def alive(record):
    """record: "pid start boot" as written by write_pid_record; True when that very
    process is still running on this boot."""
    try:
        pid_text, start, boot = (record or "").split()
        pid = int(pid_text)
    except ValueError:
        return False
    if boot != (boot_id() or "-"):
        return False
    now = process_start(pid)
    return now is not None and (now == start or "?" in (now, start))


def pid_record(pid):
    return "%d %s %s" % (pid, process_start(pid) or "?", boot_id() or "-")


class Root(object):
    def __init__(self, path):
        self.path = os.path.abspath(os.path.expanduser(path))
        self.runs = os.path.join(self.path, "runs")
        # The file detached processes run: this one, or its installed copy under bin/.
        self.agent = os.path.abspath(globals().get("__file__") or sys.argv[0])

    def run_dir(self, run_id):
        if not RUN_ID.match(run_id):
            raise ValueError("bad run id %r" % run_id)
        return os.path.join(self.runs, run_id)

    def ensure(self):
        for d in (self.path, self.runs):
            if not os.path.isdir(d):
                os.makedirs(d, 0o700)


class Lock(object):
    """flock on ROOT/lock: the one lock for the queue and the GPU holds of a host."""

    def __init__(self, root):
        self.root = root
        self.fh = None

    def __enter__(self):
        self.root.ensure()
        self.fh = open(os.path.join(self.root.path, "lock"), "a")
        fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
        self.fh.close()


def load_queue(root):
    q = read_json(os.path.join(root.path, "queue.json"), {}) or {}
    q.setdefault("order", [])
    q.setdefault("held", {})  # "gpu:N" or "cpu:RUN" -> run id
    q.setdefault("cpu_slots", DEFAULT_CPU_SLOTS)
    q.setdefault("poll_s", DEFAULT_POLL_S)
    return q


def save_queue(root, q):
    write_atomic(os.path.join(root.path, "queue.json"), json.dumps(q))


# ----------------------------------------------------------------------------- state


def run_status(root, run_id, order=None):
    """The run's state from its folder; the same reading for every caller."""
    d = root.run_dir(run_id)
    if not os.path.isdir(d):
        return {"state": "missing"}
    out = {"state": "lost"}
    started = read_text(os.path.join(d, "started_at"))
    if started:
        out["started_at"] = float(started)
    gpus = read_text(os.path.join(d, "gpus"))
    if gpus is not None:
        out["gpus"] = [int(g) for g in gpus.split(",") if g.strip()]
    cancelled = os.path.exists(os.path.join(d, "cancelled"))
    code_text = read_text(os.path.join(d, "exit_code"))
    if code_text is not None and code_text.strip():
        code = int(code_text.strip())
        out["exit_code"] = code
        out["ended_at"] = os.path.getmtime(os.path.join(d, "exit_code"))
        if cancelled:
            out["state"] = "cancelled"
        elif os.path.exists(os.path.join(d, "timed_out")):
            out["state"] = "timeout"
        else:
            out["state"] = "succeeded" if code == 0 else "failed"
        return out
    if order is None:
        order = load_queue(root)["order"]
    if run_id in order:
        out["state"] = "queued"
        out["position"] = order.index(run_id)
        return out
    record = read_text(os.path.join(d, "pid"))
    if record is None:
        starting = os.path.join(d, "starting")
        if cancelled and not os.path.exists(starting):
            out["state"] = "cancelled"  # dropped from the queue before it ever started
            out["ended_at"] = os.path.getmtime(os.path.join(d, "cancelled"))
        elif os.path.exists(starting) and time.time() - os.path.getmtime(starting) < (
            STARTING_TIMEOUT_S
        ):
            out["state"] = "starting"
        return out
    if alive(record):
        out["state"] = "running"
        return out
    # The wrapper is gone: it may have written exit_code just now.
    if read_text(os.path.join(d, "exit_code")):
        return run_status(root, run_id, order)
    out["reason"] = "rebooted" if record.split()[-1] != (boot_id() or "-") else "wrapper died"
    return out


def finished(root, run_id):
    return run_status(root, run_id, order=[])["state"] not in ("running", "starting")


# ----------------------------------------------------------------------------- GPUs


def nvidia_smi(args, timeout=20):
    try:
        out = subprocess.run(
            ["nvidia-smi", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.decode("utf-8", "replace")


def gpu_inventory():
    """[{index, uuid, name, memory_used, memory_total, busy}] from nvidia-smi; [] without."""
    text = nvidia_smi(
        [
            "--query-gpu=index,uuid,name,memory.used,memory.total,driver_version",
            "--format=csv,noheader,nounits",
        ]
    )
    if text is None:
        return []
    gpus = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) < 6:
            continue
        try:
            used, total = float(cells[3]), float(cells[4])
            index = int(cells[0])
        except ValueError:
            continue  # "[N/A]" or a GPU that fell off the bus: not placeable
        gpus.append(
            {
                "index": index,
                "uuid": cells[1],
                "name": cells[2],
                "memory_used": used,
                "memory_total": total,
                "driver": cells[5],
                "busy": False,
            }
        )
    apps = nvidia_smi(["--query-compute-apps=gpu_uuid,pid", "--format=csv,noheader"])
    busy = set()
    for line in (apps or "").splitlines():
        cells = [c.strip() for c in line.split(",")]
        if cells and cells[0]:
            busy.add(cells[0])
    for g in gpus:
        g["busy"] = g["uuid"] in busy or (
            g["memory_total"] > 0 and g["memory_used"] > FREE_MEMORY_FRACTION * g["memory_total"]
        )
    return gpus


# ----------------------------------------------------------------------------- placement


def spawn_detached(argv, log_path):
    """Start argv in a new session, stdin /dev/null, output to log_path, and return at once.

    Double fork: the process is re-parented to init, so neither the agent nor a long-lived
    queue runner keeps a zombie of it (a zombie would pass a pid check), and an SSH
    channel that started it can close without taking it along.
    """
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                devnull = os.open(os.devnull, os.O_RDONLY)
                out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                os.dup2(devnull, 0)
                os.dup2(out, 1)
                os.dup2(out, 2)
                os.execv(sys.executable, [sys.executable, *argv])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def schedule(root, q):
    """One placement pass (under the lock): free the holds of ended runs, then start the
    queued runs that fit, in queue order (a run that does not fit lets later, smaller
    ones start: backfill). Returns the ids started."""
    for key, run_id in list(q["held"].items()):
        if finished(root, run_id):
            del q["held"][key]
    started = []
    order = q["order"]
    if not order:
        return started
    specs = {}
    for run_id in list(order):
        spec = read_json(os.path.join(root.run_dir(run_id), "spec.json"))
        if spec is None or os.path.exists(os.path.join(root.run_dir(run_id), "cancelled")):
            order.remove(run_id)
        else:
            specs[run_id] = spec
    need_gpus = any(int(s.get("gpus") or 0) > 0 for s in specs.values())
    inventory = gpu_inventory() if need_gpus else []
    free = [
        g["index"] for g in inventory if ("gpu:%d" % g["index"]) not in q["held"] and not g["busy"]
    ]
    cpu_running = sum(1 for key in q["held"] if key.startswith("cpu:"))
    for run_id in list(order):
        spec = specs[run_id]
        want = int(spec.get("gpus") or 0)
        if want > 0:
            if len(free) < want:
                continue
            take, free = free[:want], free[want:]
            for g in take:
                q["held"]["gpu:%d" % g] = run_id
        else:
            if cpu_running >= int(q.get("cpu_slots") or 1):
                continue
            take = []
            cpu_running += 1
            q["held"]["cpu:" + run_id] = run_id
        d = root.run_dir(run_id)
        write_atomic(os.path.join(d, "gpus"), ",".join(str(g) for g in take))
        write_atomic(os.path.join(d, "starting"), str(time.time()))
        order.remove(run_id)
        spawn_detached([root.agent, "wrap", d], os.path.join(d, "wrapper.log"))
        started.append(run_id)
    return started


def ensure_queue_runner(root, q):
    """Under the lock: a queue with entries has a live queue runner on this host."""
    if not q["order"]:
        return
    if alive(read_text(os.path.join(root.path, "queue-runner.pid"))):
        return
    spawn_detached(
        [root.agent, "queue-run", root.path], os.path.join(root.path, "queue-runner.log")
    )


def cmd_queue_run(root, request):
    with Lock(root):
        if alive(read_text(os.path.join(root.path, "queue-runner.pid"))):
            return {"started": False}  # another runner got there first
        write_atomic(os.path.join(root.path, "queue-runner.pid"), pid_record(os.getpid()))
    while True:
        with Lock(root):
            q = load_queue(root)
            schedule(root, q)
            save_queue(root, q)
            if not q["order"]:
                os.remove(os.path.join(root.path, "queue-runner.pid"))
                return {"started": True}
            poll_s = float(q.get("poll_s") or DEFAULT_POLL_S)
        time.sleep(poll_s)


# ----------------------------------------------------------------------------- commands


def cmd_submit(root, request):
    """Create the folders of new runs, queue them, and start what fits now.

    Idempotent by run id: a run whose folder exists is left as it is (a launch retried
    after a dropped connection never starts a run twice).
    """
    answers = {}
    total_gpus = None
    with Lock(root):
        q = load_queue(root)
        if request.get("cpu_slots"):
            q["cpu_slots"] = int(request["cpu_slots"])
        if request.get("poll_s"):
            q["poll_s"] = float(request["poll_s"])
        for run in request.get("runs", []):
            d = root.run_dir(run["id"])
            if os.path.isdir(d):
                continue
            want = int(run.get("gpus") or 0)
            if want > 0:
                if total_gpus is None:
                    total_gpus = len(gpu_inventory())
                if want > total_gpus:
                    answers[run["id"]] = {
                        "state": "rejected",
                        "reason": "needs %d GPU(s); this host has %d" % (want, total_gpus),
                    }
                    continue
            tmp = d + ".new%d" % os.getpid()
            os.makedirs(tmp, 0o700)
            write_atomic(os.path.join(tmp, "spec.json"), json.dumps(run, indent=1))
            # The command exactly as the cockpit built it (every value shlex-quoted).
            write_atomic(os.path.join(tmp, "cmd.sh"), run["command"] + "\n")
            open(os.path.join(tmp, "out.log"), "a").close()
            os.rename(tmp, d)
            q["order"].append(run["id"])
        schedule(root, q)
        save_queue(root, q)
        ensure_queue_runner(root, q)
        order = list(q["order"])
    for run in request.get("runs", []):
        if run["id"] not in answers:
            answers[run["id"]] = run_status(root, run["id"], order)
    return {"runs": answers, "boot_id": boot_id()}


def cmd_status(root, request):
    order = load_queue(root)["order"]
    runs = {}
    for run_id in request.get("ids", []):
        try:
            runs[run_id] = run_status(root, run_id, order)
        except ValueError:
            runs[run_id] = {"state": "missing"}
    return {"runs": runs, "boot_id": boot_id(), "time": time.time()}


def kill_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def group_alive(pgid):
    return kill_group(pgid, 0)


def cmd_cancel(root, request):
    grace = float(request.get("grace_s", DEFAULT_GRACE_S))
    waiting = []
    with Lock(root):
        q = load_queue(root)
        for run_id in request.get("ids", []):
            d = root.run_dir(run_id)
            if not os.path.isdir(d) or read_text(os.path.join(d, "exit_code")):
                continue
            write_atomic(os.path.join(d, "cancelled"), str(time.time()))
            if run_id in q["order"]:
                q["order"].remove(run_id)
                continue
            waiting.append(run_id)
        save_queue(root, q)
    for run_id in waiting:
        d = root.run_dir(run_id)
        record = read_text(os.path.join(d, "pid"))
        if alive(record):
            os.kill(int(record.split()[0]), signal.SIGTERM)  # the wrapper does TERM/KILL
    deadline = time.time() + grace + 5.0
    for run_id in waiting:
        d = root.run_dir(run_id)
        while time.time() < deadline and not read_text(os.path.join(d, "exit_code")):
            if not alive(read_text(os.path.join(d, "pid"))) and not os.path.exists(
                os.path.join(d, "starting")
            ):
                break
            time.sleep(0.05)
        if not read_text(os.path.join(d, "exit_code")):
            # No wrapper to do it (it died, or never started): end the group ourselves.
            pgid = read_text(os.path.join(d, "pgid"))
            if pgid and pgid.strip().isdigit():
                terminate_group(int(pgid), grace)
            write_atomic(os.path.join(d, "exit_code"), "%d\n" % (128 + signal.SIGTERM))
    with Lock(root):
        q = load_queue(root)
        schedule(root, q)
        save_queue(root, q)
        ensure_queue_runner(root, q)
    return cmd_status(root, {"ids": request.get("ids", [])})


def cmd_queue(root, request):
    """List the queue, or move / drop one entry (dropping cancels the queued run)."""
    with Lock(root):
        q = load_queue(root)
        op = request.get("op", "list")
        run_id = request.get("id")
        if op in ("move", "drop") and run_id not in q["order"]:
            return {"error": "run %s is not queued on this host" % run_id, "order": q["order"]}
        if op == "move":
            q["order"].remove(run_id)
            pos = max(0, min(int(request.get("position", 0)), len(q["order"])))
            q["order"].insert(pos, run_id)
        elif op == "drop":
            q["order"].remove(run_id)
            write_atomic(os.path.join(root.run_dir(run_id), "cancelled"), str(time.time()))
        if op != "list":
            save_queue(root, q)
        return {"order": q["order"], "held": q["held"]}


def cmd_read_log(root, request):
    d = root.run_dir(request["id"])
    offset = int(request.get("offset", 0))
    max_bytes = int(request.get("max_bytes", 65536))
    path = os.path.join(d, "out.log")
    done = bool(read_text(os.path.join(d, "exit_code")))
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(max_bytes)
            size = os.fstat(fh.fileno()).st_size
    except OSError:  # (a passing NFS error is no truncation: the size is unknown)
        data, size = b"", None
    nxt = offset + len(data)
    return {
        "data": base64.b64encode(data).decode("ascii"),
        "next_offset": nxt,
        "eof": done and (size is None or nxt >= size),
        "size": size,  # smaller than offset: the log was truncated under the reader
    }


def cmd_files(root, request):
    """Small files of finished runs (metrics, provenance), to record their results."""
    out = {}
    for run_id in request.get("ids", []):
        d = root.run_dir(run_id)
        files = {}
        for name in request.get("names", []):
            if "/" in name or name.startswith("."):
                continue
            path = os.path.join(d, name)
            try:
                with open(path, "rb") as fh:
                    data = fh.read(MAX_FILE_BYTES + 1)
            except OSError:
                continue
            files[name] = {
                "data": base64.b64encode(data[:MAX_FILE_BYTES]).decode("ascii"),
                "truncated": len(data) > MAX_FILE_BYTES,
            }
        out[run_id] = files
    return {"runs": out}


# ----------------------------------------------------------------------------- wrapper


def git_provenance(workdir):
    def git(*args):
        try:
            out = subprocess.run(
                ["git", "-C", workdir, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                timeout=20,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": None}
    status = git("status", "--porcelain") or b""
    diff = (git("diff", "HEAD", "--binary") or b"") + status
    dirty = bool(status.strip())
    return {
        "git_commit": commit.decode().strip(),
        "git_dirty": dirty,
        "git_diff_sha256": hashlib.sha256(diff).hexdigest() if dirty else None,
    }


def gpu_provenance(gpus):
    if not gpus:
        return {}
    inventory = {g["index"]: g for g in gpu_inventory()}
    banner = nvidia_smi([]) or ""
    cuda = re.search(r"CUDA Version:\s*([0-9.]+)", banner)
    chosen = [inventory[g] for g in gpus if g in inventory]
    return {
        "gpu_models": [g["name"] for g in chosen],
        "gpu_uuids": [g["uuid"] for g in chosen],
        "gpu_driver": chosen[0]["driver"] if chosen else None,
        "cuda_version": cuda.group(1) if cuda else None,
    }


def python_provenance(env, workdir):
    """The python the run's PATH finds, and the versions of key packages it sees."""
    probe = (
        "import json,sys\n"
        "try:\n from importlib import metadata as m\n"
        "except ImportError:\n m=None\n"
        "v={}\n"
        "for p in %r:\n"
        " try:\n  v[p]=m.version(p)\n"
        " except Exception:\n  pass\n"
        "print(json.dumps({'python':sys.version.split()[0],'python_executable':sys.executable,"
        "'packages':v}))\n" % (KEY_PACKAGES,)
    )
    try:
        out = subprocess.run(
            ["python3", "-c", probe],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=20,
        )
        return json.loads(out.stdout.decode())
    except (OSError, ValueError, subprocess.SubprocessError):
        return {"python": None}


def terminate_group(pgid, grace_s, child=None):
    """TERM to the whole group; KILL to whatever is left after the grace."""
    kill_group(pgid, signal.SIGTERM)
    deadline = time.time() + grace_s
    while time.time() < deadline:
        if child is not None:
            child.poll()
        if not group_alive(pgid):
            return
        time.sleep(0.05)
    kill_group(pgid, signal.SIGKILL)


def cmd_wrap(run_dir):
    """Run one run to its end and record how it ended. Runs detached, in its own session."""
    spec = read_json(os.path.join(run_dir, "spec.json"))
    # Read once, into this process: editing spec.json later changes nothing.
    limit = spec.get("time_limit_s")
    grace = float(spec.get("grace_s") or DEFAULT_GRACE_S)
    write_atomic(os.path.join(run_dir, "pid"), pid_record(os.getpid()))
    write_atomic(os.path.join(run_dir, "boot_id"), boot_id() + "\n")
    stop = {"signal": None}

    def on_signal(signum, frame):
        stop["signal"] = signum

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    gpus = [int(g) for g in (read_text(os.path.join(run_dir, "gpus")) or "").split(",") if g]
    workdir = os.path.expanduser(spec.get("workdir") or "~")
    env = dict(os.environ)
    env.update(spec.get("env") or {})
    env.update(
        {
            "CUDA_VISIBLE_DEVICES": ",".join(str(g) for g in gpus),
            "COCKPIT_RUN_ID": spec["id"],
            "COCKPIT_RUN_DIR": run_dir,
            "COCKPIT_METRICS": os.path.join(run_dir, "metrics.jsonl"),
        }
    )
    prov = {
        "run_id": spec["id"],
        "command": spec["command"],
        "workdir": workdir,
        "host": socket.gethostname(),
        "boot_id": boot_id(),
        "gpus": gpus,
        "time_limit_s": limit,
        "env": {
            k: v
            for k, v in sorted(env.items())
            if ENV_OF_INTEREST.match(k) and not SECRET_NAME.search(k)
        },
    }
    prov.update(git_provenance(workdir))
    started_at = time.time()
    prov["started_at"] = started_at
    write_atomic(os.path.join(run_dir, "started_at"), repr(started_at))
    with open(os.path.join(run_dir, "out.log"), "ab") as log:
        try:
            child = subprocess.Popen(
                ["/bin/sh", os.path.join(run_dir, "cmd.sh")],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the group kill reaches it all
            )
        except OSError as exc:
            log.write(("cockpit: cannot start the run: %s\n" % exc).encode())
            child = None
    os.remove(os.path.join(run_dir, "starting"))
    if child is None:
        return finish(run_dir, prov, 127)
    pgid = child.pid
    write_atomic(os.path.join(run_dir, "pgid"), "%d\n" % pgid)
    prov.update(gpu_provenance(gpus))
    prov.update(python_provenance(env, workdir))
    write_atomic(os.path.join(run_dir, "provenance.json"), json.dumps(prov, indent=1))
    timed_out = False
    while child.poll() is None:
        if stop["signal"] is not None or os.path.exists(os.path.join(run_dir, "cancelled")):
            write_atomic(os.path.join(run_dir, "cancelled"), str(time.time()))
            terminate_group(pgid, grace, child)
            break
        if limit and time.time() - started_at > float(limit):
            timed_out = True
            write_atomic(os.path.join(run_dir, "timed_out"), str(time.time()))
            terminate_group(pgid, grace, child)
            break
        time.sleep(0.1)
    code = child.wait()
    if group_alive(pgid):
        # The main process is gone but children it forked are not: none may outlive it.
        terminate_group(pgid, min(grace, 2.0))
    if timed_out:
        code = 124
    elif code < 0:
        code = 128 - code
    return finish(run_dir, prov, code)


def finish(run_dir, prov, code):
    """Record how the run ended (exit_code last, atomically), then let the queue move."""
    prov["ended_at"] = time.time()
    prov["exit_code"] = code
    write_atomic(os.path.join(run_dir, "provenance.json"), json.dumps(prov, indent=1))
    write_atomic(os.path.join(run_dir, "exit_code"), "%d\n" % code)
    # Free this run's GPUs and start what waits for them, without waiting for a poll.
    root = Root(os.path.dirname(os.path.dirname(run_dir)))
    with Lock(root):
        q = load_queue(root)
        schedule(root, q)
        save_queue(root, q)
        ensure_queue_runner(root, q)
    return 0


# ----------------------------------------------------------------------------- serve

# What a serve session answers: the frequent, read-only requests. Everything that changes
# a host's runs or queue stays one command per call, with its own process and lock.
SERVED = ("status", "read-log")
SERVE_IDLE_S = 120.0  # exit when nobody asked for this long (a dropped link leaves no EOF)


def serve(root, idle_s=SERVE_IDLE_S):
    """Answer {"command", "request"} JSON lines on stdin with one JSON line each, until
    EOF or idle_s without a request."""
    import select

    pending = b""
    while True:
        while b"\n" not in pending:
            ready, _, _ = select.select([0], [], [], idle_s)
            if not ready:
                return 0
            data = os.read(0, 65536)
            if not data:
                return 0
            pending += data
        line, pending = pending.split(b"\n", 1)
        try:
            message = json.loads(line.decode("utf-8"))
            command = message["command"]
            if command not in SERVED:
                raise ValueError("not served here: %s" % command)
            answer = COMMANDS[command](root, message.get("request", {}))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            answer = {"error": "%s: %s" % (type(exc).__name__, exc)}
        out = (json.dumps(answer) + "\n").encode("utf-8")
        while out:
            out = out[os.write(1, out) :]


# ----------------------------------------------------------------------------- entry

COMMANDS = {
    "submit": cmd_submit,
    "status": cmd_status,
    "cancel": cmd_cancel,
    "queue": cmd_queue,
    "read-log": cmd_read_log,
    "files": cmd_files,
    "queue-run": cmd_queue_run,
}


def install(root, source):
    """Keep a copy of this agent under ROOT/bin, named by its hash, for the detached
    processes to run (they outlive the command that sent it)."""
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
    bindir = os.path.join(root.path, "bin")
    path = os.path.join(bindir, "agent-%s.py" % digest)
    if not os.path.exists(path):
        if not os.path.isdir(bindir):
            os.makedirs(bindir, 0o700)
        write_atomic(path, source)
    return path


def main(argv, payload=None):
    """argv: COMMAND ROOT, or wrap RUN_DIR. payload: set by the one-line bootstrap, which
    passes this file's source and the request together on stdin."""
    if argv and argv[0] == "wrap":
        return cmd_wrap(argv[1])
    command, root = argv[0], Root(argv[1])
    if command == "serve":
        return serve(root, float(argv[2]) if len(argv) > 2 else SERVE_IDLE_S)
    if payload is not None:
        root.ensure()
        root.agent = install(root, payload["agent"])
        request = payload.get("request", {})
    elif command == "queue-run":
        request = {}
    else:
        request = json.loads(sys.stdin.read() or "{}")
    try:
        answer = COMMANDS[command](root, request)
    except (OSError, ValueError, KeyError) as exc:
        answer = {"error": "%s: %s" % (type(exc).__name__, exc)}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
