"""SSH connections to research hosts: one asyncssh connection per host, kept alive.

Why one connection per host: GPU sampling, log tails and run control all multiplex over
it as channels, so a flaky link costs one handshake to recover, not one per pane. The
number of channels we open at once is capped below sshd's MaxSessions (10 by default);
past that the server refuses channels and the failure would look like a dead host.

Security: host keys are always checked against a known_hosts file; an unknown key is
refused (HostState.HOST_KEY_UNKNOWN) until a person accepts its fingerprint (see
backends.ssh.host_keys). Nothing here ever passes `known_hosts=None`.

~/.ssh/config is honoured through backends.ssh.config. ProxyJump hops are opened by us
(not by asyncssh's string tunnel) so that the jump hosts are checked against the same
known_hosts file as the target.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
from asyncssh.encryption import get_default_encryption_algs

from backends.ssh.config import DEFAULT_SSH_PORT, SshTarget, parse_jump_spec, resolve_target
from cockpit.models import Host, HostState

log = logging.getLogger(__name__)

# sshd's MaxSessions defaults to 10 channels per connection; stay below it so that a burst
# of commands queues on our side instead of being refused by the server.
DEFAULT_MAX_CHANNELS = 8
# How deep ProxyJump chains (including a jump host's own ProxyJump) may nest; guards
# against a config where two hosts jump through each other.
MAX_JUMP_DEPTH = 5
# How long a closed-but-unfinished channel keeps its slot before we stop counting it.
CHANNEL_LINGER_S = 120.0
# Ciphers offered first when the user's ssh config names none: AES-GCM. With AES-NI one
# AEAD call per packet costs far less client CPU than asyncssh's chacha20-poly1305
# (several cipher objects per packet), which matters to a poller talking to many hosts.
FAST_CIPHERS = (b"aes128-gcm@openssh.com", b"aes256-gcm@openssh.com")


def preferred_ciphers() -> list[str]:
    """asyncssh's default ciphers, the same set, with the fast ones first."""
    defaults = list(get_default_encryption_algs())
    ordered = [c for c in FAST_CIPHERS if c in defaults]
    ordered += [c for c in defaults if c not in FAST_CIPHERS]
    return [c.decode("ascii") for c in ordered]


def _default_known_hosts() -> Path:
    return Path("~/.ssh/known_hosts").expanduser()


@dataclass(frozen=True)
class SshSettings:
    """How the pool connects. Tests point known_hosts/config_paths at temp files."""

    # The user's file: checked, and where trust_host_key writes.
    known_hosts: Path = field(default_factory=_default_known_hosts)
    # Read-only extra files, as OpenSSH's GlobalKnownHostsFile (admins put lab keys there).
    global_known_hosts: tuple[Path, ...] = (Path("/etc/ssh/ssh_known_hosts"),)
    # None: ~/.ssh/config when readable. () reads no config file at all.
    config_paths: tuple[Path, ...] | None = None
    connect_timeout_s: float = 10.0
    # A dead link is noticed after interval * count_max without an answer.
    keepalive_interval_s: float = 15.0
    keepalive_count_max: int = 3
    max_channels: int = DEFAULT_MAX_CHANNELS
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    # Fraction of each backoff delay that is randomised, so that hosts behind one flaky
    # switch do not all reconnect in the same instant.
    backoff_jitter: float = 0.5
    use_agent: bool = True

    def known_hosts_arg(self) -> Any:
        """What asyncssh's known_hosts= gets: the existing files, or an empty trust set."""
        files = [str(p) for p in (self.known_hosts, *self.global_known_hosts) if p.exists()]
        # Never None (that disables checking) and never [] (asyncssh misreads it).
        return files if files else asyncssh.import_known_hosts("")

    def config_files(self) -> list[str]:
        if self.config_paths is None:
            default = Path("~/.ssh/config").expanduser()
            return [str(default)] if os.access(default, os.R_OK) else []
        return [str(p) for p in self.config_paths]


class SshError(Exception):
    """A connection-level failure, already mapped to the host state the pane shows."""

    def __init__(self, state: HostState, reason: str, target: str = "") -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason
        # Which hop failed ("host:port"), so the UI can offer to trust a jump host's key.
        self.target = target

    @property
    def retryable(self) -> bool:
        """Auth and host-key failures are not retried by themselves.

        Retrying a rejected key every minute for hours gets the laptop banned by fail2ban,
        and an unknown host key does not become known by waiting; both need a person.
        """
        return self.state not in (HostState.AUTH_FAILED, HostState.HOST_KEY_UNKNOWN)

    def __repr__(self) -> str:
        return f"SshError({self.state.value!r}, {self.reason!r}, target={self.target!r})"


