"""`cockpit llm add|list|remove|budget|default|test|usage|explain|summarize`: LLM backends,
stored with the NAME of their key's env var; which one each pane asks; a test call; what the
calls have cost; and asking about a failed run or the results, with the answer's numbers
checked against the data it was given.

LLM calls go through the audited bus like every other command (target `llm:NAME`); litellm
is imported only by the commands that call a model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import asdict
from typing import Any

from cockpit.bus import CommandBus
from cockpit.cli.common import (
    EXIT_FAILED,
    Subcommands,
    UsageError,
    add_command,
    add_group,
    open_store,
    report_estimate,
    report_failed,
)
from cockpit.cli.results import add_view_options
from cockpit.llm_jobs import (
    LLM_PANES,
    AskPlan,
    LlmCommandHandler,
    UsageReport,
    UsageRow,
    default_backend,
    default_backends,
    explain_plan,
    read_failure_log,
    set_default_backend,
    summarize_plan,
    unverified_spans,
    usage_report,
)
from cockpit.models import Command, LlmBackend
from cockpit.registry import CommandRegistry, llm_target
from cockpit.render.safe import printable
from cockpit.store import Store
from cockpit.validate import (
    parse_since,
    valid_backend_name,
    valid_budget,
    valid_env_var,
    valid_model,
    valid_url,
)


def llm_bus(
    store: Store, literature_source: str | None = None
) -> tuple[CommandBus, LlmCommandHandler]:
    """A bus that can carry out llm.* commands (litellm behind it, imported on first call)."""
    from backends.literature import HttpLiteratureClient
    from backends.llm import LitellmClient
    from cockpit.ideas import wire_llm

    registry = CommandRegistry(store.list_hosts())
    literature = HttpLiteratureClient(literature_source) if literature_source else None
    handler = wire_llm(registry, store, LitellmClient(), literature)
    return CommandBus(store, registry), handler


def run_llm_command(
    store: Store,
    backend: str,
    kind: str,
    payload: dict[str, Any],
    *,
    literature_source: str | None = None,
    stream: bool = False,
    pane: str = "cli",
) -> Command:
    """Submit one llm.* command from the CLI and wait for it; streamed text goes to stderr."""
    store.get_llm_backend(backend)  # an unknown backend is a usage error, before the bus

    async def go() -> Command:
        bus, handler = llm_bus(store, literature_source)
        if stream:
            handler.watch(
                lambda event: print(
                    printable(event.delta, newlines=True)
                    if event.delta
                    else f"\n[{printable(event.message)}]",
                    end="" if event.delta else "\n",
                    file=sys.stderr,
                    flush=True,
                )
            )
        return await bus.submit(pane, llm_target(backend), kind, payload)

    return asyncio.run(go())


def cmd_llm_add(args: argparse.Namespace) -> int:
    backend = LlmBackend(
        name=valid_backend_name(args.name, "backend name"),
        model=valid_model(args.model),
        api_base=valid_url(args.api_base) if args.api_base else None,
        api_key_env=valid_env_var(args.api_key_env) if args.api_key_env else None,
        budget_usd=valid_budget(args.budget) if args.budget is not None else None,
    )
    with open_store(args) as store:
        store.add_llm_backend(backend)
    print(f"added LLM backend {backend.name} ({backend.model})")
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


def cmd_llm_budget(args: argparse.Namespace) -> int:
    budget = None if args.usd.lower() == "none" else valid_budget(args.usd)
    with open_store(args) as store:
        store.set_llm_budget(args.name, budget)
    print(f"{args.name}: " + ("no budget" if budget is None else f"budget ${budget:.2f}"))
    return 0


def cmd_llm_test(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        command = run_llm_command(store, args.name, "llm.test", {})
    if command.error:
        print(f"cockpit: llm test {args.name} failed: {command.error}", file=sys.stderr)
        return EXIT_FAILED
    r = command.result or {}
    cost = "unpriced" if r.get("cost_usd") is None else f"${r['cost_usd']:.6f}"
    print(
        f"{args.name} ({r.get('model')}): {r.get('latency_s', 0):.2f}s, "
        f"{r.get('prompt_tokens')} prompt + {r.get('completion_tokens')} answer tokens, "
        f"{cost}; answer: {printable(str(r.get('text', '')).strip())[:60]!r}"
    )
    return 0


def usage_json(report: UsageReport, since: float) -> dict[str, Any]:
    return {
        "since": since,
        "total": asdict(report.total),
        "failed": report.failed,
        "refused": report.refused,
        "cancelled": report.cancelled,
        "pending": report.pending,
        "by_day": [asdict(r) for r in report.by_day],
        "by_pane": [asdict(r) for r in report.by_pane],
        "by_idea": [asdict(r) for r in report.by_idea],
        "by_backend": [asdict(r) for r in report.by_backend],
    }


def _usage_line(row: UsageRow) -> str:
    unpriced = f"  ({row.unpriced} unpriced)" if row.unpriced else ""
    return (
        f"  {printable(row.key)[:30]:<30} {row.calls:>5} calls {row.prompt_tokens:>9} in "
        f"{row.completion_tokens:>8} out  ${row.cost_usd:.4f}{unpriced}"
    )


def cmd_llm_usage(args: argparse.Namespace) -> int:
    since = parse_since(args.since, time.time()) if args.since is not None else 0.0
    with open_store(args) as store:
        calls = store.llm_calls(since=since)
    report = usage_report(calls)
    if args.json:
        print(json.dumps(usage_json(report, since), indent=2))
        return 0
    if not calls:
        print("no LLM calls" + (f" since {args.since}" if args.since else ""))
        return 0
    print(_usage_line(report.total).strip())
    stops = f"{report.failed} failed, {report.refused} stopped by a budget, "
    pending = f", {report.pending} in flight (at their most)" if report.pending else ""
    print(f"  {stops}{report.cancelled} cancelled{pending}")
    for title, rows in (
        ("per day", report.by_day),
        ("per pane", report.by_pane),
        ("per idea", report.by_idea),
        ("per backend", report.by_backend),
    ):
        if rows:
            print(title)
            for row in rows:
                print(_usage_line(row))
    return 0


def cmd_llm_default(args: argparse.Namespace) -> int:
    if args.name is not None and args.clear:
        raise UsageError("give NAME or --clear, not both")
    with open_store(args) as store:
        if args.name is not None or args.clear:
            set_default_backend(store, None if args.clear else args.name, args.pane)
        found = default_backends(store)
    if args.json:  # (after a change too: --json output is JSON whatever was asked)
        print(json.dumps({pane or "*": name for pane, name in found.items()}, indent=2))
        return 0
    if args.name is not None or args.clear:
        where = f"the {args.pane} pane" if args.pane else "every pane without its own"
        print(f"{where}: " + ("no default" if args.clear else f"asks {args.name}"))
        return 0
    for pane in ("", *LLM_PANES):
        if pane in found:
            print(f"{pane or 'every pane':<12} {found[pane]}")
    if not found:
        print("no default LLM backend: cockpit llm default NAME [--pane PANE]")
    return 0


def _ask(store: Store, name: str, plan: AskPlan, args: argparse.Namespace) -> int:
    """Show the estimate, make the call, print the answer with unverified numbers marked."""
    from backends.llm import LitellmClient
    from cockpit.render.llm import LEGEND, cost_line, marked_answer

    backend = store.get_llm_backend(name)
    estimate = asyncio.run(plan.estimate(LitellmClient(), backend))
    report_estimate(estimate, args.dry_run, args.json, label=f"{plan.what} on {name}")
    if args.dry_run:
        return 0
    command = run_llm_command(
        store, name, "llm.ask", plan.payload(), stream=args.stream, pane=plan.purpose.split(".")[0]
    )
    if command.error:
        return report_failed(command, plan.what, args.json)
    result = dict(command.result or {})
    text = str(result.get("text", ""))
    if args.json:
        print(json.dumps({"what": plan.what, "backend": name, **result}, indent=2))
        return 0
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    spans = unverified_spans(text, plan.data)
    console.print(marked_answer(text.strip(), spans))
    if spans:
        console.print(LEGEND, style="dim")
    console.print(cost_line(result), style="dim")
    return 0


def cmd_llm_explain(args: argparse.Namespace) -> int:
    from cockpit.cli.runs import runtime

    with open_store(args) as store:
        run = store.find_run(args.run)
        name = args.llm or default_backend(store, "runs")
        store.get_llm_backend(name)

        async def read() -> AskPlan:
            async with runtime(store) as rt:
                backend = await rt.handler.backend_for(run)
                log = await read_failure_log(lambda at, size: backend.read_log(run, at, size))
            return explain_plan(run, log)

        return _ask(store, name, asyncio.run(read()), args)


def cmd_llm_summarize(args: argparse.Namespace) -> int:
    from cockpit.cli.results import results_matrix
    from cockpit.render.results import to_text

    with open_store(args) as store:
        name = args.llm or default_backend(store, "results")
        store.get_llm_backend(name)
        matrix = results_matrix(args, store)
        if not matrix.sweeps:
            raise UsageError("no sweeps yet: `cockpit import PATH` records some")
        plan = summarize_plan(args.sweep or "all sweeps", to_text(matrix))
        return _ask(store, name, plan, args)


def cmd_llm_remove(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        store.remove_llm_backend(args.name)
    print(f"removed LLM backend {args.name}")
    return 0


def register(sub: Subcommands) -> None:
    llm_sub = add_group(sub, "llm", "LLM backends: add, list, remove, budget, test, usage")
    ladd = add_command(llm_sub, "add", cmd_llm_add, "add an LLM backend (any litellm model)")
    ladd.add_argument("name")
    ladd.add_argument("--model", required=True, help="litellm model, e.g. openai/gpt-4o-mini")
    ladd.add_argument("--api-base", metavar="URL", help="OpenAI-compatible endpoint")
    ladd.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="NAME of the env var holding the API key (the key is never stored)",
    )
    ladd.add_argument("--budget", metavar="USD", help="spending cap in USD")
    llst = add_command(llm_sub, "list", cmd_llm_list, "list LLM backends")
    llst.add_argument("--json", action="store_true")
    lrm = add_command(llm_sub, "remove", cmd_llm_remove, "remove an LLM backend")
    lrm.add_argument("name")
    lbud = add_command(llm_sub, "budget", cmd_llm_budget, "set or clear a backend's budget")
    lbud.add_argument("name")
    lbud.add_argument("usd", help="spending cap in USD, or 'none'")
    ltest = add_command(
        llm_sub,
        "test",
        cmd_llm_test,
        "send a tiny prompt: latency, tokens, cost",
    )
    ltest.add_argument("name")
    luse = add_command(llm_sub, "usage", cmd_llm_usage, "what LLM calls cost per day, pane, idea")
    luse.add_argument("--since", metavar="WHEN", help="e.g. 7d, 12h or 2026-11-21")
    luse.add_argument("--json", action="store_true")
    ldef = add_command(
        llm_sub, "default", cmd_llm_default, "set or show the backend each pane asks"
    )
    ldef.add_argument("name", nargs="?", help="the backend (omit to show the defaults)")
    ldef.add_argument("--pane", choices=LLM_PANES, help="only this pane (default: every pane)")
    ldef.add_argument("--clear", action="store_true", help="remove the default")
    ldef.add_argument("--json", action="store_true")

    def ask_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--llm", metavar="NAME", help="the backend (default: the pane's)")
        p.add_argument("--dry-run", action="store_true", help="print the cost estimate only")
        p.add_argument("--stream", action="store_true", help="stream the answer to stderr")
        p.add_argument("--json", action="store_true")

    lexp = add_command(
        llm_sub, "explain", cmd_llm_explain, "ask why a run failed (its log tail and traceback)"
    )
    lexp.add_argument("run", metavar="RUN")
    ask_options(lexp)
    lsum = add_command(
        llm_sub, "summarize", cmd_llm_summarize, "ask for a summary of the results matrix"
    )
    lsum.add_argument("--sweep", metavar="NAME", help="one sweep (default: all)")
    add_view_options(lsum)
    lsum.set_defaults(test=None)
    ask_options(lsum)
