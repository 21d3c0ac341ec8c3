"""Detached runs on this machine (LocalRunner): real processes, real files, real git.

The wrapper, the queue runner and the status reader are the host agent the SSH runner
sends too; here it runs as local subprocesses, so every behaviour of a run's life is
checked against the operating system itself (process groups, signals, /proc).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backends.runners.local import LocalRunner
from cockpit.cli.main import main as cli
from cockpit.models import Host, HostKind, RunState
from cockpit.runs import RunCommandHandler
from cockpit.store import Store
from tests.integration.runs_helpers import agent_options, make_run, pid_alive, wait_states

HOST = Host(name="me", kind=HostKind.LOCAL, address="localhost")


@pytest.fixture
def runner(tmp_path: Path) -> LocalRunner:
    return LocalRunner(lambda name: HOST, tmp_path / "data", agent_options(lambda h: ""))


def run_dir(runner: LocalRunner, run_id: str) -> Path:
    return runner.runs_dir / run_id


async def test_exit_codes_timeout_and_state_from_files(runner: LocalRunner) -> None:
    ok = make_run("me", "echo fine", name="ok")
    three = make_run("me", "echo bad >&2; exit 3", name="three")
    slow = make_run("me", "exec sleep 30", name="slow", timeout_s=1)
    launched = await runner.launch_many([ok, three, slow])
    assert {r.remote_dir for r in launched} == {
        str(runner.runs_dir / r.id) for r in (ok, three, slow)
    }
    states = await wait_states(runner, [ok, three, slow])
    assert states == {
        ok.id: RunState.SUCCEEDED,
        three.id: RunState.FAILED,
        slow.id: RunState.TIMEOUT,
    }
    codes = {r.id: (run_dir(runner, r.id) / "exit_code").read_text().strip() for r in launched}
    assert codes == {ok.id: "0", three.id: "3", slow.id: "124"}
    assert (run_dir(runner, three.id) / "out.log").read_bytes() == b"bad\n"
    chunk = await runner.read_log(ok, 2)
    assert chunk.data == b"ne\n" and chunk.eof and chunk.next_offset == 5
    assert [c.data async for c in runner.follow(ok, 0)] == [b"fine\n"]


TERM_IGNORING_FORKER = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
for _ in range(3):
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            time.sleep(0.05)
with open(sys.argv[1], "w") as fh:
    fh.write(str(os.getpgid(0)))
while True:
    time.sleep(0.05)
"""


async def test_cancel_kills_the_whole_group_of_a_term_ignoring_forker(
    runner: LocalRunner, tmp_path: Path
) -> None:
    script = tmp_path / "forker.py"
    script.write_text(TERM_IGNORING_FORKER)
    ready = tmp_path / "pgid"
    run = make_run("me", f"{sys.executable} {script} {ready}", name="forker")
    await runner.launch_many([run])
    await wait_states(runner, [run], lambda s: s is RunState.RUNNING)
    while not ready.exists():  # the script says when its children exist
        await wait_states(runner, [run], lambda s: s is RunState.RUNNING, timeout=5)
    pgid = int(ready.read_text())
    members = [p for p in map(int, filter(str.isdigit, os.listdir("/proc"))) if _pgid(p) == pgid]
    assert len(members) >= 4  # sh (or the script) + 3 forked children
    status = await runner.cancel(run)
    assert status.state is RunState.CANCELLED
    assert not [p for p in members if pid_alive(p)], "a process of the run survived"
    assert (run_dir(runner, run.id) / "cancelled").exists()


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


async def test_children_left_behind_by_a_finished_run_are_killed(
    runner: LocalRunner, tmp_path: Path
) -> None:
    pidfile = tmp_path / "child.pid"
    run = make_run("me", f"sleep 60 & echo $! > {pidfile}; exit 0", name="leaves-child")
    await runner.launch_many([run])
    assert (await wait_states(runner, [run]))[run.id] is RunState.SUCCEEDED
    assert not pid_alive(int(pidfile.read_text()))


