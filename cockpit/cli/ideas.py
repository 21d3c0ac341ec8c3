"""`cockpit ideas …`: the idea queue by hand, AI-Scientist ideas.json in and out, ideas from
an LLM, novelty checks against the literature, and a sweep proposed from an idea.

Anything a model does is a command on the bus (target `llm:NAME`); a proposed sweep waits
in needs-confirm until a person runs `cockpit confirm ID` (or presses y in Commands).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path
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
from cockpit.cli.llm import run_llm_command
from cockpit.ideas import (
    SWEEP_PROPOSAL_KIND,
    estimate_generation,
    move,
    read_context_file,
    read_ideas_file,
    sweep_proposal_payload,
    sweep_spec_template,
    write_ideas_file,
)
from cockpit.models import CommandOrigin, CostEstimate, Idea, IdeaStatus
from cockpit.registry import CommandRegistry, host_target
from cockpit.render.safe import printable
from cockpit.render.text import json_safe
from cockpit.store import Store
from cockpit.validate import (
    read_input_text,
    valid_count,
    valid_name,
    valid_score,
    valid_title,
)

SOURCES = ("semantic_scholar", "openalex")


def idea_json(idea: Idea) -> dict[str, Any]:
    data = dataclasses.asdict(idea)
    data["sweeps"] = list(idea.sweeps)
    data["score"] = idea.score
    data["status"] = str(idea.status)
    # An imported file's NaN or Infinity (Python's json writes them) is null here: --json
    # is read by strict parsers, and NaN is no JSON.
    return {key: json_safe(value) for key, value in data.items()}


def _scores(args: argparse.Namespace) -> dict[str, int]:
    return {
        attr: valid_score(getattr(args, attr), attr)
        for attr in ("interestingness", "feasibility", "novelty")
        if getattr(args, attr, None) is not None
    }


def cmd_ideas_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        ideas = store.list_ideas()
    if args.status:
        ideas = [i for i in ideas if i.status == args.status]
    ideas.sort(key=lambda i: (-i.priority, -(i.score or 0.0)))
    if args.json:
        print(json.dumps([idea_json(i) for i in ideas], indent=2))
        return 0
    if not ideas:
        print("no ideas yet: cockpit ideas add NAME --title TITLE, or ideas import FILE")
        return 0
    for i in ideas:
        score = "  — " if i.score is None else f"{i.score:4.1f}"
        novel = {None: "?", True: "novel", False: "known"}[i.novel]
        print(
            f"{printable(i.name)[:32]:<32} {score} {novel:<5} {i.status:<8} p{i.priority:<2} "
            f"{printable(i.title)[:60]}"
        )
    return 0


def cmd_ideas_add(args: argparse.Namespace) -> int:
    idea = Idea(
        name=valid_name(args.name, "idea name"),
        title=valid_title(args.title),
        experiment=args.experiment or "",
        priority=valid_count(args.priority, "priority", -100, 100),
        notes=args.notes or "",
        **_scores(args),
    )
    if any(getattr(idea, a) is not None for a in ("interestingness", "feasibility", "novelty")):
        idea = dataclasses.replace(idea, status=IdeaStatus.SCORED)
    with open_store(args) as store:
        store.add_idea(idea)
    print(f"added idea {idea.name} ({idea.status})")
    return 0


def cmd_ideas_edit(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        idea = store.get_idea(args.name)
        changes: dict[str, Any] = _scores(args)
        if args.title is not None:
            changes["title"] = valid_title(args.title)
        if args.experiment is not None:
            changes["experiment"] = args.experiment
        if args.priority is not None:
            changes["priority"] = valid_count(args.priority, "priority", -100, 100)
        if args.notes is not None:
            changes["notes"] = args.notes
        if args.add_note:
            changes["notes"] = "\n".join(n for n in (idea.notes, args.add_note) if n)
        if args.link_sweep:
            sweep = valid_name(args.link_sweep, "sweep name")
            if sweep not in idea.sweeps:
                changes["sweeps"] = (*idea.sweeps, sweep)
        edited = dataclasses.replace(idea, **changes)
        if args.status is not None:
            edited = move(edited, args.status)
        if edited == idea:
            raise UsageError("nothing to change: give at least one option")
        store.save_idea(edited)
    print(f"edited idea {idea.name} ({edited.status})")
    return 0


def cmd_ideas_rm(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        store.remove_idea(args.name)
    print(f"removed idea {args.name}")
    return 0


def cmd_ideas_show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        idea = store.get_idea(args.name)
    if args.json:
        print(json.dumps(idea_json(idea), indent=2))
        return 0
    p = printable
    print(f"{p(idea.title)}\n{p(idea.name)} · {idea.status} · priority {idea.priority}")
    scores = ", ".join(
        f"{k} {getattr(idea, k) if getattr(idea, k) is not None else '—'}"
        for k in ("interestingness", "feasibility", "novelty")
    )
    print(f"scores: {scores}; from {idea.source}")
    if idea.experiment:
        print(f"\n{p(idea.experiment, newlines=True)}")
    if idea.reasoning:
        print(f"\nreasoning:\n{p(idea.reasoning, newlines=True)}")
    if idea.notes:
        print(f"\nnotes:\n{p(idea.notes, newlines=True)}")
    if idea.sweeps:
        print(f"\nsweeps: {', '.join(p(s) for s in idea.sweeps)}")
    check = idea.novelty_check
    if check is not None:
        verdict = {None: "undecided", True: "novel", False: "not novel"}[check.novel]
        print(f"\nnovelty ({check.source}): {verdict}: {p(check.reasons, newlines=True)}")
        for paper in check.papers:
            print(
                f"  - {p(paper.title)} ({paper.year or '?'}, {p(paper.venue) or '—'}, "
                f"{paper.citations if paper.citations is not None else '?'} cit.) "
                f"{p(paper.url)}"
            )
    return 0


def cmd_ideas_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    text = read_input_text(path, "ideas file")
    ideas, problems = read_ideas_file(text)
    with open_store(args) as store:
        store.import_ideas(ideas)
    print(f"imported {len(ideas)} idea(s) from {path}")
    for problem in problems:
        print(f"  {printable(problem)}", file=sys.stderr)
    return 0


def cmd_ideas_export(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        ideas = store.list_ideas()
    if args.status:
        ideas = [i for i in ideas if i.status == args.status]
    text = write_ideas_file(ideas)
    if args.file == "-":
        sys.stdout.write(text)
        return 0
    try:
        Path(args.file).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {args.file}: {exc.strerror}") from None
    print(f"exported {len(ideas)} idea(s) to {args.file}")
    return 0


def cmd_ideas_generate(args: argparse.Namespace) -> int:
    n = valid_count(args.n, "n", 1, 50)
    reflections = valid_count(args.reflections, "reflections", 0, 10)
    context = read_context_file(args.context)
    with open_store(args) as store:
        backend = store.get_llm_backend(args.llm)
        titles = [i.title for i in store.list_ideas()]

        async def estimate() -> CostEstimate:
            from backends.llm import LitellmClient

            return await estimate_generation(
                LitellmClient(), backend, context, titles, n, reflections
            )

        report_estimate(asyncio.run(estimate()), args.dry_run, args.json)
        if args.dry_run:
            return 0
        payload = {"context": context, "n": n, "reflections": reflections}
        command = run_llm_command(store, args.llm, "llm.generate", payload, stream=args.stream)
    return _report(command, args.json, _generated_lines)


def _generated_lines(result: dict[str, Any]) -> list[str]:
    lines = [f"{len(result.get('ideas', []))} idea(s) added: {', '.join(result['ideas'])}"]
    for name, similar in result.get("duplicates", {}).items():
        lines.append(f"  {name} may duplicate {', '.join(n for n, _ in similar)}")
    for problem in result.get("problems", []):
        lines.append(f"  idea {problem['idea']}: {problem['problem']} (raw answer in #audit)")
    return lines


def cmd_ideas_check(args: argparse.Namespace) -> int:
    rounds = valid_count(args.rounds, "rounds", 1, 10)
    with open_store(args) as store:
        store.get_idea(args.name)
        command = run_llm_command(
            store,
            args.llm,
            "llm.check",
            {"idea": args.name, "rounds": rounds},
            literature_source=args.source,
            stream=args.stream,
        )
    return _report(command, args.json, _check_lines)


def _check_lines(result: dict[str, Any]) -> list[str]:
    verdict = {None: "undecided", True: "novel", False: "not novel"}[result.get("novel")]
    lines = [f"{result['idea']}: {verdict}: {result.get('reasons', '')}"]
    for paper in result.get("papers", []):
        lines.append(
            f"  - {paper['title']} ({paper.get('year') or '?'}, {paper.get('venue') or '—'}, "
            f"{paper.get('citations') if paper.get('citations') is not None else '?'} cit.) "
            f"{paper.get('url', '')}"
        )
    return lines


def _report(command: Any, as_json: bool, lines: Any) -> int:
    """How an llm.* command ended: its result, or its error and exit 1."""
    result = dict(command.result or {})
    cost = result.get("cost_usd")
    if as_json:
        print(
            json.dumps(
                {
                    "command": command.id,
                    "status": str(command.status),
                    "error": command.error,
                    **result,
                },
                indent=2,
            )
        )
        return EXIT_FAILED if command.error else 0
    if command.error:
        print(f"cockpit: command #{command.id} failed: {command.error}", file=sys.stderr)
        return EXIT_FAILED
    for line in lines(result):
        print(printable(line))
    print(f"{result.get('calls', 0)} LLM call(s), ${cost or 0:.4f} (command #{command.id})")
    return 0


def cmd_ideas_propose(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        idea = store.get_idea(args.name)
        if idea.status != IdeaStatus.APPROVED and not args.force:
            raise UsageError(
                f"idea {idea.name} is {idea.status}; approve it first "
                f"(cockpit ideas edit {idea.name} --status approved) or pass --force"
            )
        host = _host(store, args.host)
        origin = CommandOrigin.USER
        if args.spec:
            spec = read_input_text(args.spec, "--spec")
        elif args.llm:
            made = run_llm_command(
                store, args.llm, "llm.propose", {"idea": idea.name, "host": host.name}
            )
            if made.error:
                return report_failed(made, f"command #{made.id}", args.json)
            spec = str((made.result or {})["spec_toml"])
            origin = CommandOrigin.LLM
        else:
            spec = sweep_spec_template(idea, host.name)
        payload = sweep_proposal_payload(idea, spec)

        async def submit() -> Any:
            bus = CommandBus(store, CommandRegistry(store.list_hosts()))
            return await bus.submit(
                "ideas",
                host_target(host),
                SWEEP_PROPOSAL_KIND,
                payload,
                origin=origin,
                confirm_first=True,
            )

        command = asyncio.run(submit())
    if args.json:
        print(json.dumps({"command": command.id, "status": str(command.status), **payload}))
        return 0
    print(printable(spec, newlines=True), end="")
    print(
        f"proposed as command #{command.id} ({command.status}): nothing runs until a person "
        f"confirms it (cockpit confirm {command.id}, or y in Commands)"
    )
    return 0


def _host(store: Store, name: str | None) -> Any:
    if name:
        return store.get_host(name)
    hosts = store.list_hosts()
    if len(hosts) != 1:
        raise UsageError(
            "no hosts yet: add one with cockpit host add" if not hosts else "give --host NAME"
        )
    return hosts[0]


def register(sub: Subcommands) -> None:
    ideas = add_group(sub, "ideas", "the idea queue: add, edit, import, generate, check")
    statuses = [s.value for s in IdeaStatus]

    lst = add_command(ideas, "list", cmd_ideas_list, "list ideas, highest priority and score first")
    lst.add_argument("--status", choices=statuses)
    lst.add_argument("--json", action="store_true")

    def score_options(p: argparse.ArgumentParser) -> None:
        for name in ("interestingness", "feasibility", "novelty"):
            p.add_argument(f"--{name}", metavar="1-10")

    add = add_command(ideas, "add", cmd_ideas_add, "add an idea by hand")
    add.add_argument("name")
    add.add_argument("--title", required=True)
    add.add_argument("--experiment")
    add.add_argument("--priority", default=0, metavar="N")
    add.add_argument("--notes")
    score_options(add)

    edit = add_command(ideas, "edit", cmd_ideas_edit, "change an idea's fields or status")
    edit.add_argument("name")
    edit.add_argument("--title")
    edit.add_argument("--experiment")
    edit.add_argument("--status", choices=statuses)
    edit.add_argument("--priority", metavar="N")
    edit.add_argument("--notes", help="replace the notes")
    edit.add_argument("--add-note", metavar="TEXT", help="append a line to the notes")
    edit.add_argument("--link-sweep", metavar="SWEEP", help="record a sweep this idea produced")
    score_options(edit)

    rm = add_command(ideas, "rm", cmd_ideas_rm, "delete an idea")
    rm.add_argument("name")

    show = add_command(ideas, "show", cmd_ideas_show, "an idea in full, with its novelty check")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")

    imp = add_command(ideas, "import", cmd_ideas_import, "import an AI-Scientist ideas.json")
    imp.add_argument("file")

    exp = add_command(ideas, "export", cmd_ideas_export, "export ideas as AI-Scientist JSON")
    exp.add_argument("file", help="a path, or - for stdout")
    exp.add_argument("--status", choices=statuses)

    gen = add_command(ideas, "generate", cmd_ideas_generate, "new ideas from an LLM")
    gen.add_argument("--llm", required=True, metavar="NAME")
    gen.add_argument("--context", required=True, metavar="FILE")
    gen.add_argument("--n", default=5, metavar="N")
    gen.add_argument("--reflections", default=3, metavar="R")
    gen.add_argument("--dry-run", action="store_true", help="print the cost estimate only")
    gen.add_argument("--stream", action="store_true", help="stream the answers to stderr")
    gen.add_argument("--json", action="store_true")

    chk = add_command(ideas, "check", cmd_ideas_check, "novelty check against the literature")
    chk.add_argument("name")
    chk.add_argument("--llm", required=True, metavar="NAME")
    chk.add_argument("--source", choices=SOURCES, default="semantic_scholar")
    chk.add_argument("--rounds", default=5, metavar="N")
    chk.add_argument("--stream", action="store_true")
    chk.add_argument("--json", action="store_true")

    prop = add_command(ideas, "propose", cmd_ideas_propose, "propose a sweep for an idea")
    prop.add_argument("name")
    prop.add_argument("--host", metavar="NAME")
    prop.add_argument("--llm", metavar="NAME", help="let this LLM fill in the spec")
    prop.add_argument("--spec", metavar="FILE", help="propose this spec file instead")
    prop.add_argument("--force", action="store_true", help="propose for an idea not approved")
    prop.add_argument("--json", action="store_true")
