"""Host keys: see what a server presents, and trust it only when a person says so.

An unknown key is never accepted silently: `fetch_host_key` shows the fingerprint without
trusting anything, and `trust_host_key` appends the key a person accepted to known_hosts.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from backends.ssh.config import DEFAULT_SSH_PORT
from backends.ssh.connection import SshConnection, SshError, SshSettings, classify_error
from cockpit.models import Host, HostState


@dataclass(frozen=True)
class HostKeyInfo:
    """A server's host key as presented, not yet trusted."""

    hostname: str
    port: int
    algorithm: str
    fingerprint: str  # "SHA256:…", as `ssh-keygen -lf` prints it
    public_key: str  # "ssh-ed25519 AAAA…"

    @property
    def known_hosts_pattern(self) -> str:
        return self.hostname if self.port == DEFAULT_SSH_PORT else f"[{self.hostname}]:{self.port}"

    def known_hosts_line(self) -> str:
        return f"{self.known_hosts_pattern} {self.public_key}"


async def fetch_host_key(host: Host, settings: SshSettings | None = None) -> HostKeyInfo:
    """Connect far enough to see the server's host key, trusting nothing.

    Jump hosts on the way must already be trusted (their keys are checked as usual), so a
    fingerprint shown to the user is the one the target really presented through them.
    """
    s = settings or SshSettings()
    files = s.config_files()
    probe = SshConnection(host, s)
    target = await probe.resolve()
    hops: list[asyncssh.SSHClientConnection] = []
    try:
        tunnel = await probe.open_jumps(target, hops)
        try:
            key = await asyncio.wait_for(
                asyncssh.get_server_host_key(
                    target.alias, target.port, tunnel=tunnel, config=files
                ),
                timeout=s.connect_timeout_s + 5.0,
            )
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise classify_error(exc, target.label) from exc
    finally:
        for hop in reversed(hops):
            hop.close()
    if key is None:
        raise SshError(HostState.DOWN, "server presented no host key", target.label)
    public = key.export_public_key("openssh").decode().split()
    return HostKeyInfo(
        hostname=target.hostname,
        port=target.port,
        algorithm=key.get_algorithm(),
        fingerprint=key.get_fingerprint("sha256"),
        public_key=" ".join(public[:2]),
    )


def trust_host_key(
    info: HostKeyInfo,
    known_hosts: str | os.PathLike[str] | None = None,
    *,
    expected_fingerprint: str | None = None,
) -> Path:
    """Append an accepted key to known_hosts (0600, created if needed). Idempotent.

    expected_fingerprint: what the person compared against (e.g. from the admin); a
    mismatch raises ValueError instead of writing.
    """
    key = asyncssh.import_public_key(info.public_key)
    actual = key.get_fingerprint("sha256")
    if actual != info.fingerprint:
        raise ValueError("public key does not match its fingerprint")
    if expected_fingerprint is not None and expected_fingerprint.strip() != actual:
        raise ValueError(f"fingerprint mismatch: server has {actual}")
    path = Path(known_hosts).expanduser() if known_hosts else SshSettings().known_hosts
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = info.known_hosts_line()
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if any(existing_line.strip() == line for existing_line in existing.splitlines()):
        return path
    prefix = "" if not existing or existing.endswith("\n") else "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(f"{prefix}{line}\n")
    return path
