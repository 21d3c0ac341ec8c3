"""The host agent's serve mode, as a local process: many answers from one process, and an
exit on EOF or when nobody asks (a dropped SSH link sends no EOF)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

from backends.runners.detached import AGENT_PATH


def serve(root: Path, *idle: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(AGENT_PATH), "serve", str(root), *idle],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )


def ask(proc: subprocess.Popen[bytes], message: dict) -> dict:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(message).encode() + b"\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def test_one_process_answers_many_requests_and_refuses_what_it_does_not_serve(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "out.log").write_bytes(b"line one\nline \xc3\xa9\n")
    proc = serve(tmp_path)
    try:
        for _ in range(3):
            answer = ask(proc, {"command": "status", "request": {"ids": ["r1", "nope"]}})
            assert set(answer["runs"]) == {"r1", "nope"}
            assert answer["runs"]["nope"]["state"] == "missing"
        chunk = ask(proc, {"command": "read-log", "request": {"id": "r1", "offset": 5}})
        assert base64.b64decode(chunk["data"]) == b"one\nline \xc3\xa9\n"
        assert chunk["next_offset"] == 17 and not chunk["eof"]  # the run has not ended
        refused = ask(proc, {"command": "cancel", "request": {"ids": ["r1"]}})
        assert "not served" in refused["error"]
        garbled = ask(proc, {"request": {}})
        assert "error" in garbled
        assert ask(proc, {"command": "status", "request": {"ids": []}})["runs"] == {}
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0  # EOF ends it
    finally:
        proc.kill()


def test_an_idle_session_exits_by_itself(tmp_path: Path) -> None:
    proc = serve(tmp_path, "0.2")
    try:
        t0 = time.monotonic()
        assert proc.wait(timeout=10) == 0  # stdin still open: only the idle limit ends it
        assert time.monotonic() - t0 >= 0.2
    finally:
        proc.kill()
