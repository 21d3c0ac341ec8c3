"""Asking about what is on screen, from the CLI, against litellm and a loopback server:
the prompt holds the data (a failed run's first traceback and log tail; the results
matrix), the answer comes with its cost, and a number the data does not hold is marked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backends.runners.local import local_root
from cockpit.demo import seed_demo
from cockpit.models import Host, HostKind, LlmBackend, LlmCallStatus, Run, RunSpec, RunState
from cockpit.paths import data_dir
from cockpit.store import Store
from tests.integration.test_llm import cli
from tests.llm_server import ChatServer, Reply, llm_server

__all__ = ["llm_server"]
MODEL = "openai/gpt-4o-mini"

# A rank-tagged traceback early on (the cause), then a long tail that repeats nothing of it.
LOG = (
    "step 100 loss=3.9071\n"
    "[rank0]: Traceback (most recent call last):\n"
    '[rank0]:   File "train.py", line 88, in <module>\n'
    "[rank0]:     loss.backward()\n"
    "[rank0]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.50 GiB\n"
    + "".join(f"rank1 waiting for rank0 ({i})\n" for i in range(300))
    + "\x1b]0;pwned\x07exit 1\n"
)


@pytest.fixture
def backend(store: Store, llm_server: ChatServer) -> LlmBackend:
    b = LlmBackend("loop", MODEL, api_base=llm_server.url)
    store.add_llm_backend(b)
    return b


def failed_run(store: Store) -> Run:
    store.add_host(Host("here", HostKind.LOCAL))
    run = Run(
        id="oom-run",
        spec=RunSpec(name="oom", command="python train.py --bs 64", host="here"),
        host="here",
        state=RunState.FAILED,
        exit_code=1,
    )
    store.upsert_run(run)
    folder = Path(local_root(data_dir())) / "runs" / run.id
    folder.mkdir(parents=True)
    (folder / "out.log").write_text(LOG)
    return run


def test_explain_sends_the_first_traceback_and_the_tail_and_marks_invented_numbers(
    store: Store, backend: LlmBackend, llm_server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    failed_run(store)
    llm_server.script = [
        Reply("OOM at line 88 allocating 2.50 GiB; try batch 32 or 47.5 GiB cards.")
    ]
    code, out, err = cli(capsys, store.path, "llm", "explain", "oom-run")
    assert code == 0, err
    assert "up to $" in err  # the estimate is shown first
    (request,) = llm_server.received
    prompt = request.body["messages"][-1]["content"]
    assert "The first traceback in the log:\nTraceback (most recent call last):" in prompt
    assert "torch.OutOfMemoryError: CUDA out of memory" in prompt
    assert "rank1 waiting for rank0 (299)" in prompt and "(219)" not in prompt  # 80 lines
    assert "python train.py --bs 64" in prompt and "\x1b" not in prompt
    # 88 and 2.50 are in the traceback; 32 and 47.5 are the model's own (and 3.9071, from
    # the log's first line, was not sent: the model could not have quoted it).
    assert "3.9071" not in prompt
    assert "line 88 " in out and "2.50 " in out
    assert "32[?]" in out and "47.5[?]" in out
    assert "[?] a number not in the data" in out and "$" in out
    (call,) = store.llm_calls()
    assert (call.pane, call.purpose, call.status) == ("runs", "runs.explain", LlmCallStatus.OK)


def test_explain_json_and_dry_run(
    store: Store, backend: LlmBackend, llm_server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    failed_run(store)
    code, out, err = cli(capsys, store.path, "llm", "explain", "oom-run", "--dry-run")
    assert code == 0 and out == "" and "1 call(s)" in err
    assert llm_server.received == []
    llm_server.script = [Reply("exit 1 after 7 tries")]
    code, out, _ = cli(capsys, store.path, "llm", "explain", "oom-run", "--json")
    result = json.loads(out)
    assert result["unverified_numbers"] == ["7"] and result["cost_usd"] > 0
    assert result["what"] == "explain the failure of run oom-run"


def test_summarize_sends_the_matrix_with_its_verdicts(
    store: Store, backend: LlmBackend, llm_server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_demo(store)
    llm_server.script = [Reply("r64 wins on mmlu_acc; 99.9% sure.")]
    code, out, err = cli(
        capsys, store.path, "llm", "summarize", "--sweep", "galore-doe", "--metric", "mmlu_acc"
    )
    assert code == 0, err
    prompt = llm_server.received[0].body["messages"][-1]["content"]
    assert "Holm correction" in prompt and "mmlu_acc" in prompt
    assert "99.9%[?]" in out
    assert store.llm_calls()[0].purpose == "results.summarize"


def test_no_backend_and_several_without_a_default_are_one_line(
    store: Store, llm_server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    failed_run(store)
    code, _, err = cli(capsys, store.path, "llm", "explain", "oom-run")
    assert code == 2 and "no LLM backend yet" in err and err.count("\n") == 1
    store.add_llm_backend(LlmBackend("a", MODEL, api_base=llm_server.url))
    store.add_llm_backend(LlmBackend("b", MODEL, api_base=llm_server.url))
    code, _, err = cli(capsys, store.path, "llm", "explain", "oom-run")
    assert code == 2 and "cockpit llm default NAME --pane runs" in err
    assert cli(capsys, store.path, "llm", "default", "b", "--pane", "runs")[0] == 0
    assert cli(capsys, store.path, "llm", "default", "a")[0] == 0
    code, out, _ = cli(capsys, store.path, "llm", "default", "--json")
    assert json.loads(out) == {"*": "a", "runs": "b"}
    code, _, err = cli(capsys, store.path, "llm", "default", "nope")
    assert code == 2 and err.count("\n") == 1
    llm_server.script = [Reply("fine")]
    assert cli(capsys, store.path, "llm", "explain", "oom-run", "--dry-run")[2].count(" on b:") == 1
