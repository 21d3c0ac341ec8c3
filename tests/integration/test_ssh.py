"""backends/ssh/ against real OpenSSH sshd instances on loopback."""

from __future__ import annotations

import asyncio
import random
import stat
import time
from pathlib import Path

import pytest

from backends.remote_shell import RemoteShell, command_line, env_prefix, quote_remote_path
from backends.ssh.config import JumpHop, list_ssh_config_hosts, parse_jump_spec, resolve_target
from backends.ssh.connection import SshConnection, SshError, SshPool, SshSettings, backoff_delay
from backends.ssh.host_keys import HostKeyInfo, fetch_host_key, trust_host_key
from cockpit.models import Host, HostKind, HostState
from tests.sshd_server import SshdInstance, SshdPair, make_key, sshd, sshd_pair  # noqa: F401

WAIT = 15.0


async def _log(inst: SshdInstance, needle: str, start: int = 0) -> str:
    return await asyncio.to_thread(inst.wait_for_log, needle, WAIT, start)


# ------------------------------------------------------------------ connecting


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_connect_and_run(sshd: SshdInstance) -> None:  # noqa: F811
    pool = SshPool(sshd.settings())
    try:
        result = await asyncio.wait_for(
            pool.run(sshd.host(), "echo out; echo err >&2; exit 3"), WAIT
        )
        assert (result.exit_status, result.stdout, result.stderr) == (3, "out\n", "err\n")
        assert not result.ok
        again = await pool.run(sshd.host(), "cat", input="piped\n")
        assert again.ok and again.stdout == "piped\n"
        link = pool.connection(sshd.host())
        assert link.state is HostState.LIVE and link.connected
        assert sshd.log_text().count("Accepted publickey") == 1  # one connection, reused
    finally:
        await pool.close()


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_aes_gcm_first_unless_the_users_config_names_ciphers(
    sshd: SshdInstance,  # noqa: F811
    tmp_path: Path,
) -> None:
    # With no Ciphers in ssh config, the cockpit offers AES-GCM first (cheaper per packet
    # for a poller); a user's own Ciphers line is what gets offered, as with OpenSSH.
    pool = SshPool(sshd.settings())
    try:
        conn = await asyncio.wait_for(pool.connection(sshd.host()).connect(), WAIT)
        assert conn.get_extra_info("send_cipher") == "aes128-gcm@openssh.com"
    finally:
        await pool.close()
    config = tmp_path / "config"
    config.write_text("Host *\n    Ciphers aes256-ctr,chacha20-poly1305@openssh.com\n")
    pool = SshPool(sshd.settings(config_paths=(config,)))
    try:
        conn = await asyncio.wait_for(pool.connection(sshd.host()).connect(), WAIT)
        assert conn.get_extra_info("send_cipher") == "aes256-ctr"
        assert (await pool.run(sshd.host(), "echo ok")).stdout == "ok\n"
    finally:
        await pool.close()


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_command_timeout_returns_promptly(sshd: SshdInstance) -> None:  # noqa: F811
    pool = SshPool(sshd.settings(max_channels=2))
    try:
        t0 = time.monotonic()
        slow = await pool.run(sshd.host(), "sleep 3", timeout_s=0.3)
        assert slow.timed_out and not slow.ok and time.monotonic() - t0 < 2.0
        link = pool.connection(sshd.host())
        # sshd still counts the session until `sleep` ends, so its slot stays taken...
        assert link.channels_in_use == 1
        # ...and the connection stays usable with the other one.
        fast = await asyncio.wait_for(pool.run(sshd.host(), "echo ok"), WAIT)
        assert fast.stdout == "ok\n"
    finally:
        await pool.close()


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_remote_shell_runs_the_same_on_a_local_and_an_ssh_host(
    sshd: SshdInstance,  # noqa: F811
) -> None:
    nasty = 'it\'s $HOME; `id` "q" \\ *'
    argv = ["printf", "%s|%s", nasty, "two words"]
    local = Host(name="here", kind=HostKind.LOCAL)
    pool = SshPool(sshd.settings())
    shell = RemoteShell(pool)
    try:
        for host in (local, sshd.host()):
            result = await asyncio.wait_for(shell.run(host, argv), WAIT)
            assert result.ok and result.stdout == f"{nasty}|two words", host.kind
            piped = await shell.run(host, "cat; exit 3", input="in\n")
            assert (piped.exit_status, piped.stdout, piped.ok) == (3, "in\n", False)
            t0 = time.monotonic()
            slow = await shell.run(host, "sleep 3", timeout_s=0.3)
            assert slow.timed_out and not slow.ok and time.monotonic() - t0 < 2.0
        with pytest.raises(ValueError):
            await RemoteShell().run(sshd.host(), "true")  # no pool for an SSH host
        with pytest.raises(ValueError):
            await shell.run(Host(name="demo", kind=HostKind.DEMO), "true")
    finally:
        await pool.close()


