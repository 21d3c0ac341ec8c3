"""The log view of the Runs pane at 80x24 on a run of an SSH host, served by a real sshd on
loopback: the log is read over SFTP on the host's pooled connection and followed live as
the remote script writes; search with n, the filter, the jump to the traceback, g/G, and
a log the script truncates mid-run, shown again from its new start."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from backends.runners import by_kind
from backends.runners.detached import RunnerOptions
from backends.runners.ssh import SshRunner
from backends.ssh.connection import SshPool
from cockpit.app.shell import CockpitApp
from cockpit.models import HostKind, Run
from cockpit.store import Store
from tests.app.test_app_logs import SIZE, ask, open_log, status
from tests.conftest import wait_until
from tests.integration.runs_helpers import GATED_SCRIPT, agent_options, make_run
from tests.sshd_server import SshdInstance, sshd, start_sshd  # noqa: F401
from widgets.run_log import RunLogView

pytestmark = pytest.mark.sshd

SCRIPT = (
    GATED_SCRIPT
    + """
def say(text):
    sys.stdout.write(text + "\\n")
    sys.stdout.flush()
for i in range(30):
    say("INFO step %d loss=%.3f" % (i, 3 - i / 100) + (" SPIKE" if i % 10 == 5 else ""))
wait("more")
for i in range(30, 80):
    say("INFO step %d loss=%.3f" % (i, 3 - i / 100) + (" SPIKE" if i % 10 == 5 else ""))
    if i == 50:
        say("WARNING lr schedule clipped")
    if i == 61:
        say("Traceback (most recent call last):")
        say('  File "train.py", line 9, in <module>')
        say("ValueError: bad batch")
wait("truncate")
with open(os.readlink("/proc/self/fd/1"), "w") as log:  # the script reopens its log
    log.write("reopened\\n")
