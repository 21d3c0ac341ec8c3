"""Private OpenSSH sshd instances on loopback for integration tests.

Each instance lives in its own temp dir with its own host key, authorized_keys and a
known_hosts that trusts it, listens on a free 127.0.0.1 port, runs in the foreground
(-D) as our child and is killed at teardown. Tests log in as the current user with a
generated key (as root the recipe's PermitRootLogin prohibit-password allows that).

Import the fixtures into a test module: `from tests.sshd_server import sshd, sshd_pair`.
Needs the Debian package openssh-server (/usr/sbin/sshd) and ssh-keygen (openssh-client).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from backends.ssh.connection import SshSettings
from cockpit.models import Host

SSHD = Path("/usr/sbin/sshd")
START_TIMEOUT_S = 10.0


def ci_requires_everything(environ: Mapping[str, str] = os.environ) -> bool:
    """In CI a test that needs sshd fails when it is missing: a green run that skipped the
    SSH tests would prove nothing."""
    return environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_openssh() -> str:
    keygen = shutil.which("ssh-keygen")
    if not SSHD.exists() or keygen is None:
        why = (
            "OpenSSH server not installed (/usr/sbin/sshd, ssh-keygen): "
            "apt-get install openssh-server to run the SSH integration tests"
        )
        if ci_requires_everything():
            pytest.fail(f"CI=true: {why}", pytrace=False)
        pytest.skip(why)
    return keygen


def make_key(path: Path) -> Path:
    """An unencrypted ed25519 key pair at path / path.pub."""
    keygen = require_openssh()
    if not path.exists():
        subprocess.run(
            [keygen, "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
            check=True,
            timeout=30,
        )
    return path


def fingerprint(pub: Path) -> str:
    keygen = require_openssh()
    out = subprocess.run(
        [keygen, "-l", "-E", "sha256", "-f", str(pub)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return out.split()[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    """Direct children of pid, from /proc (no psutil in the test deps)."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parens; fields resume after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        for kid in _children(todo.pop()):
            out.append(kid)
            todo.append(kid)
    return out


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


