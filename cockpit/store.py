"""The SQLite store: one file holds backends, runs, results, ideas, drafts and the command log.

One place opens connections (`Store.open`). Every write goes through `Store.write()`, a
`BEGIN IMMEDIATE` transaction, so two cockpit processes on one file serialize their writes
instead of failing on a lock upgrade; WAL lets readers go on meanwhile. The schema is
versioned with `PRAGMA user_version` and migrated forward on open, each step atomic.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cockpit.models import (
    ClaimSource,
    Command,
    CommandOrigin,
    CommandStatus,
    Draft,
    DraftVersion,
    EvalItem,
    Host,
    HostKind,
    Idea,
    LlmBackend,
    LlmCall,
    LlmCallStatus,
    LlmReservation,
    MetricPoint,
    MetricRow,
    NoveltyCheck,
    Paper,
    Review,
    Run,
    RunSpec,
    RunState,
    Sweep,
)
from cockpit.validate import shown

if TYPE_CHECKING:
    import sqlite_utils

BUSY_TIMEOUT_MS = 10_000


class StoreError(Exception):
    """A database problem worth one line to the user (bad path, not a database, too new)."""


class NotFoundError(StoreError):
    pass


class DuplicateError(StoreError):
    pass


# Each entry moves the schema from version i to i+1. Never edit a released step: append one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the data model of DESIGN.md
    (
        """CREATE TABLE hosts (
            name TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('ssh','slurm','local','demo')),
            address TEXT NOT NULL DEFAULT '',
            user TEXT, port INTEGER, jump TEXT, identity_file TEXT,
            gpus INTEGER, labels TEXT NOT NULL DEFAULT '[]',
            read_only INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL)""",
        """CREATE TABLE llm_backends (
            name TEXT PRIMARY KEY, model TEXT NOT NULL, api_base TEXT,
            api_key_env TEXT, budget_usd REAL, created_at REAL NOT NULL)""",
        """CREATE TABLE sweeps (
            name TEXT PRIMARY KEY, factors TEXT NOT NULL DEFAULT '{}', baseline TEXT,
            primary_metric TEXT, thresholds TEXT NOT NULL DEFAULT '{}', created_at REAL)""",
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            sweep TEXT REFERENCES sweeps(name) ON DELETE SET NULL,
            spec TEXT NOT NULL, host TEXT, state TEXT NOT NULL, remote_dir TEXT,
            gpu_ids TEXT NOT NULL DEFAULT '[]', pid INTEGER, job_id TEXT, exit_code INTEGER,
            started_at REAL, ended_at REAL, provenance TEXT NOT NULL DEFAULT '{}')""",
        "CREATE INDEX runs_sweep ON runs(sweep)",
        """CREATE TABLE metrics (
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            step INTEGER NOT NULL, name TEXT NOT NULL, value REAL,
            PRIMARY KEY (run_id, name, step)) WITHOUT ROWID""",
        """CREATE TABLE eval_items (
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            task TEXT NOT NULL, item_id TEXT NOT NULL, score REAL,
            PRIMARY KEY (run_id, task, item_id)) WITHOUT ROWID""",
        """CREATE TABLE ideas (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
            experiment TEXT NOT NULL DEFAULT '', interestingness INTEGER, feasibility INTEGER,
            novelty INTEGER, novel INTEGER, status TEXT NOT NULL DEFAULT 'new',
            source TEXT NOT NULL DEFAULT 'user', created_at REAL NOT NULL)""",
        """CREATE TABLE gpu_samples (
            host TEXT NOT NULL, gpu_index INTEGER NOT NULL, ts REAL NOT NULL,
            utilization_pct REAL, memory_used_mib REAL, memory_total_mib REAL,
            power_w REAL, temperature_c REAL)""",
        "CREATE INDEX gpu_samples_host_ts ON gpu_samples(host, ts)",
        """CREATE TABLE commands (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            pane TEXT NOT NULL, backend TEXT NOT NULL, kind TEXT NOT NULL,
            payload TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL,
            origin TEXT NOT NULL DEFAULT 'user', result TEXT, error TEXT,
            created_at REAL NOT NULL, started_at REAL, finished_at REAL)""",
        """CREATE TABLE llm_calls (
            id INTEGER PRIMARY KEY, backend TEXT NOT NULL, model TEXT,
            prompt_tokens INTEGER, completion_tokens INTEGER, cost_usd REAL, latency_s REAL,
            command_id INTEGER REFERENCES commands(id), created_at REAL NOT NULL)""",
        """CREATE TABLE drafts (
            name TEXT PRIMARY KEY, title TEXT NOT NULL DEFAULT '', created_at REAL)""",
        """CREATE TABLE draft_versions (
            draft TEXT NOT NULL REFERENCES drafts(name) ON DELETE CASCADE,
            version INTEGER NOT NULL, text TEXT NOT NULL, message TEXT NOT NULL DEFAULT '',
            created_at REAL, PRIMARY KEY (draft, version))""",
    ),
    # 2: UI preferences (theme) survive restarts; the audit view filters by status; a
    # running command records which process runs it, so a second cockpit on the same file
    # does not mistake a live command for one orphaned by a crash.
    (
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE INDEX commands_status ON commands(status)",
        "ALTER TABLE commands ADD COLUMN owner TEXT",
    ),
    # 3: launched runs: a relaunch is a new attempt linked to the run it repeats, and a
    # run records when its results were collected, so a finished run whose host was down
    # at the time is collected later, once.
    (
        "ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE runs ADD COLUMN relaunch_of TEXT",
        "ALTER TABLE runs ADD COLUMN results_at REAL",
        "CREATE INDEX runs_state ON runs(state)",
    ),
    # 4: LLM calls say what they were for and how they ended (usage per pane, per idea;
    # budget stops); ideas get the queue's fields, what their file held (so an export gives
    # back the import) and their novelty check. 'queued' became 'approved'.
    (
        "ALTER TABLE llm_calls ADD COLUMN pane TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE llm_calls ADD COLUMN purpose TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE llm_calls ADD COLUMN idea TEXT",
        "ALTER TABLE llm_calls ADD COLUMN draft TEXT",
        "ALTER TABLE llm_calls ADD COLUMN status TEXT NOT NULL DEFAULT 'ok'",
        "ALTER TABLE llm_calls ADD COLUMN error TEXT",
        "CREATE INDEX llm_calls_backend_time ON llm_calls(backend, created_at)",
        "ALTER TABLE ideas ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE ideas ADD COLUMN notes TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE ideas ADD COLUMN sweeps TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE ideas ADD COLUMN reasoning TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE ideas ADD COLUMN fields TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE ideas ADD COLUMN novelty_check TEXT",
        "UPDATE ideas SET status = 'approved' WHERE status = 'queued'",
    ),
    # 5: what the cockpit read out of run logs: warning flags with the line to jump to, and
    # per run how far its log was parsed with the parser's state, so only new bytes are read
    # (also after a restart) and a finished log is not read again.
    (
        """CREATE TABLE log_flags (
            run_id TEXT NOT NULL, kind TEXT NOT NULL, line INTEGER NOT NULL,
            text TEXT NOT NULL, PRIMARY KEY (run_id, kind, line))""",
        """CREATE TABLE log_scans (
            run_id TEXT PRIMARY KEY, byte_offset INTEGER NOT NULL, state TEXT NOT NULL,
            grew_at REAL, finished INTEGER NOT NULL DEFAULT 0)""",
    ),
    # 6: paper drafts: a draft knows its main .tex file, a version says where it came from
    # (a snapshot of the file, the one taken before an edit is written); reviews are kept
    # per version, and the claim check remembers which result each number matched, so a
    # number whose result later changes is reported as stale rather than invented.
    (
        "ALTER TABLE drafts ADD COLUMN path TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE draft_versions ADD COLUMN source TEXT NOT NULL DEFAULT ''",
        """CREATE TABLE draft_reviews (
            draft TEXT NOT NULL REFERENCES drafts(name) ON DELETE CASCADE,
            version INTEGER NOT NULL, idx INTEGER NOT NULL, fields TEXT NOT NULL,
            backend TEXT NOT NULL DEFAULT '', cost_usd REAL NOT NULL DEFAULT 0,
            created_at REAL NOT NULL, PRIMARY KEY (draft, version, idx))""",
        """CREATE TABLE draft_claims (
            draft TEXT NOT NULL REFERENCES drafts(name) ON DELETE CASCADE,
            claim_key TEXT NOT NULL, run_id TEXT NOT NULL, metric TEXT NOT NULL,
            what TEXT NOT NULL, value REAL NOT NULL, checked_at REAL NOT NULL,
            PRIMARY KEY (draft, claim_key))""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


# PRAGMA application_id marks a file as ours ("LCKP"), so the cockpit never migrates another
# application's SQLite database that happens to sit at --db.
APPLICATION_ID = 0x4C434B50
# Tables every cockpit database has had since schema version 1: a database written before the
# application_id mark is recognised by them.
COCKPIT_TABLES = frozenset({"hosts", "llm_backends", "sweeps", "runs", "commands"})


def _check_path(path: Path) -> None:
    """Refuse what SQLite would hang on or misread: FIFOs, devices, folders, missing folders."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise StoreError(
                f"cannot open database {path}: directory {path.parent} does not exist"
            ) from None
        return
    except OSError as exc:
        raise StoreError(f"cannot open database {path}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise StoreError(f"cannot open database {path}: it is a directory")
    if not stat.S_ISREG(mode):
        # Opening a FIFO blocks until a writer appears; a device is never a database.
        raise StoreError(f"cannot open database {path}: not a regular file")
    try:
        with path.open("rb") as fh:
            fh.read(16)
    except OSError as exc:
        raise StoreError(f"cannot open database {path}: {exc.strerror}") from None


def _is_read_only(path: Path) -> bool:
    """True when this process may read the file but not write it, or not create its WAL files."""
    if not path.exists():
        return False
    if not os.access(path, os.W_OK):
        return True
    wal = path.with_name(path.name + "-wal")
    return not os.access(path.parent, os.W_OK) and not wal.exists()


def _connect(path: Path, read_only: bool) -> sqlite3.Connection:
    if not read_only:
        return sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
    uri = f"{path.resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        # A WAL database in a folder we cannot write has no -shm file to map: SQLite can
        # read it only as immutable, which is what it is for this process.
        conn.close()
        return sqlite3.connect(
            f"{uri}&immutable=1", uri=True, isolation_level=None, check_same_thread=False
        )


def _check_ownership(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse another application's database: ours is marked, legacy ours has our tables."""
    application_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    if application_id == APPLICATION_ID:
        return
    if application_id != 0:
        raise StoreError(
            f"{path} belongs to another application (application_id {application_id:#x}), "
            "not a cockpit database; nothing was changed"
        )
    tables = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if not tables:
        return
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version >= 1 and tables >= COCKPIT_TABLES:
        return
    shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
    raise StoreError(
        f"{path} is another application's SQLite database (tables: {shown}), not a cockpit "
        "database; nothing was changed"
    )


class Store:
    """Typed access to the cockpit database. Thread-safe: one connection behind a lock."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        # Reads work on a file we may not write; every write is refused in one line.
        self.read_only = read_only
        self._conn = conn
        self._lock = threading.RLock()

    @cached_property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils over the same connection, for upserts and introspection.

        Imported on first use: sqlite_utils pulls in numpy (and pandas when present), which
        would otherwise sit on the cockpit's start-up path.
        """
        import sqlite_utils

        return sqlite_utils.Database(self._conn)

    # -- opening -----------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, migrate: bool = True) -> Store:
        """Open (or create) a cockpit database; a file we may not write opens read-only."""
        path = Path(path).expanduser()
        _check_path(path)
        read_only = _is_read_only(path)
        try:
            conn = _connect(path, read_only)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {path}: {exc}") from None
        try:
            # Reading the schema first fails on a non-SQLite file before anything is written.
            conn.execute("PRAGMA schema_version").fetchone()
            _check_ownership(conn, path)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"database {path} has schema version {version}, newer than this cockpit "
                    f"understands ({SCHEMA_VERSION}); upgrade lab-cockpit"
                )
            if read_only and migrate and version < SCHEMA_VERSION:
                raise StoreError(
                    f"{path}: read-only database at schema version {version}; this cockpit "
                    f"needs {SCHEMA_VERSION}: open it once with write access to upgrade it"
                )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            if not read_only:
                if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                    raise StoreError(f"database {path}: could not switch to WAL journaling")
                conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(f"{path} is not a cockpit database ({exc})") from None
        except StoreError:
            conn.close()
            raise
        store = cls(conn, path, read_only=read_only)
        if migrate and not read_only:
            store.migrate()
        return store

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self, target: int = SCHEMA_VERSION) -> None:
        """Apply the missing migration steps, each in its own transaction."""
        while True:
            with self.write() as conn:
                # Re-read inside the lock: another process may have migrated meanwhile.
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                if int(conn.execute("PRAGMA application_id").fetchone()[0]) != APPLICATION_ID:
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                if version >= target:
                    return
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. BEGIN IMMEDIATE takes the write lock up front."""
        if self.read_only:
            raise StoreError(f"cannot change {self.path}: read-only database")
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            cursor = self._conn.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def integrity_check(self) -> str:
        with self._lock:
            return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    # -- settings ------------------------------------------------------------------------

    def get_setting(self, key: str, default: Any = None) -> Any:
        rows = self._query("SELECT value FROM settings WHERE key = ?", (key,))
        return json.loads(rows[0]["value"]) if rows else default

    def set_setting(self, key: str, value: Any) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO settings(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    # -- hosts ---------------------------------------------------------------------------

    def add_host(self, host: Host, *, replace: bool = False) -> None:
        row = {
            "name": host.name,
            "kind": str(host.kind),
            "address": host.address,
            "user": host.user,
            "port": host.port,
            "jump": host.jump,
            "identity_file": host.identity_file,
            "gpus": host.gpus,
            "labels": json.dumps(list(host.labels)),
            "read_only": int(host.read_only),
            "created_at": time.time(),
        }
        with self.write() as conn:
            exists = conn.execute("SELECT 1 FROM hosts WHERE name = ?", (host.name,)).fetchone()
            if exists and not replace:
                raise DuplicateError(f"host {shown(host.name)} already exists")
            self.db["hosts"].upsert(row, pk="name")

    def get_host(self, name: str) -> Host:
        rows = self._query("SELECT * FROM hosts WHERE name = ?", (name,))
        if not rows:
            raise NotFoundError(f"no host named {shown(name)}")
        return _host_from_row(rows[0])

    def list_hosts(self) -> list[Host]:
        return [_host_from_row(r) for r in self._query("SELECT * FROM hosts ORDER BY name")]

    def remove_host(self, name: str) -> None:
        with self.write() as conn:
            if conn.execute("DELETE FROM hosts WHERE name = ?", (name,)).rowcount == 0:
                raise NotFoundError(f"no host named {shown(name)}")

    # -- LLM backends --------------------------------------------------------------------

    def add_llm_backend(self, backend: LlmBackend) -> None:
        with self.write() as conn:
            exists = conn.execute(
                "SELECT 1 FROM llm_backends WHERE name = ?", (backend.name,)
            ).fetchone()
            if exists:
                raise DuplicateError(f"LLM backend {shown(backend.name)} already exists")
            self.db["llm_backends"].insert(
                {
                    "name": backend.name,
                    "model": backend.model,
                    "api_base": backend.api_base,
                    "api_key_env": backend.api_key_env,
                    "budget_usd": backend.budget_usd,
                    "created_at": time.time(),
                }
            )

    def list_llm_backends(self) -> list[LlmBackend]:
        return [
            LlmBackend(
                name=r["name"],
                model=r["model"],
                api_base=r["api_base"],
                api_key_env=r["api_key_env"],
                budget_usd=r["budget_usd"],
            )
            for r in self._query("SELECT * FROM llm_backends ORDER BY name")
        ]

    def set_llm_budget(self, name: str, budget_usd: float | None) -> None:
        with self.write() as conn:
            cur = conn.execute(
                "UPDATE llm_backends SET budget_usd = ? WHERE name = ?", (budget_usd, name)
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no LLM backend named {shown(name)}")

    def remove_llm_backend(self, name: str) -> None:
        with self.write() as conn:
            if conn.execute("DELETE FROM llm_backends WHERE name = ?", (name,)).rowcount == 0:
                raise NotFoundError(f"no LLM backend named {shown(name)}")

    # -- sweeps and runs -----------------------------------------------------------------

    def upsert_sweep(self, sweep: Sweep) -> None:
        with self.write():
            self.db["sweeps"].upsert(
                {
                    "name": sweep.name,
                    "factors": json.dumps(sweep.factors),
                    "baseline": sweep.baseline,
                    "primary_metric": sweep.primary_metric,
                    "thresholds": json.dumps(sweep.thresholds),
                    "created_at": sweep.created_at,
                },
                pk="name",
            )

    def list_sweeps(self) -> list[Sweep]:
        return [
            Sweep(
                name=r["name"],
                factors=json.loads(r["factors"]),
                baseline=r["baseline"],
                primary_metric=r["primary_metric"],
                thresholds=json.loads(r["thresholds"]),
                created_at=r["created_at"],
            )
            for r in self._query("SELECT * FROM sweeps ORDER BY created_at, name")
        ]

    def upsert_run(self, run: Run) -> None:
        with self.write():
            self.db["runs"].upsert(_run_to_row(run), pk="id")

    def get_run(self, run_id: str) -> Run:
        rows = self._query("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise NotFoundError(f"no run {shown(run_id)}")
        return _run_from_row(rows[0])

    def list_runs(self, sweep: str | None = None, state: RunState | None = None) -> list[Run]:
        where, params = [], []
        if sweep is not None:
            where.append("sweep = ?")
            params.append(sweep)
        if state is not None:
            where.append("state = ?")
            params.append(str(state))
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        order = "ORDER BY rowid" if sweep is not None else "ORDER BY sweep, rowid"
        rows = self._query(f"SELECT * FROM runs {clause}{order}", params)
        return [_run_from_row(r) for r in rows]

    def list_unsettled_runs(self) -> list[Run]:
        """Runs a poller still has business with: those not ended, and those ended whose
        results were not collected yet. A store holding months of finished runs reads
        only these on every poll."""
        ended = [str(state) for state in RunState if state.terminal]
        marks = ", ".join("?" for _ in ended)
        rows = self._query(
            f"SELECT * FROM runs WHERE state NOT IN ({marks}) "
            "OR (results_at IS NULL AND state != ?) ORDER BY sweep, rowid",
            [*ended, str(RunState.LOST)],
        )
        return [_run_from_row(r) for r in rows]

    def insert_new_runs(self, runs: Sequence[Run]) -> list[str]:
        """Record runs that are not in the store yet; returns the ids that were new.

        A launch retried with the same run ids leaves the recorded runs as they are.
        """
        added: list[str] = []
        with self.write() as conn:
            for run in runs:
                row = _run_to_row(run)
                names = ", ".join(row)
                marks = ", ".join(f":{k}" for k in row)
                cur = conn.execute(f"INSERT OR IGNORE INTO runs({names}) VALUES ({marks})", row)
                if cur.rowcount:
                    added.append(run.id)
        return added

    def find_run(self, ref: str) -> Run:
        """A run by id, else by its unique name (the latest attempt of that name)."""
        rows = self._query("SELECT * FROM runs WHERE id = ?", (ref,))
        if not rows:
            rows = self._query(
                "SELECT * FROM runs r WHERE json_extract(spec, '$.name') = ? AND NOT EXISTS "
                "(SELECT 1 FROM runs n WHERE n.relaunch_of = r.id)",
                (ref,),
            )
        if not rows:
            raise NotFoundError(f"no run with id or name {shown(ref)}")
        if len(rows) > 1:
            ids = ", ".join(sorted(r["id"] for r in rows)[:4])
            raise StoreError(f"run name {shown(ref)} is ambiguous ({ids}); give a run id")
        return _run_from_row(rows[0])

    def mark_results_collected(self, run_id: str, at: float) -> None:
        with self.write() as conn:
            conn.execute("UPDATE runs SET results_at = ? WHERE id = ?", (at, run_id))

    def set_run_state(
        self,
        run_id: str,
        state: RunState,
        *,
        exit_code: int | None = None,
        started_at: float | None = None,
        ended_at: float | None = None,
        gpu_ids: Sequence[int] | None = None,
    ) -> None:
        fields: dict[str, Any] = {"state": str(state)}
        if gpu_ids is not None:
            fields["gpu_ids"] = json.dumps(list(gpu_ids))
        if exit_code is not None:
            fields["exit_code"] = exit_code
        if started_at is not None:
            fields["started_at"] = started_at
        if ended_at is not None:
            fields["ended_at"] = ended_at
        sets = ", ".join(f"{k} = :{k}" for k in fields)
        with self.write() as conn:
            cur = conn.execute(f"UPDATE runs SET {sets} WHERE id = :id", {**fields, "id": run_id})
            if cur.rowcount == 0:
                raise NotFoundError(f"no run {shown(run_id)}")

    # -- metrics and per-item evals ------------------------------------------------------

    def add_metrics(self, points: Iterable[MetricPoint]) -> None:
        touched: set[tuple[str, str]] = set()

        def rows() -> Iterator[tuple[str, int, str, float]]:
            for p in points:
                touched.add((p.run_id, p.name))
                yield (p.run_id, p.step, p.name, p.value)

        with self.write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO metrics(run_id, step, name, value) VALUES (?, ?, ?, ?)",
                rows(),
            )
            bound_series(conn, touched)

    def final_metrics(self, run_ids: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
        """The last recorded value (highest step) of every metric of each run."""
        sql = """
            SELECT m.run_id, m.name, m.value FROM metrics m
            JOIN (SELECT run_id, name, MAX(step) AS step FROM metrics GROUP BY run_id, name) last
              ON m.run_id = last.run_id AND m.name = last.name AND m.step = last.step"""
        out: dict[str, dict[str, float]] = {}
        wanted = set(run_ids) if run_ids is not None else None
        for r in self._query(sql):
            if wanted is None or r["run_id"] in wanted:
                out.setdefault(r["run_id"], {})[r["name"]] = r["value"]
        return out

    # -- what run logs said -----------------------------------------------------------------

    def log_scan(self, run_id: str) -> dict[str, Any] | None:
        """How far the run's log was parsed: byte_offset, state (JSON), grew_at, finished."""
        rows = self._query("SELECT * FROM log_scans WHERE run_id = ?", (run_id,))
        return rows[0] if rows else None

    def save_log_scan(
        self,
        run_id: str,
        byte_offset: int,
        state: str,
        grew_at: float | None,
        finished: bool,
        points: Sequence[MetricRow] = (),
        flags: Iterable[tuple[str, int, str]] = (),
        clear_kinds: Iterable[str] = (),
    ) -> None:
        """One parsed stretch of a log, its points and flags, and where parsing got to, in one
        transaction: a crash never leaves points recorded without the offset past them."""
        with self.write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO metrics(run_id, step, name, value) VALUES (?, ?, ?, ?)",
                points,
            )
            bound_series(conn, set(map(itemgetter(0, 2), points)))
            for kind in clear_kinds:
                conn.execute("DELETE FROM log_flags WHERE run_id = ? AND kind = ?", (run_id, kind))
            conn.executemany(
                "INSERT OR REPLACE INTO log_flags(run_id, kind, line, text) VALUES (?, ?, ?, ?)",
                ((run_id, kind, line, text) for kind, line, text in flags),
            )
            conn.execute(
                "INSERT OR REPLACE INTO log_scans(run_id, byte_offset, state, grew_at, finished)"
                " VALUES (?, ?, ?, ?, ?)",
                (run_id, byte_offset, state, grew_at, int(finished)),
            )

    def log_flags(self, run_ids: Sequence[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        """Flags by run, in log order: {kind, line, text}."""
        out: dict[str, list[dict[str, Any]]] = {}
        wanted = set(run_ids) if run_ids is not None else None
        for r in self._query("SELECT * FROM log_flags ORDER BY run_id, line"):
            if wanted is None or r["run_id"] in wanted:
                out.setdefault(r["run_id"], []).append(
                    {"kind": r["kind"], "line": r["line"], "text": r["text"]}
                )
        return out

    def metric_names(self, run_ids: Sequence[str], min_points: int = 1) -> list[str]:
        """Every metric one of these runs logged at least `min_points` times (a chart wants
        2: a value printed once, like a batch size, is no curve)."""
        names: set[str] = set()
        for start in range(0, len(run_ids), 400):
            chunk = list(run_ids[start : start + 400])
            marks = ", ".join("?" * len(chunk))
            rows = self._query(
                f"SELECT name FROM metrics WHERE run_id IN ({marks}) "
                "GROUP BY run_id, name HAVING COUNT(*) >= ?",
                [*chunk, min_points],
            )
            names.update(r["name"] for r in rows)
        return sorted(names)

    def metric_series(self, run_id: str, name: str) -> list[tuple[int, float]]:
        rows = self._query(
            "SELECT step, value FROM metrics WHERE run_id = ? AND name = ? ORDER BY step",
            (run_id, name),
        )
        return [(r["step"], r["value"]) for r in rows]

    def add_eval_items(self, items: Iterable[EvalItem]) -> None:
        with self.write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO eval_items(run_id, task, item_id, score) "
                "VALUES (?, ?, ?, ?)",
                ((i.run_id, i.task, i.item_id, i.score) for i in items),
            )

    def eval_scores(self, run_id: str, task: str) -> dict[str, float]:
        rows = self._query(
            "SELECT item_id, score FROM eval_items WHERE run_id = ? AND task = ?", (run_id, task)
        )
        return {r["item_id"]: r["score"] for r in rows}

    # -- ideas ---------------------------------------------------------------------------

    _IDEA_COLUMNS = (
        "name, title, experiment, interestingness, feasibility, novelty, novel, status, "
        "source, priority, notes, sweeps, reasoning, fields, novelty_check, created_at"
    )
    _IDEA_VALUES = (
        ":name, :title, :experiment, :interestingness, :feasibility, :novelty, :novel, "
        ":status, :source, :priority, :notes, :sweeps, :reasoning, :fields, :novelty_check, "
        ":created_at"
    )
    # What a file or a model says about an idea; the queue's own fields (status, priority,
    # notes, sweeps, the novelty check) are a person's and survive a re-import.
    _IDEA_UPSERT = (
        f"INSERT INTO ideas({_IDEA_COLUMNS}) VALUES ({_IDEA_VALUES}) "
        "ON CONFLICT(name) DO UPDATE SET title = excluded.title, "
        "experiment = excluded.experiment, interestingness = excluded.interestingness, "
        "feasibility = excluded.feasibility, novelty = excluded.novelty, "
        "novel = COALESCE(excluded.novel, ideas.novel), source = excluded.source, "
        "reasoning = excluded.reasoning, fields = excluded.fields"
    )

    def add_idea(self, idea: Idea) -> None:
        with self.write() as conn:
            if conn.execute("SELECT 1 FROM ideas WHERE name = ?", (idea.name,)).fetchone():
                raise DuplicateError(f"idea {shown(idea.name)} already exists")
            conn.execute(
                f"INSERT INTO ideas({self._IDEA_COLUMNS}) VALUES ({self._IDEA_VALUES})",
                _idea_to_row(idea),
            )

    def upsert_idea(self, idea: Idea) -> None:
        """Insert an idea, or update what its source says while keeping the queue's fields."""
        self.import_ideas([idea])

    def import_ideas(self, ideas: Iterable[Idea]) -> None:
        """Ideas from a file or a model, all in one transaction (see _IDEA_UPSERT)."""
        with self.write() as conn:
            conn.executemany(self._IDEA_UPSERT, [_idea_to_row(i) for i in ideas])

    def save_idea(self, idea: Idea) -> None:
        """Replace every field of an existing idea (a person's edit)."""
        row = _idea_to_row(idea)
        sets = ", ".join(f"{k} = :{k}" for k in row if k not in ("name", "created_at"))
        with self.write() as conn:
            if conn.execute(f"UPDATE ideas SET {sets} WHERE name = :name", row).rowcount == 0:
                raise NotFoundError(f"no idea named {shown(idea.name)}")

    def get_idea(self, name: str) -> Idea:
        rows = self._query("SELECT * FROM ideas WHERE name = ?", (name,))
        if not rows:
            raise NotFoundError(f"no idea named {shown(name)}")
        return _idea_from_row(rows[0])

    def list_ideas(self) -> list[Idea]:
        return [_idea_from_row(r) for r in self._query("SELECT * FROM ideas ORDER BY id")]

    def remove_idea(self, name: str) -> None:
        with self.write() as conn:
            if conn.execute("DELETE FROM ideas WHERE name = ?", (name,)).rowcount == 0:
                raise NotFoundError(f"no idea named {shown(name)}")

    # -- LLM calls -----------------------------------------------------------------------

    def add_llm_call(self, call: LlmCall) -> int:
        with self.write() as conn:
            return self._insert_llm_call(conn, call)

    def reserve_llm_call(self, call: LlmCall) -> LlmReservation:
        """Hold `call.cost_usd` (its worst case) against its backend's budget, atomically.

        The budget check and the pending row are one write transaction, so two calls sent at
        once, from two tasks or two processes, can never together cross the budget: the
        second sees the first's reservation. Refused: no row is written (the caller logs it).
        """
        worst = call.cost_usd or 0.0
        with self.write() as conn:
            found = conn.execute(
                "SELECT budget_usd FROM llm_backends WHERE name = ?", (call.backend,)
            ).fetchone()
            budget = None if found is None or found[0] is None else float(found[0])
            spent = float(
                conn.execute(
                    "SELECT COALESCE(SUM(cost_usd), 0) FROM llm_calls WHERE backend = ?",
                    (call.backend,),
                ).fetchone()[0]
            )
            if budget is not None and (spent >= budget or spent + worst > budget):
                return LlmReservation(None, spent, budget, worst)
            pending = dataclasses.replace(call, status=LlmCallStatus.PENDING, cost_usd=worst)
            return LlmReservation(self._insert_llm_call(conn, pending), spent, budget, worst)

    def settle_llm_call(self, call_id: int, call: LlmCall) -> None:
        """Replace a reservation with how the call ended and what it really cost."""
        row = self._llm_call_row(call)
        sets = ", ".join(f"{k} = :{k}" for k in row)
        with self.write() as conn:
            conn.execute(f"UPDATE llm_calls SET {sets} WHERE id = :id", {**row, "id": call_id})

    @staticmethod
    def _llm_call_row(call: LlmCall) -> dict[str, Any]:
        return {
            "backend": call.backend,
            "model": call.model,
            "pane": call.pane,
            "purpose": call.purpose,
            "idea": call.idea,
            "draft": call.draft,
            "prompt_tokens": call.prompt_tokens,
            "completion_tokens": call.completion_tokens,
            "cost_usd": call.cost_usd,
            "latency_s": call.latency_s,
            "status": str(call.status),
            "error": call.error,
            "command_id": call.command_id,
            "created_at": call.created_at or time.time(),
        }

    def _insert_llm_call(self, conn: sqlite3.Connection, call: LlmCall) -> int:
        row = self._llm_call_row(call)
        names = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        cur = conn.execute(f"INSERT INTO llm_calls({names}) VALUES ({marks})", row)
        return int(cur.lastrowid or 0)

    def llm_calls(self, since: float = 0.0, backend: str | None = None) -> list[LlmCall]:
        sql = "SELECT * FROM llm_calls WHERE created_at >= ?"
        params: list[Any] = [since]
        if backend is not None:
            sql += " AND backend = ?"
            params.append(backend)
        rows = self._query(sql + " ORDER BY created_at, id", params)
        return [
            LlmCall(
                id=r["id"],
                backend=r["backend"],
                model=r["model"] or "",
                status=LlmCallStatus(r["status"]),
                pane=r["pane"],
                purpose=r["purpose"],
                idea=r["idea"],
                draft=r["draft"],
                prompt_tokens=r["prompt_tokens"] or 0,
                completion_tokens=r["completion_tokens"] or 0,
                cost_usd=r["cost_usd"],
                latency_s=r["latency_s"] or 0.0,
                error=r["error"],
                command_id=r["command_id"],
                created_at=r["created_at"],
            )
            for r in rows
        ]

    def llm_spent(self, backend: str) -> float:
        """USD a backend's priced calls have cost so far, calls in flight at their worst
        case (what its budget is held against)."""
        rows = self._query(
            "SELECT COALESCE(SUM(cost_usd), 0) AS spent FROM llm_calls WHERE backend = ?",
            (backend,),
        )
        return float(rows[0]["spent"])

    def get_llm_backend(self, name: str) -> LlmBackend:
        for backend in self.list_llm_backends():
            if backend.name == name:
                return backend
        raise NotFoundError(f"no LLM backend named {shown(name)}")

    # -- drafts --------------------------------------------------------------------------

    def add_draft(self, draft: Draft) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO drafts(name, title, created_at, path) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET path = excluded.path, title = excluded.title",
                (draft.name, draft.title, draft.created_at, draft.path),
            )

    def list_drafts(self) -> list[Draft]:
        return [
            Draft(name=r["name"], path=r["path"], title=r["title"], created_at=r["created_at"] or 0)
            for r in self._query("SELECT * FROM drafts ORDER BY name")
        ]

    def get_draft(self, name: str) -> Draft:
        for draft in self.list_drafts():
            if draft.name == name:
                return draft
        raise NotFoundError(
            f"no draft named {shown(name)} (`cockpit paper add NAME PATH` adds one)"
        )

    def add_draft_version(self, version: DraftVersion, title: str = "") -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO drafts(name, title, created_at) VALUES (?, ?, ?)",
                (version.draft, title, version.created_at),
            )
            conn.execute(
                "INSERT OR REPLACE INTO draft_versions"
                "(draft, version, text, message, created_at, source) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    version.draft,
                    version.version,
                    version.text,
                    version.message,
                    version.created_at,
                    version.source,
                ),
            )

    def append_draft_version(
        self, draft: str, text: str, message: str, source: str, now: float
    ) -> DraftVersion | None:
        """A new version numbered after the last, unless the text equals the last version's
        (then None): one transaction, so two cockpits never take the same number."""
        with self.write() as conn:
            row = conn.execute(
                "SELECT version, text FROM draft_versions WHERE draft = ?"
                " ORDER BY version DESC LIMIT 1",
                (draft,),
            ).fetchone()
            if row is not None and row[1] == text:
                return None
            version = DraftVersion(draft, (row[0] if row else 0) + 1, text, message, now, source)
            conn.execute(
                "INSERT INTO draft_versions(draft, version, text, message, created_at, source)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (draft, version.version, text, message, now, source),
            )
            return version

    def list_draft_versions(self, draft: str | None = None) -> list[DraftVersion]:
        if draft is None:
            rows = self._query("SELECT * FROM draft_versions ORDER BY draft, version")
        else:
            rows = self._query(
                "SELECT * FROM draft_versions WHERE draft = ? ORDER BY version", (draft,)
            )
        return [
            DraftVersion(
                draft=r["draft"],
                version=r["version"],
                text=r["text"],
                message=r["message"],
                created_at=r["created_at"] or 0.0,
                source=r["source"],
            )
            for r in rows
        ]

    def add_review(self, review: Review) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO draft_reviews"
                "(draft, version, idx, fields, backend, cost_usd, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    review.draft,
                    review.version,
                    review.index,
                    json.dumps(review.fields),
                    review.backend,
                    review.cost_usd,
                    review.created_at,
                ),
            )

    def list_reviews(self, draft: str) -> list[Review]:
        rows = self._query(
            "SELECT * FROM draft_reviews WHERE draft = ? ORDER BY version, idx", (draft,)
        )
        return [
            Review(
                draft=r["draft"],
                version=r["version"],
                index=r["idx"],
                fields=json.loads(r["fields"]),
                backend=r["backend"],
                cost_usd=r["cost_usd"],
                created_at=r["created_at"],
            )
            for r in rows
        ]

    def claim_sources(self, draft: str) -> dict[str, ClaimSource]:
        """What each number of the draft matched at its last check, by claim key."""
        rows = self._query("SELECT * FROM draft_claims WHERE draft = ?", (draft,))
        return {
            r["claim_key"]: ClaimSource(r["run_id"], r["metric"], r["value"], r["what"])
            for r in rows
        }

    def remember_claim_sources(
        self, draft: str, sources: Mapping[str, ClaimSource], now: float
    ) -> None:
        with self.write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO draft_claims"
                "(draft, claim_key, run_id, metric, what, value, checked_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(draft, k, s.run, s.metric, s.what, s.value, now) for k, s in sources.items()],
            )

    # -- commands ------------------------------------------------------------------------

    def insert_command(
        self,
        pane: str,
        backend: str,
        kind: str,
        payload: dict[str, Any],
        status: CommandStatus,
        origin: CommandOrigin,
    ) -> Command:
        now = time.time()
        with self.write() as conn:
            cur = conn.execute(
                "INSERT INTO commands(pane, backend, kind, payload, status, origin, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (pane, backend, kind, json.dumps(payload), str(status), str(origin), now),
            )
            command_id = int(cur.lastrowid or 0)
        return self.get_command(command_id)

    def transition_command(
        self,
        command_id: int,
        expected: CommandStatus,
        new: CommandStatus,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        owner: str | None = None,
    ) -> bool:
        """Compare-and-set: move a command from `expected` to `new`.

        False when another process (or a person) got there first, so a command is never
        started twice.
        """
        now = time.time()
        fields: dict[str, Any] = {"status": str(new)}
        if new is CommandStatus.RUNNING:
            fields["started_at"] = now
            fields["owner"] = owner
        if new.terminal:
            fields["finished_at"] = now
        if result is not None:
            fields["result"] = json.dumps(result)
        if error is not None:
            fields["error"] = error
        sets = ", ".join(f"{k} = :{k}" for k in fields)
        with self.write() as conn:
            cur = conn.execute(
                f"UPDATE commands SET {sets} WHERE id = :id AND status = :expected",
                {**fields, "id": command_id, "expected": str(expected)},
            )
            return cur.rowcount == 1

    def get_command(self, command_id: int) -> Command:
        rows = self._query("SELECT * FROM commands WHERE id = ?", (command_id,))
        if not rows:
            raise NotFoundError(f"no command #{command_id}")
        return _command_from_row(rows[0])

    def list_commands(self, limit: int = 200, status: CommandStatus | None = None) -> list[Command]:
        if status is None:
            rows = self._query("SELECT * FROM commands ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self._query(
                "SELECT * FROM commands WHERE status = ? ORDER BY id DESC LIMIT ?",
                (str(status), limit),
            )
        return [_command_from_row(r) for r in rows]

    def running_command_owners(self) -> dict[int, str | None]:
        rows = self._query("SELECT id, owner FROM commands WHERE status = 'running'")
        return {r["id"]: r["owner"] for r in rows}

    def mark_interrupted(self, command_ids: Iterable[int]) -> list[int]:
        """Commands left `running` by a process that died become interrupted, never re-run."""
        marked: list[int] = []
        with self.write() as conn:
            for command_id in command_ids:
                cur = conn.execute(
                    "UPDATE commands SET status = 'interrupted', finished_at = ?, error = ? "
                    "WHERE id = ? AND status = 'running'",
                    (
                        time.time(),
                        "the cockpit stopped while this command was running; it was not re-run",
                        command_id,
                    ),
                )
                if cur.rowcount:
                    marked.append(command_id)
                    # Its LLM call in flight never settled: it ends failed, still counted at
                    # its most (it was sent, and what it cost is unknown).
                    conn.execute(
                        "UPDATE llm_calls SET status = 'failed', error = ? "
                        "WHERE command_id = ? AND status = 'pending'",
                        ("interrupted: the cockpit stopped during the call", command_id),
                    )
        return marked

    # -- GPU history ---------------------------------------------------------------------

    def add_gpu_samples(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Rows of (host, gpu_index, ts, util, mem_used, mem_total, power, temp)."""
        with self.write() as conn:
            conn.executemany("INSERT INTO gpu_samples VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def gpu_time_between(
        self, since: float, until: float, max_gap_s: float = 300.0
    ) -> list[dict[str, Any]]:
        """Observed and idle seconds per GPU between two times, from gpu_samples.

        Each sample stands for the time until the next one of the same GPU, capped at
        ``max_gap_s`` so that a sampler that was off does not count as hours of idling.
        Idle is as in GpuSample.idle without the process list: util < 5 % and memory < 5 %.
        Rows: host, gpu_index, observed_s, idle_s.
        """
        return self._query(
            """SELECT host, gpu_index,
                   SUM(MIN(next_ts - ts, :gap)) AS observed_s,
                   SUM(CASE WHEN utilization_pct < 5.0 AND (memory_total_mib IS NULL
                            OR memory_total_mib <= 0
                            OR memory_used_mib < 0.05 * memory_total_mib)
                       THEN MIN(next_ts - ts, :gap) ELSE 0 END) AS idle_s
               FROM (SELECT host, gpu_index, ts, utilization_pct, memory_used_mib,
                            memory_total_mib,
                            LEAD(ts) OVER (PARTITION BY host, gpu_index ORDER BY ts) AS next_ts
                       FROM gpu_samples WHERE ts >= :since AND ts < :until)
              WHERE next_ts IS NOT NULL
              GROUP BY host, gpu_index ORDER BY host, gpu_index""",
            {"since": since, "until": until, "gap": max_gap_s},
        )

    # -- results: bulk reads and imports -------------------------------------------------

    def eval_items_for_runs(self, run_ids: Sequence[str]) -> dict[str, dict[str, dict[str, float]]]:
        """Per-item scores of many runs at once: run id -> task -> item id -> score."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        ids = list(run_ids)
        # Chunks stay under SQLite's bound-parameter limit.
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            with self._lock:
                cursor = self._conn.execute(
                    f"SELECT run_id, task, item_id, score FROM eval_items "
                    f"WHERE run_id IN ({marks}) AND score IS NOT NULL",
                    chunk,
                )
                for run_id, task, item_id, score in cursor:
                    out.setdefault(run_id, {}).setdefault(task, {})[item_id] = score
        return out

    def metric_series_for_runs(
        self, run_ids: Sequence[str], names: Sequence[str]
    ) -> dict[str, dict[str, list[tuple[int, float]]]]:
        """Every logged point of some metrics of some runs: run id -> metric -> (step, value)."""
        out: dict[str, dict[str, list[tuple[int, float]]]] = {}
        ids, wanted = list(run_ids), list(names)
        if not wanted:
            return out
        name_marks = ", ".join("?" * len(wanted))
        for start in range(0, len(ids), 400):
            chunk = ids[start : start + 400]
            marks = ", ".join("?" * len(chunk))
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT run_id, name, step, value FROM metrics "
                    f"WHERE run_id IN ({marks}) AND name IN ({name_marks}) "
                    f"AND value IS NOT NULL ORDER BY run_id, name, step",
                    [*chunk, *wanted],
                ).fetchall()
            # A series at a time, its pairs cut out in C: the live chart reads this each
            # time a run logs more, in a thread that shares the GIL with the UI.
            for (run_id, name), series in groupby(rows, itemgetter(0, 1)):
                out.setdefault(run_id, {})[name] = list(map(itemgetter(2, 3), series))
        return out

    def import_runs(
        self,
        sweep: Sweep | None,
        runs: Sequence[tuple[Run, Sequence[MetricPoint], Sequence[EvalItem]]],
    ) -> None:
        """Record imported runs with their metrics and per-item scores in one transaction,
        so an import is all or nothing. Re-importing the same runs replaces them."""
        with self.write() as conn:
            if sweep is not None:
                conn.execute(
                    "INSERT INTO sweeps(name, factors, baseline, primary_metric, thresholds,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
                    " factors = excluded.factors, baseline = excluded.baseline,"
                    " primary_metric = excluded.primary_metric,"
                    " thresholds = excluded.thresholds",
                    (
                        sweep.name,
                        json.dumps(sweep.factors),
                        sweep.baseline,
                        sweep.primary_metric,
                        json.dumps(sweep.thresholds),
                        sweep.created_at,
                    ),
                )
            for run, points, items in runs:
                # A re-import replaces what the earlier one wrote, including metrics and
                # per-item scores the new files no longer have.
                conn.execute("DELETE FROM metrics WHERE run_id = ?", (run.id,))
                conn.execute("DELETE FROM eval_items WHERE run_id = ?", (run.id,))
                row = _run_to_row(run)
                names = ", ".join(row)
                marks = ", ".join(f":{k}" for k in row)
                updates = ", ".join(f"{k} = excluded.{k}" for k in row if k != "id")
                conn.execute(
                    f"INSERT INTO runs({names}) VALUES ({marks}) "
                    f"ON CONFLICT(id) DO UPDATE SET {updates}",
                    row,
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO metrics(run_id, step, name, value) VALUES (?, ?, ?, ?)",
                    ((p.run_id, p.step, p.name, p.value) for p in points),
                )
                # An imported history (MLflow keeps every step) is bounded like a log's.
                bound_series(conn, {(p.run_id, p.name) for p in points})
                conn.executemany(
                    "INSERT OR REPLACE INTO eval_items(run_id, task, item_id, score) "
                    "VALUES (?, ?, ?, ?)",
                    ((i.run_id, i.task, i.item_id, i.score) for i in items),
                )


