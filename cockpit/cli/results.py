"""`cockpit import`, `cockpit results` and `cockpit export`: record, compare and write results."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cockpit.cli.common import Subcommands, UsageError, add_command, open_store
from cockpit.store import Store
from cockpit.validate import ValidationError, valid_direction, valid_import_path, valid_name

if TYPE_CHECKING:
    from cockpit.models.results import ResultsMatrix

RESULT_FORMATS = ("table", "csv", "json", "latex")
# --test NAME -> cockpit.stats.StatTest value; used where it fits the data, else the default.
TEST_NAMES = {
    "mcnemar": "McNemar exact",
    "paired-t": "paired t",
    "wilcoxon": "Wilcoxon signed-rank",
    "bootstrap": "paired bootstrap",
    "welch": "Welch t",
    "mann-whitney": "Mann-Whitney U",
}


def cmd_import(args: argparse.Namespace) -> int:
    from cockpit import ingest

    if args.sweep is not None:
        valid_name(args.sweep, "sweep name")
    valid_import_path(args.path)
    try:
        fmt = ingest.detect_format(args.path)
        runs = ingest.import_path(args.path)
    except ingest.ImportFormatError as exc:
        raise UsageError(str(exc)) from None
    if not runs:
        raise UsageError(f"{args.path}: no runs to import ({fmt})")
    with open_store(args) as store:
        summary = ingest.record_imported_runs(store, runs, sweep=args.sweep, source=args.path)
    for folder in ingest.skipped_folders(Path(args.path).expanduser()):
        print(f"skipped {printable(str(folder))}: not a results folder")
    for line in summary.warnings:
        print(f"warning: {printable(line)}")
    replaced = f", {summary.replaced} replacing an earlier import" if summary.replaced else ""
    print(
        f"imported {len(summary.run_ids)} run(s) ({fmt}) into sweep "
        f"{', '.join(summary.sweeps)}: {summary.metric_points} metric points, "
        f"{summary.eval_items} per-item scores{replaced}"
    )
    return 0


def printable(text: str) -> str:
    """A file's text with control characters shown as "?" (never sent to the terminal)."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def results_matrix(args: argparse.Namespace, store: Store) -> ResultsMatrix:
    from cockpit.results import ResultsError, results_matrix

    try:
        return results_matrix(
            store,
            sweep=args.sweep,
            metric=args.metric or None,
            all_metrics=not args.metric,
            baseline=args.baseline,
            test=TEST_NAMES[args.test] if args.test else None,
            directions=directions_of(args),
        )
    except ResultsError as exc:
        raise UsageError(str(exc)) from None


def cmd_results(args: argparse.Namespace) -> int:
    from cockpit.export import tables
    from cockpit.render.results import to_text
    from cockpit.render.safe import printable

    with open_store(args) as store:
        matrix = results_matrix(args, store)
    if not matrix.sweeps:
        raise UsageError("no sweeps yet: `cockpit import PATH` records some")
    if args.format == "json":
        print(json.dumps(tables.to_json(matrix), indent=2))
    else:
        render = {"table": to_text, "csv": tables.to_csv, "latex": tables.to_latex}
        # Run ids and labels come from imported files: no ESC sequence reaches the terminal.
        sys.stdout.write(printable(render[args.format](matrix), newlines=True))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from cockpit.export import export_sweep
    from cockpit.results import ResultsError

    if not args.out.strip():
        raise UsageError("--out: the path is empty")
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")
    created = not out.exists()
    with open_store(args) as store:
        try:
            # Made before the (slow) results are built, so an unwritable --out fails fast.
            out.mkdir(exist_ok=True)
            written = export_sweep(
                store,
                out,
                sweep=args.sweep,
                metrics=args.metric or None,
                baseline=args.baseline,
                directions=directions_of(args),
                pgfplots=args.pgfplots,
            )
        except ResultsError as exc:
            if created:
                out.rmdir()  # bad input changes nothing, not even an empty folder
            raise UsageError(str(exc)) from None
        except OSError as exc:
            raise UsageError(f"--out {out}: cannot write there ({exc.strerror})") from None
    print(f"wrote {len(written)} files to {out}")
    for path in written:
        print(f"  {path.name}")
    return 0


def directions_of(args: argparse.Namespace) -> dict[str, bool]:
    """--direction METRIC=lower|higher, repeatable: metric -> higher-is-better."""
    out: dict[str, bool] = {}
    for text in args.direction:
        try:
            metric, higher = valid_direction(text)
        except ValidationError as exc:
            raise UsageError(str(exc)) from None
        out[metric] = higher
    return out


def add_view_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--metric",
        action="append",
        default=[],
        metavar="M",
        help="metric to compare (repeatable; default: every metric)",
    )
    p.add_argument("--baseline", metavar="RUN", help="run id of the baseline config")
    p.add_argument(
        "--direction",
        action="append",
        default=[],
        metavar="METRIC=lower|higher",
        help="which way METRIC is better (repeatable; remembered for later views)",
    )


def register(sub: Subcommands) -> None:
    imp = add_command(
        sub,
        "import",
        cmd_import,
        "record results from lm-eval-harness, AI-Scientist, MLflow or cockpit run folders",
    )
    imp.add_argument("path", metavar="PATH", help="a results file or folder")
    imp.add_argument("--sweep", metavar="NAME", help="put every run into this sweep")

    res = add_command(
        sub, "results", cmd_results, "print the results matrix with tests and verdicts"
    )
    res.add_argument("--sweep", metavar="NAME", help="one sweep (default: all)")
    add_view_options(res)
    res.add_argument("--format", choices=RESULT_FORMATS, default="table")
    res.add_argument(
        "--test",
        choices=sorted(TEST_NAMES),
        help="use this test where it fits the data (default: chosen from the data)",
    )

    exp = add_command(
        sub,
        "export",
        cmd_export,
        "write CSV, JSON, a LaTeX table and figures (PDF, PNG) of a sweep",
    )
    exp.add_argument("--sweep", metavar="NAME", required=True)
    exp.add_argument("--out", metavar="DIR", required=True, help="folder to write into")
    exp.add_argument(
        "--pgfplots",
        choices=("inline", "dat"),
        help="also write each figure as pgfplots/TikZ source, data inline or in .dat files",
    )
    add_view_options(exp)
