"""`cockpit launch|run|runs|cancel|relaunch|queue|confirm|reject`: runs from the command line.

Every action is a command on the audited bus, as from the app. An AI agent driving the CLI
says so with --proposed-by NAME (or COCKPIT_PROPOSED_BY): its command is recorded as
needs-confirm, its id printed, and nothing runs until a person confirms it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cockpit.bus import CommandBus
from cockpit.cli.common import EXIT_FAILED, Subcommands, UsageError, add_command, open_store
from cockpit.log_metrics import scan_logs
from cockpit.models import Command, CommandOrigin, CommandStatus, Host, Run, RunSpec, RunState
from cockpit.paths import data_dir
from cockpit.registry import CommandRegistry, host_target
from cockpit.render.runs import plain, run_json, run_line
from cockpit.runs import RunCommandHandler, launch_payload, sweep_to_payload
from cockpit.scheduler import choose_hosts, plan_runs, plan_sweep, runs_by_host
from cockpit.store import Store
from cockpit.sweep import load_spec
from cockpit.validate import (
    shown,
    valid_command_id,
    valid_env_name,
    valid_gpus,
    valid_name,
    valid_time_limit,
    valid_workdir,
)

if TYPE_CHECKING:
    from backends.runners.detached import RunnerOptions
    from backends.ssh.connection import SshPool, SshSettings

PROPOSED_BY_ENV = "COCKPIT_PROPOSED_BY"
WAIT_POLL_S = 5.0


@dataclass
class RunsRuntime:
    """A store, a bus and the run handler with a backend per host kind."""

    store: Store
    bus: CommandBus
    handler: RunCommandHandler


@asynccontextmanager
async def runtime(
    store: Store,
    *,
    settings: SshSettings | None = None,
    options: RunnerOptions | None = None,
) -> AsyncIterator[RunsRuntime]:
    """Everything a run command needs; SSH connections are opened only if used."""
    from backends.runners.by_kind import run_backends

    pool: SshPool | None = None

    def make_pool() -> SshPool:
        nonlocal pool
        from backends.ssh.connection import SshPool

        pool = SshPool(settings)
        return pool

    handler = RunCommandHandler(store, run_backends(store.get_host, make_pool, data_dir(), options))
    registry = CommandRegistry(store.list_hosts())
    registry.register("run", handler)
    try:
        yield RunsRuntime(store, CommandBus(store, registry), handler)
    finally:
        if pool is not None:
            await pool.close()


def proposer(args: argparse.Namespace) -> str | None:
    given = getattr(args, "proposed_by", None)
    if given is not None:  # (an empty --proposed-by is no way round the confirmation)
        return valid_name(given, "--proposed-by")
    name = os.environ.get(PROPOSED_BY_ENV, "").strip()
    return valid_name(name, "--proposed-by") if name else None


async def submit(
    rt: RunsRuntime, host: Host, kind: str, payload: dict[str, Any], args: argparse.Namespace
) -> Command:
    who = proposer(args)
    if who is not None:
        payload = {**payload, "proposed_by": who}
    origin = CommandOrigin.LLM if who is not None else CommandOrigin.USER
    return await rt.bus.submit("cli", host_target(host), kind, payload, origin=origin)


def proposal_json(command: Command) -> dict[str, Any]:
    """A command that awaits a person, as --json prints it (an agent reads the id here)."""
    return {
        "command": command.id,
        "status": str(command.status),
        "proposed_by": command.payload.get("proposed_by"),
    }


def report(command: Command, args: argparse.Namespace, store: Store) -> int:
    """Print what a command did; the exit code that says it."""
    if command.status is CommandStatus.NEEDS_CONFIRM:
        if getattr(args, "json", False):
            print(json.dumps([proposal_json(command)], indent=1))
            return 0
        who = command.payload.get("proposed_by", "an agent")
        print(
            f"command #{command.id} proposed by {plain(who)} awaits a person: "
            f"cockpit confirm {command.id} (or cockpit reject {command.id})"
        )
        return 0
    result = command.result or {}
    ids = list(result.get("run_ids", []))
    if getattr(args, "json", False) and ids:
        print(json.dumps([run_json(store.get_run(i)) for i in ids], indent=1))
    else:
        for run_id in ids:
            print(run_id)
    if command.status is CommandStatus.FAILED:
        print(f"cockpit: error: command #{command.id}: {command.error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED if report_refused(store, ids) else 0


def report_refused(store: Store, run_ids: Sequence[str]) -> bool:
    """Say on stderr why each run its host refused to start (more GPUs than it has) did
    not run; whether there was one. Without it `cockpit run` printed an id and exit 0 for
    a run that had already failed."""
    refused = False
    for run_id in run_ids:
        run = store.get_run(run_id)
        reason = run.provenance.get("placement")
        if run.state is RunState.FAILED and run.started_at is None and reason:
            refused = True
            print(
                f"cockpit: error: run {plain(run.id)} did not start on {plain(run.host)}: "
                f"{plain(reason)}",
                file=sys.stderr,
            )
    return refused


def _remote_dir(host: Host, run_id: str) -> str:
    from backends.runners.local import local_root

    if host.kind.value == "local":
        return f"{local_root(data_dir())}/runs/{run_id}"
    return f"~/.cockpit/runs/{run_id}"


def _print_plan(runs: list[Run], hosts: dict[str, Host], as_json: bool) -> None:
    rows = [
        {
            "name": r.spec.name,
            "host": r.host,
            "remote_dir": _remote_dir(hosts[r.host or ""], r.id),
            "command": r.spec.command,
            "env": r.spec.env,
            "gpus": r.spec.gpus,
            "time_limit_s": r.spec.timeout_s,
            "workdir": r.spec.workdir,
            "config": r.spec.config,
        }
        for r in runs
    ]
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{len(runs)} run(s); nothing launched (dry run)")
    for row in rows:
        env = " ".join(shlex.quote(f"{k}={v}") for k, v in row["env"].items())
        limit = f"  limit {row['time_limit_s']}s" if row["time_limit_s"] else ""
        print(f"{plain(row['name'])}\n  on {row['host']}  gpus {row['gpus']}{limit}")
        print(f"  in {plain(row['workdir'] or '~')}  folder {plain(row['remote_dir'])}")
        if env:
            print(f"  env {plain(env)}")
        print(f"  $ {plain(row['command'])}")


def cmd_launch(args: argparse.Namespace) -> int:
    proposer(args)  # a bad --proposed-by is bad input, in a dry run too
    spec = load_spec(args.spec)
    with open_store(args) as store:
        plan = plan_sweep(spec, store.list_hosts(), args.host, time.time())
        if args.dry_run:
            _print_plan(plan.runs, {h.name: h for h in plan.hosts}, args.json)
            return 0
        sweep = sweep_to_payload(plan.sweep) if plan.sweep is not None else None
        return asyncio.run(_launch(store, plan.runs, sweep, args))


async def _launch(
    store: Store, runs: list[Run], sweep: dict[str, Any] | None, args: argparse.Namespace
) -> int:
    """One launch command per host (its runs go in one round trip), all at once. Each
    carries the sweep (recorded by whichever runs first): its runs need the sweep's row, and
    proposed commands may be confirmed in any order."""
    code = 0
    async with runtime(store) as rt:
        commands = []
        for host_name, group in runs_by_host(runs).items():
            host = store.get_host(host_name)
            payload = launch_payload(group, sweep)
            commands.append(submit(rt, host, "run.launch", payload, args))
        done = await asyncio.gather(*commands)
    out_ids: list[str] = []
    proposed = [c for c in done if c.status is CommandStatus.NEEDS_CONFIRM]
    if args.json and proposed:  # (one JSON document for all hosts' proposals)
        print(json.dumps([proposal_json(c) for c in proposed], indent=1))
        done = [c for c in done if c.status is not CommandStatus.NEEDS_CONFIRM]
    for command in done:
        if not args.json:  # (with --json the proposals were printed above)
            code = max(code, report(command, args, store))
        else:
            out_ids += (command.result or {}).get("run_ids", [])
            if command.status is CommandStatus.FAILED:
                print(f"cockpit: error: command #{command.id}: {command.error}", file=sys.stderr)
                code = EXIT_FAILED
    if args.json and out_ids:
        print(json.dumps([run_json(store.get_run(i)) for i in out_ids], indent=1))
        if report_refused(store, out_ids):
            code = max(code, EXIT_FAILED)
    return code


def cmd_run(args: argparse.Namespace) -> int:
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise UsageError("nothing to run: cockpit run --host NAME -- CMD ARGS...")
    proposer(args)  # a bad --proposed-by is bad input, in a dry run too
    gpus = valid_gpus(args.gpus, "--gpus")
    env: dict[str, str] = {}
    for pair in args.env:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"invalid --env {shown(pair)}: use NAME=VALUE")
        env[valid_env_name(key, "--env")] = value
    # (an empty --name or --time-limit is a mistake, not a wish for the default)
    name = valid_name(_name_of(argv) if args.name is None else args.name, "--name")
    limit = None
    if args.time_limit is not None:
        limit = valid_time_limit(args.time_limit, "--time-limit")
    workdir = None if args.workdir is None else valid_workdir(args.workdir, "--workdir")
    spec = RunSpec(
        name=name,
        command=shlex.join(argv),
        gpus=gpus,
        timeout_s=limit,
        env=env,
        workdir=workdir,
    )
    with open_store(args) as store:
        hosts = choose_hosts(store.list_hosts(), [args.host])
        runs = plan_runs([spec], hosts)
        if args.dry_run:
            _print_plan(runs, {h.name: h for h in hosts}, args.json)
            return 0
        return asyncio.run(_launch(store, runs, None, args))


def _name_of(argv: Sequence[str]) -> str:
    stem = os.path.basename(argv[0]).replace(" ", "-")
    if stem.startswith("python") and len(argv) > 1:
        stem = os.path.splitext(os.path.basename(argv[1]))[0]
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in stem).strip("-._")
    return cleaned[:40] or "run"


def _find_runs(store: Store, refs: Sequence[str]) -> list[Run]:
    return [store.find_run(ref) for ref in refs]


def cmd_cancel(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        runs = _find_runs(store, args.runs)
        for run in runs:
            if run.state.terminal:
                raise UsageError(f"run {run.id} already {run.state}")
        return asyncio.run(_per_host_command(store, runs, "run.cancel", args))


async def _per_host_command(
    store: Store, runs: Sequence[Run], kind: str, args: argparse.Namespace
) -> int:
    by_host: dict[str, list[str]] = {}
    for run in runs:
        by_host.setdefault(run.host or "", []).append(run.id)
    code = 0
    async with runtime(store) as rt:
        for host_name, ids in by_host.items():
            command = await submit(rt, store.get_host(host_name), kind, {"run_ids": ids}, args)
            code = max(code, report(command, args, store))
    return code


def cmd_relaunch(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        run = store.find_run(args.run)
        if not run.state.terminal:
            raise UsageError(f"run {run.id} is {run.state}; cancel it first")

        async def go() -> int:
            async with runtime(store) as rt:
                host = store.get_host(run.host or "")
                command = await submit(rt, host, "run.relaunch", {"run_id": run.id}, args)
                return report(command, args, store)

        return asyncio.run(go())


def cmd_runs(args: argparse.Namespace) -> int:
    state = None
    if args.state is not None:
        try:
            state = RunState(args.state)
        except ValueError:
            names = ", ".join(s.value for s in RunState)
            raise UsageError(f"invalid --state {shown(args.state)}: one of {names}") from None
    with open_store(args) as store:
        sweeps = {s.name for s in store.list_sweeps()}
        for sweep in (args.sweep, args.wait):
            if sweep is not None and sweep not in sweeps:
                raise UsageError(f"no sweep named {shown(sweep)}")
        if args.wait is not None:
            return asyncio.run(_wait(store, args.wait, args.interval))
        if not args.cached:
            asyncio.run(_refresh(store))
        runs = store.list_runs(sweep=args.sweep, state=state)
        ids = [r.id for r in runs]
        latest, flags = store.final_metrics(ids), store.log_flags(ids)
    if args.json:
        print(
            json.dumps(
                [
                    {**run_json(r), "metrics": latest.get(r.id, {}), "flags": flags.get(r.id, [])}
                    for r in runs
                ],
                indent=1,
            )
        )
    else:
        for run in runs:
            print(run_line(run, [f["kind"] for f in flags.get(run.id, [])]))
    return 0


async def _refresh(store: Store) -> None:
    """The true state of live runs, from their hosts (one status command per host)."""
    async with runtime(store) as rt:
        await rt.handler.poll_active()
        await scan_logs(store, rt.handler)


async def _wait(store: Store, sweep: str, interval: float) -> int:
    """Block until every run of the sweep has ended; 1 if any did not succeed."""
    async with runtime(store) as rt:
        while True:
            await rt.handler.poll_active()
            runs = store.list_runs(sweep=sweep)
            if all(r.state.terminal for r in runs):
                break
            await asyncio.sleep(interval)
    for run in runs:
        print(run_line(run))
    return 0 if all(r.state is RunState.SUCCEEDED for r in runs) else EXIT_FAILED


def cmd_queue(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        host = store.get_host(args.host)
        payload: dict[str, Any] = {"host": host.name, "op": "list"}
        if args.drop is not None and (args.move is not None or args.to is not None):
            raise UsageError("give --drop RUN or --move RUN --to POSITION, not both")
        if (args.move is None) != (args.to is None):
            raise UsageError("--move RUN and --to POSITION go together (0 is next)")
        if args.to is not None and args.to < 0:
            raise UsageError(f"invalid --to {args.to}: a position from 0 (next)")
        if args.drop is not None:
            payload.update(op="drop", run_id=store.find_run(args.drop).id)
        elif args.move is not None:
            payload.update(op="move", run_id=store.find_run(args.move).id, position=args.to)

        async def go() -> int:
            async with runtime(store) as rt:
                command = await submit(rt, host, "run.queue", payload, args)
            if command.status is CommandStatus.NEEDS_CONFIRM:
                return report(command, args, store)
            if command.status is CommandStatus.FAILED:
                print(f"cockpit: error: {command.error}", file=sys.stderr)
                return EXIT_FAILED
            order = (command.result or {}).get("order", [])
            if args.json:
                print(json.dumps({"host": host.name, "order": order}))
            else:
                for pos, run_id in enumerate(order):
                    print(f"{pos:3d}  {plain(run_id)}")
            return 0

        return asyncio.run(go())


def cmd_confirm(args: argparse.Namespace) -> int:
    return _decide(args, confirm=True)


def cmd_reject(args: argparse.Namespace) -> int:
    return _decide(args, confirm=False)


def _decide(args: argparse.Namespace, *, confirm: bool) -> int:
    with open_store(args) as store:
        command = store.get_command(valid_command_id(args.id))
        if command.status is not CommandStatus.NEEDS_CONFIRM:
            raise UsageError(f"command #{command.id} is {command.status}, not awaiting a person")

        async def go() -> int:
            async with runtime(store) as rt:
                if confirm:
                    done = await rt.bus.confirm(command.id)
                    return report(done, args, store)
                await rt.bus.reject(command.id)
                print(f"command #{command.id} rejected")
                return 0

        return asyncio.run(go())


def _add_proposed_by(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--proposed-by",
        metavar="NAME",
        help=f"an AI agent proposes this: it waits for a person (also ${PROPOSED_BY_ENV})",
    )


def register(sub: Subcommands) -> None:
    launch = add_command(sub, "launch", cmd_launch, "launch a sweep spec (TOML)")
    launch.add_argument("spec", metavar="SPEC.toml")
    launch.add_argument("--host", action="append", default=[], help="only these hosts")
    launch.add_argument("--dry-run", action="store_true", help="show the runs, change nothing")
    launch.add_argument("--json", action="store_true")
    _add_proposed_by(launch)

    run = add_command(sub, "run", cmd_run, "launch one command as a detached run")
    run.add_argument("--host", required=True)
    run.add_argument("--gpus", type=int, default=1)
    run.add_argument("--time-limit", metavar="DURATION", help="e.g. 2h, 30m, 1h30m")
    run.add_argument("--name")
    run.add_argument("--workdir", metavar="DIR", help="where it runs on the host (default ~)")
    run.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    run.add_argument("--dry-run", action="store_true")
    run.add_argument("--json", action="store_true")
    _add_proposed_by(run)
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ARGS")

    runs = add_command(sub, "runs", cmd_runs, "list runs with their true state")
    runs.add_argument("--sweep")
    runs.add_argument("--state")
    runs.add_argument("--json", action="store_true")
    runs.add_argument("--wait", metavar="SWEEP", help="block until the sweep is done")
    runs.add_argument("--interval", type=float, default=WAIT_POLL_S, help=argparse.SUPPRESS)
    runs.add_argument("--cached", action="store_true", help="do not ask the hosts")

    cancel = add_command(sub, "cancel", cmd_cancel, "cancel runs (TERM, then KILL)")
    cancel.add_argument("runs", nargs="+", metavar="RUN")
    _add_proposed_by(cancel)

    relaunch = add_command(sub, "relaunch", cmd_relaunch, "run a finished run again")
    relaunch.add_argument("run", metavar="RUN")
    relaunch.add_argument("--json", action="store_true")
    _add_proposed_by(relaunch)

    queue = add_command(sub, "queue", cmd_queue, "a host's run queue: list, reorder, drop")
    queue.add_argument("host")
    queue.add_argument("--move", metavar="RUN")
    queue.add_argument("--to", type=int, metavar="POSITION")
    queue.add_argument("--drop", metavar="RUN")
    queue.add_argument("--json", action="store_true")
    _add_proposed_by(queue)

    confirm = add_command(sub, "confirm", cmd_confirm, "run a command an agent proposed")
    confirm.add_argument("id")
    confirm.add_argument("--json", action="store_true")
    reject = add_command(sub, "reject", cmd_reject, "decline a command an agent proposed")
    reject.add_argument("id")
