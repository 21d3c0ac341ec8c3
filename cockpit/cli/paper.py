"""`cockpit paper`: register drafts, list their versions, diff them, check their claims
against the results, write result macros, and review them with an LLM."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cockpit.cli.common import (
    Subcommands,
    UsageError,
    add_command,
    add_group,
    open_store,
    report_estimate,
    report_failed,
)
from cockpit.models import CostEstimate
from cockpit.render.safe import printable
from cockpit.validate import read_input_text, shown, valid_name

if TYPE_CHECKING:
    from rich.console import Console


def _console() -> Console:
    """Rich is imported only by the commands that print with it."""
    from rich.console import Console

    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def _date(stamp: float) -> str:
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")


def cmd_add(args: argparse.Namespace) -> int:
    from cockpit.paper import drafts

    valid_name(args.name, "draft name")
    with open_store(args) as store:
        version = drafts.register(store, args.name, Path(args.path))
    lines = version.text.count("\n") + 1
    print(f"draft {args.name}: version {version.version}, {lines} lines (includes followed)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        found = store.list_drafts()
        versions = store.list_draft_versions()
    rows = []
    for d in found:
        mine = [v for v in versions if v.draft == d.name]
        rows.append({"name": d.name, "path": d.path, "versions": len(mine)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no drafts yet: `cockpit paper add NAME PATH/main.tex` registers one")
    for row in rows:
        print(f"{printable(row['name'])}\t{row['versions']} version(s)\t{printable(row['path'])}")
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    from cockpit.paper import drafts

    with open_store(args) as store:
        draft = store.get_draft(args.name)
        drafts.snapshot_if_changed(store, draft)
        stored = store.list_draft_versions(draft.name)
    commits = drafts.git_versions(Path(draft.path)) if draft.path else []
    rows = [
        {
            "ref": f"{draft.name}@{v.version}",
            "kind": v.source or "snapshot",
            "date": v.created_at,
            "message": v.message,
            "lines": v.text.count("\n") + 1,
        }
        for v in stored
    ] + [
        {
            "ref": f"{draft.name}@{c.rev[:12]}",
            "kind": "git",
            "date": c.created_at,
            "message": c.message,
        }
        for c in commits
    ]
    rows.sort(key=lambda r: r["date"])
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['ref']:<28} {r['kind']:<12} {_date(r['date'])}  {printable(r['message'])}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from cockpit.paper import drafts
    from cockpit.paper.diff import diff_drafts
    from cockpit.render import paper as render

    with open_store(args) as store:
        old = drafts.resolve(store, args.a)
        new = drafts.resolve(store, args.b)
    diff = diff_drafts(old.text, new.text, old.label, new.label)
    if args.json:
        print(json.dumps(render.diff_json(diff), indent=2))
        return 0
    console = _console()
    console.print(render.summary_text(diff))
    for change in diff.changes:
        console.print(
            render.side_by_side_change(change)
            if args.side_by_side
            else render.unified_change(change)
        )
    return 0


def _claim_json(claim: Any) -> dict[str, Any]:
    source = claim.source
    return {
        "status": claim.status,
        "text": claim.text,
        "line": claim.line,
        "section": claim.section,
        "value": claim.value,
        "note": claim.note,
        "source": None
        if source is None
        else {
            "run": source.run,
            "metric": source.metric,
            "value": source.value,
            "what": source.what,
        },
    }


def cmd_check(args: argparse.Namespace) -> int:
    """Exit 1 when a number matches nothing, is stale, or a claim is unbacked: a build gate."""
    from cockpit.paper import drafts
    from cockpit.paper.claims import check_claims
    from cockpit.render.paper import claims_text

    if args.sweep is not None:
        valid_name(args.sweep, "sweep name")
    with open_store(args) as store:
        if args.sweep is not None and args.sweep not in {s.name for s in store.list_sweeps()}:
            raise UsageError(f"no sweep named {shown(args.sweep)}")
        target = drafts.resolve(store, args.draft)
        report = check_claims(
            store, target.text, draft=target.draft or "", sweep=args.sweep, remember=True
        )
    if args.json:
        print(
            json.dumps(
                {
                    "draft": target.label,
                    "problems": len(report.problems),
                    "claims": [_claim_json(c) for c in report.claims],
                },
                indent=2,
            )
        )
    else:
        _console().print(claims_text(report, all_claims=not args.problems))
    return 1 if report.problems else 0


def cmd_macros(args: argparse.Namespace) -> int:
    from cockpit.paper.macros import macros_tex

    valid_name(args.sweep, "sweep name")
    with open_store(args) as store:
        if args.sweep not in {s.name for s in store.list_sweeps()}:
            raise UsageError(f"no sweep named {shown(args.sweep)}")
        sys.stdout.write(macros_tex(store, args.sweep))
    return 0


def _submit_llm(store: Any, backend: str, kind: str, payload: dict[str, Any]) -> Any:
    """One llm.* command of the paper jobs on the audited bus, waited for."""
    import asyncio

    from cockpit.cli.llm import llm_bus
    from cockpit.paper.review import add_paper_jobs
    from cockpit.registry import llm_target

    async def go() -> Any:
        bus, handler = llm_bus(store)
        add_paper_jobs(handler, store)
        return await bus.submit("cli", llm_target(backend), kind, payload)

    return asyncio.run(go())


def _estimate(backend: Any, prompts: list[tuple[str, int]]) -> CostEstimate:
    import asyncio

    from backends.llm import LitellmClient
    from cockpit.llm_jobs import estimate_job

    return asyncio.run(estimate_job(LitellmClient(), backend, prompts))


def cmd_edit(args: argparse.Namespace) -> int:
    """Ask the LLM to edit one section or paragraph; show the proposal as hunks; write the
    accepted ones (a snapshot of the draft is taken first, and the file is replaced in one
    rename)."""
    from cockpit.paper.review import (
        EDIT_ASKS,
        draft_edit_targets,
        edit_calls,
        find_target,
        fit_proposal,
        hunks_between,
        write_edit,
    )

    notes = ""
    if args.notes:
        notes = read_input_text(args.notes, "--notes")
    _accept_numbers(args.accept)  # a typo there is found before the model is paid
    if args.ask not in EDIT_ASKS:
        raise UsageError(f"--ask must be one of {', '.join(EDIT_ASKS)}")
    paragraph = None
    if args.paragraph is not None:
        from cockpit.validate import valid_count

        paragraph = valid_count(args.paragraph, "paragraph", 1, 10_000)
    with open_store(args) as store:
        draft = store.get_draft(args.name)
        if not draft.path:
            raise UsageError(f"draft {draft.name} has no file to edit")
        backend = store.get_llm_backend(args.llm)
        targets = draft_edit_targets(Path(draft.path))
        target = find_target(targets, args.section, paragraph)
        estimate = _estimate(backend, edit_calls(target.text, args.ask, notes))
        report_estimate(estimate, args.dry_run, as_json=False)
        if args.dry_run:
            return 0
        command = _submit_llm(
            store,
            args.llm,
            "llm.paper_edit",
            {"draft": draft.name, "selection": target.text, "ask": args.ask, "notes": notes},
        )
        if command.error:
            print(f"cockpit: command #{command.id} failed: {command.error}", file=sys.stderr)
            return 1
        proposal = fit_proposal(target.text, str(command.result["proposal"]))
        hunks = hunks_between(target.text, proposal)
        for hunk in hunks:
            print(f"@@ hunk {hunk.index + 1}")
            for line in hunk.old.splitlines():
                print(printable(f"-{line}"))
            for line in hunk.new.splitlines():
                print(printable(f"+{line}"))
        accepted = _accepted(args.accept, len(hunks))
        if not accepted:
            print(f"{len(hunks)} hunk(s) proposed, none accepted: nothing written")
            return 0
        version = write_edit(store, draft, target, hunks, accepted)
    shown = ", ".join(str(i + 1) for i in sorted(accepted))
    after = f" (draft version {version.version})" if version else ""
    print(f"accepted hunk(s) {shown} of {len(hunks)}; wrote {target.file}{after}")
    return 0


def _accept_numbers(spec: str | None) -> set[int] | None:
    """--accept as hunk indexes from 0; None for `all`."""
    if spec is None or spec == "none":
        return set()
    if spec == "all":
        return None
    try:
        chosen = {int(p) - 1 for p in spec.split(",") if p.strip()}
    except ValueError:
        chosen = {-1}
    if not chosen or min(chosen) < 0:
        raise UsageError(f"--accept {shown(spec)}: all, none, or hunk numbers like 1,3")
    return chosen


def _accepted(spec: str | None, count: int) -> set[int]:
    chosen = _accept_numbers(spec)
    if chosen is None:
        return set(range(count))
    if not all(0 <= i < count for i in chosen):
        raise UsageError(f"--accept {shown(spec)}: there are {count} hunk(s)")
    return chosen


def cmd_review(args: argparse.Namespace) -> int:
    from cockpit.paper import drafts
    from cockpit.paper.review import review_estimate_calls
    from cockpit.validate import valid_count

    n = valid_count(args.n, "n", 1, 10)
    with open_store(args) as store:
        target = drafts.resolve(store, args.ref)
        if target.draft is None or target.version is None:
            raise UsageError(f"{args.ref}: review a stored version (NAME or NAME@N)")
        backend = store.get_llm_backend(args.llm)
        estimate = _estimate(backend, review_estimate_calls(target.text, n))
        report_estimate(estimate, args.dry_run, args.json)
        if args.dry_run:
            return 0
        payload = {"draft": target.draft, "version": target.version, "n": n}
        command = _submit_llm(store, args.llm, "llm.paper_review", payload)
    if command.error:
        return report_failed(command, f"command #{command.id}", args.json)
    result = command.result
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    meta = result["meta"]
    for i, review in enumerate([*result["reviews"], meta]):
        who = "meta-review" if i == len(result["reviews"]) else f"review {i + 1}"
        scores = " ".join(
            f"{k}={review.get(k)}"
            for k in ("soundness", "presentation", "contribution", "overall", "confidence")
        )
        print(printable(f"{who}: {scores} decision={review.get('decision')}"))
        for problem in review.get("problems", []):
            print(printable(f"  problem: {problem}"))
    print(f"{result.get('calls', 0)} LLM call(s), ${result.get('cost_usd') or 0:.4f}")
    return 0


def cmd_reviews(args: argparse.Namespace) -> int:
    from cockpit.paper.review import score_history

    with open_store(args) as store:
        store.get_draft(args.name)
        rows = score_history(store.list_reviews(args.name))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(
            f"v{row['version']}: {row['reviews']} review(s), overall mean "
            f"{row['overall_mean']}, meta overall {row['overall_meta']}, "
            f"soundness {row['soundness_mean']}, decision {row['decision']}"
        )
    return 0


def register(sub: Subcommands) -> None:
    group = add_group(sub, "paper", "paper drafts: versions, diffs, claim check, review")
    p = add_command(group, "add", cmd_add, "register a draft by its main .tex file")
    p.add_argument("name", help="a short name for the draft")
    p.add_argument("path", help="the main .tex file (\\input and \\include are followed)")
    p = add_command(group, "list", cmd_list, "the registered drafts")
    p.add_argument("--json", action="store_true")
    p = add_command(group, "versions", cmd_versions, "a draft's snapshots and git commits")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p = add_command(group, "diff", cmd_diff, "LaTeX-aware diff of two drafts or versions")
    p.add_argument("a", help="a .tex file, NAME (current), NAME@VERSION or NAME@GIT-REV")
    p.add_argument("b", help="the same forms as A")
    p.add_argument("--json", action="store_true", help="the changes as a JSON object")
    p.add_argument("--side-by-side", action="store_true", help="old and new in two columns")
    p = add_command(
        group, "check", cmd_check, "match every number and claim of a draft to the results"
    )
    p.add_argument("draft", help="a .tex file, NAME, NAME@VERSION or NAME@GIT-REV")
    p.add_argument("--sweep", metavar="S", help="only this sweep's results (default: all)")
    p.add_argument("--json", action="store_true", help="every claim as JSON")
    p.add_argument("--problems", action="store_true", help="list only the problems")
    p = add_command(group, "edit", cmd_edit, "LLM edit of a section, as hunks to accept")
    p.add_argument("name", help="the draft")
    p.add_argument("--section", required=True, help="the section title to edit")
    p.add_argument("--paragraph", metavar="N", help="only the section's N-th paragraph")
    p.add_argument("--llm", required=True, metavar="BACKEND")
    p.add_argument("--ask", default="tighten", help="tighten, grammar, rewrite or results")
    p.add_argument("--notes", metavar="FILE", help="notes or a results table for the prompt")
    p.add_argument("--accept", metavar="WHICH", help="all, none, or hunk numbers like 1,3")
    p.add_argument("--dry-run", action="store_true", help="show the cost estimate only")
    p = add_command(group, "review", cmd_review, "LLM reviews (NeurIPS form) of a version")
    p.add_argument("ref", help="NAME (the current version) or NAME@N")
    p.add_argument("--llm", required=True, metavar="BACKEND")
    p.add_argument("--n", default="3", help="number of reviewers (1-10, default 3)")
    p.add_argument("--dry-run", action="store_true", help="show the cost estimate only")
    p.add_argument("--json", action="store_true")
    p = add_command(group, "reviews", cmd_reviews, "how the review scores moved between versions")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p = add_command(group, "macros", cmd_macros, "a sweep's results as LaTeX \\newcommand macros")
    p.add_argument("--sweep", metavar="S", required=True)
