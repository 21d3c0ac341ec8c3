"""The morning report: failure reasons, GPU-hours used and idle, verdicts, the last look."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from cockpit import triage
from cockpit.cli.main import main
from cockpit.logs import classify_ending
from cockpit.models import Host, HostKind, MetricPoint, Run, RunSpec, RunState, Sweep
from cockpit.render.triage import render_triage
from cockpit.store import Store
from cockpit.triage import LAST_LOOK_KEY, build_triage
from cockpit.validate import ValidationError, parse_since
from tests.unit.test_results import complete_demo

NOW = 1_800_000_000.0
HOUR = 3600.0


@pytest.mark.parametrize(
    ("state", "code", "log", "kind", "text"),
    [
        (
            RunState.FAILED,
            1,
            ["step 10", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB"],
            "oom",
            "CUDA out of memory",
        ),
        (RunState.FAILED, 1, ["step 90 | loss nan", "ValueError: loss is nan"], "nan", "nan"),
        (RunState.TIMEOUT, 124, ["step 5000"], "timeout", "timed out after 12h00m"),
        (RunState.FAILED, 137, ["step 10"], "killed", "SIGKILL"),
        (RunState.LOST, None, [], "lost", "no exit code"),
        (RunState.CANCELLED, 143, ["step 3"], "cancelled", "cancelled"),
        (
            RunState.FAILED,
            2,
            ["Traceback (most recent call last):", "KeyError: 'label'", "  cleanup"],
            "exit",
            "exit code 2: KeyError: 'label'",
        ),
        (RunState.SUCCEEDED, 0, ["loss nan at step 3 (recovered)"], "ok", "succeeded"),
    ],
)
def test_classify_reads_state_exit_code_then_log(
    state: RunState, code: int | None, log: list[str], kind: str, text: str
) -> None:
    got_kind, reason = classify_ending(state, code, log, timeout_s=43200)
    assert got_kind == kind
    assert text in reason


def add_run(
    store: Store,
    run_id: str,
    state: RunState,
    *,
    started: float,
    ended: float | None,
    gpus: tuple[int, ...] = (0,),
    host: str = "box",
    code: int | None = None,
    log: Path | None = None,
    sweep: str | None = None,
) -> None:
    provenance = {"source_path": str(log.parent)} if log is not None else {}
    store.upsert_run(
        Run(
            id=run_id,
            spec=RunSpec(run_id, "python train.py", {"run": run_id}, sweep=sweep, timeout_s=7200),
            state=state,
            host=host,
            gpu_ids=gpus,
            exit_code=code,
            started_at=started,
            ended_at=ended,
            provenance=provenance,
        )
    )


def write_log(folder: Path, *lines: str) -> Path:
    folder.mkdir(parents=True)
    path = folder / "out.log"
    path.write_text("\n".join(["starting", *lines]) + "\n")
    return path


def test_report_finds_failures_gpu_hours_and_idle_time(store: Store, tmp_path: Path) -> None:
    store.add_host(Host("box", HostKind.SSH, "10.0.0.1"))
    oom = write_log(tmp_path / "oom", "RuntimeError: CUDA out of memory. Tried to allocate 8 GiB")
    nan = write_log(tmp_path / "nan", "step 400 | loss nan | lr 3e-4")
    since = NOW - 10 * HOUR
    # 2 GPUs x 4 h inside the window; 1 GPU x 3 h of a run that began before the window.
    add_run(
        store,
        "ok",
        RunState.SUCCEEDED,
        started=NOW - 6 * HOUR,
        ended=NOW - 2 * HOUR,
        gpus=(0, 1),
        code=0,
    )
    add_run(
        store,
        "oom",
        RunState.FAILED,
        started=NOW - 12 * HOUR,
        ended=NOW - 7 * HOUR,
        code=1,
        log=oom,
    )
    add_run(
        store, "nan", RunState.FAILED, started=NOW - 2 * HOUR, ended=NOW - 1 * HOUR, code=1, log=nan
    )
    add_run(store, "slow", RunState.TIMEOUT, started=NOW - 4 * HOUR, ended=NOW - 2 * HOUR, code=124)
    add_run(store, "old", RunState.FAILED, started=NOW - 30 * HOUR, ended=NOW - 20 * HOUR, code=1)
    add_run(store, "live", RunState.RUNNING, started=NOW - HOUR, ended=None, gpus=(2, 3))
    # GPU 0 idles for the first 5 h of the window (util 0), then works (util 95).
    samples = []
    for i in range(0, 600):  # one sample a minute for 10 h
        ts = since + i * 60.0
        util = 0.0 if i < 300 else 95.0
        samples.append(("box", 0, ts, util, 100.0 if util == 0 else 60000.0, 81920.0, 60.0, 40.0))
    store.add_gpu_samples(samples)

    report = build_triage(store, since=since, now=NOW)
    assert [o.run_id for o in report.finished] == ["ok"]
    reasons = {o.run_id: (o.reason_kind, o.reason) for o in report.failed}
    assert set(reasons) == {"oom", "nan", "slow"}  # "old" ended before the window
    assert reasons["oom"][0] == "oom" and "CUDA out of memory" in reasons["oom"][1]
    assert reasons["nan"][0] == "nan" and "loss nan" in reasons["nan"][1]
    assert reasons["slow"] == ("timeout", "timed out after 2h00m (exit 124)")
    assert [o.run_id for o in report.running] == ["live"]
    # ok 2x4 + oom 1x3 + nan 1x1 + slow 1x2 + live 2x1 GPU-hours
    assert report.gpu_hours_used == pytest.approx(8 + 3 + 1 + 2 + 2)
    assert report.gpu_hours_observed == pytest.approx(599 / 60)
    assert report.gpu_hours_idle == pytest.approx(5.0)

    console = Console(record=True, width=120)
    render_triage(report, console)
    text = console.export_text()
    assert "1 finished · 3 failed · 1 still running · 16.0 GPU-hours used" in text
    assert "5.0 of 10.0 observed GPU-hours idle (50%)" in text
    assert "out of memory" in text and "timed out" in text


def test_last_look_is_remembered(store: Store) -> None:
    first = build_triage(store, now=NOW)
    assert first.since_source == "default window"
    assert first.since == NOW - triage.DEFAULT_WINDOW_S
    triage.mark_looked(store, NOW)
    second = build_triage(store, now=NOW + HOUR)
    assert (second.since_source, second.since) == ("last look", NOW)


def test_new_results_carry_verdicts_and_crossed_thresholds(store: Store) -> None:
    complete_demo(store)
    report = build_triage(store, since=0.0, now=NOW)
    by_config = {r.config: r for r in report.results}
    assert by_config["doe-r64-none-wd0.1"].verdict == "better"
    assert by_config["doe-r64-none-wd0.1"].test == "McNemar exact"
    assert by_config["doe-r128-none-wd0.2"].verdict == "no significant difference"
    assert "doe-r128-none-wd0.1" not in by_config  # the baseline is not a result
    assert report.thresholds_crossed == ()  # nothing in the demo drops 5 points

    store.upsert_sweep(Sweep("tiny", {}, "a", "acc", {"acc": {"max_drop": 0.05}}, 1.0))
    for run_id, acc in (("a", 0.80), ("b", 0.70)):
        add_run(
            store,
            run_id,
            RunState.SUCCEEDED,
            started=NOW - 2 * HOUR,
            ended=NOW - HOUR,
            sweep="tiny",
            code=0,
        )
        store.add_metrics([MetricPoint(run_id, 10, "acc", acc)])
    report = build_triage(store, since=NOW - 3 * HOUR, now=NOW)
    assert [r.config for r in report.results] == ["b"]
    assert report.results[0].verdict == "single run, no test possible"
    assert report.thresholds_crossed == ("tiny b: acc drop 0.1 > max_drop 0.05",)


def test_parse_since() -> None:
    assert parse_since("12h", NOW) == NOW - 12 * HOUR
    assert parse_since("30m", NOW) == NOW - 1800
    assert parse_since("2d", NOW) == NOW - 2 * 86400
    with pytest.raises(ValidationError, match="invalid --since"):
        parse_since("yesterday", NOW)


def test_cli_triage(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with Store.open(db) as s:
        complete_demo(s)
    code = main(["--db", str(db), "triage", "--since", "3650d", "--peek"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "Morning triage" in out and "New results" in out and "better" in out
    with Store.open(db) as s:
        assert s.get_setting(LAST_LOOK_KEY) is None  # --peek leaves the last look alone

    code = main(["--db", str(db), "triage", "--json", "--since", "3650d"])
    out, _ = capsys.readouterr()
    data = json.loads(out)
    assert code == 0 and len(data["finished"]) == 8 and data["gpu_hours_idle"] is None
    with Store.open(db) as s:
        assert isinstance(s.get_setting(LAST_LOOK_KEY), float)

    code = main(["--db", str(db), "triage", "--since", "soon"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "invalid --since" in err