@dataclass(frozen=True)
class CommandResult:
    exit_status: int | None
    stdout: str
    stderr: str
    exit_signal: str | None = None
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and not self.timed_out


# ------------------------------------------------------------------------- errors


def _known_hosts_has_entry(known_hosts: Sequence[Path], hostname: str, port: int) -> bool:
    files = [str(p) for p in known_hosts if p.exists()]
    if not files:
        return False
    try:
        keys = asyncssh.read_known_hosts(files).match(
            hostname, "", port if port != DEFAULT_SSH_PORT else None
        )
    except (OSError, ValueError, asyncssh.Error):
        return False
    return bool(keys[0] or keys[1])


def classify_error(
    exc: BaseException, target: str, *, known_hosts: Sequence[Path] = (), port: int = 22
) -> SshError:
    """Map whatever asyncssh/OS raised to the state shown for the host."""
    if isinstance(exc, SshError):
        return exc
    if isinstance(exc, asyncssh.PermissionDenied):
        return SshError(HostState.AUTH_FAILED, f"authentication failed for {target}", target)
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        hostname = target.rsplit(":", 1)[0]
        if _known_hosts_has_entry(known_hosts, hostname, port):
            reason = (
                f"host key for {target} does not match known_hosts: it changed, or someone"
                " is in the middle; refusing"
            )
        else:
            reason = f"host key for {target} is not in known_hosts; accept it explicitly"
        return SshError(HostState.HOST_KEY_UNKNOWN, reason, target)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return SshError(HostState.DOWN, f"timed out connecting to {target}", target)
    if isinstance(exc, ConnectionRefusedError):
        return SshError(HostState.DOWN, f"connection refused by {target}", target)
    if isinstance(exc, socket.gaierror):
        return SshError(HostState.DOWN, f"cannot resolve {target}: {exc.strerror}", target)
    if isinstance(exc, asyncssh.DisconnectError):
        return SshError(HostState.DOWN, f"{target}: {exc.reason or type(exc).__name__}", target)
    if isinstance(exc, asyncssh.ChannelOpenError):
        return SshError(HostState.DOWN, f"{target}: channel refused: {exc.reason}", target)
    if isinstance(exc, OSError):
        return SshError(HostState.DOWN, f"{target}: {exc.strerror or exc}", target)
    return SshError(HostState.DOWN, f"{target}: {type(exc).__name__}: {exc}", target)


def backoff_delay(
    failures: int, initial_s: float, max_s: float, jitter: float, rng: random.Random
) -> float:
    """Exponential backoff with jitter: the n-th failure waits ~initial * 2**(n-1), capped."""
    if failures <= 0:
        return 0.0
    base = min(max_s, initial_s * (2.0 ** min(failures - 1, 30)))
    return base * (1.0 - min(max(jitter, 0.0), 1.0) * rng.random())


# --------------------------------------------------------------------- connections


class _LossWatcher(asyncssh.SSHClient):
    """Tells its SshConnection when the transport goes away (reset, keepalive timeout)."""

    def __init__(self, on_lost: Callable[[Exception | None], None]) -> None:
        self._on_lost = on_lost

    def connection_lost(self, exc: Exception | None) -> None:
        self._on_lost(exc)


