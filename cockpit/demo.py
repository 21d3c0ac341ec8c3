"""The embedded demo: the sample_runs/ sweep loaded into a store, one run replaying live.

The demo goes through the same store, bus and backends as real work; only the backends are
simulated (GPUs from a random walk, a run from its recorded log).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sample_runs
from cockpit.bus import CommandError
from cockpit.models import (
    Command,
    CommandOrigin,
    CommandStatus,
    DraftVersion,
    EvalItem,
    GpuProcess,
    Host,
    HostKind,
    Idea,
    MetricPoint,
    Run,
    RunSpec,
    RunState,
    Sweep,
)
from cockpit.store import Store

if TYPE_CHECKING:
    # The run lifecycle (and the sweep parser under it) loads after the first frame.
    from cockpit.runs import RunCommandHandler

DEMO_HOSTS: tuple[Host, ...] = (
    Host(name="demo-a", kind=HostKind.DEMO, address="simulated", gpus=4, labels=("a100",)),
    Host(name="demo-b", kind=HostKind.DEMO, address="simulated", gpus=4, labels=("h100",)),
)
DEMO_DRAFT = "galore-forgetting"
SEEDED_KEY = "demo.seeded_at"


def sample_runs_dir() -> Path:
    """Where the demo data is, in a checkout or an installed copy alike."""
    return Path(sample_runs.__file__).parent  # shipped as plain files, as themes/ is


@dataclass(frozen=True)
class DemoData:
    root: Path

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def sweep_spec(self) -> dict[str, Any]:
        return json.loads((self.root / "sweep.json").read_text())

    def run_spec(self, run_id: str) -> dict[str, Any]:
        return json.loads((self.runs_dir / run_id / "spec.json").read_text())

    def live_run_id(self) -> str:
        """The run the demo replays live: the last of the sweep, finishing last overnight."""
        return str(self.sweep_spec()["runs"][-1])


def read_metrics_jsonl(path: Path, run_id: str) -> Iterator[MetricPoint]:
    with path.open() as fh:
        for line in fh:
            record = json.loads(line)
            step = int(record.pop("step"))
            for name, value in record.items():
                if isinstance(value, int | float):
                    yield MetricPoint(run_id, step, name, float(value))


def read_eval_items_jsonl(path: Path, run_id: str) -> Iterator[EvalItem]:
    with path.open() as fh:
        for line in fh:
            record = json.loads(line)
            yield EvalItem(run_id, record["task"], str(record["doc_id"]), float(record["acc"]))


def collect_run_results(store: Store, data: DemoData, run_id: str) -> None:
    """Record a finished run's metrics and per-item evals, as the real collector will."""
    run_dir = data.runs_dir / run_id
    store.add_metrics(read_metrics_jsonl(run_dir / "metrics.jsonl", run_id))
    items = run_dir / "eval_items.jsonl"
    if items.is_file():
        store.add_eval_items(read_eval_items_jsonl(items, run_id))


