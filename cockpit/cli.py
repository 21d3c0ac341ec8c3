"""`cockpit …`: the one place command-line arguments are parsed.

Bad input ends with one line on stderr and exit code 2, before anything is written.
The TUI and its heavy imports are loaded only by the subcommands that open it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from cockpit.models import Host, HostKind, HostSnapshot, LlmBackend
from cockpit.store import Store, StoreError

if TYPE_CHECKING:
    from backends.gpu_sampler import SamplerOptions
    from backends.ssh import SshSettings
    from cockpit.models.results import ResultsMatrix

EXIT_USAGE = 2
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
USER_RE = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$")
ADDRESS_RE = re.compile(r"^[A-Za-z0-9._:-]{1,253}$")
ENV_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit code 2."""


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; users asked for the error alone."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lab-cockpit")
    except PackageNotFoundError:
        return "0+unknown"


def data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("lab-cockpit", appauthor=False))


def default_db_path(demo: bool = False) -> Path:
    return data_dir() / ("demo.db" if demo else "cockpit.db")


# -- validation ----------------------------------------------------------------------------


def valid_name(value: str, what: str = "name") -> str:
    if not NAME_RE.match(value):
        raise UsageError(
            f"invalid {what} {value!r}: use letters, digits, '.', '_' or '-' (max 64 chars)"
        )
    return value


def valid_port(value: str | int) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"invalid port {value!r}: must be a number from 1 to 65535") from None
    if not 1 <= port <= 65535:
        raise UsageError(f"invalid port {port}: must be from 1 to 65535")
    return port


def parse_ssh_target(target: str) -> tuple[str | None, str, int | None]:
    """'[user@]address[:port]' (IPv6 as [addr]:port) -> (user, address, port)."""
    user: str | None = None
    rest = target
    if "@" in target:
        user, _, rest = target.rpartition("@")
        if not USER_RE.match(user):
            raise UsageError(f"invalid user {user!r} in {target!r}")
    port: int | None = None
    if rest.startswith("["):
        address, sep, tail = rest[1:].partition("]")
        if not sep:
            raise UsageError(f"invalid address {rest!r}: missing ']'")
        if tail:
            if not tail.startswith(":"):
                raise UsageError(f"invalid address {rest!r}")
            port = valid_port(tail[1:])
    elif rest.count(":") == 1:
        address, _, port_text = rest.partition(":")
        port = valid_port(port_text)
    else:
        address = rest
    if not address or not ADDRESS_RE.match(address):
        raise UsageError(f"invalid address {address!r}: expected a hostname, IP or ssh alias")
    return user, address, port


def valid_env_var(value: str) -> str:
    if not ENV_VAR_RE.match(value):
        raise UsageError(
            f"invalid --api-key-env {value!r}: give the NAME of an environment variable "
            "(e.g. OPENAI_API_KEY), never the key itself"
        )
    return value


def valid_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/$.?#][^\s]*$", value):
        raise UsageError(f"invalid --api-base {value!r}: expected an http(s) URL")
    return value


def valid_budget(value: float) -> float:
    if not value >= 0 or value == float("inf"):
        raise UsageError(f"invalid --budget {value}: must be a non-negative number of USD")
    return value


# -- subcommands ---------------------------------------------------------------------------


def open_store(args: argparse.Namespace, demo: bool = False) -> Store:
    if args.db is not None:
        return Store.open(args.db)
    path = default_db_path(demo)
    path.parent.mkdir(parents=True, exist_ok=True)
    return Store.open(path)


def cmd_open(args: argparse.Namespace) -> int:
    store = open_store(args)
    return run_app(store, demo=False)


