"""The GPU pane: every GPU of every host, one row each, updated in place.

Drawing only: snapshots arrive through `apply_snapshots`; the pane keeps the short history
needed for sparklines (a ring per GPU) and touches only the cells whose text changed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from cockpit.models import GpuSample, HostSnapshot, HostState
from widgets.format import bar, duration, gib, sparkline

HISTORY_LEN = 600  # ten minutes at 1 Hz
SPARK_WIDTH = 12

STATE_STYLE = {
    HostState.LIVE: "green",
    HostState.CONNECTING: "yellow",
    HostState.STALE: "yellow",
    HostState.DOWN: "red",
    HostState.AUTH_FAILED: "red",
    HostState.HOST_KEY_UNKNOWN: "red",
    HostState.UNSUPPORTED: "dim",
}

COLUMNS: tuple[tuple[str, str], ...] = (
    ("gpu", "GPU"),
    ("util", "Util"),
    ("mem", "Mem GiB"),
    ("temp", "°C"),
    ("power", "Power W"),
    ("hist", "Util 10m"),
    ("procs", "Procs"),
)


def _or_na(value: object, fmt: str = "{}") -> str:
    return "n/a" if value is None else fmt.format(value)


def _util_cell(g: GpuSample) -> Text:
    pct = g.utilization_pct
    style = "green" if pct is not None and pct >= 50 else "yellow" if pct else "dim"
    label = "  ?" if pct is None else f"{pct:3.0f}%"
    return Text(f"{bar(pct, 6)}{label}", style=style)


def _mem_cell(g: GpuSample) -> Text:
    return Text(f"{bar(g.memory_pct, 5)}{gib(g.memory_used_mib):>3}/{gib(g.memory_total_mib)}")


def _power_cell(g: GpuSample) -> str:
    if g.power_w is None:
        return "?"
    limit = "?" if g.power_limit_w is None else f"{g.power_limit_w:.0f}"
    return f"{g.power_w:.0f}/{limit}"


class GpuPane(Vertical):
    BINDINGS = [
        Binding("i", "toggle_idle", "Idle only", id="gpu.idle"),
    ]

    idle_only: reactive[bool] = reactive(False)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._history: dict[tuple[str, int], deque[float | None]] = {}
        self._latest: dict[tuple[str, int], GpuSample] = {}
        self._hosts: dict[str, HostSnapshot] = {}
        self._cells: dict[tuple[str, str], str] = {}
        self.hosts_line = Static("Waiting for the first samples…", id="gpu-hosts")
        self.table: DataTable[object] = DataTable(
            id="gpu-table", cursor_type="row", zebra_stripes=True
        )
        for key, label in COLUMNS:
            self.table.add_column(label, key=key)
        self.detail = Static("", id="gpu-detail")

    def compose(self) -> ComposeResult:
        yield self.hosts_line
        yield self.table
        yield self.detail

    def apply_snapshots(self, snapshots: Iterable[HostSnapshot]) -> None:
        for snap in snapshots:
            self._hosts[snap.host] = snap
            for g in snap.gpus:
                key = (g.host, g.index)
                self._latest[key] = g
                ring = self._history.setdefault(key, deque(maxlen=HISTORY_LEN))
                ring.append(g.utilization_pct)
        self._redraw()

    def history(self, host: str, index: int) -> list[float | None]:
        return list(self._history.get((host, index), ()))

    def visible_gpus(self) -> list[GpuSample]:
        gpus = [self._latest[k] for k in sorted(self._latest)]
        return [g for g in gpus if g.idle] if self.idle_only else gpus

    def watch_idle_only(self) -> None:
        if self.is_mounted:
            self._redraw()

    def action_toggle_idle(self) -> None:
        self.idle_only = not self.idle_only

    def _host_line(self) -> Text:
        now = time.time()
        line = Text()
        for i, snap in enumerate(self._hosts.values()):
            if i:
                line.append("  ")
            line.append("● ", style=STATE_STYLE.get(snap.state, ""))
            line.append(f"{snap.host} {snap.state}", style="bold")
            if snap.state is HostState.STALE:
                line.append(f" {duration(now - snap.timestamp)} old")
            if snap.reason:
                line.append(f" ({snap.reason})", style="dim")
            elif snap.driver_version:
                line.append(
                    f" {snap.driver_version}/CUDA {snap.cuda_version or '?'} {snap.source}",
                    style="dim",
                )
        if self.idle_only:
            free = len(self.visible_gpus())
            line.append(f"\nIdle GPUs: {free} of {len(self._latest)}", style="bold green")
        return line

    def _redraw(self) -> None:
        self.hosts_line.update(self._host_line())
        table = self.table
        wanted = self.visible_gpus()
        wanted_keys = [f"{g.host}:{g.index}" for g in wanted]
        existing = [str(k.value) for k in table.rows]
        if existing != wanted_keys:
            table.clear()
            self._cells.clear()
            for g in wanted:
                key = f"{g.host}:{g.index}"
                cells = self._cells_for(g)
                table.add_row(*cells.values(), key=key)
                for col, cell in cells.items():
                    self._cells[(key, col)] = str(cell)
        else:
            for g in wanted:
                key = f"{g.host}:{g.index}"
                for col, cell in self._cells_for(g).items():
                    if self._cells.get((key, col)) != str(cell):
                        table.update_cell(key, col, cell)
                        self._cells[(key, col)] = str(cell)
        self._show_detail()

    def _cells_for(self, g: GpuSample) -> dict[str, Text | str]:
        procs = len(g.processes)
        return {
            "gpu": f"{g.host}:{g.index}",
            "util": _util_cell(g),
            "mem": _mem_cell(g),
            "temp": "?" if g.temperature_c is None else f"{g.temperature_c:.0f}",
            "power": _power_cell(g),
            "hist": Text(sparkline(self.history(g.host, g.index), SPARK_WIDTH), style="cyan"),
            "procs": Text("idle", style="green") if g.idle else str(procs),
        }

    def selected_gpu(self) -> GpuSample | None:
        table = self.table
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        host, _, idx = str(key).rpartition(":")
        return self._latest.get((host, int(idx)))

    def on_data_table_row_highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        g = self.selected_gpu()
        detail = self.detail
        if g is None:
            detail.update("No GPU matches." if self.idle_only else "")
            return
        text = Text()
        text.append(f"{g.host}:{g.index} {g.name or '?'}", style="bold")
        mig = None if g.mig_mode is None else ("on" if g.mig_mode else "off")
        text.append(
            f"  SM {_or_na(g.sm_clock_mhz, '{:.0f} MHz')}  {g.pstate or '?'}"
            f"  fan {_or_na(g.fan_pct, '{:.0f}%')}  ECC {_or_na(g.ecc_volatile_uncorrected)}"
            f"  MIG {_or_na(mig)}\n"
        )
        if not g.processes:
            text.append("no processes", style="dim")
        for p in g.processes:
            mem = "?" if p.used_memory_mib is None else f"{p.used_memory_mib / 1024:.1f} GiB"
            text.append(f"pid {p.pid:<7} {p.user or '?':<8} {mem:>9}  {p.command or '?'}\n")
        detail.update(text)
