"""The SQLite store: migrations, bad files, and many writers that must not lose data."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cockpit.models import (
    CommandOrigin,
    CommandStatus,
    Host,
    HostKind,
    MetricPoint,
    Run,
    RunSpec,
    RunState,
)
from cockpit.store import SCHEMA_VERSION, DuplicateError, NotFoundError, Store, StoreError

ROOT = Path(__file__).resolve().parents[2]


def test_new_file_gets_latest_schema_in_wal_mode(tmp_path: Path) -> None:
    with Store.open(tmp_path / "new.db") as store:
        assert store.schema_version == SCHEMA_VERSION
        tables = set(store.db.table_names())
        assert {"hosts", "runs", "metrics", "eval_items", "commands", "settings"} <= tables
        conn = store.db.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_migrates_a_version_1_database_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = Store.open(path, migrate=False)
    old.migrate(target=1)
    assert old.schema_version == 1
    old.add_host(Host(name="gpubox", address="10.0.0.5", user="alice", port=2222))
    with old.write() as conn:  # a command as version 1 stored it: no owner column yet
        conn.execute(
            "INSERT INTO commands(pane, backend, kind, payload, status, created_at) "
            "VALUES ('runs', 'gpubox', 'run.cancel', '{}', 'done', 1.0)"
        )
    old.close()

    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.get_host("gpubox").port == 2222
        assert store.list_commands()[0].kind == "run.cancel"
        store.set_setting("ui.theme", "cockpit-light")
        assert store.get_setting("ui.theme") == "cockpit-light"


def test_refuses_a_database_from_a_newer_cockpit(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store.open(path)


def test_non_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    content = b"these are my notes, not a database\n" * 50
    path.write_bytes(content)
    with pytest.raises(StoreError, match="not a cockpit database"):
        Store.open(path)
    assert path.read_bytes() == content
    assert not Path(f"{path}-wal").exists()


@pytest.mark.parametrize("make", ["directory", "missing-parent"])
def test_unusable_paths_give_one_line_errors(tmp_path: Path, make: str) -> None:
    path = tmp_path / "somedir" if make == "directory" else tmp_path / "no" / "such" / "x.db"
    if make == "directory":
        path.mkdir()
    with pytest.raises(StoreError) as err:
        Store.open(path)
    assert "\n" not in str(err.value)


def test_hosts_round_trip_and_duplicates(store: Store) -> None:
    host = Host(name="a", kind=HostKind.SLURM, address="login", labels=("a100", "big"))
    store.add_host(host)
    assert store.get_host("a") == host
    with pytest.raises(DuplicateError):
        store.add_host(host)
    store.remove_host("a")
    with pytest.raises(NotFoundError):
        store.remove_host("a")


def test_final_metrics_take_the_last_step(store: Store) -> None:
    store.upsert_run(Run(id="r1", spec=RunSpec(name="r1", command="true"), state=RunState.RUNNING))
    store.add_metrics(
        [
            MetricPoint("r1", 10, "loss", 2.0),
            MetricPoint("r1", 20, "loss", 1.5),
            MetricPoint("r1", 20, "acc", 0.4),
        ]
    )
    assert store.final_metrics() == {"r1": {"loss": 1.5, "acc": 0.4}}
    assert store.metric_series("r1", "loss") == [(10, 2.0), (20, 1.5)]


WRITER = textwrap.dedent(
    """
    import sys
    from cockpit.store import Store
    from cockpit.models import CommandOrigin, CommandStatus
    store = Store.open(sys.argv[1])
    for i in range(int(sys.argv[3])):
        store.insert_command("test", sys.argv[2], "noop", {"i": i},
                             CommandStatus.PENDING, CommandOrigin.USER)
    store.close()
    """
)


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    Store.open(path).close()
    per_writer = 300
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), name, str(per_writer)],
            cwd=ROOT,
            stderr=subprocess.PIPE,
        )
        for name in ("writer-a", "writer-b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    with Store.open(path) as store:
        commands = store.list_commands(limit=10_000)
        assert len(commands) == 2 * per_writer
        assert len({c.id for c in commands}) == 2 * per_writer
        for name in ("writer-a", "writer-b"):
            seen = sorted(c.payload["i"] for c in commands if c.backend == name)
            assert seen == list(range(per_writer))
        assert store.integrity_check() == "ok"


KILLED_MID_TRANSACTION = textwrap.dedent(
    """
    import sys, time
    from cockpit.store import Store
    from cockpit.models import Host
    store = Store.open(sys.argv[1])
    with store.write() as conn:
        for i in range(5000):
            conn.execute("INSERT INTO hosts(name, kind, address, created_at) "
                         "VALUES (?, 'ssh', 'x', 0)", (f"partial-{i}",))
        print("inside", flush=True)
        time.sleep(60)
    """
)


def test_process_killed_mid_transaction_leaves_an_intact_database(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    with Store.open(path) as store:
        store.add_host(Host(name="kept", address="10.0.0.1"))
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_MID_TRANSACTION, str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"inside"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with Store.open(path) as store:
        assert store.integrity_check() == "ok"
        assert [h.name for h in store.list_hosts()] == ["kept"]
        # And the file is writable again: the dead writer's lock is gone.
        store.insert_command("t", "b", "k", {}, CommandStatus.PENDING, CommandOrigin.USER)


def test_the_poller_reads_only_unsettled_runs(store: Store) -> None:
    # What a poller must see: runs not ended, and ended runs whose results are still to
    # collect; not the months of settled history (nor lost runs, which have none).
    states = {
        "queued": RunState.QUEUED,
        "running": RunState.RUNNING,
        "unreachable": RunState.UNREACHABLE,
        "ended-uncollected": RunState.SUCCEEDED,
        "ended-collected": RunState.SUCCEEDED,
        "failed-collected": RunState.FAILED,
        "lost": RunState.LOST,
    }
    for name, state in states.items():
        spec = RunSpec(name=name, command="true")
        store.upsert_run(Run(id=name, spec=spec, state=state, gpu_ids=(1,)))
    store.mark_results_collected("ended-collected", 1.0)
    store.mark_results_collected("failed-collected", 1.0)
    unsettled = store.list_unsettled_runs()
    assert [r.id for r in unsettled] == ["queued", "running", "unreachable", "ended-uncollected"]
    by_id = {r.id: r for r in store.list_runs()}
    assert all(r == by_id[r.id] for r in unsettled)  # the same runs as list_runs reads