def cmd_demo(args: argparse.Namespace) -> int:
    if not 0 < args.replay_seconds < float("inf"):
        raise UsageError(f"invalid --replay-seconds {args.replay_seconds}: must be > 0")
    if args.reset:
        path = Path(args.db) if args.db else default_db_path(demo=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = open_store(args, demo=True)
    return run_app(store, demo=True, replay_s=args.replay_seconds)


def run_app(store: Store, demo: bool, replay_s: float = 240.0) -> int:
    from cockpit.app import THEME_SETTING, CockpitApp, DemoWiring

    theme = store.get_setting(THEME_SETTING)
    wiring = DemoWiring.create(duration_s=replay_s) if demo else None
    try:
        CockpitApp(store, demo=wiring, theme=theme).run()
    finally:
        store.close()
    return 0


def cmd_host_add(args: argparse.Namespace) -> int:
    name = valid_name(args.name, "host name")
    if args.local:
        kind, user, address, port = HostKind.LOCAL, None, "localhost", None
    else:
        kind = HostKind.SLURM if args.slurm else HostKind.SSH
        user, address, port = parse_ssh_target(args.slurm or args.ssh)
    if args.port is not None:
        port = valid_port(args.port)
    if args.jump is not None:
        parse_ssh_target(args.jump)
    for label in args.label:
        valid_name(label, "label")
    if args.gpus is not None and args.gpus < 0:
        raise UsageError(f"invalid --gpus {args.gpus}: must be >= 0")
    host = Host(
        name=name,
        kind=kind,
        address=address,
        user=user,
        port=port,
        jump=args.jump,
        identity_file=args.identity,
        gpus=args.gpus,
        labels=tuple(args.label),
        read_only=args.read_only,
    )
    with open_store(args) as store:
        store.add_host(host)
    print(f"added host {name} ({kind} {describe_target(host)})")
    return 0


def describe_target(host: Host) -> str:
    target = f"{host.user}@{host.address}" if host.user else host.address
    if host.port:
        target += f":{host.port}"
    if host.jump:
        target += f" via {host.jump}"
    return target


def cmd_host_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        hosts = store.list_hosts()
    if args.json:
        print(json.dumps([{**asdict(h), "labels": list(h.labels)} for h in hosts], indent=2))
        return 0
    if not hosts:
        print("no hosts yet: cockpit host add NAME --ssh user@address")
        return 0
    for h in hosts:
        flags = " read-only" if h.read_only else ""
        labels = f" [{', '.join(h.labels)}]" if h.labels else ""
        print(f"{h.name:<16} {h.kind:<6} {describe_target(h)}{labels}{flags}")
    return 0


def cmd_host_remove(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        store.remove_host(args.name)
    print(f"removed host {args.name}")
    return 0


def cmd_host_import(args: argparse.Namespace) -> int:
    from backends.ssh import list_ssh_config_hosts

    config = Path(args.config).expanduser()
    if not config.is_file():
        raise UsageError(f"no ssh config at {config}")
    entries = list_ssh_config_hosts(config)
    with open_store(args) as store:
        existing = {h.name for h in store.list_hosts()}
        added, skipped = [], []
        for entry in entries:
            alias = str(entry["Host"])
            if alias in existing or not NAME_RE.match(alias):
                skipped.append(alias)
                continue
            # Keep the alias as the address: asyncssh resolves it through the same config,
            # so HostName, Port, User, IdentityFile and ProxyJump stay as the user wrote them.
            host = Host(
                name=alias,
                kind=HostKind.SSH,
                address=alias,
                user=entry.get("User"),
                port=entry.get("Port"),
                jump=entry.get("ProxyJump"),
                identity_file=entry.get("IdentityFile"),
            )
            if not args.dry_run:
                store.add_host(host)
            added.append(host)
    verb = "would add" if args.dry_run else "added"
    for host in added:
        print(f"{verb} {host.name} ({describe_target(host)})")
    if skipped:
        print(f"skipped (already present or not a valid name): {', '.join(skipped)}")
    if not added and not skipped:
        print(f"no Host entries in {config}")
    return 0


def cmd_gpus(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        hosts = [h for h in store.list_hosts() if h.kind is not HostKind.DEMO]
    if args.host:
        unknown = sorted(set(args.host) - {h.name for h in hosts})
        if unknown:
            raise UsageError(f"unknown host(s): {', '.join(unknown)}")
        hosts = [h for h in hosts if h.name in args.host]
    if not hosts:
        raise UsageError("no hosts to watch: cockpit host add NAME --ssh user@address")
    if args.watch is not None and args.watch <= 0:
        raise UsageError(f"invalid --watch {args.watch}: must be > 0 seconds")
    import asyncio

    return asyncio.run(gpu_report(hosts, args))


async def gpu_report(
    hosts: list[Host],
    args: argparse.Namespace,
    options: SamplerOptions | None = None,
    settings: SshSettings | None = None,
) -> int:
    """Print the hosts' GPUs once, or every --watch seconds over the same connections."""
    import asyncio

    from rich.console import Console

    from backends.gpu_remote import gpu_source_for
    from backends.ssh import SshPool
    from cockpit.gpu_report import all_reachable, collect_snapshots, gpu_table, snapshot_to_json

    pool = SshPool(settings)
    source = gpu_source_for(hosts, pool, options)
    assert source is not None
    console = Console()
    latest: dict[str, HostSnapshot] = {}
    names = [h.name for h in hosts]
    try:
        while True:
            snaps = await collect_snapshots(source, names, args.timeout, latest)
            if args.json:
                print(json.dumps([snapshot_to_json(s) for s in snaps.values()], indent=2))
            else:
                console.print(gpu_table(snaps.values()))
            if args.watch is None:
                return 0 if all_reachable(snaps.values()) else 1
            await asyncio.sleep(args.watch)
    finally:
        await source.close()
        await pool.close()


def cmd_host_trust(args: argparse.Namespace) -> int:
    import asyncio

    from backends.ssh import SshError, fetch_host_key, trust_host_key

    with open_store(args) as store:
        host = store.get_host(args.name)
    if host.kind not in (HostKind.SSH, HostKind.SLURM):
        raise UsageError(f"{host.name} is a {host.kind} host: it has no SSH host key")
    try:
        info = asyncio.run(fetch_host_key(host))
    except SshError as err:
        print(f"cockpit: cannot read {host.name}'s host key: {err.reason}", file=sys.stderr)
        return 1
    print(f"{host.name} ({info.hostname}:{info.port}) presents a {info.algorithm} key")
    print(f"  fingerprint {info.fingerprint}")
    if args.fingerprint is None and not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("not trusting without a person: pass --fingerprint FP or --yes")
        answer = input("Compare it with the server's (ssh-keygen -lf on it). Trust? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not trusted")
            return 1
    try:
        path = trust_host_key(info, expected_fingerprint=args.fingerprint)
    except ValueError as err:
        raise UsageError(str(err)) from None
    print(f"trusted: {info.known_hosts_line().split()[0]} added to {path}")
    return 0


def cmd_llm_add(args: argparse.Namespace) -> int:
    name = valid_name(args.name, "backend name")
    if not args.model.strip() or any(c.isspace() for c in args.model):
        raise UsageError(f"invalid --model {args.model!r}: e.g. openai/gpt-4o-mini")
    backend = LlmBackend(
        name=name,
        model=args.model,
        api_base=valid_url(args.api_base) if args.api_base else None,
        api_key_env=valid_env_var(args.api_key_env) if args.api_key_env else None,
        budget_usd=valid_budget(args.budget) if args.budget is not None else None,
    )
    with open_store(args) as store:
        store.add_llm_backend(backend)
    print(f"added LLM backend {name} ({backend.model})")
    return 0


def cmd_llm_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        backends = store.list_llm_backends()
    if args.json:
        print(json.dumps([asdict(b) for b in backends], indent=2))
        return 0
    if not backends:
        print("no LLM backends yet: cockpit llm add NAME --model PROVIDER/MODEL")
        return 0
    for b in backends:
        key = f"key from ${b.api_key_env}" if b.api_key_env else "no key"
        budget = f"budget ${b.budget_usd:.2f}" if b.budget_usd is not None else "no budget"
        base = f" at {b.api_base}" if b.api_base else ""
        key_state = "" if not b.api_key_env or b.api_key_env in os.environ else " (unset)"
        print(f"{b.name:<16} {b.model}{base}  {key}{key_state}  {budget}")
    return 0


def cmd_llm_remove(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        store.remove_llm_backend(args.name)
    print(f"removed LLM backend {args.name}")
    return 0


# -- results: import, print, export, triage -------------------------------------------------

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
SINCE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def cmd_import(args: argparse.Namespace) -> int:
    from cockpit import ingest

    if args.sweep is not None:
        valid_name(args.sweep, "sweep name")
    try:
        fmt = ingest.detect_format(args.path)
        runs = ingest.import_path(args.path)
    except ingest.ImportFormatError as exc:
        raise UsageError(str(exc)) from None
    if not runs:
        raise UsageError(f"{args.path}: no runs to import ({fmt})")
    with open_store(args) as store:
        summary = ingest.record_imported_runs(store, runs, sweep=args.sweep, source=args.path)
    print(
        f"imported {len(summary.run_ids)} run(s) ({fmt}) into sweep "
        f"{', '.join(summary.sweeps)}: {summary.metric_points} metric points, "
        f"{summary.eval_items} per-item scores"
    )
    return 0


def _results_matrix(args: argparse.Namespace, store: Store) -> ResultsMatrix:
    from cockpit.results import ResultsError, results_matrix

    try:
        return results_matrix(
            store,
            sweep=args.sweep,
            metric=args.metric or None,
            all_metrics=not args.metric,
            baseline=args.baseline,
            test=TEST_NAMES[args.test] if args.test else None,
        )
    except ResultsError as exc:
        raise UsageError(str(exc)) from None


def cmd_results(args: argparse.Namespace) -> int:
    from cockpit.export import tables
    from cockpit.render.results import to_text

    with open_store(args) as store:
        matrix = _results_matrix(args, store)
    if not matrix.sweeps:
        raise UsageError("no sweeps yet: `cockpit import PATH` records some")
    if args.format == "json":
        print(json.dumps(tables.to_json(matrix), indent=2))
    else:
        render = {"table": to_text, "csv": tables.to_csv, "latex": tables.to_latex}
        sys.stdout.write(render[args.format](matrix))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from cockpit.export import export_sweep
    from cockpit.results import ResultsError

    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")
    with open_store(args) as store:
        try:
            written = export_sweep(
                store, out, sweep=args.sweep, metrics=args.metric or None, baseline=args.baseline
            )
        except ResultsError as exc:
            raise UsageError(str(exc)) from None
    print(f"wrote {len(written)} files to {out}")
    for path in written:
        print(f"  {path.name}")
    return 0


def parse_since(text: str, now: float) -> float:
    """'12h', '30m', '2d', '1w', '90s' before now, or a date/time like 2026-11-21T22:00."""
    from datetime import datetime

    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", text.strip())
    if match:
        return now - float(match[1]) * SINCE_UNITS[match[2]]
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise UsageError(
            f"invalid --since {text!r}: use a duration like 12h, 30m, 2d or a time like "
            "2026-11-21T22:00"
        ) from None


def _json_safe(value: object) -> object:
    """NaN and infinities as null: JSON has no spelling for them."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def cmd_triage(args: argparse.Namespace) -> int:
    import time

    from cockpit import triage
    from cockpit.render.triage import render_triage

    now = time.time()
    since = parse_since(args.since, now) if args.since is not None else None
    if since is not None and since >= now:
        raise UsageError(f"invalid --since {args.since!r}: it is not in the past")
    with open_store(args) as store:
        report = triage.build_triage(store, since=since, now=now)
        if args.json:
            print(json.dumps(_json_safe(triage.report_json(report)), indent=2))
        else:
            from rich.console import Console

            render_triage(report, Console(file=sys.stdout, highlight=False))
        if not args.peek:
            triage.mark_looked(store, now)
    return 0


# -- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="cockpit",
        description="Lab Cockpit: watch GPUs, launch and follow runs, triage results.",
    )
    parser.add_argument("--version", action="version", version=f"cockpit {package_version()}")
    parser.add_argument("--db", metavar="PATH", help="database file (default: your user data dir)")
    parser.set_defaults(handler=cmd_open)
    sub = parser.add_subparsers(
        title="commands", metavar="COMMAND", parser_class=OneLineArgumentParser
    )

    def command(
        name: str,
        handler: Callable[[argparse.Namespace], int],
        help: str,
        parent: argparse._SubParsersAction = sub,
    ) -> argparse.ArgumentParser:  # type: ignore[type-arg]
        p = parent.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        return p

    demo = command("demo", cmd_demo, "open the cockpit on the embedded demo (no GPU, no network)")
    demo.add_argument("--reset", action="store_true", help="start the demo over from scratch")
    demo.add_argument(
        "--replay-seconds",
        type=float,
        default=240.0,
        metavar="S",
        help="how long the live demo run takes (default 240)",
    )

    host = sub.add_parser("host", help="add, list and remove hosts")
    host_sub = host.add_subparsers(title="host commands", metavar="COMMAND", required=True)
    add = command(
        "add", cmd_host_add, "add an SSH host, Slurm login node or the local machine", host_sub
    )
    add.add_argument("name")
    target = add.add_mutually_exclusive_group(required=True)
    target.add_argument("--ssh", metavar="[USER@]ADDR[:PORT]", help="an SSH host or alias")
    target.add_argument("--slurm", metavar="[USER@]ADDR[:PORT]", help="a Slurm login node")
    target.add_argument("--local", action="store_true", help="this machine")
    add.add_argument("--port", help="SSH port (overrides ADDR:PORT)")
    add.add_argument("--jump", metavar="[USER@]HOST[:PORT]", help="ProxyJump host")
    add.add_argument("--identity", metavar="FILE", help="private key file")
    add.add_argument("--gpus", type=int, help="number of GPUs (default: discovered)")
    add.add_argument("--label", action="append", default=[], help="a label (repeatable)")
    add.add_argument(
        "--read-only",
        action="store_true",
        help="watch only: never kill processes or launch runs here",
    )
    lst = command("list", cmd_host_list, "list hosts", host_sub)
    lst.add_argument("--json", action="store_true")
    rm = command("remove", cmd_host_remove, "remove a host", host_sub)
    rm.add_argument("name")
    imp = command(
        "import-ssh-config", cmd_host_import, "add the Host entries of ~/.ssh/config", host_sub
    )
    imp.add_argument("--config", default="~/.ssh/config", metavar="PATH")
    imp.add_argument("--dry-run", action="store_true", help="show what would be added")

    trust = command(
        "trust", cmd_host_trust, "show a host's SSH key fingerprint and trust it", host_sub
    )
    trust.add_argument("name")
    trust.add_argument("--fingerprint", metavar="SHA256:…", help="trust only this fingerprint")
    trust.add_argument("--yes", action="store_true", help="trust without asking")

    gpus = command("gpus", cmd_gpus, "print every host's GPUs (exit 1 if a host is unreachable)")
    gpus.add_argument("--json", action="store_true", help="one object per host")
    gpus.add_argument("--watch", type=float, metavar="SECONDS", help="repeat every SECONDS")
    gpus.add_argument("--host", action="append", metavar="NAME", help="only this host (repeatable)")
    gpus.add_argument(
        "--timeout", type=float, default=15.0, metavar="S", help="wait per host (default 15)"
    )

    llm = sub.add_parser("llm", help="add, list and remove LLM backends")
    llm_sub = llm.add_subparsers(title="llm commands", metavar="COMMAND", required=True)
    ladd = command("add", cmd_llm_add, "add an LLM backend (any litellm model)", llm_sub)
    ladd.add_argument("name")
    ladd.add_argument("--model", required=True, help="litellm model, e.g. openai/gpt-4o-mini")
    ladd.add_argument("--api-base", metavar="URL", help="OpenAI-compatible endpoint")
    ladd.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="NAME of the env var holding the API key (the key is never stored)",
    )
    ladd.add_argument("--budget", type=float, metavar="USD", help="spending cap in USD")
    llst = command("list", cmd_llm_list, "list LLM backends", llm_sub)
    llst.add_argument("--json", action="store_true")
    lrm = command("remove", cmd_llm_remove, "remove an LLM backend", llm_sub)
    lrm.add_argument("name")

    imp_results = command(
        "import",
        cmd_import,
        "record results from lm-eval-harness, AI-Scientist, MLflow or cockpit run folders",
    )
    imp_results.add_argument("path", metavar="PATH", help="a results file or folder")
    imp_results.add_argument("--sweep", metavar="NAME", help="put every run into this sweep")

    def view_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--metric",
            action="append",
            default=[],
            metavar="M",
            help="metric to compare (repeatable; default: every metric)",
        )
        p.add_argument("--baseline", metavar="RUN", help="run id of the baseline config")

    res = command("results", cmd_results, "print the results matrix with tests and verdicts")
    res.add_argument("--sweep", metavar="NAME", help="one sweep (default: all)")
    view_options(res)
    res.add_argument("--format", choices=RESULT_FORMATS, default="table")
    res.add_argument(
        "--test",
        choices=sorted(TEST_NAMES),
        help="use this test where it fits the data (default: chosen from the data)",
    )

    exp = command(
        "export", cmd_export, "write CSV, JSON, a LaTeX table and figures (PDF, PNG) of a sweep"
    )
    exp.add_argument("--sweep", metavar="NAME", required=True)
    exp.add_argument("--out", metavar="DIR", required=True, help="folder to write into")
    view_options(exp)

    tri = command(
        "triage", cmd_triage, "morning report: finished and failed runs, GPU-hours, verdicts"
    )
    tri.add_argument(
        "--since", metavar="WHEN", help="12h, 30m, 2d or a date/time (default: the last look)"
    )
    tri.add_argument("--json", action="store_true", help="the report as JSON")
    tri.add_argument("--peek", action="store_true", help="do not move the last-look time")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except (UsageError, StoreError) as exc:
        print(f"cockpit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