def test_quoting_helpers() -> None:
    assert env_prefix({}) == ""
    assert env_prefix({"A": "x y", "B": "it's"}) == "env 'A=x y' 'B=it'\"'\"'s' "
    with pytest.raises(ValueError):
        env_prefix({"A; rm -rf ~": "x"})
    assert quote_remote_path("~/venv/bin/python 3") == "\"$HOME\"/'venv/bin/python 3'"
    assert quote_remote_path("/usr/bin/python3") == "/usr/bin/python3"
    assert command_line(["~/bin/x", "a b", "$c"]) == "\"$HOME\"/bin/x 'a b' '$c'"


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_channel_cap_keeps_under_max_sessions(sshd: SshdInstance) -> None:  # noqa: F811
    """sshd's default MaxSessions is 10: 14 parallel commands must queue, not fail."""
    pool = SshPool(sshd.settings())  # default cap: 8
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(pool.run(sshd.host(), "sleep 0.3; echo ok") for _ in range(14))),
            WAIT,
        )
        assert all(r.stdout == "ok\n" for r in results)
        link = pool.connection(sshd.host())
        assert link.max_channels_seen == 8 and link.channels_in_use == 0
    finally:
        await pool.close()
    # The control: without the cap the server refuses channels past MaxSessions.
    uncapped = SshPool(sshd.settings(max_channels=14))
    try:
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                *(uncapped.run(sshd.host(), "sleep 0.5; echo ok") for _ in range(14)),
                return_exceptions=True,
            ),
            WAIT,
        )
        refused = [o for o in outcomes if isinstance(o, SshError)]
        assert refused and all(e.state is HostState.DOWN for e in refused)
    finally:
        await uncapped.close()


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_wrong_key_is_auth_failed_and_not_retried(
    sshd: SshdInstance,  # noqa: F811
    tmp_path: Path,
) -> None:
    other = make_key(tmp_path / "not-authorized")
    link = SshConnection(sshd.host(identity_file=str(other)), sshd.settings())
    with pytest.raises(SshError) as first:
        await asyncio.wait_for(link.connect(), WAIT)
    assert first.value.state is HostState.AUTH_FAILED and not first.value.retryable
    assert link.state is HostState.AUTH_FAILED
    attempts = sshd.log_text().count("Connection from")
    # No second dial on its own (fail2ban would ban us): the same error, at once.
    t0 = time.monotonic()
    with pytest.raises(SshError) as second:
        await link.connect()
    assert second.value is first.value and time.monotonic() - t0 < 0.5
    assert sshd.log_text().count("Connection from") == attempts
    # After the user fixes things, retry_now dials again.
    link.retry_now()
    mark = len(sshd.log_lines)
    with pytest.raises(SshError) as third:
        await asyncio.wait_for(link.connect(), WAIT)
    assert third.value.state is HostState.AUTH_FAILED
    await _log(sshd, "Connection from", start=mark)
    # That retry is used up: a worker waiting for the next one must really wait.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(link.wait_retry_requested(), 0.2)
    await link.close()