@dataclass
class SshdInstance:
    root: Path
    port: int
    host_key: Path
    user_key: Path
    known_hosts: Path
    log_path: Path
    user: str
    process: subprocess.Popen[bytes] | None = None
    log_lines: list[str] = field(default_factory=list)
    _ready: threading.Event = field(default_factory=threading.Event)
    _logged: threading.Condition = field(default_factory=threading.Condition)

    # -- what tests use

    def host(self, name: str = "gpu-box", **overrides: object) -> Host:
        values: dict[str, object] = {
            "name": name,
            "address": "127.0.0.1",
            "port": self.port,
            "user": self.user,
            "identity_file": str(self.user_key),
        }
        values.update(overrides)
        return Host(**values)  # type: ignore[arg-type]

    def settings(self, **overrides: object) -> SshSettings:
        values: dict[str, object] = {
            "known_hosts": self.known_hosts,
            "global_known_hosts": (),
            "config_paths": (),
            "use_agent": False,
            "connect_timeout_s": 5.0,
            "backoff_initial_s": 0.05,
            "backoff_max_s": 0.5,
        }
        values.update(overrides)
        return SshSettings(**values)  # type: ignore[arg-type]

    @property
    def known_hosts_line(self) -> str:
        pub = Path(f"{self.host_key}.pub").read_text().split()
        return f"[127.0.0.1]:{self.port} {pub[0]} {pub[1]}"

    @property
    def host_key_fingerprint(self) -> str:
        return fingerprint(Path(f"{self.host_key}.pub"))

    def session_pids(self) -> list[int]:
        """Every process serving a client: sshd children and what they run."""
        assert self.process is not None
        return descendants(self.process.pid)

    def kill_sessions(self, only_sshd: bool = True) -> list[int]:
        """SIGKILL the per-connection sshd processes: the link drops at once.

        only_sshd leaves the user's commands alive, so a test can check they exit by
        themselves once their stdin is gone (no orphans).
        """
        killed = []
        for pid in self.session_pids():
            if only_sshd and not process_name(pid).startswith("sshd"):
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        return killed

    def log_text(self) -> str:
        return "\n".join(self.log_lines)

    def wait_for_log(self, needle: str, timeout: float = 10.0, start: int = 0) -> str:
        """Block until a log line (from index `start` on) contains needle; returns it.

        Runs in a thread from async tests (asyncio.to_thread): the sshd log is written by
        another process, so this is the event to wait on.
        """
        with self._logged:
            found: list[str] = []

            def match() -> bool:
                found[:] = [line for line in self.log_lines[start:] if needle in line]
                return bool(found)

            if not self._logged.wait_for(match, timeout=timeout):
                raise AssertionError(f"sshd never logged {needle!r}:\n{self.log_text()}")
            return found[0]

    # -- lifecycle

    def start(self, extra_config: str = "", log_level: str = "VERBOSE", sftp: bool = True) -> None:
        config = self.root / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key}",
                    f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
                    "PidFile none",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitRootLogin prohibit-password",
                    "AllowTcpForwarding yes",
                    # As on a stock OpenSSH host: huge logs are read over SFTP (sftp=False:
                    # a host whose admin turned it off, where logs are streamed instead).
                    "Subsystem sftp internal-sftp" if sftp else "",
                    # DEBUG1 also logs direct-tcpip requests (the ProxyJump test reads them),
                    # but leaks debug lines into the stderr of commands: jump hosts only.
                    f"LogLevel {log_level}",
                    "MaxStartups 50:30:100",
                    extra_config,
                ]
            )
            + "\n"
        )
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privsep dir, root only
        subprocess.run([str(SSHD), "-t", "-f", str(config)], check=True, timeout=30)
        self.process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._ready.wait(START_TIMEOUT_S):
            self.stop()
            raise RuntimeError(f"sshd did not start:\n{self.log_text()}")

    def _drain(self) -> None:
        # sshd -e logs to stderr for the listener and every session: read it all, or a
        # full pipe would block the server.
        assert self.process is not None and self.process.stderr is not None
        with self.log_path.open("a") as fh:
            for raw in self.process.stderr:
                line = raw.decode(errors="replace").rstrip()
                with self._logged:
                    self.log_lines.append(line)
                    self._logged.notify_all()
                fh.write(line + "\n")
                fh.flush()
                if "Server listening on" in line:
                    self._ready.set()
        self._ready.set()

    def stop(self) -> None:
        if self.process is None:
            return
        for pid in reversed(self.session_pids()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None


def start_sshd(
    root: Path,
    user_key: Path | None = None,
    extra_config: str = "",
    log_level: str = "VERBOSE",
    attempts: int = 3,
    sftp: bool = True,
) -> SshdInstance:
    """Start one sshd under root/ (created). user_key: share a key between servers."""
    require_openssh()
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    host_key = make_key(root / "hostkey")
    key = user_key or make_key(root / "userkey")
    auth = root / "authorized_keys"
    auth.write_text(Path(f"{key}.pub").read_text())
    auth.chmod(0o600)
    last: Exception | None = None
    for _ in range(attempts):  # the free port can be taken between probe and bind
        inst = SshdInstance(
            root=root,
            port=_free_port(),
            host_key=host_key,
            user_key=key,
            known_hosts=root / "known_hosts",
            log_path=root / "sshd.log",
            user=getpass.getuser(),
        )
        try:
            inst.start(extra_config, log_level, sftp)
        except RuntimeError as exc:
            last = exc
            continue
        inst.known_hosts.write_text(inst.known_hosts_line + "\n")
        return inst
    raise RuntimeError(f"could not start sshd: {last}")


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[SshdInstance]:
    inst = start_sshd(tmp_path / "sshd")
    try:
        yield inst
    finally:
        inst.stop()


@dataclass
class SshdPair:
    """A jump host and a target sharing one user key; `known_hosts` trusts both."""

    jump: SshdInstance
    target: SshdInstance
    known_hosts: Path


@pytest.fixture
def sshd_pair(tmp_path: Path) -> Iterator[SshdPair]:
    key = make_key(tmp_path / "userkey")
    jump = start_sshd(tmp_path / "jump", user_key=key, log_level="DEBUG1")
    try:
        target = start_sshd(tmp_path / "target", user_key=key)
    except BaseException:
        jump.stop()
        raise
    known = tmp_path / "known_hosts"
    known.write_text(f"{jump.known_hosts_line}\n{target.known_hosts_line}\n")
    try:
        yield SshdPair(jump=jump, target=target, known_hosts=known)
    finally:
        target.stop()
        jump.stop()
