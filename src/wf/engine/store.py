"""Every SQL statement of wf: schema, migrations, transactions, queries, bulk deletes.

One SQLite file in WAL mode. Writes run in BEGIN IMMEDIATE under a busy timeout, so concurrent
processes queue for the write lock instead of failing. Times are REAL seconds since the epoch.

Tables
  instances  one row per workflow instance; `iid` is the internal key the other tables use.
             ready_at: the earliest time a processable inbox message is visible (NULL: nothing to do);
             owner: the worker holding the instance in memory; version: bumped on every history change.
  history    the append-only events of the current execution, (iid, seq) -> event JSON.
  inbox      new events not yet applied (activity results, timers, raised events, child results).
  tasks      activity work items; a claimed task is invisible until its owner finishes or dies.
  workers    live worker processes and their heartbeats (the leases).
  audit      one row per management operation (who, what, selection, count, outcome); kept apart
             from the instances it names, trimmed by age only.
  retention  per app id: how long finished instances are kept, and what the last run purged.
  leases     named leases (one process at a time runs retention).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from wf.model import InvalidArgumentError, ListFilter, StoreError

SCHEMA_VERSION = 7
NEVER = 1e18  # visible_at of a claimed task: hidden until released
BUSY_TIMEOUT_S = 30.0
TERMINAL = ("COMPLETED", "FAILED", "TERMINATED", "CANCELED")

# Ordered migrations: MIGRATIONS[n] takes a store from version n to n + 1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE instances (
        iid INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a late message cannot reach a newcomer
        app_id TEXT NOT NULL,
        instance_id TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        completed_at REAL,
        input TEXT,
        output TEXT,
        custom_status TEXT,
        failure TEXT,
        parent_iid INTEGER,
        parent_task_id INTEGER,
        ready_at REAL,
        owner TEXT,
        version INTEGER NOT NULL DEFAULT 0,
        UNIQUE (app_id, instance_id)
    );
    CREATE INDEX ix_instances_ready ON instances (app_id, ready_at) WHERE ready_at IS NOT NULL;
    CREATE INDEX ix_instances_created ON instances (app_id, created_at);
    CREATE INDEX ix_instances_status ON instances (app_id, status, created_at);
    CREATE INDEX ix_instances_name ON instances (app_id, name, created_at);
    CREATE INDEX ix_instances_completed ON instances (app_id, completed_at) WHERE completed_at IS NOT NULL;
    CREATE INDEX ix_instances_parent ON instances (parent_iid) WHERE parent_iid IS NOT NULL;
    CREATE INDEX ix_instances_owner ON instances (owner) WHERE owner IS NOT NULL;
    CREATE TABLE history (
        iid INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        event TEXT NOT NULL,
        PRIMARY KEY (iid, seq)
    ) WITHOUT ROWID;
    CREATE TABLE inbox (
        id INTEGER PRIMARY KEY,
        iid INTEGER NOT NULL,
        kind TEXT NOT NULL,
        visible_at REAL NOT NULL,
        event TEXT NOT NULL
    );
    CREATE INDEX ix_inbox_iid ON inbox (iid, visible_at);
    CREATE TABLE tasks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a stale finish cannot take a new task
        app_id TEXT NOT NULL,
        iid INTEGER NOT NULL,
        instance_id TEXT NOT NULL,
        task_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        input TEXT,
        visible_at REAL NOT NULL,
        owner TEXT
    );
    CREATE INDEX ix_tasks_ready ON tasks (app_id, visible_at);
    CREATE INDEX ix_tasks_iid ON tasks (iid);
    CREATE INDEX ix_tasks_owner ON tasks (owner) WHERE owner IS NOT NULL;
    CREATE TABLE workers (
        worker_id TEXT PRIMARY KEY,
        app_id TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        heartbeat REAL NOT NULL
    );
    """,
    # 1 -> 2: what a live instance waits for (written by the worker after each step, read by
    # `wf get`), and when each worker started (`wf workers`).
    """
    ALTER TABLE instances ADD COLUMN waiting TEXT;
    ALTER TABLE workers ADD COLUMN started_at REAL;
    """,
    # 2 -> 3: the audit trail, retention policies per app, named leases (one retention runner).
    """
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        app_id TEXT NOT NULL,
        actor TEXT NOT NULL,
        operation TEXT NOT NULL,
        instance_id TEXT,       -- one instance, NULL for a bulk operation
        selection TEXT,         -- a bulk operation's selection, as the caller described it
        count INTEGER NOT NULL DEFAULT 0,
        reason TEXT,
        skipped INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        outcome TEXT NOT NULL,  -- ok | partial | failed | denied
        detail TEXT,            -- the error, or a bulk operation's done / skipped / failed
        op_id TEXT UNIQUE       -- the batches of one bulk operation share one row
    );
    CREATE INDEX ix_audit_at ON audit (at);
    CREATE INDEX ix_audit_instance ON audit (app_id, instance_id) WHERE instance_id IS NOT NULL;
    CREATE TABLE retention (
        app_id TEXT PRIMARY KEY,
        any_terminal REAL, completed REAL, failed REAL, terminated REAL,  -- seconds, NULL: no limit
        updated_at REAL NOT NULL,
        last_run_at REAL,
        last_purged INTEGER NOT NULL DEFAULT 0,
        total_purged INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at REAL NOT NULL);
    CREATE INDEX ix_instances_terminal ON instances (app_id, status, completed_at) WHERE completed_at IS NOT NULL;
    """,
    # 3 -> 4: what each worker registered (JSON lists of names): a worker claims only those, and
    # `wf workers` / `wf get` show who can run what.
    """
    ALTER TABLE workers ADD COLUMN workflows TEXT;
    ALTER TABLE workers ADD COLUMN activities TEXT;
    """,
    # 4 -> 5: where a worker runs, so pid liveness is judged only within its own pid namespace and boot.
    """
    ALTER TABLE workers ADD COLUMN pid_ns TEXT;
    ALTER TABLE workers ADD COLUMN boot_id TEXT
    """,
    # 5 -> 6: instances by app, name and status from the index alone: the metrics' gauge (one
    # GROUP BY per scrape: 0.13 s instead of 2.6 s on a million instances), and lists or counts
    # filtered by both name and status.
    """
    CREATE INDEX ix_instances_name_status ON instances (app_id, name, status)
    """,
    # 6 -> 7: the id a Dapr worker gave an activity call (taskExecutionId), handed back with the task;
    # what a workers row is (NULL: a worker process; see HUB_KIND, STREAM_KIND).
    """
    ALTER TABLE tasks ADD COLUMN execution_id TEXT;
    ALTER TABLE workers ADD COLUMN kind TEXT
    """,
]

INSTANCE_COLUMNS = (
    "iid, app_id, instance_id, name, status, created_at, updated_at, completed_at, input, output, "
    "custom_status, failure, parent_iid, parent_task_id, ready_at, owner, version"
)
# Reads also name the parent (RETURNING, which claims use, cannot hold a subquery).
_PARENT_ID = ", (SELECT p.instance_id FROM instances p WHERE p.iid = instances.parent_iid)"
READ_COLUMNS = INSTANCE_COLUMNS + _PARENT_ID
# Bulk operations read many rows and need no payloads nor the parent's id.
BULK_COLUMNS = (
    "iid, app_id, instance_id, name, status, created_at, updated_at, completed_at, NULL, NULL, NULL, NULL, "
    "parent_iid, parent_task_id, ready_at, owner, version"
)
SUMMARY_COLUMNS = (
    "iid, app_id, instance_id, name, status, created_at, updated_at, completed_at, NULL, NULL, "
    "custom_status, failure, parent_iid, parent_task_id, ready_at, owner, version" + _PARENT_ID
)