@pytest.mark.asyncio
async def test_missing_identity_file_is_auth_failed(tmp_path: Path) -> None:
    host = Host("h", address="127.0.0.1", port=9, identity_file=str(tmp_path / "nope"))
    link = SshConnection(host, SshSettings(known_hosts=tmp_path / "kh", config_paths=()))
    with pytest.raises(SshError) as err:
        await link.connect()
    assert err.value.state is HostState.AUTH_FAILED and "identity file" in err.value.reason


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_unknown_host_key_refused_until_accepted(
    sshd: SshdInstance,  # noqa: F811
    tmp_path: Path,
) -> None:
    known = tmp_path / "ssh" / "known_hosts"  # does not exist yet: nothing is trusted
    settings = sshd.settings(known_hosts=known)
    pool = SshPool(settings)
    host = sshd.host()
    try:
        with pytest.raises(SshError) as err:
            await asyncio.wait_for(pool.connection(host).connect(), WAIT)
        assert err.value.state is HostState.HOST_KEY_UNKNOWN
        assert "not in known_hosts" in err.value.reason
        assert err.value.target == f"127.0.0.1:{sshd.port}"
        assert not known.exists()  # refusing wrote nothing

        info = await asyncio.wait_for(fetch_host_key(host, settings), WAIT)
        assert info.fingerprint == sshd.host_key_fingerprint
        assert info.algorithm == "ssh-ed25519"
        assert info.known_hosts_line() == sshd.known_hosts_line
        assert not known.exists()  # fetching trusts nothing either

        with pytest.raises(ValueError):
            trust_host_key(info, known, expected_fingerprint="SHA256:somethingelse")
        trust_host_key(info, known, expected_fingerprint=sshd.host_key_fingerprint)
        trust_host_key(info, known)  # idempotent
        assert known.read_text() == sshd.known_hosts_line + "\n"
        assert stat.S_IMODE(known.stat().st_mode) == 0o600

        pool.retry_now(host.name)
        result = await asyncio.wait_for(pool.run(host, "echo trusted"), WAIT)
        assert result.stdout == "trusted\n"
    finally:
        await pool.close()


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_changed_host_key_is_refused(sshd: SshdInstance, tmp_path: Path) -> None:  # noqa: F811
    impostor = make_key(tmp_path / "impostor")
    pub = Path(f"{impostor}.pub").read_text().split()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {pub[0]} {pub[1]}\n")
    link = SshConnection(sshd.host(), sshd.settings(known_hosts=known))
    with pytest.raises(SshError) as err:
        await asyncio.wait_for(link.connect(), WAIT)
    assert err.value.state is HostState.HOST_KEY_UNKNOWN
    assert "does not match" in err.value.reason


def test_trust_rejects_a_tampered_key_info(tmp_path: Path) -> None:
    key = make_key(tmp_path / "k")
    pub = Path(f"{key}.pub").read_text().split()
    info = HostKeyInfo("h", 22, pub[0], "SHA256:forged", f"{pub[0]} {pub[1]}")
    with pytest.raises(ValueError):
        trust_host_key(info, tmp_path / "kh")
    assert not (tmp_path / "kh").exists()
    assert info.known_hosts_pattern == "h"


@pytest.mark.asyncio
async def test_refused_port_is_down_with_backoff(tmp_path: Path) -> None:
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    host = Host("h", address="127.0.0.1", port=port)
    settings = SshSettings(
        known_hosts=tmp_path / "kh", config_paths=(), use_agent=False, backoff_initial_s=5.0
    )
    link = SshConnection(host, settings)
    with pytest.raises(SshError) as err:
        await asyncio.wait_for(link.connect(), WAIT)
    assert err.value.state is HostState.DOWN and "refused" in err.value.reason
    assert err.value.retryable and link.retry_in_s > 2.0
    waiter = asyncio.create_task(link.connect())  # sits out the backoff, holding the lock
    await asyncio.sleep(0)
    with pytest.raises(SshError) as again:
        # Inside the backoff a one-shot caller gets the error now: no dial, no waiting.
        await asyncio.wait_for(link.connect(wait=False), 1.0)
    assert again.value is err.value
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter


@pytest.mark.asyncio
async def test_connect_timeout_on_a_silent_server(tmp_path: Path) -> None:
    silent = asyncio.Event()

    async def never_speak(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await silent.wait()
        writer.close()

    server = await asyncio.start_server(never_speak, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = SshSettings(
        known_hosts=tmp_path / "kh", config_paths=(), use_agent=False, connect_timeout_s=0.5
    )
    link = SshConnection(Host("h", address="127.0.0.1", port=port), settings)
    try:
        t0 = time.monotonic()
        with pytest.raises(SshError) as err:
            await asyncio.wait_for(link.connect(), WAIT)
        assert err.value.state is HostState.DOWN and "timed out" in err.value.reason
        assert time.monotonic() - t0 < 5.0
    finally:
        silent.set()
        server.close()
        await server.wait_closed()


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, 1.0, 60.0, 0.5, rng) for n in range(1, 12)]
    assert backoff_delay(0, 1.0, 60.0, 0.5, rng) == 0.0
    for n, d in enumerate(delays, start=1):
        base = min(60.0, 2.0 ** (n - 1))
        assert base * 0.5 <= d <= base
    assert max(delays) <= 60.0 and len({round(d, 6) for d in delays}) == len(delays)
    assert backoff_delay(3, 1.0, 60.0, 0.0, rng) == 4.0


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_reconnects_after_the_session_is_killed(sshd: SshdInstance) -> None:  # noqa: F811
    pool = SshPool(sshd.settings())
    host = sshd.host()
    try:
        assert (await pool.run(host, "echo one")).stdout == "one\n"
        link = pool.connection(host)
        assert sshd.kill_sessions()
        await asyncio.wait_for(link.wait_lost(), WAIT)
        assert link.state is HostState.DOWN and not link.connected
        assert (await asyncio.wait_for(pool.run(host, "echo two"), WAIT)).stdout == "two\n"
        assert link.state is HostState.LIVE
        assert sshd.log_text().count("Accepted publickey") == 2
    finally:
        await pool.close()


# ------------------------------------------------------------------ ProxyJump


def _write_config(path: Path, pair: SshdPair) -> Path:
    key = pair.jump.user_key
    user = pair.jump.user
    path.write_text(
        f"""# a lab's ~/.ssh/config
Host target gpu-alias
    HostName 127.0.0.1
    Port {pair.target.port}
    User {user}
    IdentityFile {key}
    ProxyJump jumpbox

Host jumpbox
    HostName=127.0.0.1
    Port={pair.jump.port}
    User {user}
    IdentityFile "{key}"
"""
    )
    return path


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_proxyjump_from_ssh_config(sshd_pair: SshdPair, tmp_path: Path) -> None:  # noqa: F811
    config = _write_config(tmp_path / "config", sshd_pair)
    settings = sshd_pair.target.settings(known_hosts=sshd_pair.known_hosts, config_paths=(config,))
    pool = SshPool(settings)
    host = Host("lab", address="target")  # everything else comes from the config
    try:
        result = await asyncio.wait_for(pool.run(host, "echo $SSH_CONNECTION"), WAIT)
        assert result.ok and result.stdout.split()[3] == str(sshd_pair.target.port)
        line = await _log(sshd_pair.jump, "direct-tcpip")
        assert line  # the target was reached through the jump host's forwarding
        await _log(sshd_pair.jump, f"port {sshd_pair.target.port}")
    finally:
        await pool.close()


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_proxyjump_from_host_field(sshd_pair: SshdPair) -> None:  # noqa: F811
    target = sshd_pair.target
    host = target.host(jump=f"{target.user}@127.0.0.1:{sshd_pair.jump.port}")
    pool = SshPool(target.settings(known_hosts=sshd_pair.known_hosts))
    try:
        result = await asyncio.wait_for(pool.run(host, "echo via-jump"), WAIT)
        assert result.stdout == "via-jump\n"
        await _log(sshd_pair.jump, "direct-tcpip")
    finally:
        await pool.close()


