"""Placement of new runs on hosts, on the cockpit's side.

The cockpit decides which host each run goes to; the host decides which of its GPUs, at
the moment the run starts, under its own lock (backends/runners/host_agent.py), because
only the host knows which GPUs are free then, and two cockpits must never disagree.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from cockpit.models import Host, HostKind, Run, RunSpec, Sweep
from cockpit.sweep import SweepSpec, expand, is_baseline, sweep_record
from cockpit.validate import ValidationError

# Host kinds that run things today (Slurm follows).
RUNNABLE_KINDS = (HostKind.LOCAL, HostKind.SSH)
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def new_run_id(name: str) -> str:
    """A run id that is a safe folder name on any host, and says what the run is."""
    stem = _ID_UNSAFE.sub("-", name).strip("-._")[:48] or "run"
    return f"{stem}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class LaunchPlan:
    """What a launch will do: the sweep to record (if any) and its runs, host chosen."""

    runs: list[Run]
    sweep: Sweep | None = None
    hosts: list[Host] = field(default_factory=list)


def choose_hosts(known: Sequence[Host], wanted: Sequence[str]) -> list[Host]:
    """The hosts a launch may use: those named, else every host that can run."""
    by_name = {h.name: h for h in known}
    if wanted:
        chosen = []
        for name in wanted:
            host = by_name.get(name)
            if host is None:
                raise ValidationError(f"hosts: no host named {name!r} (see cockpit host list)")
            if host.kind not in RUNNABLE_KINDS:
                raise ValidationError(f"hosts: {name} is a {host.kind} host; it cannot run yet")
            if host.read_only:
                raise ValidationError(f"hosts: {name} is read-only; nothing is launched there")
            chosen.append(host)
        return chosen
    chosen = [h for h in known if h.kind in RUNNABLE_KINDS and not h.read_only]
    if not chosen:
        raise ValidationError(
            "hosts: no host can run anything; add one: cockpit host add NAME --local"
        )
    return chosen


def assign_hosts(specs: Sequence[RunSpec], hosts: Sequence[Host]) -> list[Host]:
    """A host per run, spreading the work by capacity: each run goes where the queued
    work per GPU (per slot for CPU runs) is least, so no host queues while another idles."""
    if not hosts:
        raise ValidationError("hosts: none to launch on")
    load = {h.name: 0.0 for h in hosts}
    out: list[Host] = []
    for spec in specs:
        need = max(spec.gpus, 1)

        def cost(host: Host, need: int = need) -> float:
            return (load[host.name] + need) / max(host.gpus or 1, 1)

        best = min(hosts, key=cost)
        load[best.name] += need
        out.append(best)
    return out


def plan_runs(
    specs: Sequence[RunSpec],
    hosts: Sequence[Host],
    *,
    higher_is_better: dict[str, bool] | None = None,
) -> list[Run]:
    """New runs (ids fixed now, so the launch is idempotent) on their assigned hosts."""
    provenance = {"higher_is_better": dict(higher_is_better)} if higher_is_better else {}
    return [
        Run(
            id=new_run_id(spec.name),
            spec=RunSpec(**{**spec.__dict__, "host": host.name}),
            host=host.name,
            provenance=dict(provenance),
        )
        for spec, host in zip(specs, assign_hosts(specs, hosts), strict=True)
    ]


def plan_sweep(
    spec: SweepSpec, known: Sequence[Host], wanted: Sequence[str], created_at: float
) -> LaunchPlan:
    """The runs of a sweep spec on its hosts (--host overrides the spec's), and the sweep
    record with its baseline run; what `cockpit launch` and the Runs pane's `L` launch."""
    hosts = choose_hosts(known, wanted or spec.hosts)
    direction = (
        {spec.primary_metric: spec.higher_is_better}
        if spec.primary_metric and spec.higher_is_better is not None
        else None
    )
    runs = plan_runs(expand(spec), hosts, higher_is_better=direction)
    baseline = next((r.id for r in runs if is_baseline(spec, r.spec)), None)
    return LaunchPlan(runs=runs, sweep=sweep_record(spec, baseline, created_at), hosts=hosts)


def runs_by_host(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """A launch is one command per host: its runs go in one round trip."""
    out: dict[str, list[Run]] = {}
    for run in runs:
        out.setdefault(run.host or "", []).append(run)
    return out
