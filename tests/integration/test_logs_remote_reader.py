"""A remote log of tens of MB read on demand over a real loopback sshd: SFTP seeks on the
host's pooled connection, so the end shows after a few kB, a window anywhere costs a
window, and `cockpit logs --tail` moves only the last lines over the link."""

from __future__ import annotations

import asyncio
import io
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backends.runners.detached import RunnerOptions
from backends.runners.log_readers import SftpReader
from backends.runners.ssh import SshRunner
from backends.ssh.connection import SshPool, SshSettings
from cockpit.cli.logs import LogWriter, write_log
from cockpit.log_index import LogIndex, read_tail
from cockpit.logs import ResumePolicy
from cockpit.models import HostKind, Run, RunState
from cockpit.store import Store
from tests.integration.runs_helpers import agent_options, make_run, wait_states
from tests.sshd_server import SshdInstance, sshd  # noqa: F401

pytestmark = pytest.mark.sshd

LINES = 600_000  # about 27 MB
WRITE = (
    "import sys\n"
    "out = sys.stdout\n"
    "for start in range(0, {n}, 10000):\n"
    "    out.write(''.join(f'{{i:07d}} step={{i}} loss=0.5 tokens/s 1234 ok\\n'"
    " for i in range(start, start + 10000)))\n"
    "out.write('Traceback (most recent call last):\\nRuntimeError: at the end\\n')\n"
)


@dataclass
class RemoteRun:
    runner: SshRunner
    run: Run
    log: Path  # its out.log, as the host sees it
    store: Store
    settings: SshSettings
    options: RunnerOptions


@pytest.fixture
async def remote_run(
    sshd: SshdInstance,  # noqa: F811
    tmp_path: Path,
) -> AsyncIterator[RemoteRun]:
    host = sshd.host("gpu-a", kind=HostKind.SSH)
    root = tmp_path / "root"
    options = agent_options(lambda h: str(root), gpus=False)
    store = Store.open(tmp_path / "c.db")
    store.add_host(host)
    script = tmp_path / "write.py"
    script.write_text(WRITE.format(n=LINES))
    pool = SshPool(sshd.settings())
    runner = SshRunner(pool, {"gpu-a": host}.__getitem__, options)
    (run,) = await runner.launch_many([make_run("gpu-a", f"{sys.executable} {script}")])
    states = await wait_states(runner, [run], timeout=60)
    assert states[run.id] is RunState.SUCCEEDED
    run.state = RunState.SUCCEEDED
    store.upsert_run(run)
    log = root / "runs" / run.id / "out.log"
    try:
        yield RemoteRun(runner, run, log, store, sshd.settings(), options)
    finally:
        await pool.close()
        store.close()


async def test_a_remote_log_is_read_where_the_view_looks(remote_run: RemoteRun) -> None:
    data = remote_run.log.read_bytes()
    assert len(data) > 25_000_000  # tens of MB
    reader = await remote_run.runner.open_log_reader(remote_run.run)
    assert isinstance(reader, SftpReader)
    try:
        # The last screen, before any index: read backwards, a few kB.
        tail = await asyncio.to_thread(read_tail, reader, 24)
        assert tail == data.decode().splitlines()[-24:]
        assert reader.bytes_read < 256 * 1024
        index = LogIndex(reader)
        assert await asyncio.to_thread(index.build)  # the one full pass, in a thread
        assert index.line_count == LINES + 2
        read = reader.bytes_read
        middle = await asyncio.to_thread(index.read_lines, 234_567, 20)
        assert middle == [
            f"{i:07d} step={i} loss=0.5 tokens/s 1234 ok" for i in range(234_567, 234_587)
        ]
        assert reader.bytes_read - read < 64 * 1024  # a window costs a window
        pattern = re.compile(r"^RuntimeError", re.MULTILINE)
        hits = await asyncio.to_thread(lambda: list(index.search(pattern)))
        assert [(h.line, h.text) for h in hits] == [(LINES + 1, "RuntimeError: at the end")]
    finally:
        await reader.aclose()


async def test_logs_tail_moves_only_the_end_over_the_link(
    remote_run: RemoteRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    moved: list[int] = []
    original = SftpReader.aread_at

    async def counted(self: SftpReader, offset: int, size: int) -> bytes:
        data = await original(self, offset, size)
        moved.append(len(data))
        return data

    monkeypatch.setattr(SftpReader, "aread_at", counted)
    out = io.BytesIO()
    writer = LogWriter(out, tail=5)
    policy = ResumePolicy(poll_s=0.05, retry_initial_s=0.05, retry_max_s=0.2)
    code = await write_log(
        remote_run.store,
        remote_run.run,
        writer,
        follow=False,
        policy=policy,
        settings=remote_run.settings,
        options=remote_run.options,
    )
    assert code == 0
    expected = b"".join(remote_run.log.read_bytes().splitlines(keepends=True)[-5:])
    assert out.getvalue() == expected  # byte for byte, the last five lines
    assert 0 < sum(moved) < 256 * 1024  # of a 27 MB log
