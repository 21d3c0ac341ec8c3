"""~/.ssh/config resolution: what an alias means, as OpenSSH would read it.

Explicit fields of a cockpit Host win over the config, as command-line flags win over it
for OpenSSH. ProxyJump values are parsed here; the hops are opened by the connection.
"""

from __future__ import annotations

import getpass
import glob
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from asyncssh.config import SSHClientConfig

DEFAULT_SSH_PORT = 22


@dataclass(frozen=True)
class SshTarget:
    """A host alias resolved through ssh config, with explicit Host fields applied."""

    alias: str
    hostname: str
    port: int
    user: str | None
    identity_files: tuple[str, ...]
    jump: str | None
    # The user's ssh config names Ciphers for this host: theirs are used as they are.
    ciphers_configured: bool = False

    @property
    def label(self) -> str:
        return f"{self.hostname}:{self.port}"

    def with_identity_file(self, identity_file: str) -> SshTarget:
        """The same target, authenticating with this key only."""
        return replace(self, identity_files=(str(Path(identity_file).expanduser()),))


@dataclass(frozen=True)
class JumpHop:
    host: str
    user: str | None = None
    port: int | None = None


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def resolve_target(
    alias: str,
    config_files: Sequence[str],
    *,
    user: str | None = None,
    port: int | None = None,
    identity_file: str | None = None,
    jump: str | None = None,
) -> SshTarget:
    """Resolve an alias like OpenSSH does: explicit values first, then the config files."""
    config = SSHClientConfig.load(
        None,
        list(config_files),
        False,
        False,
        False,
        _local_user(),
        user if user else (),
        alias,
        port if port else (),
    )
    hostname = str(config.get("Hostname", alias) or alias)
    cfg_port = config.get("Port", DEFAULT_SSH_PORT)
    cfg_user = config.get("User")
    identities: tuple[str, ...]
    if identity_file:
        identities = (str(Path(identity_file).expanduser()),)
    else:
        raw = config.get("IdentityFile", ()) or ()
        identities = tuple(str(Path(str(p)).expanduser()) for p in raw)  # type: ignore[union-attr]
    cfg_jump = config.get("ProxyJump")
    eff_jump = jump if jump else (str(cfg_jump) if cfg_jump else None)
    if eff_jump and eff_jump.lower() == "none":
        eff_jump = None
    return SshTarget(
        alias=alias,
        hostname=hostname,
        port=int(port or cfg_port or DEFAULT_SSH_PORT),  # type: ignore[arg-type]
        user=user or (str(cfg_user) if cfg_user else None),
        identity_files=identities,
        jump=eff_jump,
        ciphers_configured=bool(config.get("Ciphers")),
    )


def parse_jump_spec(spec: str) -> list[JumpHop]:
    """Split a ProxyJump value: `[user@]host[:port]` or `ssh://[user@]host[:port]`, commas."""
    hops: list[JumpHop] = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        if item.startswith("ssh://"):
            item = item[len("ssh://") :]
        user: str | None = None
        if "@" in item:
            user, item = item.rsplit("@", 1)
        port: int | None = None
        if item.startswith("["):  # [v6addr]:port
            host, _, rest = item[1:].partition("]")
            if rest.startswith(":") and rest[1:].isdigit():
                port = int(rest[1:])
        elif item.count(":") == 1:
            host, _, port_s = item.partition(":")
            if not port_s.isdigit():
                raise ValueError(f"bad port in ProxyJump {raw!r}")
            port = int(port_s)
        else:
            host = item
        if not host:
            raise ValueError(f"empty host in ProxyJump {raw!r}")
        hops.append(JumpHop(host=host, user=user or None, port=port))
    return hops


def list_ssh_config_hosts(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The concrete Host entries of an OpenSSH client config, for `host import-ssh-config`.

    One dict per alias with keys Host, HostName, User, Port, IdentityFile, ProxyJump
    (None when absent). Wildcard and negated patterns are skipped, Match blocks ignored,
    Include followed. Values come only from blocks that name the alias itself: settings
    inherited from `Host *` still apply at connect time because the alias is what we
    connect to.
    """
    wanted = {
        "hostname": "HostName",
        "user": "User",
        "port": "Port",
        "identityfile": "IdentityFile",
        "proxyjump": "ProxyJump",
    }
    entries: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    base = Path(path).expanduser()
    seen_files: set[Path] = set()

    def parse(file: Path) -> None:
        try:
            resolved = file.resolve()
        except OSError:
            return
        if resolved in seen_files:  # an Include loop
            return
        seen_files.add(resolved)
        if not resolved.is_file():  # an Include of a FIFO would block the read forever
            return
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        current: list[str] = []  # aliases the lines below apply to; [] inside Match
        for line in text.splitlines():
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            try:
                words = shlex.split(stripped.replace("=", " ", 1), comments=True)
            except ValueError:
                continue
            if not words:
                continue
            key, args = words[0].lower(), words[1:]
            if key == "host":
                current = [a for a in args if not any(c in a for c in "*?!")]
                for alias in current:
                    if alias not in entries:
                        entries[alias] = {"Host": alias} | dict.fromkeys(wanted.values())
                        order.append(alias)
            elif key == "match":
                current = []
            elif key == "include":
                for pattern in args:
                    p = Path(pattern).expanduser()
                    if not p.is_absolute():
                        # OpenSSH resolves relative includes against ~/.ssh for user
                        # configs: that is the directory the config lives in.
                        p = base.parent / p
                    for found in sorted(glob.glob(str(p))):
                        parse(Path(found))
            elif key in wanted and args:
                name = wanted[key]
                for alias in current:
                    if entries[alias][name] is None:  # first obtained value wins
                        value: Any = args[0]
                        if name == "Port":
                            value = int(value) if value.isdigit() else None
                        entries[alias][name] = value

    parse(base)
    return [entries[a] for a in order]
