"""`cockpit llm add|list|remove`: LLM backends, stored with the NAME of their key's env var."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict

from cockpit.cli.common import Subcommands, add_command, add_group, open_store
from cockpit.models import LlmBackend
from cockpit.validate import (
    valid_backend_name,
    valid_budget,
    valid_env_var,
    valid_model,
    valid_url,
)


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


def cmd_llm_remove(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        store.remove_llm_backend(args.name)
    print(f"removed LLM backend {args.name}")
    return 0


def register(sub: Subcommands) -> None:
    llm_sub = add_group(sub, "llm", "add, list and remove LLM backends")
    ladd = add_command(llm_sub, "add", cmd_llm_add, "add an LLM backend (any litellm model)")
    ladd.add_argument("name")
    ladd.add_argument("--model", required=True, help="litellm model, e.g. openai/gpt-4o-mini")
    ladd.add_argument("--api-base", metavar="URL", help="OpenAI-compatible endpoint")
    ladd.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="NAME of the env var holding the API key (the key is never stored)",
    )
    ladd.add_argument("--budget", type=float, metavar="USD", help="spending cap in USD")
    llst = add_command(llm_sub, "list", cmd_llm_list, "list LLM backends")
    llst.add_argument("--json", action="store_true")
    lrm = add_command(llm_sub, "remove", cmd_llm_remove, "remove an LLM backend")
    lrm.add_argument("name")