async def test_launch_is_idempotent_by_run_id(runner: LocalRunner, tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    run = make_run("me", f"echo x >> {starts}", name="once")
    await runner.launch_many([run])
    await runner.launch_many([run])  # a retry after a dropped link
    await wait_states(runner, [run])
    await runner.launch_many([run])
    assert starts.read_text() == "x\n"
    assert (await runner.poll(run)).state is RunState.SUCCEEDED


async def test_pid_reuse_and_reboot_guards_make_a_dead_run_lost(runner: LocalRunner) -> None:
    run = make_run("me", "exec sleep 30", name="victim")
    await runner.launch_many([run])
    await wait_states(runner, [run], lambda s: s is RunState.RUNNING)
    folder = run_dir(runner, run.id)
    pid, start, boot = (folder / "pid").read_text().split()
    # Another process now holds the pid (same pid, other start time): not our wrapper.
    (folder / "pid").write_text(f"{os.getpid()} 1 {boot}")
    lost = await runner.poll(run)
    assert lost.state is RunState.LOST and lost.detail == "wrapper died"
    # The same process, but recorded on another boot: a reboot happened in between.
    (folder / "pid").write_text(f"{pid} {start} another-boot")
    assert (await runner.poll(run)).detail == "rebooted"
    (folder / "pid").write_text(f"{pid} {start} {boot}")
    assert (await runner.cancel(run)).state is RunState.CANCELLED


async def test_cpu_runs_wait_for_a_slot_and_start_without_the_cockpit(
    tmp_path: Path,
) -> None:
    runner = LocalRunner(
        lambda name: HOST, tmp_path / "data", agent_options(lambda h: "", cpu_slots=1)
    )
    gate = tmp_path / "gate"
    first = make_run("me", f"while [ ! -e {gate} ]; do sleep 0.05; done", name="first")
    second = make_run("me", "echo second", name="second")
    await runner.launch_many([first, second])
    states = await wait_states(runner, [first], lambda s: s is RunState.RUNNING)
    assert (await runner.poll(second)).state is RunState.QUEUED
    view = await runner.queue("me")
    assert view.order == (second.id,)
    gate.touch()
    # Nobody polls or launches now: the wrapper's end and the queue runner move the queue.
    queued_dir = run_dir(runner, second.id)
    fresh = LocalRunner(lambda name: HOST, tmp_path / "data", agent_options(lambda h: ""))
    states = await wait_states(fresh, [first, second])
    assert states[second.id] is RunState.SUCCEEDED
    assert (queued_dir / "out.log").read_text() == "second\n"


async def test_queue_reorder_and_drop(tmp_path: Path) -> None:
    runner = LocalRunner(
        lambda name: HOST, tmp_path / "data", agent_options(lambda h: "", cpu_slots=1)
    )
    gate = tmp_path / "gate"
    blocker = make_run("me", f"while [ ! -e {gate} ]; do sleep 0.05; done", name="blocker")
    a, b, c = (make_run("me", "true", name=n) for n in "abc")
    await runner.launch_many([blocker, a, b, c])
    assert (await runner.queue("me")).order == (a.id, b.id, c.id)
    assert (await runner.queue("me", "move", c.id, 0)).order == (c.id, a.id, b.id)
    assert (await runner.queue("me", "drop", a.id)).order == (c.id, b.id)
    assert (await runner.poll(a)).state is RunState.CANCELLED
    gate.touch()
    states = await wait_states(runner, [blocker, a, b, c])
    assert states[a.id] is RunState.CANCELLED
    assert states[b.id] is states[c.id] is RunState.SUCCEEDED
    started = {r.id: float((run_dir(runner, r.id) / "started_at").read_text()) for r in (b, c)}
    assert started[c.id] < started[b.id]  # the reordered run went first


METACHAR_VALUES = [
    "two words",
    'it\'s "quoted"',
    "$(touch PWNED)",
    "`touch PWNED`",
    "a; touch PWNED",
    "line one\nline two",
    "$HOME ${HOME} * ? [a] | & > <",
]


async def test_spec_values_reach_the_script_byte_for_byte(
    runner: LocalRunner, tmp_path: Path
) -> None:
    from cockpit.sweep import expand, parse_spec

    echo = tmp_path / "echo_args.py"
    echo.write_text(
        "import json, os, sys\n"
        "out = {'argv': sys.argv[1:], 'env': os.environ['TRICKY']}\n"
        "open(sys.argv[-1], 'w').write(json.dumps(out))\n"
    )
    spec = parse_spec(
        {
            "name": "meta",
            "command": f"{sys.executable} {echo} {{value}} {{out}}",
            "factors": {
                "value": METACHAR_VALUES,
                "out": [str(tmp_path / "out.json")],
            },
            "gpus": 0,
            "env": {"TRICKY": "$(touch PWNED); `id`"},
            "workdir": str(tmp_path),
        }
    )
    runs = []
    for i, rs in enumerate(expand(spec)):
        out = str(tmp_path / f"out{i}.json")
        runs.append(
            make_run(
                "me",
                rs.command.replace(shlex.quote(str(tmp_path / "out.json")), shlex.quote(out)),
                name=f"meta{i}",
                workdir=str(tmp_path),
                env=rs.env,
            )
        )
    await runner.launch_many(runs)
    states = await wait_states(runner, runs)
    assert set(states.values()) == {RunState.SUCCEEDED}
    for i, value in enumerate(METACHAR_VALUES):
        got = json.loads((tmp_path / f"out{i}.json").read_text())
        assert got == {"argv": [value, str(tmp_path / f"out{i}.json")], "env": spec.env["TRICKY"]}
    assert not list(tmp_path.rglob("PWNED")) and not Path("PWNED").exists()


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


async def test_provenance_from_a_real_git_repo_flags_a_dirty_tree(
    runner: LocalRunner, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@example.org")
    _git(repo, "config", "user.name", "t")
    (repo / "train.py").write_text("print('v1')\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "v1")
    commit = _git(repo, "rev-parse", "HEAD")
    clean = make_run(
        "me",
        "python3 train.py",
        name="clean",
        workdir=str(repo),
        env={"PYTHONHASHSEED": "0", "MY_API_KEY": "secret"},
    )
    await runner.launch_many([clean])
    await wait_states(runner, [clean])
    (repo / "train.py").write_text("print('v2, uncommitted')\n")
    dirty = make_run("me", "python3 train.py", name="dirty", workdir=str(repo))
    await runner.launch_many([dirty])
    await wait_states(runner, [dirty])
    prov_clean = json.loads((run_dir(runner, clean.id) / "provenance.json").read_text())
    prov_dirty = json.loads((run_dir(runner, dirty.id) / "provenance.json").read_text())
    assert prov_clean["git_commit"] == prov_dirty["git_commit"] == commit
    assert prov_clean["git_dirty"] is False and prov_clean["git_diff_sha256"] is None
    assert prov_dirty["git_dirty"] is True and len(prov_dirty["git_diff_sha256"]) == 64
    assert prov_clean["command"] == "python3 train.py"
    assert prov_clean["env"]["PYTHONHASHSEED"] == "0"
    assert "MY_API_KEY" not in prov_clean["env"]  # secrets never land in provenance
    assert prov_clean["python"] and prov_clean["exit_code"] == 0
    assert prov_clean["started_at"] <= prov_clean["ended_at"]


async def test_gpu_placement_and_provenance_with_the_fake_nvidia_smi(
    runner: LocalRunner, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    wait = f"echo $CUDA_VISIBLE_DEVICES; while [ ! -e {gate} ]; do sleep 0.05; done"
    runs = [make_run("me", wait, name=f"g{i}", gpus=1) for i in range(3)]
    too_big = make_run("me", "true", name="big", gpus=4)
    launched = await runner.launch_many([*runs, too_big])
    assert launched[-1].state is RunState.FAILED  # 4 GPUs on a 2-GPU host: never fits
    await wait_states(runner, runs[:2], lambda s: s is RunState.RUNNING)
    statuses = await runner.poll_many(runs)
    assert sorted(statuses[r.id].gpu_ids or () for r in runs[:2]) == [(0,), (1,)]
    assert statuses[runs[2].id].state is RunState.QUEUED
    gate.touch()
    await wait_states(runner, runs)
    prov = json.loads((run_dir(runner, runs[0].id) / "provenance.json").read_text())
    assert prov["gpu_models"] == ["NVIDIA A100-SXM4-80GB"] and prov["cuda_version"] == "12.4"
    assert prov["gpu_driver"] == "550.54.15"
    logs = [(run_dir(runner, r.id) / "out.log").read_text().strip() for r in runs]
    assert sorted(logs[:2]) == ["0", "1"] and logs[2] in ("0", "1")


# -- the CLI end to end on a local host -----------------------------------------------------


def _cli_json(*args: str, capsys: pytest.CaptureFixture[str]) -> object:
    code = cli(list(args))
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_cli_sweep_launch_wait_results_relaunch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "c.db")
    assert cli(["--db", db, "host", "add", "me", "--local"]) == 0
    spec = tmp_path / "s.toml"
    spec.write_text(
        'name = "sw"\n'
        'command = "python3 -c \'import json,os,sys; open(os.environ[\\"COCKPIT_METRICS\\"],'
        '\\"a\\").write(json.dumps({\\"step\\": 1, \\"acc\\": float(sys.argv[1])}))'
        "; sys.exit(int(sys.argv[2]))' {acc} {code}\"\n"
        'gpus = 0\nprimary_metric = "acc"\ndirection = "max"\n'
        "[factors]\nacc = [0.5, 0.7]\ncode = [0, 3]\n"
        "[baseline]\nacc = 0.5\ncode = 0\n"
    )
    capsys.readouterr()
    plan = _cli_json("--db", db, "launch", str(spec), "--dry-run", "--json", capsys=capsys)
    assert isinstance(plan, list) and len(plan) == 4
    with Store.open(db) as store:
        assert store.list_runs() == []  # the dry run changed nothing
    launched = _cli_json("--db", db, "launch", str(spec), "--json", capsys=capsys)
    assert isinstance(launched, list) and {r["sweep"] for r in launched} == {"sw"}
    code = cli(["--db", db, "runs", "--wait", "sw", "--interval", "0.1"])
    assert code == 1  # two runs exit 3
    capsys.readouterr()
    runs = _cli_json("--db", db, "runs", "--sweep", "sw", "--json", capsys=capsys)
    assert isinstance(runs, list)
    by_config = {(r["config"]["acc"], r["config"]["code"]): r for r in runs}
    assert by_config[(0.7, 3)]["state"] == "failed" and by_config[(0.7, 3)]["exit_code"] == 3
    assert by_config[(0.5, 0)]["state"] == "succeeded"
    results = _cli_json("--db", db, "results", "--sweep", "sw", "--format", "json", capsys=capsys)
    assert isinstance(results, dict)
    values = {
        c["params"]["acc"]: c["values"]["acc"]
        for c in results["sweeps"][0]["configs"]
        if c["params"]["code"] == 0
    }
    assert values == {0.5: 0.5, 0.7: 0.7}
    failed = by_config[(0.7, 3)]
    again = _cli_json("--db", db, "relaunch", failed["name"], "--json", capsys=capsys)
    assert isinstance(again, list)
    assert again[0]["relaunch_of"] == failed["id"] and again[0]["attempt"] == 2
    assert again[0]["id"] != failed["id"]
    with Store.open(db) as store:
        assert store.get_run(failed["id"]).state is RunState.FAILED  # the old one stays


def test_cli_proposed_by_waits_for_a_person(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "c.db")
    marker = tmp_path / "ran"
    assert cli(["--db", db, "host", "add", "me", "--local"]) == 0
    monkeypatch.setenv("COCKPIT_PROPOSED_BY", "agent-7")
    capsys.readouterr()
    assert cli(["--db", db, "run", "--host", "me", "--gpus", "0", "--", "touch", str(marker)]) == 0
    out = capsys.readouterr().out
    assert "awaits a person" in out and not marker.exists()
    with Store.open(db) as store:
        assert store.list_runs() == []
        command = store.list_commands()[0]
    assert command.status == "needs-confirm" and command.payload["proposed_by"] == "agent-7"
    monkeypatch.delenv("COCKPIT_PROPOSED_BY")
    assert cli(["--db", db, "confirm", str(command.id)]) == 0
    run_id = capsys.readouterr().out.strip()
    assert cli(["--db", db, "runs", "--wait", "__none__"]) == 2  # unknown sweep: usage error
    with Store.open(db) as store:
        assert store.get_run(run_id).spec.command == f"touch {shlex.quote(str(marker))}"
    assert (
        cli(
            [
                "--db",
                db,
                "run",
                "--host",
                "me",
                "--gpus",
                "0",
                "--proposed-by",
                "bot",
                "--",
                "touch",
                str(tmp_path / "never"),
            ]
        )
        == 0
    )
    with Store.open(db) as store:
        second = store.list_commands()[0]
    assert cli(["--db", db, "reject", str(second.id)]) == 0
    assert cli(["--db", db, "confirm", str(second.id)]) == 2  # rejected stays rejected


def test_cli_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "c.db")
    spec = tmp_path / "bad.toml"
    spec.write_text('name = "x"\ncommand = "run {lr}"\n[factors]\nlr = []\n')
    assert cli(["--db", db, "launch", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "factors.lr" in err
    assert cli(["--db", db, "run", "--host", "nowhere", "--", "true"]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert cli(["--db", db, "cancel", "no-such-run"]) == 2


def test_cli_confirmed_idea_sweep_runs_and_the_idea_follows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "c.db")
    ran = tmp_path / "ran"
    for argv in (
        ["host", "add", "me", "--local"],
        ["ideas", "add", "idea-a", "--title", "Try a bigger lr"],
        ["ideas", "edit", "idea-a", "--status", "approved"],
    ):
        assert cli(["--db", db, *argv]) == 0
    spec = tmp_path / "s.toml"
    spec.write_text(f'name = "sw"\ncommand = "echo {{lr}} >> {ran}"\ngpus = 0\n')
    spec.write_text(spec.read_text() + "[factors]\nlr = [1, 2, 3]\n")
    capsys.readouterr()
    argv = ["--db", db, "ideas", "propose", "idea-a", "--host", "me", "--spec", str(spec)]
    proposed = _cli_json(*argv, "--json", capsys=capsys)
    rejected = _cli_json(*argv, "--json", capsys=capsys)
    assert isinstance(proposed, dict) and isinstance(rejected, dict)
    assert cli(["--db", db, "reject", str(rejected["command"])]) == 0
    with Store.open(db) as store:
        assert store.list_runs() == [] and not ran.exists()  # nothing runs unconfirmed
    capsys.readouterr()
    assert cli(["--db", db, "confirm", str(proposed["command"])]) == 0
    run_ids = capsys.readouterr().out.split()
    with Store.open(db) as store:
        runs = store.list_runs(sweep="sw")
        assert sorted(r.id for r in runs) == sorted(run_ids) and len(runs) == 3
        assert all(r.remote_dir for r in runs)  # handed to the host, not just recorded
        idea = store.get_idea("idea-a")
        assert idea.status == "running" and idea.sweeps == ("sw",)
    assert cli(["--db", db, "runs", "--wait", "sw", "--interval", "0.1"]) == 0
    assert sorted(ran.read_text().split()) == ["1", "2", "3"]  # each run once
    assert cli(["--db", db, "confirm", str(rejected["command"])]) == 2  # stays rejected
    with Store.open(db) as store:
        assert store.get_idea("idea-a").status == "done"
        assert len(store.list_runs()) == 3


async def test_a_run_is_recorded_as_ended_only_once_its_results_are_stored(
    runner: LocalRunner, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An agent that waits for `succeeded` in `runs --json` then reads the results must
    # find them: the poll stores them before the state that says the run ended.
    metrics_at_end: dict[str, dict[str, float]] = {}
    set_run_state = store.set_run_state

    def noting_metrics(run_id: str, state: RunState, **fields: Any) -> None:
        if state.terminal:
            metrics_at_end[run_id] = store.final_metrics([run_id]).get(run_id, {})
        set_run_state(run_id, state, **fields)

    monkeypatch.setattr(store, "set_run_state", noting_metrics)
    store.add_host(HOST)
    write = "import json; print(json.dumps({'step': 1, 'acc': 0.75}))"
    script = f'{shlex.quote(sys.executable)} -c {shlex.quote(write)} > "$COCKPIT_METRICS"'
    run = make_run("me", script, name="acc")
    [launched] = await runner.launch_many([run])
    store.upsert_run(launched)
    handler = RunCommandHandler(store, {HostKind.LOCAL: runner})
    await wait_states(runner, [launched])
    changed = await handler.poll_active()
    assert [r.state for r in changed] == [RunState.SUCCEEDED]
    assert store.get_run(run.id).state is RunState.SUCCEEDED
    assert metrics_at_end == {run.id: {"acc": 0.75}}