# list orders -> (a condition, the keyset condition after a row seen, ORDER BY, the keyset column's
# index in a row): by creation newest or oldest first, or finished ones by the latest finish.
LIST_ORDER_SQL = {
    "newest": ("", " AND (created_at, iid) < (?, ?)", " ORDER BY created_at DESC, iid DESC", 5),
    "oldest": ("", " AND (created_at, iid) > (?, ?)", " ORDER BY created_at, iid", 5),
    "finished": (" AND completed_at IS NOT NULL", " AND (completed_at, iid) < (?, ?)",
                 " ORDER BY completed_at DESC, iid DESC", 7),
}

# `wf top`'s rates: (started, finished) per minute before a time (parameters: now, [app_id,] since).
# Every app's ids come from a loose index scan: one index probe per app, not a scan of the rows.
RATES_SQL = {
    "one app": (
        "SELECT CAST((? - created_at) / 60 AS INTEGER), COUNT(*) FROM instances "
        "WHERE app_id = ? AND created_at > ? GROUP BY 1",
        "SELECT status, CAST((? - completed_at) / 60 AS INTEGER), COUNT(*) FROM instances "
        "WHERE app_id = ? AND status IN ('COMPLETED', 'FAILED') AND completed_at > ? GROUP BY 1, 2",
    ),
    "every app": (
        "WITH RECURSIVE apps(a) AS (SELECT MIN(app_id) FROM instances UNION ALL "
        "SELECT (SELECT MIN(app_id) FROM instances WHERE app_id > a) FROM apps WHERE a IS NOT NULL) "
        "SELECT CAST((? - created_at) / 60 AS INTEGER), COUNT(*) FROM instances "
        "WHERE app_id IN (SELECT a FROM apps) AND created_at > ? GROUP BY 1",
        "WITH RECURSIVE apps(a) AS (SELECT MIN(app_id) FROM instances UNION ALL "
        "SELECT (SELECT MIN(app_id) FROM instances WHERE app_id > a) FROM apps WHERE a IS NOT NULL) "
        "SELECT status, CAST((? - completed_at) / 60 AS INTEGER), COUNT(*) FROM instances "
        "WHERE app_id IN (SELECT a FROM apps) AND status IN ('COMPLETED', 'FAILED') AND completed_at > ? "
        "GROUP BY 1, 2",
    ),
}


@dataclass(slots=True)
class InstanceRow:
    iid: int
    app_id: str
    instance_id: str
    name: str
    status: str
    created_at: float
    updated_at: float
    completed_at: float | None
    input: str | None
    output: str | None
    custom_status: str | None
    failure: str | None
    parent_iid: int | None
    parent_task_id: int | None
    ready_at: float | None
    owner: str | None
    version: int
    parent_id: str | None = None  # the parent's instance id, on reads


@dataclass(slots=True)
class AuditRow:
    id: int
    at: float
    app_id: str
    actor: str
    operation: str
    instance_id: str | None
    selection: str | None
    count: int
    skipped: int
    failed: int
    reason: str | None
    outcome: str
    detail: str | None


@dataclass(slots=True)
class RetentionRow:
    app_id: str
    any_terminal: float | None
    completed: float | None
    failed: float | None
    terminated: float | None
    updated_at: float
    last_run_at: float | None
    last_purged: int
    total_purged: int


@dataclass(slots=True)
class TaskRow:
    id: int
    iid: int
    instance_id: str
    task_id: int
    name: str
    input: str | None
    execution_id: str | None = None  # a Dapr worker's taskExecutionId for the call, if it gave one


# Rows of `workers` that wf serve's gRPC door writes: the hub's lease (it holds the claims of the
# app's gRPC workers, so a crashed serve's claims are reaped; not a worker itself, never listed)
# and one per connected Dapr SDK worker stream (listed, counted; it holds nothing itself).
HUB_KIND = "grpc-hub"
STREAM_KIND = "grpc-stream"


@dataclass(slots=True)
class WorkerRow:
    worker_id: str
    host: str
    pid: int
    heartbeat: float
    pid_ns: str | None = None  # /proc/self/ns/pid of the worker's process (None: unknown)
    boot_id: str | None = None  # the kernel's boot id when it started (None: unknown)
    kind: str | None = None  # None: a worker process; HUB_KIND / STREAM_KIND: a wf serve's gRPC door


def store_error(path: str | os.PathLike, exc: BaseException) -> StoreError:
    """One line for an error of SQLite on the store at `path`."""
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return StoreError(f"{path} is damaged: it is not a wf database, or it is corrupt ({text}); "
                          "see 'wf doctor'")
    if "database or disk is full" in text or ("disk I/O error" in text and _disk_full(path)):
        return StoreError(f"the disk holding {path} is full: free some space and retry")
    if "readonly" in text or "read-only" in text:
        return StoreError(f"database {path} is read-only: check its permissions")
    if "unable to open" in text:
        return StoreError(f"cannot open database {path}: check the path and its permissions")
    return StoreError(f"database {path}: {text}")


def _disk_full(path: str | os.PathLike) -> bool:
    """Whether the file system holding `path` has (about) no space left: SQLite reports a failed
    extension of its shared-memory file as a plain I/O error."""
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024


def is_store_fault(exc: BaseException) -> bool:
    """Whether an error is the store's (busy, full, damaged, I/O) rather than one instance's data:
    a store fault stops the whole turn, anything else fails only the instance it came from."""
    if isinstance(exc, StoreError):
        return True
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(
        exc, (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.ProgrammingError, sqlite3.InterfaceError))


@dataclass(slots=True)
class LiveWorkerRow:
    worker_id: str
    app_id: str
    host: str
    pid: int
    started_at: float | None
    heartbeat: float
    in_flight: int  # activity tasks it holds now
    workflows: str | None = None  # JSON lists of the names it registered (None: not recorded)
    activities: str | None = None


@dataclass(slots=True)
class PendingRows:
    """What `wf get` needs to say what one instance waits for (engine/pending.py reads it)."""

    waiting: str | None  # the worker's JSON (Execution.blocked_on)
    history: list[str]
    tasks: list[tuple[int, str, float, str | None]]  # (task_id, name, visible_at, owner)
    inbox: list[tuple[str, float, str]]  # (kind, visible_at, event JSON) of events and the start


