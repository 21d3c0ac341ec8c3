"""The GPU pane: every GPU of every host, one row each, updated in place.

Drawing only: snapshots arrive through `apply_snapshots`; the pane keeps the short history
needed for sparklines (a ring per GPU) and touches only the cells whose text changed.
A host that has no GPUs to show (connecting, down, auth-failed, unsupported…) gets one row
saying so, so a dead server is never just missing from the list.
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

from cockpit.models import GpuProcess, GpuSample, HostSnapshot, HostState
from cockpit.render.safe import printable_fields
from widgets.format import bar, duration, gib, sparkline
from widgets.requests import PaneRequest

HISTORY_LEN = 600  # ten minutes at 1 Hz
SPARK_WIDTH = 12
DETAIL_SPARK_WIDTH = 60

STATE_STYLE = {
    HostState.LIVE: "green",
    HostState.CONNECTING: "yellow",
    HostState.STALE: "yellow",
    HostState.DOWN: "red",
    HostState.AUTH_FAILED: "red",
    HostState.HOST_KEY_UNKNOWN: "red",
    HostState.UNSUPPORTED: "dim",
}

STATE_HINT = {
    HostState.HOST_KEY_UNKNOWN: "check the fingerprint, then: cockpit host trust NAME",
    HostState.AUTH_FAILED: "check the user and key: cockpit host list",
    HostState.UNSUPPORTED: "no NVIDIA GPU or NVML on this host",
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


def _host_row_key(host: str) -> str:
    return f"{host}:-"


class GpuPane(Vertical):
    BINDINGS = [
        Binding("i", "toggle_idle", "Idle GPUs only", id="gpu.idle"),
        Binding("k", "kill_process", "Kill a GPU process", id="gpu.kill"),
    ]

    idle_only: reactive[bool] = reactive(False)

    class KillRequested(PaneRequest):
        """The person wants `process` on `host` gone (the app confirms first)."""

        def __init__(self, host: str, gpu_index: int, process: GpuProcess) -> None:
            super().__init__()
            self.host = host
            self.gpu_index = gpu_index
            self.process = process

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._util_history: dict[tuple[str, int], deque[float | None]] = {}
        self._mem_history: dict[tuple[str, int], deque[float | None]] = {}
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
        # While another pane is shown, samples are kept but not drawn: each draw lays the
        # screen out again (10-25 ms), many times a second as GPUs stream. Hidden until
        # first shown (Textual sends Show then, and Hide only after a Show).
        self._hidden = True
        self._stale = False

    def compose(self) -> ComposeResult:
        yield self.hosts_line
        yield self.table
        yield self.detail

    def show_message(self, text: str) -> None:
        """Say why there is nothing to show (no hosts configured, no telemetry source)."""
        self.hosts_line.update(text)

    def apply_snapshots(self, snapshots: Iterable[HostSnapshot]) -> None:
        # Process command lines, GPU names and reasons come from the hosts.
        for snap in printable_fields(list(snapshots)):
            self._hosts[snap.host] = snap
            if snap.state is not HostState.LIVE and not snap.gpus:
                continue  # keep the last known GPUs of a host that went stale
            seen = set()
            for g in snap.gpus:
                key = (g.host, g.index)
                seen.add(key)
                self._latest[key] = g
                if snap.state is HostState.LIVE:  # a stale repeat is not a new sample
                    self._util_history.setdefault(key, deque(maxlen=HISTORY_LEN)).append(
                        g.utilization_pct
                    )
                    self._mem_history.setdefault(key, deque(maxlen=HISTORY_LEN)).append(
                        g.memory_pct
                    )
            # A GPU that fell off the bus disappears from the host's samples: drop it.
            for key in [k for k in self._latest if k[0] == snap.host and k not in seen]:
                del self._latest[key]
        if self._hidden:
            self._stale = True
        else:
            self._redraw()

    def on_hide(self) -> None:
        self._hidden = True

    def on_show(self) -> None:
        self._hidden = False
        if self._stale:
            self._stale = False
            self._redraw()

    def history(self, host: str, index: int) -> list[float | None]:
        return list(self._util_history.get((host, index), ()))

    def memory_history(self, host: str, index: int) -> list[float | None]:
        return list(self._mem_history.get((host, index), ()))

    def host_state(self, host: str) -> HostState | None:
        snap = self._hosts.get(host)
        return snap.state if snap else None

    def visible_gpus(self) -> list[GpuSample]:
        gpus = [self._latest[k] for k in sorted(self._latest)]
        if self.idle_only:
            live = {h for h, s in self._hosts.items() if s.state is HostState.LIVE}
            return [g for g in gpus if g.idle and g.host in live]
        return gpus

    def watch_idle_only(self) -> None:
        if self.is_mounted:
            self._redraw()

    def action_toggle_idle(self) -> None:
        self.idle_only = not self.idle_only

    def action_kill_process(self) -> None:
        g = self.selected_gpu()
        if g is None or not g.processes:
            self.notify("No process on this GPU.", severity="warning")
            return
        # The biggest user of memory is almost always the one blocking the GPU.
        victim = max(g.processes, key=lambda p: p.used_memory_mib or 0.0)
        self.post_message(self.KillRequested(g.host, g.index, victim))

    def _host_line(self) -> Text:
        now = time.time()
        live = [s for s in self._hosts.values() if s.state is HostState.LIVE]
        line = Text()
        line.append(f"{len(live)}/{len(self._hosts)} hosts live", style="bold")
        idle = sum(1 for g in self._latest.values() if g.idle and g.host in {s.host for s in live})
        line.append(f" · {len(self._latest)} GPUs · ")
        line.append(f"{idle} idle", style="bold green" if idle else "dim")
        for snap in self._hosts.values():
            if snap.state is HostState.LIVE:
                continue
            line.append("  ● ", style=STATE_STYLE.get(snap.state, ""))
            line.append(f"{snap.host} {snap.state}", style="bold")
            if snap.state is HostState.STALE:
                line.append(f" {duration(now - snap.timestamp)} old")
        if self.idle_only:
            line.append("  [idle only]", style="green")
        return line

    def _rows(self) -> list[tuple[str, dict[str, Text | str]]]:
        rows: list[tuple[str, dict[str, Text | str]]] = []
        gpus_by_host: dict[str, list[GpuSample]] = {}
        for g in self.visible_gpus():
            gpus_by_host.setdefault(g.host, []).append(g)
        for host in sorted(self._hosts.keys() | gpus_by_host.keys()):
            snap = self._hosts.get(host)
            gpus = gpus_by_host.get(host, [])
            if gpus:
                stale = snap is not None and snap.state is not HostState.LIVE
                rows.extend((f"{g.host}:{g.index}", self._cells_for(g, stale)) for g in gpus)
            elif snap is not None and not self.idle_only:
                rows.append((_host_row_key(host), self._host_cells(snap)))
        return rows

    def _redraw(self) -> None:
        self.hosts_line.update(self._host_line())
        table = self.table
        rows = self._rows()
        if [str(k.value) for k in table.rows] != [key for key, _ in rows]:
            cursor = table.cursor_row
            table.clear()
            self._cells.clear()
            for key, cells in rows:
                table.add_row(*cells.values(), key=key)
                for col, cell in cells.items():
                    self._cells[(key, col)] = str(cell)
            if rows:
                table.move_cursor(row=min(cursor, len(rows) - 1))
        else:
            # Only cells whose text changed are sent to the terminal: cheap over slow links.
            for key, cells in rows:
                for col, cell in cells.items():
                    if self._cells.get((key, col)) != str(cell):
                        table.update_cell(key, col, cell)
                        self._cells[(key, col)] = str(cell)
        self._show_detail()

    def _cells_for(self, g: GpuSample, stale: bool) -> dict[str, Text | str]:
        procs: Text | str = Text("idle", style="green") if g.idle else str(len(g.processes))
        cells: dict[str, Text | str] = {
            "gpu": f"{g.host}:{g.index}",
            "util": _util_cell(g),
            "mem": _mem_cell(g),
            "temp": "?" if g.temperature_c is None else f"{g.temperature_c:.0f}",
            "power": _power_cell(g),
            "hist": Text(sparkline(self.history(g.host, g.index), SPARK_WIDTH), style="cyan"),
            "procs": procs,
        }
        if stale:
            return {k: Text(str(v), style="dim") for k, v in cells.items()}
        return cells

    def _host_cells(self, snap: HostSnapshot) -> dict[str, Text | str]:
        style = STATE_STYLE.get(snap.state, "")
        return {
            "gpu": snap.host,
            "util": Text(str(snap.state), style=style),
            "mem": Text((snap.reason or "")[:12], style="dim"),
            "temp": "",
            "power": "",
            "hist": "",
            "procs": "",
        }

    def selected_key(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def selected_gpu(self) -> GpuSample | None:
        key = self.selected_key()
        if key is None:
            return None
        host, _, idx = key.rpartition(":")
        return self._latest.get((host, int(idx))) if idx.isdigit() else None

    def on_data_table_row_highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        key = self.selected_key()
        if key is None:
            self.detail.update("No GPU matches." if self.idle_only else "")
            return
        host = key.rpartition(":")[0]
        snap = self._hosts.get(host)
        g = self.selected_gpu()
        text = Text()
        if snap is not None:
            text.append(f"{host} ", style="bold")
            text.append(str(snap.state), style=STATE_STYLE.get(snap.state, ""))
            if snap.reason:
                text.append(f": {snap.reason}")
            hint = STATE_HINT.get(snap.state)
            if hint:
                text.append(f" ({hint})", style="dim")
            if snap.driver_version:
                text.append(
                    f"  driver {snap.driver_version} CUDA {snap.cuda_version or '?'}"
                    f" via {snap.source or '?'}",
                    style="dim",
                )
            text.append("\n")
        if g is None:
            self.detail.update(text)
            return
        mig = None if g.mig_mode is None else ("on" if g.mig_mode else "off")
        text.append(f"{g.index}: {g.name or '?'}", style="bold")
        text.append(
            f"  SM {_or_na(g.sm_clock_mhz, '{:.0f} MHz')}  {g.pstate or '?'}"
            f"  fan {_or_na(g.fan_pct, '{:.0f}%')}  ECC {_or_na(g.ecc_volatile_uncorrected)}"
            f"  MIG {_or_na(mig)}\n"
        )
        util = sparkline(self.history(g.host, g.index), DETAIL_SPARK_WIDTH)
        mem = sparkline(self.memory_history(g.host, g.index), DETAIL_SPARK_WIDTH)
        text.append("util ", style="dim")
        text.append(util + "\n", style="cyan")
        text.append("mem  ", style="dim")
        text.append(mem + "\n", style="magenta")
        if not g.processes:
            text.append("no processes", style="dim")
        for p in g.processes:
            mem_gib = "?" if p.used_memory_mib is None else f"{p.used_memory_mib / 1024:.1f} GiB"
            text.append(f"pid {p.pid:<7} {p.user or '?':<8} {mem_gib:>9}  {p.command or '?'}\n")
        self.detail.update(text)
