"""`cockpit chart RUN | --sweep NAME [--metric M]`: a metric's curve in the terminal.

The same braille plot as the Runs pane's chart (`m`), printed once: colours on a terminal,
plain text into a pipe or a file; `--json` gives the series themselves. Before drawing,
the logs of live runs are read for new points (as `cockpit runs` does; `--cached` skips
that and draws what the store has).
"""

from __future__ import annotations

import argparse
import asyncio
import json

from rich.console import Console

from cockpit.cli.common import Subcommands, UsageError, add_command, open_store
from cockpit.log_metrics import scan_logs
from cockpit.metric_charts import chart_data
from cockpit.models import Run
from cockpit.render.chart import chart_json, render_chart
from cockpit.render.safe import printable
from cockpit.store import Store
from cockpit.validate import shown, valid_count, valid_smoothing
from widgets.format import config_label, varying_keys

DEFAULT_HEIGHT = 16


def chart_runs(store: Store, args: argparse.Namespace) -> tuple[list[Run], str, dict[str, str]]:
    """The runs to chart, what they are (scope), and each line's label."""
    if (args.run is None) == (args.sweep is None):
        raise UsageError("give a RUN or --sweep NAME (one of them)")
    if args.run is not None:
        run = store.find_run(args.run)
        return [run], f"run {run.id}", {}
    if args.sweep not in {s.name for s in store.list_sweeps()}:
        raise UsageError(f"no sweep named {shown(args.sweep)}")
    runs = store.list_runs(sweep=args.sweep)
    keys = varying_keys(r.spec.config for r in runs)
    labels = {r.id: config_label(r.spec.config, keys) or r.id for r in runs}
    return runs, f"sweep {args.sweep}", labels


async def refresh(store: Store) -> None:
    """New points from the logs of live runs (one status command and read per host)."""
    from cockpit.cli.runs import runtime

    async with runtime(store) as rt:
        await rt.handler.poll_active()
        await scan_logs(store, rt.handler)


def cmd_chart(args: argparse.Namespace) -> int:
    smoothing = valid_smoothing(args.smoothing)
    height = valid_count(args.height, "height", 4, 200)
    width = valid_count(args.width, "width", 20, 1000) if args.width is not None else None
    with open_store(args) as store:
        runs, scope, labels = chart_runs(store, args)
        if not args.cached:
            asyncio.run(refresh(store))
        data = chart_data(store, runs, scope, args.metric, labels)
    if args.metric is not None and data.metric != args.metric:
        offered = ", ".join(data.metrics[:12]) or "none yet"
        raise UsageError(
            f"no metric {shown(args.metric)} in {scope} (metrics: {printable(offered)})"
        )
    if args.json:
        print(json.dumps(chart_json(data, smoothing), indent=1))
        return 0
    console = Console(highlight=False)
    for line in render_chart(data, width or console.width, height, smoothing):
        console.print(line, no_wrap=True, overflow="crop", crop=False)
    return 0


def register(sub: Subcommands) -> None:
    chart = add_command(sub, "chart", cmd_chart, "a metric of a run, or of a sweep's runs, vs step")
    chart.add_argument("run", metavar="RUN", nargs="?", help="a run id or a unique prefix")
    chart.add_argument("--sweep", metavar="NAME", help="every run of the sweep, one line each")
    chart.add_argument("--metric", metavar="M", help="which metric (default: a loss, if logged)")
    chart.add_argument(
        "--smoothing", metavar="W", default="0", help="EMA weight, 0 (raw) to 0.99 (default 0)"
    )
    chart.add_argument("--width", metavar="N", help="columns (default: the terminal's)")
    chart.add_argument("--height", metavar="N", default=str(DEFAULT_HEIGHT), help="lines (16)")
    chart.add_argument("--json", action="store_true", help="the series as JSON, not a plot")
    chart.add_argument("--cached", action="store_true", help="draw what the store has; read no log")