def _chunks(seq: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _json_list(iids: Collection[int]) -> tuple[str | None, str | None]:
    """Two parameters for `(? IS NULL OR iid NOT IN (SELECT value FROM json_each(?)))`."""
    if not iids:
        return None, None
    text = "[" + ",".join(str(int(i)) for i in iids) + "]"
    return text, text


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _names_clause(names: Sequence[str] | None) -> tuple[str, tuple[str, ...]]:
    """` AND name IN (...)` and its parameters; nothing when names is None (any name)."""
    if names is None:
        return "", ()
    names = tuple(names)
    if not names:
        return " AND 0", ()
    return f" AND name IN ({_marks(len(names))})", names


class Store:
    """A connection to one wf database. Not shared between threads without the caller's lock."""

    # Called with the seconds each BEGIN IMMEDIATE waited for the write lock (set by metrics.enable()).
    on_lock_wait: ClassVar[Callable[[float], None] | None] = None

    def __init__(self, path: str | os.PathLike, *, durability: str | None = None, create: bool = True):
        self.path = os.fspath(path)
        self.key = os.path.realpath(self.path)  # names this file for in-process wake-ups (signals.py)
        durability = (durability or "normal").lower()  # callers resolve flag > env > profile (wf.settings)
        if durability not in ("normal", "full"):
            raise InvalidArgumentError(f"unknown durability {durability!r}; expected normal or full")
        self.durability = durability
        if not create and not os.path.exists(self.path):
            raise StoreError(f"no database at {self.path}")
        try:
            if create:
                os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            self.conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            self.lock = threading.RLock()
            self._refuse_newer()  # before any pragma that writes: a newer wf's file stays untouched
            self._configure()
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise self._store_error(exc) from None
        except OSError as exc:
            raise StoreError(f"cannot open database {self.path}: {exc.strerror or exc}") from None

    def _store_error(self, exc: BaseException) -> StoreError:
        return store_error(self.path, exc)

    @contextmanager
    def translated(self) -> Iterator[None]:
        """SQLite's errors as one-line StoreErrors naming this store (damaged, disk full, ...)."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise self._store_error(exc) from None

    def _configure(self) -> None:
        c = self.conn
        # Two first opens of a new file race to switch it to WAL, and SQLite answers the loser
        # "database is locked" at once (its busy handler does not cover this): try again.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                c.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.002)
        c.execute(f"PRAGMA synchronous={'FULL' if self.durability == 'full' else 'NORMAL'}")
        c.execute("PRAGMA foreign_keys=OFF")
        c.execute("PRAGMA temp_store=MEMORY")
        c.execute("PRAGMA cache_size=-16000")
        # Checkpoint every ~40 MB of WAL rather than every 4 MB (SQLite's default): a tenth of the
        # checkpoints, which copy the newest version of each page once however often it changed;
        # 5-10% less CPU per workflow in bench/throughput.py. Every connection alike, so that a
        # short-lived one does not checkpoint a WAL that the others keep larger.
        c.execute("PRAGMA wal_autocheckpoint=10000")

    def _refuse_newer(self) -> int:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self.conn.close()
            raise StoreError(
                f"{self.path} was written by a newer version of wf (schema {version}, this wf knows "
                f"{SCHEMA_VERSION}): upgrade wf"
            )
        return version

    def _migrate(self) -> None:
        version = self._refuse_newer()
        if version == SCHEMA_VERSION:
            return
        with self.write():
            # Re-read under the write lock: another process may have migrated meanwhile.
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            for n in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[n].split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
            self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # ------------------------------------------------------------------------------ transactions

    def _begin_immediate(self) -> None:
        """Take the write lock, polling every millisecond or so while another process holds it.

        SQLite's own busy handler backs off to 50-100 ms sleeps, so a writer that keeps retaking
        the lock (a bulk purge, a busy worker) can starve the others; a fine poll gets in at the
        first gap. The busy handler is switched off for this statement only."""
        began = time.monotonic()
        deadline = began + BUSY_TIMEOUT_S
        conn = self.conn
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    if Store.on_lock_wait is not None:
                        Store.on_lock_wait(time.monotonic() - began)
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise self._store_error(exc) from None
                    if time.monotonic() >= deadline:
                        raise StoreError(
                            f"database {self.path} is busy: another process has held its write lock for "
                            f"{BUSY_TIMEOUT_S:.0f}s") from None
                    import random  # only under contention; keeps it off every command's start-up

                    time.sleep(0.0005 + random.random() * 0.001)
                except sqlite3.DatabaseError as exc:
                    raise self._store_error(exc) from None
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: the write lock is taken up front, so no upgrade deadlock."""
        with self.lock:
            self._begin_immediate()
            try:
                yield self.conn
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, sqlite3.DatabaseError) and is_store_fault(exc):
                    raise self._store_error(exc) from None
                raise
            try:
                self.conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                self._rollback()
                raise self._store_error(exc) from None

    def _rollback(self) -> None:
        """Roll back what is open; a failing ROLLBACK (SQLite may already have rolled back, on a full
        disk) must not mask the error that brought us here."""
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    @contextmanager
    def savepoint(self) -> Iterator[sqlite3.Connection]:
        """Inside write(): a nested unit that rolls back alone, leaving the transaction open (the
        worker isolates each instance's writes in a batch this way)."""
        self.conn.execute("SAVEPOINT wf_unit")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK TO wf_unit")
            self.conn.execute("RELEASE wf_unit")
            raise
        self.conn.execute("RELEASE wf_unit")

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap 'did anything happen?'."""
        with self.lock:
            return self.conn.execute("PRAGMA data_version").fetchone()[0]

    def integrity_check(self) -> str:
        with self.lock:
            return self.conn.execute("PRAGMA integrity_check").fetchone()[0]

    # ------------------------------------------------------------------------------ instances

    def get_instance(self, app_id: str, instance_id: str, *, payloads: bool = True) -> InstanceRow | None:
        cols = READ_COLUMNS if payloads else SUMMARY_COLUMNS
        with self.lock:
            row = self.conn.execute(
                f"SELECT {cols} FROM instances WHERE app_id = ? AND instance_id = ?", (app_id, instance_id)
            ).fetchone()
        return InstanceRow(*row) if row else None

    def get_instance_by_iid(self, iid: int) -> InstanceRow | None:
        row = self.conn.execute(f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE iid = ?", (iid,)).fetchone()
        return InstanceRow(*row) if row else None

    def insert_instance(
        self,
        *,
        app_id: str,
        instance_id: str,
        name: str,
        status: str,
        now: float,
        input: str | None,
        parent_iid: int | None = None,
        parent_task_id: int | None = None,
        ready_at: float | None = None,
    ) -> int | None:
        """Insert a new instance; returns its iid, or None when the id is taken in this app."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO instances (app_id, instance_id, name, status, created_at, updated_at, "
            "input, parent_iid, parent_task_id, ready_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (app_id, instance_id, name, status, now, now, input, parent_iid, parent_task_id, ready_at),
        )
        return cur.lastrowid if cur.rowcount == 1 else None

    def update_instance(self, iid: int, **fields: Any) -> None:
        """Set columns of one instance; `version=+1` style bumps are spelled bump_version=True."""
        bump = fields.pop("bump_version", False)
        sets = [f"{k} = ?" for k in fields]
        if bump:
            sets.append("version = version + 1")
        self.conn.execute(f"UPDATE instances SET {', '.join(sets)} WHERE iid = ?", (*fields.values(), iid))

    def finish_instances(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Instances that completed or failed: rows of (status, output, completed_at, updated_at,
        failure JSON, custom status changed, custom status, iid). Clears their inbox and tasks."""
        if not rows:
            return
        self.conn.executemany("DELETE FROM inbox WHERE iid = ?", ((r[-1],) for r in rows))
        self.conn.executemany("DELETE FROM tasks WHERE iid = ?", ((r[-1],) for r in rows))
        self.conn.executemany(
            "UPDATE instances SET status = ?, output = ?, completed_at = ?, updated_at = ?, failure = ?, "
            "custom_status = CASE WHEN ? THEN ? ELSE custom_status END, ready_at = NULL, owner = NULL, "
            "waiting = NULL, version = version + 1 WHERE iid = ?",
            rows,
        )

    def refresh_ready(self, iid: int) -> None:
        """Recompute ready_at from the inbox: any message while RUNNING, the start while PENDING."""
        self.conn.execute(
            "UPDATE instances SET ready_at = CASE status "
            "WHEN 'RUNNING' THEN (SELECT MIN(visible_at) FROM inbox WHERE inbox.iid = instances.iid) "
            "WHEN 'PENDING' THEN (SELECT MIN(visible_at) FROM inbox WHERE inbox.iid = instances.iid "
            "AND kind = 'ExecutionStarted') ELSE NULL END WHERE iid = ?",
            (iid,),
        )

    def descendants(self, iids: Sequence[int]) -> list[int]:
        """All descendants of the given instances (children, their children, ...), not the roots."""
        out: list[int] = []
        for chunk in _chunks(list(iids)):
            rows = self.conn.execute(
                "WITH RECURSIVE d(iid) AS (SELECT iid FROM instances WHERE parent_iid IN "
                f"({_marks(len(chunk))}) UNION SELECT i.iid FROM instances i JOIN d ON i.parent_iid = d.iid) "
                "SELECT iid FROM d",
                tuple(chunk),
            )
            out.extend(r[0] for r in rows)
        return out

    def delete_instances(self, iids: Sequence[int]) -> int:
        """Delete instances with their history, inbox and tasks. Returns instances deleted."""
        deleted = 0
        for chunk in _chunks(list(iids)):
            marks = _marks(len(chunk))
            params = tuple(chunk)
            self.conn.execute(f"DELETE FROM history WHERE iid IN ({marks})", params)
            self.conn.execute(f"DELETE FROM inbox WHERE iid IN ({marks})", params)
            self.conn.execute(f"DELETE FROM tasks WHERE iid IN ({marks})", params)
            deleted += self.conn.execute(f"DELETE FROM instances WHERE iid IN ({marks})", params).rowcount
        return deleted

    # ------------------------------------------------------------------------------ list and purge

    def _where(self, app_id: str | None, flt: ListFilter | None, *,
               terminal_only: bool = False) -> tuple[str, list[Any]]:
        """The WHERE clause of a filter; app_id None means every app."""
        clauses: list[str] = [] if app_id is None else ["app_id = ?"]
        params: list[Any] = [] if app_id is None else [app_id]
        if flt is not None:
            if flt.statuses:
                clauses.append(f"status IN ({_marks(len(flt.statuses))})")
                params.extend(s.name for s in flt.statuses)
            if flt.name:
                clauses.append("name = ?")
                params.append(flt.name)
            if flt.created_after is not None:
                clauses.append("created_at >= ?")
                params.append(flt.created_after.timestamp())
            if flt.created_before is not None:
                clauses.append("created_at < ?")
                params.append(flt.created_before.timestamp())
            if flt.completed_before is not None:
                clauses.append("completed_at IS NOT NULL AND completed_at < ?")
                params.append(flt.completed_before.timestamp())
            if flt.id_prefix:  # a range, so the (app_id, instance_id) index serves it
                clauses.append("instance_id >= ? AND instance_id < ?")
                params.extend((flt.id_prefix, flt.id_prefix + "\U0010ffff"))
        if terminal_only:
            clauses.append(f"status IN ({_marks(len(TERMINAL))})")
            params.extend(TERMINAL)
        return " AND ".join(clauses) or "1", params

    def list_instances(
        self,
        app_id: str | None,
        flt: ListFilter | None,
        *,
        limit: int | None = None,
        payloads: bool = False,
        after: tuple[float, int] | None = None,
        page: int = 1000,
        order: str = "newest",
    ) -> Iterator[InstanceRow]:
        """Newest first (order "oldest": oldest first; "finished": finished instances, the latest
        finish first), in pages by keyset (time, iid): flat memory, no long read transaction.
        `after` continues past a row already seen (the server's continuation token); app_id None:
        every app."""
        if order not in LIST_ORDER_SQL:
            raise InvalidArgumentError(f"unknown list order {order!r}")
        finished, after_row, order_by, key_index = LIST_ORDER_SQL[order]
        where, params = self._where(app_id, flt)
        cols = READ_COLUMNS if payloads else SUMMARY_COLUMNS
        remaining = limit
        cursor = after
        while remaining is None or remaining > 0:
            n = page if remaining is None else min(page, remaining)
            keyset = "" if cursor is None else after_row
            sql = f"SELECT {cols} FROM instances WHERE {where}{finished}{keyset}{order_by} LIMIT ?"
            args = [*params, *(cursor or ()), n]
            with self.lock:
                rows = self.conn.execute(sql, args).fetchall()
            for r in rows:
                yield InstanceRow(*r)
            if len(rows) < n:
                return
            cursor = (rows[-1][key_index], rows[-1][0])
            if remaining is not None:
                remaining -= len(rows)

    def count_instances(self, app_id: str, flt: ListFilter | None, *, terminal_only: bool) -> int:
        where, params = self._where(app_id, flt, terminal_only=terminal_only)
        with self.lock:
            return self.conn.execute(f"SELECT COUNT(*) FROM instances WHERE {where}", params).fetchone()[0]

    def count_total(self, app_id: str, flt: ListFilter | None) -> int:
        """The instances of one app that match flt. Unfiltered in a store that holds this app
        alone, SQLite's count of the whole table: it counts the cells of the smallest index page
        by page without reading them, 4x faster than stepping through a million entries."""
        where, params = self._where(app_id, flt)
        with self.lock:
            if where == "app_id = ?" and not self.conn.execute(
                "SELECT EXISTS (SELECT 1 FROM instances WHERE app_id < ?) OR EXISTS "
                "(SELECT 1 FROM instances WHERE app_id > ?)", (app_id, app_id)
            ).fetchone()[0]:
                return self.conn.execute("SELECT COUNT(*) FROM instances").fetchone()[0]
            return self.conn.execute(f"SELECT COUNT(*) FROM instances WHERE {where}", params).fetchone()[0]

    def count_by(self, app_id: str | None, flt: ListFilter | None, column: str) -> dict[str, int]:
        """Instances matching flt per status, name or app_id (of one app, or every app when
        app_id is None), largest first."""
        where, params = self._where(app_id, flt)
        statements = {  # one constant statement per column: no name is interpolated
            "status": f"SELECT status, COUNT(*) FROM instances WHERE {where} GROUP BY status ORDER BY 2 DESC, 1",
            "name": f"SELECT name, COUNT(*) FROM instances WHERE {where} GROUP BY name ORDER BY 2 DESC, 1",
            "app_id": f"SELECT app_id, COUNT(*) FROM instances WHERE {where} GROUP BY app_id ORDER BY 2 DESC, 1",
        }
        if column not in statements:
            raise InvalidArgumentError(f"cannot count by {column!r}")
        with self.lock:
            rows = self.conn.execute(statements[column], params).fetchall()
        return dict(rows)

    def instance_counts(self) -> list[tuple[str, str, str, int]]:
        """(app_id, name, status, count) over the whole store, in one pass (the metrics' gauge)."""
        with self.lock:
            return self.conn.execute(
                "SELECT app_id, name, status, COUNT(*) FROM instances GROUP BY app_id, name, status").fetchall()

    def rates(self, app_id: str | None, now: float, minutes: int) -> dict[str, list[int]]:
        """Instances started, completed and failed in each of the last `minutes` minutes before
        `now` (index 0: the last 60 s), of one app or of every app (None). Index range scans over
        the window only ((app_id, created_at) and (app_id, status, completed_at)), whatever the
        store's size."""
        since = now - 60 * minutes
        started_sql, finished_sql = RATES_SQL["every app" if app_id is None else "one app"]
        params = (now, since) if app_id is None else (now, app_id, since)
        out = {key: [0] * minutes for key in ("started", "completed", "failed")}
        with self.lock:
            started = self.conn.execute(started_sql, params).fetchall()
            finished = self.conn.execute(finished_sql, params).fetchall()
        for minute, n in started:
            if 0 <= minute < minutes:  # a clock step can place a row in the future
                out["started"][minute] += n
        for status, minute, n in finished:
            if 0 <= minute < minutes:
                out[status.lower()][minute] += n
        return out

    def select_purge_batch(self, app_id: str, flt: ListFilter | None, *, terminal_only: bool, limit: int) -> list[int]:
        where, params = self._where(app_id, flt, terminal_only=terminal_only)
        order = " ORDER BY completed_at" if flt is not None and flt.completed_before is not None else ""
        rows = self.conn.execute(f"SELECT iid FROM instances WHERE {where}{order} LIMIT ?", (*params, limit))
        return [r[0] for r in rows]

    def non_terminal(self, iids: Sequence[int]) -> list[int]:
        out: list[int] = []
        for chunk in _chunks(list(iids)):
            rows = self.conn.execute(
                f"SELECT iid FROM instances WHERE iid IN ({_marks(len(chunk))}) "
                f"AND status NOT IN ({_marks(len(TERMINAL))})",
                (*chunk, *TERMINAL),
            )
            out.extend(r[0] for r in rows)
        return out

    def pending_rows(self, iid: int) -> PendingRows:
        """One read transaction: the instance's recorded waits, history, tasks and unapplied events."""
        with self.lock:
            conn = self.conn
            conn.execute("BEGIN")
            try:
                row = conn.execute("SELECT waiting FROM instances WHERE iid = ?", (iid,)).fetchone()
                history = [r[0] for r in conn.execute("SELECT event FROM history WHERE iid = ? ORDER BY seq", (iid,))]
                tasks = conn.execute(
                    "SELECT task_id, name, visible_at, owner FROM tasks WHERE iid = ? ORDER BY task_id", (iid,)
                ).fetchall()
                inbox = conn.execute(
                    "SELECT kind, visible_at, event FROM inbox WHERE iid = ? AND kind IN ('EventRaised', "
                    "'ExecutionStarted') ORDER BY id", (iid,)
                ).fetchall()
            finally:
                conn.execute("COMMIT")
        return PendingRows(row[0] if row else None, history, tasks, inbox)

    def instance_statuses(self, app_id: str, instance_ids: Sequence[str]) -> dict[str, str]:
        """instance id -> status, for those that exist."""
        out: dict[str, str] = {}
        for chunk in _chunks(list(instance_ids)):
            with self.lock:
                rows = self.conn.execute(
                    f"SELECT instance_id, status FROM instances WHERE app_id = ? AND instance_id IN "
                    f"({_marks(len(chunk))})", (app_id, *chunk))
                out.update(dict(rows.fetchall()))
        return out


    # ------------------------------------------------------------------------------ bulk operations

    def select_ids(self, app_id: str, flt: ListFilter | None) -> list[str]:
        """The ids a bulk operation will touch, taken once at its start (oldest first)."""
        where, params = self._where(app_id, flt)
        with self.lock:
            return [r[0] for r in self.conn.execute(f"SELECT instance_id FROM instances WHERE {where} ORDER BY iid",
                                                    params)]

    def instances_by_ids(self, app_id: str, instance_ids: Sequence[str]) -> list[InstanceRow]:
        out: list[InstanceRow] = []
        for chunk in _chunks(list(instance_ids)):
            rows = self.conn.execute(f"SELECT {BULK_COLUMNS} FROM instances WHERE app_id = ? AND instance_id IN "
                                     f"({_marks(len(chunk))})", (app_id, *chunk))
            out.extend(InstanceRow(*r) for r in rows)
        return out

    def instances_by_iids(self, iids: Sequence[int]) -> list[InstanceRow]:
        out: list[InstanceRow] = []
        for chunk in _chunks(list(iids)):
            rows = self.conn.execute(f"SELECT {BULK_COLUMNS} FROM instances WHERE iid IN ({_marks(len(chunk))})",
                                     tuple(chunk))
            out.extend(InstanceRow(*r) for r in rows)
        return out

    def history_lengths(self, iids: Sequence[int]) -> dict[int, int]:
        out: dict[int, int] = {}
        for chunk in _chunks(list(iids)):
            rows = self.conn.execute(f"SELECT iid, MAX(seq) + 1 FROM history WHERE iid IN ({_marks(len(chunk))}) "
                                     "GROUP BY iid", tuple(chunk))
            out.update(rows)
        return out

    def with_message(self, iids: Sequence[int], kind: str) -> set[int]:
        """Those of the instances that hold an inbox message of this kind."""
        out: set[int] = set()
        for chunk in _chunks(list(iids)):
            rows = self.conn.execute(f"SELECT DISTINCT iid FROM inbox WHERE kind = ? AND iid IN ({_marks(len(chunk))})",
                                     (kind, *chunk))
            out.update(r[0] for r in rows)
        return out

    def clear_work(self, iids: Sequence[int]) -> None:
        """Drop the inbox messages and activity tasks of instances that ended."""
        for chunk in _chunks(list(iids)):
            marks, params = _marks(len(chunk)), tuple(chunk)
            self.conn.execute(f"DELETE FROM inbox WHERE iid IN ({marks})", params)
            self.conn.execute(f"DELETE FROM tasks WHERE iid IN ({marks})", params)

    def mark_terminated(self, iids: Sequence[int], output: str | None, now: float) -> None:
        for chunk in _chunks(list(iids)):
            self.conn.execute(
                "UPDATE instances SET status = 'TERMINATED', output = ?, completed_at = ?, updated_at = ?, "
                f"ready_at = NULL, owner = NULL, version = version + 1 WHERE iid IN ({_marks(len(chunk))})",
                (output, now, now, *chunk))

    def set_status(self, iids: Sequence[int], status: str, now: float, *, clear_ready: bool = False) -> None:
        """clear_ready: the instance has nothing to do (suspended) until its status changes again."""
        for chunk in _chunks(list(iids)):
            self.conn.execute(f"UPDATE instances SET status = ?, updated_at = ?, version = version + 1, "
                              f"ready_at = CASE WHEN ? THEN NULL ELSE ready_at END WHERE iid IN ({_marks(len(chunk))})",
                              (status, now, clear_ready, *chunk))

    def refresh_ready_many(self, iids: Sequence[int]) -> None:
        for iid in iids:
            self.refresh_ready(iid)

    # ------------------------------------------------------------------------------ audit

    def add_audit(self, *, at: float, app_id: str, actor: str, operation: str, instance_id: str | None,
                  selection: str | None, count: int, skipped: int, failed: int, reason: str | None, outcome: str,
                  detail: str | None, op_id: str | None) -> None:
        """One record; the batches of one bulk operation (same op_id) add up in one row."""
        self.conn.execute(
            "INSERT INTO audit (at, app_id, actor, operation, instance_id, selection, count, skipped, failed, "
            "reason, outcome, detail, op_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (op_id) DO UPDATE SET count = count + excluded.count, "
            "skipped = skipped + excluded.skipped, failed = failed + excluded.failed, "
            "detail = COALESCE(detail, excluded.detail), "
            "outcome = CASE WHEN failed + excluded.failed = 0 THEN 'ok' "
            "WHEN count + excluded.count = 0 THEN 'failed' ELSE 'partial' END",
            (at, app_id, actor, operation, instance_id, selection, count, skipped, failed, reason, outcome, detail,
             op_id))

    def list_audit(self, *, app_id: str | None = None, since: float | None = None, operation: str | None = None,
                   instance_id: str | None = None, limit: int | None = None) -> list[AuditRow]:
        """Newest first; a None filter matches everything."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT id, at, app_id, actor, operation, instance_id, selection, count, skipped, failed, reason, "
                "outcome, detail FROM audit WHERE (? IS NULL OR app_id = ?) AND (? IS NULL OR at >= ?) "
                "AND (? IS NULL OR operation = ?) AND (? IS NULL OR instance_id = ?) ORDER BY id DESC LIMIT ?",
                (app_id, app_id, since, since, operation, operation, instance_id, instance_id,
                 -1 if limit is None else limit))
            return [AuditRow(*r) for r in rows]

    def prune_audit(self, before: float, limit: int) -> int:
        return self.conn.execute("DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ? LIMIT ?)",
                                 (before, limit)).rowcount

    # ------------------------------------------------------------------------------ retention and leases

    def get_meta(self, key: str) -> str | None:
        with self.lock:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self.conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self.conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                              "value = excluded.value", (key, value))

    def retention_policies(self, app_id: str | None = None) -> list[RetentionRow]:
        """Every app's policy (or one app's), by app id."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT app_id, any_terminal, completed, failed, terminated, updated_at, last_run_at, last_purged, "
                "total_purged FROM retention WHERE (? IS NULL OR app_id = ?) ORDER BY app_id", (app_id, app_id))
            return [RetentionRow(*r) for r in rows]

    def set_retention(self, app_id: str, any_terminal: float | None, completed: float | None, failed: float | None,
                      terminated: float | None, now: float) -> None:
        """Limits in seconds (None: no limit)."""
        self.conn.execute(
            "INSERT INTO retention (app_id, any_terminal, completed, failed, terminated, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (app_id) DO UPDATE SET any_terminal = excluded.any_terminal, "
            "completed = excluded.completed, failed = excluded.failed, terminated = excluded.terminated, "
            "updated_at = excluded.updated_at", (app_id, any_terminal, completed, failed, terminated, now))

    def clear_retention(self, app_id: str) -> bool:
        return self.conn.execute("DELETE FROM retention WHERE app_id = ?", (app_id,)).rowcount > 0

    def record_retention_run(self, app_id: str, now: float, purged: int) -> None:
        self.conn.execute("UPDATE retention SET last_run_at = ?, last_purged = ?, total_purged = total_purged + ? "
                          "WHERE app_id = ?", (now, purged, purged, app_id))

    def take_lease(self, name: str, holder: str, now: float, ttl: float) -> bool:
        """Take or renew a named lease; False while another holder's lease is unexpired."""
        cur = self.conn.execute(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "holder = excluded.holder, expires_at = excluded.expires_at "
            "WHERE leases.holder = excluded.holder OR leases.expires_at < ?",
            (name, holder, now + ttl, now))
        return cur.rowcount == 1

    def release_lease(self, name: str, holder: str) -> None:
        self.conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

    # ------------------------------------------------------------------------------ history

    def load_history(self, iid: int) -> list[str]:
        with self.lock:
            return [r[0] for r in self.conn.execute("SELECT event FROM history WHERE iid = ? ORDER BY seq", (iid,))]

    def append_history(self, iid: int, start_seq: int, events_json: Iterable[str]) -> None:
        self.conn.executemany(
            "INSERT INTO history (iid, seq, event) VALUES (?, ?, ?)",
            ((iid, start_seq + i, e) for i, e in enumerate(events_json)),
        )

    def append_history_rows(self, rows: Sequence[tuple[int, int, str]]) -> None:
        """rows: (iid, seq, event JSON) of any number of instances."""
        if rows:
            self.conn.executemany("INSERT INTO history (iid, seq, event) VALUES (?, ?, ?)", rows)

    def history_length(self, iid: int) -> int:
        row = self.conn.execute("SELECT MAX(seq) FROM history WHERE iid = ?", (iid,)).fetchone()
        return 0 if row[0] is None else row[0] + 1

    def clear_history(self, iid: int) -> None:
        self.conn.execute("DELETE FROM history WHERE iid = ?", (iid,))

    # ------------------------------------------------------------------------------ inbox

    def add_message(self, iid: int, kind: str, visible_at: float, event_json: str) -> None:
        self.conn.execute(
            "INSERT INTO inbox (iid, kind, visible_at, event) VALUES (?, ?, ?, ?)", (iid, kind, visible_at, event_json)
        )

    def add_messages(self, rows: Iterable[tuple[int, str, float, str]]) -> None:
        """rows: (iid, kind, visible_at, event JSON)."""
        self.conn.executemany("INSERT INTO inbox (iid, kind, visible_at, event) VALUES (?, ?, ?, ?)", rows)

    def wake(self, iid: int, at: float) -> None:
        """A RUNNING instance has a message visible at `at`: pull its ready_at forward."""
        self.conn.execute(
            "UPDATE instances SET ready_at = MIN(COALESCE(ready_at, ?), ?) WHERE iid = ? AND status = 'RUNNING'",
            (at, at, iid),
        )

    def wake_many(self, iids: Sequence[int], at: float) -> None:
        if iids:
            self.conn.executemany(
                "UPDATE instances SET ready_at = MIN(COALESCE(ready_at, ?), ?) WHERE iid = ? AND status = 'RUNNING'",
                ((at, at, iid) for iid in iids),
            )

    def visible_messages_many(self, iids: Sequence[int], now: float) -> dict[int, list[tuple[int, str]]]:
        """The visible inbox of several instances, each in arrival order."""
        out: dict[int, list[tuple[int, str]]] = {}
        for chunk in _chunks(list(iids)):
            rows = self.conn.execute(
                f"SELECT iid, id, event FROM inbox WHERE iid IN ({_marks(len(chunk))}) AND visible_at <= ? "
                "ORDER BY id",
                (*chunk, now),
            )
            for iid, mid, event in rows:
                out.setdefault(iid, []).append((mid, event))
        return out

    def update_running(self, rows: Sequence[tuple[float, int, str | None, str | None, int]]) -> None:
        """After a step of instances still running: rows of (now, custom status changed, custom
        status, what it waits for (JSON), iid). Bumps the version and recomputes ready_at from the inbox."""
        if rows:
            self.conn.executemany(
                "UPDATE instances SET status = 'RUNNING', updated_at = ?, version = version + 1, "
                "custom_status = CASE WHEN ? THEN ? ELSE custom_status END, waiting = ?, "
                "ready_at = (SELECT MIN(visible_at) FROM inbox WHERE inbox.iid = instances.iid) WHERE iid = ?",
                rows,
            )

    def has_message(self, iid: int, kind: str) -> bool:
        return self.conn.execute("SELECT 1 FROM inbox WHERE iid = ? AND kind = ? LIMIT 1", (iid, kind)).fetchone() is not None

    def delete_messages(self, ids: Sequence[int]) -> None:
        for chunk in _chunks(list(ids)):
            self.conn.execute(f"DELETE FROM inbox WHERE id IN ({_marks(len(chunk))})", tuple(chunk))

    def delete_inbox(self, iid: int, *, keep_kind: str | None = None) -> None:
        if keep_kind:
            self.conn.execute("DELETE FROM inbox WHERE iid = ? AND kind != ?", (iid, keep_kind))
        else:
            self.conn.execute("DELETE FROM inbox WHERE iid = ?", (iid,))

    # ------------------------------------------------------------------------------ activity tasks

    def add_tasks(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """rows: (app_id, iid, instance_id, task_id, name, input, visible_at[, execution_id])."""
        self.conn.executemany(
            "INSERT INTO tasks (app_id, iid, instance_id, task_id, name, input, visible_at, execution_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (r if len(r) == 8 else (*r, None) for r in rows),
        )

    def claim_tasks(self, app_id: str, owner: str, now: float, limit: int,
                    names: Sequence[str] | None = None) -> list[TaskRow]:
        """Claim visible tasks of an app; with `names`, only activities of those names (a worker
        claims what it registered)."""
        only, params = _names_clause(names)
        rows = self.conn.execute(
            "UPDATE tasks SET owner = ?, visible_at = ? WHERE id IN (SELECT id FROM tasks WHERE app_id = ? "
            f"AND visible_at <= ?{only} ORDER BY visible_at LIMIT ?) "
            "RETURNING id, iid, instance_id, task_id, name, input, execution_id",
            (owner, NEVER, app_id, now, *params, limit),
        ).fetchall()
        return [TaskRow(*r) for r in rows]

    def finish_tasks(self, task_row_ids: Sequence[int], owner: str) -> set[int]:
        """Remove tasks their owner finished; returns those it still held. A task no longer held
        (taken over, terminated, purged) must not have its result recorded: a completion lands once."""
        held: set[int] = set()
        for chunk in _chunks(list(task_row_ids)):
            rows = self.conn.execute(
                f"DELETE FROM tasks WHERE owner = ? AND id IN ({_marks(len(chunk))}) RETURNING id", (owner, *chunk)
            )
            held.update(r[0] for r in rows)
        return held

    def release_tasks(self, owner: str, task_row_ids: Sequence[int], now: float) -> None:
        """Give back tasks their holder will not finish (its stream closed): claimable at once."""
        for chunk in _chunks(list(task_row_ids)):
            self.conn.execute(
                f"UPDATE tasks SET owner = NULL, visible_at = ? WHERE owner = ? AND id IN ({_marks(len(chunk))})",
                (now, owner, *chunk),
            )

    def delete_tasks(self, iid: int) -> None:
        self.conn.execute("DELETE FROM tasks WHERE iid = ?", (iid,))

    def next_task_due(self, app_id: str, names: Sequence[str] | None = None) -> float | None:
        only, params = _names_clause(names)
        with self.lock:
            return self.conn.execute(f"SELECT MIN(visible_at) FROM tasks WHERE app_id = ?{only}",
                                     (app_id, *params)).fetchone()[0]

    # ------------------------------------------------------------------------------ orchestration claims

    def claim_instances(self, app_id: str, owner: str, now: float, limit: int,
                        names: Sequence[str] | None = None, exclude: Collection[int] = ()) -> list[InstanceRow]:
        """Claim ready instances of an app; with `names`, only workflows of those names; `exclude`:
        instances of this owner whose step is still running."""
        only, params = _names_clause(names)
        rows = self.conn.execute(
            f"UPDATE instances SET owner = ? WHERE iid IN (SELECT iid FROM instances WHERE app_id = ? "
            f"AND ready_at <= ? AND (owner IS NULL OR owner = ?){only} AND (? IS NULL OR iid NOT IN "
            "(SELECT value FROM json_each(?))) ORDER BY ready_at LIMIT ?) "
            f"RETURNING {INSTANCE_COLUMNS}",
            (owner, app_id, now, owner, *params, *_json_list(exclude), limit),
        ).fetchall()
        return [InstanceRow(*r) for r in rows]

    def claim_free_instances(self, app_id: str, owner: str, now: float, limit: int) -> list[InstanceRow]:
        """Claim ready instances nobody holds (work items for workers outside the process: an
        instance stays claimed while its turn is out, so it is never handed out twice)."""
        rows = self.conn.execute(
            f"UPDATE instances SET owner = ? WHERE iid IN (SELECT iid FROM instances WHERE app_id = ? "
            "AND ready_at <= ? AND owner IS NULL ORDER BY ready_at LIMIT ?) "
            f"RETURNING {INSTANCE_COLUMNS}",
            (owner, app_id, now, limit),
        ).fetchall()
        return [InstanceRow(*r) for r in rows]

    def next_free_instance_due(self, app_id: str) -> float | None:
        with self.lock:
            return self.conn.execute(
                "SELECT MIN(ready_at) FROM instances WHERE app_id = ? AND ready_at IS NOT NULL AND owner IS NULL",
                (app_id,),
            ).fetchone()[0]

    def instance_versions(self, iids: Sequence[int]) -> dict[int, tuple[int, str | None]]:
        """iid -> (version, owner) of the instances that still exist: a step computed outside the
        write lock is recorded only if its instance did not change underneath."""
        out: dict[int, tuple[int, str | None]] = {}
        for chunk in _chunks(list(iids)):
            rows = self.conn.execute(
                f"SELECT iid, version, owner FROM instances WHERE iid IN ({_marks(len(chunk))})", tuple(chunk))
            out.update((iid, (version, owner)) for iid, version, owner in rows)
        return out

    def next_instance_due(self, app_id: str, owner: str, names: Sequence[str] | None = None,
                          exclude: Collection[int] = ()) -> float | None:
        only, params = _names_clause(names)
        with self.lock:
            return self.conn.execute(
                "SELECT MIN(ready_at) FROM instances WHERE app_id = ? AND ready_at IS NOT NULL "
                f"AND (owner IS NULL OR owner = ?){only} AND (? IS NULL OR iid NOT IN (SELECT value FROM json_each(?)))",
                (app_id, owner, *params, *_json_list(exclude)),
            ).fetchone()[0]

    def stall_instance(self, iid: int, failure_json: str, now: float) -> None:
        """A replay met a version or patch its worker cannot honour: STALLED, its inbox kept for
        when a worker that can run it starts (unstall)."""
        self.conn.execute(
            "UPDATE instances SET status = 'STALLED', failure = ?, updated_at = ?, ready_at = NULL, owner = NULL, "
            "version = version + 1 WHERE iid = ?",
            (failure_json, now, iid),
        )

    def unstall(self, app_id: str, names: Sequence[str], now: float) -> int:
        """Stalled instances of these workflows run again (each stalls again if it still cannot)."""
        if not names:
            return 0
        only, params = _names_clause(names)
        return self.conn.execute(
            "UPDATE instances SET status = CASE WHEN EXISTS (SELECT 1 FROM history WHERE history.iid = instances.iid) "
            "THEN 'RUNNING' ELSE 'PENDING' END, failure = NULL, updated_at = ?, "
            "ready_at = (SELECT MIN(visible_at) FROM inbox WHERE inbox.iid = instances.iid) "
            f"WHERE app_id = ? AND status = 'STALLED'{only}",
            (now, app_id, *params),
        ).rowcount

    def release_instances(self, owner: str, iids: Sequence[int] | None = None) -> None:
        if iids is None:
            self.conn.execute("UPDATE instances SET owner = NULL WHERE owner = ?", (owner,))
            return
        for chunk in _chunks(list(iids)):
            self.conn.execute(
                f"UPDATE instances SET owner = NULL WHERE owner = ? AND iid IN ({_marks(len(chunk))})",
                (owner, *chunk),
            )

    # ------------------------------------------------------------------------------ workers and leases

    def record_registrations(self, worker_id: str, workflows: Sequence[str], activities: Sequence[str]) -> None:
        """What a worker registered (it claims only these), for `wf workers` and `wf get`."""
        import json

        self.conn.execute("UPDATE workers SET workflows = ?, activities = ? WHERE worker_id = ?",
                          (json.dumps(sorted(workflows)), json.dumps(sorted(activities)), worker_id))

    def registered_by_live_workers(self, app_id: str, since: float) -> tuple[set[str], set[str]] | None:
        """The workflow and activity names the live workers of an app registered; None when none
        of them recorded registrations (workers outside the process, or none at all)."""
        import json

        with self.lock:
            rows = self.conn.execute(
                "SELECT workflows, activities FROM workers WHERE app_id = ? AND heartbeat >= ? "
                "AND workflows IS NOT NULL", (app_id, since)).fetchall()
        if not rows:
            return None
        workflows: set[str] = set()
        activities: set[str] = set()
        for w, a in rows:
            workflows.update(json.loads(w))
            activities.update(json.loads(a or "[]"))
        return workflows, activities

    def heartbeat(self, worker_id: str, app_id: str, host: str, pid: int, now: float,
                  pid_ns: str | None = None, boot_id: str | None = None, kind: str | None = None) -> None:
        self.conn.execute(
            "INSERT INTO workers (worker_id, app_id, host, pid, heartbeat, started_at, pid_ns, boot_id, kind) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (worker_id) DO UPDATE SET heartbeat = excluded.heartbeat",
            (worker_id, app_id, host, pid, now, now, pid_ns, boot_id, kind),
        )

    def workers(self) -> list[WorkerRow]:
        return [WorkerRow(*r) for r in
                self.conn.execute("SELECT worker_id, host, pid, heartbeat, pid_ns, boot_id, kind FROM workers")]

    def live_workers(self, app_id: str | None, since: float) -> list[LiveWorkerRow]:
        """Workers whose heartbeat is newer than `since` (of one app, or all), with the number of
        activities each holds, oldest first. A gRPC hub's lease row is not a worker."""
        where = "heartbeat >= ? AND (kind IS NULL OR kind != ?)"
        params: list[Any] = [since, HUB_KIND]
        if app_id is not None:
            where += " AND app_id = ?"
            params.append(app_id)
        with self.lock:
            rows = self.conn.execute(
                "SELECT worker_id, app_id, host, pid, started_at, heartbeat, "
                "(SELECT COUNT(*) FROM tasks WHERE tasks.owner = workers.worker_id), workflows, activities "
                f"FROM workers WHERE {where} ORDER BY started_at, worker_id",
                params,
            ).fetchall()
        return [LiveWorkerRow(*r) for r in rows]

    def has_grpc_door(self, app_id: str, since: float) -> bool:
        """Whether a wf serve's gRPC door for this app is live (its lease row's heartbeat is newer than `since`)."""
        with self.lock:
            return self.conn.execute(
                "SELECT 1 FROM workers WHERE kind = ? AND app_id = ? AND heartbeat >= ? LIMIT 1",
                (HUB_KIND, app_id, since),
            ).fetchone() is not None

    def held_by(self, worker_id: str) -> tuple[list[tuple[str, str]], int]:
        """What a worker holds: its instances (instance id, workflow name) and its number of tasks."""
        instances = self.conn.execute("SELECT instance_id, name FROM instances WHERE owner = ? ORDER BY iid",
                                      (worker_id,)).fetchall()
        tasks = self.conn.execute("SELECT COUNT(*) FROM tasks WHERE owner = ?", (worker_id,)).fetchone()[0]
        return [(r[0], r[1]) for r in instances], tasks

    def release_worker(self, worker_id: str, now: float) -> None:
        """Give back everything a worker holds: its instances and its unfinished tasks."""
        self.conn.execute("UPDATE tasks SET owner = NULL, visible_at = ? WHERE owner = ?", (now, worker_id))
        self.conn.execute("UPDATE instances SET owner = NULL WHERE owner = ?", (worker_id,))
        self.conn.execute("DELETE FROM workers WHERE worker_id = ?", (worker_id,))

    # ------------------------------------------------------------------------------ health (wf doctor)

    _COUNTS = {
        "instances": "SELECT COUNT(*) FROM instances",
        "history": "SELECT COUNT(*) FROM history",
        "inbox": "SELECT COUNT(*) FROM inbox",
        "tasks": "SELECT COUNT(*) FROM tasks",
        "workers": "SELECT COUNT(*) FROM workers",
        "audit": "SELECT COUNT(*) FROM audit",
        "retention": "SELECT COUNT(*) FROM retention",
    }
    _ORPHANS = {  # rows of an instance that no longer exists
        "history": "SELECT COUNT(*) FROM history WHERE iid NOT IN (SELECT iid FROM instances)",
        "inbox": "SELECT COUNT(*) FROM inbox WHERE iid NOT IN (SELECT iid FROM instances)",
        "tasks": "SELECT COUNT(*) FROM tasks WHERE iid NOT IN (SELECT iid FROM instances)",
    }
    _DELETE_ORPHANS = (
        "DELETE FROM history WHERE iid NOT IN (SELECT iid FROM instances)",
        "DELETE FROM inbox WHERE iid NOT IN (SELECT iid FROM instances)",
        "DELETE FROM tasks WHERE iid NOT IN (SELECT iid FROM instances)",
    )

    def schema_version(self) -> int:
        with self.lock:
            return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def integrity_problems(self) -> list[str]:
        """SQLite's integrity check (the first 20 problems): [] when the file is sound."""
        with self.lock:
            rows = [r[0] for r in self.conn.execute("PRAGMA integrity_check(20)")]
        return [] if rows == ["ok"] else rows

    def table_counts(self) -> dict[str, int]:
        with self.lock:
            return {t: self.conn.execute(sql).fetchone()[0] for t, sql in self._COUNTS.items()}

    def orphan_counts(self) -> dict[str, int]:
        with self.lock:
            return {t: self.conn.execute(sql).fetchone()[0] for t, sql in self._ORPHANS.items()}

    def delete_orphans(self) -> int:
        """Inside write(): rows of instances that no longer exist (iids are never reused: no
        instance can ever read them)."""
        return sum(self.conn.execute(sql).rowcount for sql in self._DELETE_ORPHANS)

    def checkpoint(self) -> tuple[int, int, int]:
        """Copy the WAL into the database file and truncate it: (busy, WAL pages, pages copied)."""
        with self.lock:
            busy, pages, copied = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return busy, pages, copied

    def reindex(self) -> None:
        with self.lock:
            self.conn.execute("REINDEX")