# A metric series keeps every point up to SERIES_MAX_POINTS; past it, the step range is cut
# into SERIES_KEPT_BUCKETS buckets and each keeps its lowest and highest point (plus the
# series' first and last): a 1M-step run stays a few thousand rows a metric, its curve
# keeps every spike a plot can show, and its final value (results, triage) is kept exactly.
# Thinning to half the cap makes it rare: once per doubling of the series.
SERIES_MAX_POINTS = 4096
SERIES_KEPT_BUCKETS = SERIES_MAX_POINTS // 4
THIN_SERIES = """
    DELETE FROM metrics WHERE run_id = :run AND name = :name AND step NOT IN (:lo, :hi)
      AND step NOT IN (
        SELECT step FROM (
          SELECT step,
            ROW_NUMBER() OVER (PARTITION BY (step - :lo) / :width ORDER BY value, step) AS low,
            ROW_NUMBER() OVER (PARTITION BY (step - :lo) / :width ORDER BY value DESC, step)
              AS high
          FROM metrics WHERE run_id = :run AND name = :name AND value IS NOT NULL)
        WHERE low = 1 OR high = 1)"""


def bound_series(conn: sqlite3.Connection, series: Iterable[tuple[str, str]]) -> None:
    """Thin the (run id, metric) series that grew past SERIES_MAX_POINTS (see above)."""
    for run_id, name in series:
        count, lo, hi = conn.execute(
            "SELECT COUNT(*), MIN(step), MAX(step) FROM metrics WHERE run_id = ? AND name = ?",
            (run_id, name),
        ).fetchone()
        if count <= SERIES_MAX_POINTS:
            continue
        width = (hi - lo) // SERIES_KEPT_BUCKETS + 1
        conn.execute(THIN_SERIES, {"run": run_id, "name": name, "lo": lo, "hi": hi, "width": width})


