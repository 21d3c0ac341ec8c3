"""`cockpit host add|list|remove|import-ssh-config|trust`."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from cockpit.cli.common import Subcommands, UsageError, add_command, add_group, open_store
from cockpit.models import Host, HostKind
from cockpit.validate import (
    ValidationError,
    parse_ssh_target,
    shown,
    valid_backend_name,
    valid_count,
    valid_fingerprint,
    valid_identity_file,
    valid_name,
    valid_port,
    valid_user,
)

# A host's GPUs as `host add --gpus` gives them (a Slurm login node: the cluster's).
MAX_HOST_GPUS = 100_000


def describe_target(host: Host) -> str:
    target = f"{host.user}@{host.address}" if host.user else host.address
    if host.port:
        target += f":{host.port}"
    if host.jump:
        target += f" via {host.jump}"
    return target


def valid_jump(value: str) -> str:
    """ProxyJump: one or more [user@]host[:port] hops, comma-separated as ssh writes them."""
    for hop in value.split(","):
        parse_ssh_target(hop)
    return value


def host_from_ssh_config(entry: dict[str, object]) -> Host:
    """A Host entry of ~/.ssh/config, checked field by field as `host add` checks them."""
    alias = str(entry["Host"])
    valid_backend_name(alias, "host name")
    port, user, jump, identity = (
        entry.get(key) for key in ("Port", "User", "ProxyJump", "IdentityFile")
    )
    # Keep the alias as the address: asyncssh resolves it through the same config,
    # so HostName, Port, User, IdentityFile and ProxyJump stay as the user wrote them.
    return Host(
        name=alias,
        kind=HostKind.SSH,
        address=alias,
        user=valid_user(str(user)) if user is not None else None,
        port=valid_port(str(port)) if port is not None else None,
        jump=valid_jump(str(jump)) if jump is not None else None,
        identity_file=valid_identity_file(str(identity)) if identity is not None else None,
    )


def cmd_host_add(args: argparse.Namespace) -> int:
    name = valid_backend_name(args.name, "host name")
    if args.local:
        kind, user, address, port = HostKind.LOCAL, None, "localhost", None
    else:
        kind = HostKind.SLURM if args.slurm is not None else HostKind.SSH
        user, address, port = parse_ssh_target(args.slurm if args.slurm is not None else args.ssh)
    if args.port is not None:
        port = valid_port(args.port)
    if args.jump is not None:
        valid_jump(args.jump)
    if args.identity is not None:
        valid_identity_file(args.identity)
    for label in args.label:
        valid_name(label, "label")
    if args.gpus is not None:  # (a count past SQLite's integers ended in a traceback)
        valid_count(args.gpus, "gpus", 0, MAX_HOST_GPUS)
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
    from backends.ssh.config import list_ssh_config_hosts

    config = Path(args.config).expanduser()
    if not config.is_file():
        raise UsageError(f"no ssh config at {config}")
    entries = list_ssh_config_hosts(config)
    with open_store(args) as store:
        existing = {h.name for h in store.list_hosts()}
        added: list[Host] = []
        skipped: list[str] = []
        for entry in entries:
            alias = str(entry["Host"])
            if alias in existing:
                skipped.append(f"{shown(alias)} (already present)")
                continue
            try:
                host = host_from_ssh_config(entry)
            except ValidationError as exc:
                skipped.append(f"{shown(alias)} ({exc})")
                continue
            if not args.dry_run:
                store.add_host(host)
            added.append(host)
    verb = "would add" if args.dry_run else "added"
    for host in added:
        print(f"{verb} {host.name} ({describe_target(host)})")
    for line in skipped:
        print(f"skipped {line}")
    if not added and not skipped:
        print(f"no Host entries in {config}")
    return 0


def cmd_host_trust(args: argparse.Namespace) -> int:
    import asyncio

    from backends.ssh.connection import SshError
    from backends.ssh.host_keys import fetch_host_key, trust_host_key

    if args.fingerprint is not None:  # (checked before the host is asked for its key)
        valid_fingerprint(args.fingerprint)
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


def register(sub: Subcommands) -> None:
    host_sub = add_group(sub, "host", "add, list and remove hosts")
    add = add_command(
        host_sub, "add", cmd_host_add, "add an SSH host, Slurm login node or the local machine"
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
    lst = add_command(host_sub, "list", cmd_host_list, "list hosts")
    lst.add_argument("--json", action="store_true")
    rm = add_command(host_sub, "remove", cmd_host_remove, "remove a host")
    rm.add_argument("name")
    imp = add_command(
        host_sub, "import-ssh-config", cmd_host_import, "add the Host entries of ~/.ssh/config"
    )
    imp.add_argument("--config", default="~/.ssh/config", metavar="PATH")
    imp.add_argument("--dry-run", action="store_true", help="show what would be added")
    trust = add_command(
        host_sub, "trust", cmd_host_trust, "show a host's SSH key fingerprint and trust it"
    )
    trust.add_argument("name")
    trust.add_argument("--fingerprint", metavar="SHA256:…", help="trust only this fingerprint")
    trust.add_argument("--yes", action="store_true", help="trust without asking")