@pytest.mark.sshd
@pytest.mark.asyncio
async def test_jump_host_key_is_checked_too(sshd_pair: SshdPair, tmp_path: Path) -> None:  # noqa: F811
    known = tmp_path / "only_target"
    known.write_text(sshd_pair.target.known_hosts_line + "\n")
    target = sshd_pair.target
    host = target.host(jump=f"127.0.0.1:{sshd_pair.jump.port}")
    link = SshConnection(host, target.settings(known_hosts=known))
    with pytest.raises(SshError) as err:
        await asyncio.wait_for(link.connect(), WAIT)
    assert err.value.state is HostState.HOST_KEY_UNKNOWN
    assert err.value.target == f"127.0.0.1:{sshd_pair.jump.port}"  # which key to accept


# ------------------------------------------------------------------ config parsing


def test_list_ssh_config_hosts(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "cluster.conf").write_text(
        "Host login-node\n  HostName login.cluster.example.org\n  User ann\n"
    )
    config = tmp_path / "config"
    config.write_text(
        """
# comment
Include conf.d/*.conf
Host *
    User everyone
    ServerAliveInterval 30
Host gpu1 gpu1-alias
    HostName 10.0.0.11   # trailing comment
    Port 2222
    User ann
    IdentityFile "~/.ssh/id lab"
    IdentityFile ~/.ssh/second
    ProxyJump bastion
Host bastion
    HostName=bastion.example.org
    Port=notaport
Host *.internal !secret ?x
    User nobody
Match host gpu1 exec "true"
    User matched
Host gpu1
    User later-ignored
    ProxyJump
"""
    )
    entries = {e["Host"]: e for e in list_ssh_config_hosts(config)}
    assert list(entries) == ["login-node", "gpu1", "gpu1-alias", "bastion"]
    assert entries["gpu1"] == {
        "Host": "gpu1",
        "HostName": "10.0.0.11",
        "User": "ann",
        "Port": 2222,
        "IdentityFile": "~/.ssh/id lab",
        "ProxyJump": "bastion",
    }
    assert entries["gpu1-alias"]["HostName"] == "10.0.0.11"
    assert entries["bastion"]["HostName"] == "bastion.example.org"
    assert entries["bastion"]["Port"] is None and entries["bastion"]["User"] is None
    assert entries["login-node"]["User"] == "ann"
    assert list_ssh_config_hosts(tmp_path / "missing") == []


def test_resolve_target_explicit_fields_win(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "Host gpu1\n  HostName 10.0.0.11\n  Port 2222\n  User ann\n"
        "  IdentityFile ~/.ssh/lab\n  ProxyJump bastion\n"
        "Host direct\n  HostName 10.0.0.12\n  ProxyJump none\n"
    )
    files = [str(config)]
    t = resolve_target("gpu1", files)
    assert (t.hostname, t.port, t.user, t.jump) == ("10.0.0.11", 2222, "ann", "bastion")
    assert t.identity_files == (str(Path("~/.ssh/lab").expanduser()),)
    t = resolve_target("gpu1", files, user="bob", port=22, identity_file="/k", jump="j2")
    assert (t.port, t.user, t.identity_files, t.jump) == (22, "bob", ("/k",), "j2")
    assert resolve_target("direct", files).jump is None
    plain = resolve_target("example.org", [])
    assert (plain.hostname, plain.port, plain.jump) == ("example.org", 22, None)


def test_parse_jump_spec() -> None:
    assert parse_jump_spec("bastion") == [JumpHop("bastion")]
    assert parse_jump_spec("ann@b1:2222,ssh://bob@b2:22, b3") == [
        JumpHop("b1", "ann", 2222),
        JumpHop("b2", "bob", 22),
        JumpHop("b3"),
    ]
    assert parse_jump_spec("[::1]:2200") == [JumpHop("::1", None, 2200)]
    with pytest.raises(ValueError):
        parse_jump_spec("host:port")
    with pytest.raises(ValueError):
        parse_jump_spec("ann@")
