"""`cockpit gpus`: per-host, per-GPU state outside the TUI, as a table or JSON.

Core code: it consumes any GpuSource and knows nothing of SSH or Textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from cockpit.models import HostSnapshot, HostState

if TYPE_CHECKING:
    from cockpit.ports import GpuSource

# A host is settled when more waiting will not change what we can say about it.
SETTLED = frozenset(
    {
        HostState.LIVE,
        HostState.DOWN,
        HostState.AUTH_FAILED,
        HostState.HOST_KEY_UNKNOWN,
        HostState.UNSUPPORTED,
    }
)


def _settled(snap: HostSnapshot) -> bool:
    return snap.state in SETTLED and (snap.state is not HostState.LIVE or bool(snap.gpus))


async def collect_snapshots(
    source: GpuSource,
    hosts: Iterable[str],
    timeout_s: float,
    latest: dict[str, HostSnapshot] | None = None,
) -> dict[str, HostSnapshot]:
    """Read the source until every host is settled or `timeout_s` passes.

    `latest` carries state between calls so `--watch` keeps one connection per host.
    """
    wanted = list(hosts)
    latest = {} if latest is None else latest
    fresh: set[str] = set()

    async def consume() -> None:
        async for snap in source.stream():
            latest[snap.host] = snap
            if _settled(snap):
                fresh.add(snap.host)
            if fresh.issuperset(wanted):
                return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(consume(), timeout=timeout_s)
    now = time.time()
    for host in wanted:
        if host not in latest:
            latest[host] = HostSnapshot(
                host, HostState.DOWN, now, reason=f"no answer within {timeout_s:.0f} s"
            )
    return {h: latest[h] for h in wanted}


def snapshot_to_json(snap: HostSnapshot, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    return {
        "host": snap.host,
        "state": str(snap.state),
        "reason": snap.reason,
        "source": snap.source,
        "driver_version": snap.driver_version,
        "cuda_version": snap.cuda_version,
        "timestamp": snap.timestamp,
        "age_s": round(max(0.0, now - snap.timestamp), 3),
        "gpus": [
            {
                **{k: v for k, v in asdict(g).items() if k not in ("host", "processes")},
                "memory_pct": g.memory_pct,
                "idle": g.idle,
                "processes": [asdict(p) for p in g.processes],
            }
            for g in snap.gpus
        ],
    }


def _num(value: float | None, fmt: str) -> str:
    return "?" if value is None else fmt.format(value)


def gpu_table(snapshots: Iterable[HostSnapshot]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("host:gpu", "name", "util", "mem GiB", "°C", "W", "procs"):
        table.add_column(column)
    for snap in snapshots:
        if not snap.gpus:
            why = f" ({snap.reason})" if snap.reason else ""
            table.add_row(snap.host, Text(f"{snap.state}{why}", style="red"), *[""] * 5)
            continue
        for g in snap.gpus:
            mem = (
                f"{_num(g.memory_used_mib and g.memory_used_mib / 1024, '{:.0f}')}/"
                f"{_num(g.memory_total_mib and g.memory_total_mib / 1024, '{:.0f}')}"
            )
            procs = (
                "idle"
                if g.idle
                else ", ".join(f"{p.pid}:{p.user or '?'}" for p in g.processes) or "0"
            )
            table.add_row(
                f"{snap.host}:{g.index}"
                + ("" if snap.state is HostState.LIVE else f" {snap.state}"),
                (g.name or "?").replace("NVIDIA ", ""),
                _num(g.utilization_pct, "{:.0f}%"),
                mem,
                _num(g.temperature_c, "{:.0f}"),
                _num(g.power_w, "{:.0f}"),
                procs,
            )
    return table


def all_reachable(snapshots: Iterable[HostSnapshot]) -> bool:
    """Exit status 1 for scripts and cron when any host could not be read."""
    return all(
        s.state in (HostState.LIVE, HostState.UNSUPPORTED, HostState.STALE) for s in snapshots
    )