say("INFO step 0 SPIKE again")
wait("end")
"""
)


class LoopbackCockpit(CockpitApp):
    """The cockpit whose one SSH pool trusts the loopback sshd (the test's known_hosts)."""

    def __init__(self, store: Store, pool: SshPool) -> None:
        super().__init__(store, open_triage=False)
        self.loopback_pool = pool

    def ssh_pool(self) -> SshPool:
        return self.loopback_pool


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


@dataclass
class RemoteRun:
    pool: SshPool
    launcher: SshRunner
    run: Run
    out_log: Path  # as the host sees it
    gates: Path  # the script waits for files here

    async def close(self) -> None:
        await self.launcher.sessions.close()
        await self.pool.close()


async def launch_remote(
    sshd: SshdInstance,  # noqa: F811
    tmp_path: Path,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    script_text: str,
) -> RemoteRun:
    """The script as a run of the SSH host gpu-a (the sshd); the app's own runner for SSH
    hosts gets the same agent options."""
    host = sshd.host("gpu-a", kind=HostKind.SSH)
    store.add_host(host)
    root = tmp_path / "root"  # the host's ~/.cockpit, here in the test's folder
    options = agent_options(lambda h: str(root), gpus=False)

    def with_options(_: RunnerOptions | None = None) -> RunnerOptions:
        return options  # the agent with this interpreter, its runs under `root`

    monkeypatch.setattr(by_kind, "options_from_env", with_options)
    script, gates = tmp_path / "train.py", tmp_path / "gates"
    script.write_text(script_text)
    gates.mkdir()
    pool = SshPool(sshd.settings())
    launcher = SshRunner(pool, store.get_host, options)
    (run,) = await launcher.launch_many([make_run("gpu-a", f"{sys.executable} {script} {gates}")])
    store.upsert_run(run)
    return RemoteRun(pool, launcher, run, root / "runs" / run.id / "out.log", gates)


async def test_a_remote_log_is_followed_searched_filtered_and_jumped_in(
    sshd: SshdInstance,  # noqa: F811
    tmp_path: Path,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    remote = await launch_remote(sshd, tmp_path, store, monkeypatch, SCRIPT)
    run, out_log, gates, pool = remote.run, remote.out_log, remote.gates, remote.pool
    app = LoopbackCockpit(store, pool)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await app.loaded.wait()
            app.runs.log_feed.poll_s = 0.05
            await pilot.press("3")
            log = await open_log(app, run.id)
            await wait_until(lambda: log.line_count == 30, timeout=20)
            assert log.follow and log.visible_text()[-1] == "INFO step 29 loss=2.710"
            # live: the script writes, the view follows its end
            (gates / "more").touch()
            await wait_until(lambda: log.line_count == len(lines_of(out_log)) == 84, timeout=20)
            await wait_until(lambda: log.visible_text()[-1] == "INFO step 79 loss=2.210")
            shown = lines_of(out_log)

            await ask(pilot, app, "slash", "spike")
            await wait_until(lambda: "match 1 of 8" in status(app))
            await wait_until(lambda: shown[5] in log.visible_text())
            await pilot.press("n")
            assert "match 2 of 8" in status(app)
            await wait_until(lambda: shown[15] in log.visible_text())
            await ask(pilot, app, "slash", "")  # the search ends

            await ask(pilot, app, "backslash", "warn")  # warnings and errors only
            await wait_until(lambda: "filter warn: 3 lines" in status(app))
            assert log.visible_text() == [
                "WARNING lr schedule clipped",
                "Traceback (most recent call last):",
                "ValueError: bad batch",
            ]
            await ask(pilot, app, "backslash", "")

            await pilot.press("e")
            traceback = shown.index("Traceback (most recent call last):")
            await wait_until(lambda: app.runs_pane.error_line == traceback)
            assert shown[traceback] in log.visible_text() and not log.follow

            await pilot.press("g")
            await wait_until(lambda: log.visible_text()[0] == shown[0])
            await pilot.press("G")
            await wait_until(lambda: log.visible_text()[-1] == shown[-1])
            assert log.follow and "end of 84" in status(app)

            # the script reopens its log with 'w': the view starts again from its new start,
            # and the search is run again over it
            await ask(pilot, app, "slash", "spike")
            await wait_until(lambda: "match 1 of 8" in status(app))
            (gates / "truncate").touch()
            await wait_until(
                lambda: log.visible_text() == ["reopened", "INFO step 0 SPIKE again"], timeout=20
            )
            # the search's old matches went; the new log's one is found
            await wait_until(lambda: log.find is not None and list(log.find.lines) == [1])
            assert "/spike/ 1 match" in status(app) and log.follow
            assert "1 matches" not in status(app)
            said = [n.message for n in app._notifications]
            assert f"out.log of {run.id} was truncated; following from its start" in said
            (gates / "end").touch()
            assert app.query_one(RunLogView).run_id == run.id
    finally:
        await remote.close()


STREAMED = (
    GATED_SCRIPT
    + """
for i in range(20):
    print("INFO step %d" % i, flush=True)
wait("truncate")
with open(os.readlink("/proc/self/fd/1"), "w") as log:
    log.write("reopened\\n")
print("INFO step 0 again", flush=True)
wait("end")
"""
)


async def test_without_sftp_the_streamed_log_also_starts_again_when_truncated(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_sshd(tmp_path / "sshd", sftp=False)  # the log comes by polled reads
    try:
        remote = await launch_remote(server, tmp_path, store, monkeypatch, STREAMED)
        app = LoopbackCockpit(store, remote.pool)
        async with app.run_test(size=SIZE) as pilot:
            await app.loaded.wait()
            await pilot.press("3")
            log = await open_log(app, remote.run.id)
            await wait_until(lambda: log.visible_text()[-1:] == ["INFO step 19"], timeout=20)
            opened = app.runs.log_feed.log
            assert opened is not None and opened.memory is not None  # streamed, not SFTP
            (remote.gates / "truncate").touch()
            await wait_until(
                lambda: log.visible_text() == ["reopened", "INFO step 0 again"], timeout=20
            )
            assert log.line_count == 2
            (remote.gates / "end").touch()
        await remote.close()
    finally:
        server.stop()