def _timestamp(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() if iso else None


def seed_demo(store: Store, data: DemoData | None = None, now: float | None = None) -> bool:
    """Fill an empty store with the demo. Returns False (and changes nothing) if seeded."""
    if store.get_setting(SEEDED_KEY) is not None:
        return False
    data = data or DemoData(sample_runs_dir())
    now = time.time() if now is None else now
    for host in DEMO_HOSTS:
        store.add_host(host, replace=True)
    sweep = data.sweep_spec()
    store.upsert_sweep(
        Sweep(
            name=sweep["name"],
            factors=sweep["factors"],
            baseline=sweep.get("baseline"),
            primary_metric=sweep.get("primary_metric"),
            thresholds=sweep.get("thresholds", {}),
            created_at=now,
        )
    )
    live = data.live_run_id()
    for run_id in sweep["runs"]:
        spec = data.run_spec(run_id)
        provenance_path = data.runs_dir / run_id / "provenance.json"
        provenance = json.loads(provenance_path.read_text()) if provenance_path.is_file() else {}
        run = Run(
            id=run_id,
            spec=RunSpec(
                name=run_id,
                command=spec["command"],
                config=spec["config"],
                sweep=sweep["name"],
                host=spec["host"],
                gpus=len(spec.get("gpus", [0])),
                timeout_s=spec.get("timeout_s"),
            ),
            host=spec["host"],
            gpu_ids=tuple(spec.get("gpus", [0])),
            remote_dir=f"~/.cockpit/runs/{run_id}",
            provenance=provenance,
        )
        if run_id == live:
            run.state = RunState.RUNNING
            run.started_at = now
        else:
            run.state = RunState.SUCCEEDED
            run.exit_code = 0
            run.started_at = _timestamp(provenance.get("started_at"))
            run.ended_at = _timestamp(provenance.get("ended_at"))
        store.upsert_run(run)
        if run_id != live:
            collect_run_results(store, data, run_id)
    for idea in json.loads((data.root / "ideas.json").read_text()):
        store.upsert_idea(
            Idea(
                name=idea["Name"],
                title=idea["Title"],
                experiment=idea.get("Experiment", ""),
                interestingness=idea.get("Interestingness"),
                feasibility=idea.get("Feasibility"),
                novelty=idea.get("Novelty"),
                novel=idea.get("novel"),
                source="file",
            )
        )
    paper = data.root / "paper"
    for entry in json.loads((paper / "versions.json").read_text()):
        store.add_draft_version(
            DraftVersion(
                draft=DEMO_DRAFT,
                version=int(entry["version"]),
                text=(paper / entry["file"]).read_text(),
                message=entry.get("message", ""),
                created_at=_timestamp(entry.get("created_at")) or now,
            ),
            title="GaLore rank and forgetting",
        )
    # An agent's suggestion, waiting for a person: the demo shows the confirmation gate.
    best = sweep["runs"][1] if len(sweep["runs"]) > 1 else live
    store.insert_command(
        pane="runs",
        backend="demo",
        kind="run.relaunch",
        payload={"run_id": best, "reason": "replicate the strongest config with a new seed"},
        status=CommandStatus.NEEDS_CONFIRM,
        origin=CommandOrigin.LLM,
    )
    store.set_setting(SEEDED_KEY, now)
    return True


DEMO_USER = "you"  # who owns the demo's own runs; a colleague's jobs belong to "alice"


def _colleague_jobs() -> dict[tuple[str, int], GpuProcess]:
    return {
        ("demo-b", 1): GpuProcess(4711, "alice", "python train_dpo.py --beta 0.1", 61440.0),
        ("demo-b", 2): GpuProcess(4712, "alice", "python train_dpo.py --beta 0.3", 60928.0),
    }


@dataclass
class DemoCluster:
    """Who runs what on the simulated GPUs besides the demo's own runs.

    A colleague's jobs make the cluster look shared and give the idle view and the kill
    action something real to act on.
    """

    others: dict[tuple[str, int], GpuProcess] = field(default_factory=_colleague_jobs)

    def busy_gpus(self, runs: Iterable[Run]) -> dict[tuple[str, int], GpuProcess]:
        busy = dict(self.others)
        for run in runs:
            if run.state is RunState.RUNNING and run.host:
                for gpu in run.gpu_ids:
                    busy[(run.host, gpu)] = GpuProcess(
                        run_pid(run), DEMO_USER, run.spec.command, used_memory_mib=42000.0
                    )
        return busy

    def kill(self, host: str, pid: int) -> bool:
        for key, proc in list(self.others.items()):
            if key[0] == host and proc.pid == pid:
                del self.others[key]
                return True
        return False


def run_pid(run: Run) -> int:
    """A stable fake pid for a demo run's training process."""
    return 20000 + sum(map(ord, run.id)) % 10000


class DemoGpuKillHandler:
    """gpu.kill on the simulated cluster: a colleague's job goes away, a demo run is cancelled."""

    def __init__(self, store: Store, runs: RunCommandHandler, cluster: DemoCluster) -> None:
        self.store = store
        self.runs = runs
        self.cluster = cluster

    async def handle(self, command: Command) -> dict[str, Any]:
        if command.kind == "gpu.kill":
            host, pid = str(command.payload["host"]), int(command.payload["pid"])
            if self.cluster.kill(host, pid):
                return {"host": host, "pid": pid, "signal": "TERM", "exited": True}
            for run in await asyncio.to_thread(self.store.list_runs):
                if run.host == host and run.state is RunState.RUNNING and run_pid(run) == pid:
                    # Killing a run's own process is cancelling the run.
                    cancel = replace(command, kind="run.cancel", payload={"run_id": run.id})
                    return await self.runs.handle(cancel)
            raise CommandError(f"no process {pid} on {host}")
        raise CommandError(f"the demo backend does not do {command.kind!r}")