def _host_from_row(r: dict[str, Any]) -> Host:
    return Host(
        name=r["name"],
        kind=HostKind(r["kind"]),
        address=r["address"],
        user=r["user"],
        port=r["port"],
        jump=r["jump"],
        identity_file=r["identity_file"],
        gpus=r["gpus"],
        labels=tuple(json.loads(r["labels"])),
        read_only=bool(r["read_only"]),
    )


def _idea_to_row(idea: Idea) -> dict[str, Any]:
    check = idea.novelty_check
    return {
        "name": idea.name,
        "title": idea.title,
        "experiment": idea.experiment,
        "interestingness": idea.interestingness,
        "feasibility": idea.feasibility,
        "novelty": idea.novelty,
        "novel": None if idea.novel is None else int(idea.novel),
        "status": str(idea.status),
        "source": idea.source,
        "priority": idea.priority,
        "notes": idea.notes,
        "sweeps": json.dumps(list(idea.sweeps)),
        "reasoning": idea.reasoning,
        "fields": json.dumps(idea.fields),
        "novelty_check": None if check is None else json.dumps(dataclasses.asdict(check)),
        "created_at": idea.created_at or time.time(),
    }


def _idea_from_row(r: dict[str, Any]) -> Idea:
    check = None
    if r["novelty_check"]:
        raw = json.loads(r["novelty_check"])
        check = NoveltyCheck(
            novel=raw["novel"],
            reasons=raw["reasons"],
            queries=tuple(raw.get("queries", ())),
            papers=tuple(Paper(**p) for p in raw.get("papers", ())),
            source=raw.get("source", ""),
            checked_at=raw.get("checked_at", 0.0),
        )
    return Idea(
        name=r["name"],
        title=r["title"],
        experiment=r["experiment"],
        interestingness=r["interestingness"],
        feasibility=r["feasibility"],
        novelty=r["novelty"],
        novel=None if r["novel"] is None else bool(r["novel"]),
        status=r["status"],
        source=r["source"],
        priority=r["priority"],
        notes=r["notes"],
        sweeps=tuple(json.loads(r["sweeps"])),
        reasoning=r["reasoning"],
        fields=json.loads(r["fields"]),
        novelty_check=check,
        created_at=r["created_at"],
    )


