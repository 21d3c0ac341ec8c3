"""Sweep specs: one-line errors naming the field, expansion, quoting; the runs migration."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from cockpit.models import Host, HostKind, Run, RunSpec, RunState, Sweep
from cockpit.scheduler import assign_hosts, choose_hosts
from cockpit.store import Store
from cockpit.sweep import SpecError, expand, load_spec, parse_spec, render_command
from cockpit.validate import ValidationError, valid_time_limit

BASE = {"name": "s", "command": "train --lr {lr}", "factors": {"lr": [0.1, 0.2]}}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "bad name"}, "name"),
        ({"command": ""}, "command"),
        ({"factors": {"lr": []}}, "factors.lr"),
        ({"factors": {"lr": [{"a": 1}]}}, "factors.lr"),
        ({"command": "train {nope}"}, "command"),
        ({"seeds": [1, 1]}, "seeds"),
        ({"gpus": -1}, "gpus"),
        ({"time_limit": "8 hours"}, "time_limit"),
        ({"hosts": "some"}, "hosts"),
        ({"env": {"1BAD": "x"}}, "env.1BAD"),
        ({"baseline": {"lr": 0.5}}, "baseline.lr"),
        ({"direction": "up", "primary_metric": "acc"}, "direction"),
        ({"thresholds": {"acc": 0.5}}, "thresholds"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_a_bad_field_is_named_in_one_line(change: dict, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_spec({**BASE, **change})
    assert field in str(err.value) and "\n" not in str(err.value)


def test_spec_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "s.toml"
    bad.write_text("name = \n")
    with pytest.raises(SpecError, match=r"s\.toml: not valid TOML"):
        load_spec(bad)
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.toml")


def test_expansion_is_the_factorial_times_the_seeds() -> None:
    spec = parse_spec(
        {
            **BASE,
            "command": "train --lr {lr} --wd {wd} --seed {seed} ${HOME}",
            "factors": {"lr": [0.1, 0.2], "wd": [0, 1]},
            "seeds": [7, 8],
            "time_limit": "1h30m",
            "gpus": 2,
            "env": {"A": 1},
        }
    )
    runs = expand(spec)
    assert len(runs) == 8 and len({r.name for r in runs}) == 8
    assert runs[0].config == {"lr": 0.1, "wd": 0, "seed": 7}
    assert runs[0].command == "train --lr 0.1 --wd 0 --seed 7 ${HOME}"
    assert {r.timeout_s for r in runs} == {5400} and {r.gpus for r in runs} == {2}
    assert runs[0].env == {"A": "1"}


def test_rendered_values_are_single_shell_words() -> None:
    value = "a b'c\"$(touch x)`id`;\n*"
    line = render_command("prog {v}", {"v": value})
    assert shlex.split(line) == ["prog", value]
    out = subprocess.run(["/bin/sh", "-c", line.replace("prog", "printf %s")], capture_output=True)
    assert out.stdout.decode() == value


def test_time_limits() -> None:
    assert valid_time_limit("8h") == 28800 and valid_time_limit("90") == 90
    assert valid_time_limit("1h30m") == 5400 and valid_time_limit(60) == 60
    for bad in ("0s", "8 hours", "-1", "h"):
        with pytest.raises(ValidationError):
            valid_time_limit(bad)


def test_hosts_are_chosen_and_spread_by_capacity() -> None:
    big = Host("big", HostKind.SSH, gpus=4)
    small = Host("small", HostKind.SSH, gpus=2)
    ro = Host("ro", HostKind.SSH, read_only=True)
    demo = Host("d", HostKind.DEMO)
    assert choose_hosts([big, small, ro, demo], []) == [big, small]
    with pytest.raises(ValidationError, match="read-only"):
        choose_hosts([ro], ["ro"])
    with pytest.raises(ValidationError, match="no host named"):
        choose_hosts([big], ["nope"])
    specs = [RunSpec(name=str(i), command="x", gpus=1) for i in range(6)]
    placed = [h.name for h in assign_hosts(specs, [big, small])]
    assert placed.count("big") == 4 and placed.count("small") == 2


def test_migration_3_keeps_runs_and_adds_attempts(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    old = Store.open(path, migrate=False)
    old.migrate(target=2)
    old.upsert_sweep(Sweep(name="sw", factors={}))
    with old.write() as conn:
        conn.execute(
            "INSERT INTO runs(id, sweep, spec, state) VALUES ('r1', 'sw', ?, 'succeeded')",
            ('{"name": "r1", "command": "true"}',),
        )
    old.close()
    store = Store.open(path)
    run = store.get_run("r1")
    assert run.state is RunState.SUCCEEDED and run.attempt == 1 and run.relaunch_of is None
    again = Run(id="r2", spec=run.spec, attempt=2, relaunch_of="r1")
    store.insert_new_runs([again, again])
    assert store.get_run("r2").attempt == 2
    assert store.find_run("r1").id == "r1"
    store.close()


def test_results_use_the_latest_finished_attempt() -> None:
    from cockpit.runs import latest_attempts

    spec = RunSpec(name="x", command="true")
    a = Run("a", spec, RunState.FAILED)
    b = Run("b", spec, RunState.SUCCEEDED, attempt=2, relaunch_of="a")
    c = Run("c", spec, RunState.RUNNING, attempt=3, relaunch_of="b")
    other = Run("o", spec, RunState.SUCCEEDED)
    assert [r.id for r in latest_attempts([a, b, c, other])] == ["b", "o"]
    assert [r.id for r in latest_attempts([a])] == ["a"]
