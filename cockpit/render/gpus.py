"""The GPU table `cockpit gpus` prints: one row per GPU, or one per host that has none."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from rich.text import Text

from cockpit.models import HostSnapshot, HostState
from cockpit.render.safe import printable_fields


def _num(value: float | None, fmt: str) -> str:
    return "?" if value is None else fmt.format(value)


def gpu_table(snapshots: Iterable[HostSnapshot]) -> Table:
    snapshots = printable_fields(list(snapshots))  # names and reasons come from the hosts
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