def _run_to_row(run: Run) -> dict[str, Any]:
    spec = run.spec
    return {
        "id": run.id,
        "sweep": spec.sweep,
        "spec": json.dumps(
            {
                "name": spec.name,
                "command": spec.command,
                "config": spec.config,
                "sweep": spec.sweep,
                "host": spec.host,
                "gpus": spec.gpus,
                "timeout_s": spec.timeout_s,
                "env": spec.env,
                "workdir": spec.workdir,
            }
        ),
        "host": run.host,
        "state": str(run.state),
        "remote_dir": run.remote_dir,
        "gpu_ids": json.dumps(list(run.gpu_ids)),
        "pid": run.pid,
        "job_id": run.job_id,
        "exit_code": run.exit_code,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "provenance": json.dumps(run.provenance),
        "attempt": run.attempt,
        "relaunch_of": run.relaunch_of,
        "results_at": run.results_at,
    }


def _empty_or_json(text: str) -> Any:
    # Most runs have no GPUs and no provenance yet: "[]" and "{}" without the decoder
    # halve what the poller spends reading hundreds of runs every few seconds.
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return json.loads(text)


def _run_from_row(r: dict[str, Any]) -> Run:
    return Run(
        id=r["id"],
        spec=RunSpec(**json.loads(r["spec"])),
        state=RunState(r["state"]),
        host=r["host"],
        remote_dir=r["remote_dir"],
        gpu_ids=tuple(_empty_or_json(r["gpu_ids"])),
        pid=r["pid"],
        job_id=r["job_id"],
        exit_code=r["exit_code"],
        started_at=r["started_at"],
        ended_at=r["ended_at"],
        provenance=_empty_or_json(r["provenance"]),
        attempt=r.get("attempt") or 1,
        relaunch_of=r.get("relaunch_of"),
        results_at=r.get("results_at"),
    )


def _command_from_row(r: dict[str, Any]) -> Command:
    return Command(
        id=r["id"],
        pane=r["pane"],
        backend=r["backend"],
        kind=r["kind"],
        payload=json.loads(r["payload"]),
        status=CommandStatus(r["status"]),
        origin=CommandOrigin(r["origin"]),
        result=json.loads(r["result"]) if r["result"] else None,
        error=r["error"],
        created_at=r["created_at"],
        started_at=r["started_at"],
        finished_at=r["finished_at"],
    )