class SshConnection:
    """The one connection to one host, reopened on demand with backoff.

    `connect()` is single-flight: concurrent callers share one attempt. After a failure the
    next attempt waits out an exponential backoff; after an auth or host-key failure no
    attempt is made until `retry_now()` (a person fixed the key or accepted the host key).
    """

    def __init__(
        self, host: Host, settings: SshSettings, *, rng: random.Random | None = None
    ) -> None:
        self.host = host
        self.settings = settings
        self.state: HostState = HostState.CONNECTING
        self.reason: str | None = None
        self._rng = rng or random.Random()
        self._conn: asyncssh.SSHClientConnection | None = None
        self._hops: list[asyncssh.SSHClientConnection] = []
        self._generation = 0
        self._lock = asyncio.Lock()
        self._channels = asyncio.Semaphore(max(1, settings.max_channels))
        self._failures = 0
        self._next_attempt = 0.0  # time.monotonic() before which we do not dial
        self._last_error: SshError | None = None
        self._blocked: SshError | None = None
        self._retry = asyncio.Event()
        self._lost = asyncio.Event()
        self._closed = False
        self.channels_in_use = 0
        self.max_channels_seen = 0
        # Slot releases waiting on channels that outlive their caller; held here so the
        # tasks are not garbage-collected before they finish.
        self._lingering: set[asyncio.Task[None]] = set()

    # -- state

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    @property
    def retry_in_s(self) -> float:
        return max(0.0, self._next_attempt - time.monotonic())

    def retry_now(self) -> None:
        """Forget the backoff and any auth/host-key block; the next connect() dials."""
        self._blocked = None
        self._next_attempt = 0.0
        self._retry.set()

    async def wait_retry_requested(self) -> None:
        await self._retry.wait()

    async def wait_lost(self) -> None:
        """Returns once the current connection has gone away."""
        if not self.connected:
            return
        await self._lost.wait()

    # -- connecting

    async def connect(self, *, wait: bool = True) -> asyncssh.SSHClientConnection:
        """The live connection, dialling if needed.

        wait=False raises the last error at once instead of sitting out the backoff, for
        one-shot commands a person is waiting on.
        """
        if self._closed:
            raise SshError(HostState.DOWN, "connection closed", self.host.name)
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        if not wait:
            # Decide before taking the lock: another caller may hold it for a whole backoff.
            if self._blocked is not None:
                raise self._blocked
            if self._next_attempt > time.monotonic():
                raise self._last_error or SshError(HostState.DOWN, "backing off")
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return self._conn
            if self._blocked is not None:
                raise self._blocked
            delay = self._next_attempt - time.monotonic()
            if delay > 0:
                if not wait:
                    raise self._last_error or SshError(HostState.DOWN, "backing off")
                self._retry.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._retry.wait(), timeout=delay)
            if self._blocked is not None:  # pragma: no cover - set while we slept
                raise self._blocked
            self.state = HostState.CONNECTING
            # This attempt answers any retry_now() so far; waiters wait for the next one.
            self._retry.clear()
            try:
                conn, hops = await self._open()
            except SshError as err:
                self._record_failure(err)
                raise
            self._conn, self._hops = conn, hops
            self._failures = 0
            self._next_attempt = 0.0
            self._last_error = None
            self._lost.clear()
            self._retry.clear()
            self.state, self.reason = HostState.LIVE, None
            return conn

    def _record_failure(self, err: SshError) -> None:
        self._failures += 1
        self._last_error = err
        self.state, self.reason = err.state, err.reason
        if not err.retryable:
            self._blocked = err
        s = self.settings
        self._next_attempt = time.monotonic() + backoff_delay(
            self._failures, s.backoff_initial_s, s.backoff_max_s, s.backoff_jitter, self._rng
        )
        log.info("ssh %s: %s (failure %d)", self.host.name, err.reason, self._failures)

    async def resolve(self) -> SshTarget:
        """The host as ~/.ssh/config resolves it; a broken config is a one-line SshError."""
        host = self.host
        try:
            return await asyncio.to_thread(
                resolve_target,
                host.address or host.name,
                self.settings.config_files(),
                user=host.user,
                port=host.port,
                identity_file=host.identity_file,
                jump=host.jump,
            )
        except (OSError, ValueError, asyncssh.Error) as exc:
            raise SshError(HostState.DOWN, f"bad ssh config: {exc}", host.name) from exc

    async def _open(
        self,
    ) -> tuple[asyncssh.SSHClientConnection, list[asyncssh.SSHClientConnection]]:
        target = await self.resolve()
        hops: list[asyncssh.SSHClientConnection] = []
        try:
            tunnel = await self.open_jumps(target, hops, depth=0)
            generation = self._generation = self._generation + 1
            conn = await self._dial(target, tunnel, watch=generation)
        except BaseException:
            for hop in reversed(hops):
                hop.close()
            raise
        return conn, hops

    async def open_jumps(
        self, target: SshTarget, hops: list[asyncssh.SSHClientConnection], depth: int = 0
    ) -> asyncssh.SSHClientConnection | None:
        """Open target's ProxyJump chain; the tunnel to dial through, or None without one.

        Every hop opened is appended to `hops`, also when a later one fails: the caller
        owns them and closes them (in reverse) when it is done with the tunnel.
        """
        if not target.jump:
            return None
        if depth >= MAX_JUMP_DEPTH:
            raise SshError(HostState.DOWN, "ProxyJump chain too deep (loop?)", target.alias)
        try:
            chain = parse_jump_spec(target.jump)
        except ValueError as exc:
            raise SshError(HostState.DOWN, str(exc), target.alias) from exc
        files = self.settings.config_files()
        tunnel: asyncssh.SSHClientConnection | None = None
        for i, hop in enumerate(chain):
            hop_target = await asyncio.to_thread(
                resolve_target, hop.host, files, user=hop.user, port=hop.port
            )
            if not hop_target.identity_files and self.host.identity_file:
                # A jump host without its own IdentityFile usually takes the same key as
                # the target (one lab key); OpenSSH would try the default keys instead.
                hop_target = hop_target.with_identity_file(self.host.identity_file)
            if i == 0:
                # Only the first hop may itself need a jump (its own ProxyJump in config).
                tunnel = await self.open_jumps(hop_target, hops, depth + 1)
            conn = await self._dial(hop_target, tunnel, watch=None)
            hops.append(conn)
            tunnel = conn
        return tunnel

    async def _dial(
        self,
        target: SshTarget,
        tunnel: asyncssh.SSHClientConnection | None,
        watch: int | None,
    ) -> asyncssh.SSHClientConnection:
        s = self.settings
        for key in target.identity_files:
            if not os.access(key, os.R_OK):
                raise SshError(
                    HostState.AUTH_FAILED, f"identity file not readable: {key}", target.label
                )
        kwargs: dict[str, Any] = {
            "port": target.port,
            "username": target.user or (),
            "known_hosts": s.known_hosts_arg(),
            "client_keys": list(target.identity_files) or (),
            "config": s.config_files(),
            # None (not ()): we opened the jump ourselves; stops asyncssh from opening the
            # config's ProxyJump again with its own known_hosts.
            "tunnel": tunnel,
            "connect_timeout": s.connect_timeout_s,
            "login_timeout": s.connect_timeout_s,
            "keepalive_interval": s.keepalive_interval_s,
            "keepalive_count_max": s.keepalive_count_max,
        }
        if not s.use_agent:
            kwargs["agent_path"] = None
        if not target.ciphers_configured:
            kwargs["encryption_algs"] = preferred_ciphers()
        if watch is not None:
            kwargs["client_factory"] = lambda: _LossWatcher(lambda exc: self._on_lost(watch, exc))
        try:
            # wait_for is a backstop: connect_timeout covers the handshake in asyncssh,
            # but a tunnelled connect has more stages.
            return await asyncio.wait_for(
                asyncssh.connect(target.alias, **kwargs), timeout=s.connect_timeout_s + 5.0
            )
        except SshError:
            raise
        except (OSError, asyncssh.Error, TimeoutError, ValueError) as exc:
            raise classify_error(
                exc,
                target.label,
                known_hosts=(s.known_hosts, *s.global_known_hosts),
                port=target.port,
            ) from exc

    def _on_lost(self, generation: int, exc: Exception | None) -> None:
        if generation != self._generation:
            return  # a connection we already replaced
        reason = f"connection lost: {exc}" if exc else "connection closed"
        if not self._closed:
            self.state, self.reason = HostState.DOWN, reason
            self._last_error = SshError(HostState.DOWN, reason, self.host.name)
        self._conn = None
        for hop in self._hops:
            hop.close()
        self._hops = []
        self._lost.set()

    # -- using

    @contextlib.asynccontextmanager
    async def open_process(
        self, command: str, *, encoding: str | None = None, errors: str = "strict"
    ) -> AsyncIterator[asyncssh.SSHClientProcess[Any]]:
        """A remote process holding one channel slot until its channel is really closed."""
        conn = await self.connect()
        await self._channels.acquire()
        self.channels_in_use += 1
        self.max_channels_seen = max(self.max_channels_seen, self.channels_in_use)
        release_now = True
        try:
            try:
                proc = await conn.create_process(command, encoding=encoding, errors=errors)
            except (OSError, asyncssh.Error) as exc:
                raise classify_error(exc, self.host.name) from exc
            try:
                yield proc
            finally:
                proc.close()
                try:
                    await asyncio.wait_for(proc.wait_closed(), timeout=0.5)
                except (TimeoutError, OSError, asyncssh.Error):
                    # sshd keeps a session (and counts it against MaxSessions) until its
                    # command exits, and a non-pty command cannot be signalled over SSH.
                    # Keep the slot until then, without making the caller wait.
                    release_now = False
                    task = asyncio.get_running_loop().create_task(self._release_later(proc))
                    self._lingering.add(task)
                    task.add_done_callback(self._lingering.discard)
        finally:
            if release_now:
                self._release_channel()

    def _release_channel(self) -> None:
        self.channels_in_use -= 1
        self._channels.release()

    async def _release_later(self, proc: asyncssh.SSHClientProcess[Any]) -> None:
        try:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait_closed(), timeout=CHANNEL_LINGER_S)
        finally:
            self._release_channel()

    async def run(
        self,
        command: str,
        *,
        timeout_s: float = 30.0,
        input: str | None = None,
        wait: bool = True,
    ) -> CommandResult:
        """Run one command to completion; stdin gets `input` then EOF."""
        if not wait:
            await self.connect(wait=False)
        async with self.open_process(command, encoding="utf-8", errors="replace") as proc:
            try:
                if input:
                    proc.stdin.write(input)
                proc.stdin.write_eof()
                done = await proc.wait(check=False, timeout=timeout_s)
            except asyncssh.TimeoutError as exc:
                return CommandResult(
                    None, str(exc.stdout or ""), str(exc.stderr or ""), timed_out=True
                )
            except (OSError, asyncssh.Error) as exc:
                raise classify_error(exc, self.host.name) from exc
        return CommandResult(
            exit_status=done.exit_status if done.exit_status is not None else None,
            stdout=str(done.stdout or ""),
            stderr=str(done.stderr or ""),
            exit_signal=done.exit_signal[0] if done.exit_signal else None,
        )

    async def probe(self, timeout_s: float = 5.0) -> bool:
        """True when a trivial command round-trips: the link is alive, not just open."""
        if not self.connected:
            return False
        try:
            result = await asyncio.wait_for(
                self.run("true", timeout_s=timeout_s), timeout=timeout_s + 1.0
            )
        except (SshError, TimeoutError):
            return False
        return result.exit_status == 0

    async def disconnect(self, reason: str = "dropped") -> None:
        """Drop the link (a silent one, say); the next use reconnects immediately."""
        conn, hops = self._conn, self._hops
        self._generation += 1
        self._conn, self._hops = None, []
        self.state, self.reason = HostState.DOWN, reason
        self._lost.set()
        for c in [conn, *reversed(hops)]:
            if c is not None:
                c.close()
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), timeout=2.0)

    async def close(self) -> None:
        self._closed = True
        self._retry.set()
        await self.disconnect("closed")


