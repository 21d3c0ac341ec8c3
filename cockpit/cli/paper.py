"""`cockpit paper`: register drafts, list their versions, diff them, check their claims
against the results, write result macros, and review them with an LLM."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from cockpit.cli.common import Subcommands, UsageError, add_command, add_group, open_store
from cockpit.render.safe import printable
from cockpit.validate import valid_name


def _console():
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
            raise UsageError(f"no sweep named {args.sweep!r}")
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
            raise UsageError(f"no sweep named {args.sweep!r}")
        sys.stdout.write(macros_tex(store, args.sweep))
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
    p = add_command(group, "macros", cmd_macros, "a sweep's results as LaTeX \\newcommand macros")
    p.add_argument("--sweep", metavar="S", required=True)