class SshPool:
    """One SshConnection per cockpit host name."""

    def __init__(self, settings: SshSettings | None = None) -> None:
        self.settings = settings or SshSettings()
        self._links: dict[str, SshConnection] = {}
        # Links of edited hosts being closed in the background (held against GC).
        self._closing: set[asyncio.Task[None]] = set()

    def connection(self, host: Host) -> SshConnection:
        link = self._links.get(host.name)
        if link is None or link.host != host:
            if link is not None:
                # The host was edited: the old link dies with its settings.
                task = asyncio.get_running_loop().create_task(link.close())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            link = SshConnection(host, self.settings)
            self._links[host.name] = link
        return link

    def get(self, name: str) -> SshConnection | None:
        return self._links.get(name)

    async def run(
        self, host: Host, command: str, *, timeout_s: float = 30.0, input: str | None = None
    ) -> CommandResult:
        return await self.connection(host).run(command, timeout_s=timeout_s, input=input)

    def retry_now(self, name: str) -> None:
        link = self._links.get(name)
        if link is not None:
            link.retry_now()

    def states(self) -> dict[str, tuple[HostState, str | None]]:
        return {name: (link.state, link.reason) for name, link in self._links.items()}

    async def close(self) -> None:
        links, self._links = list(self._links.values()), {}
        await asyncio.gather(*(link.close() for link in links), return_exceptions=True)
