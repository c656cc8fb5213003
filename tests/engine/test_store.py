"""The SQLite store: schema versions, refusal of bad files, pragmas, indexes, batched deletes."""

from __future__ import annotations

import sqlite3
import time

import pytest

from wf.engine import control
from wf.engine.store import SCHEMA_VERSION, Store
from wf.model import ListFilter, StoreError


def test_new_store_is_wal_with_current_schema(tmp_path):
    store = Store(tmp_path / "a.db")
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 10_000  # 40 MB: bench/throughput.py
    assert store.integrity_check() == "ok"


def test_durability_full_by_setting(tmp_path, monkeypatch):
    from wf.backends import open_backend

    assert Store(tmp_path / "a.db", durability="full").conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    monkeypatch.setenv("WF_DURABILITY", "full")
    backend = open_backend(db=tmp_path / "b.db")
    assert backend.store().conn.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_unknown_durability_is_refused(tmp_path):
    with pytest.raises(Exception, match="durability"):
        Store(tmp_path / "a.db", durability="sometimes")


def test_store_from_a_newer_wf_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer version of wf"):
        Store(path)
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a wf database"):
        Store(path)


def test_a_truncated_database_is_refused(tmp_path):
    path = tmp_path / "t.db"
    store = Store(path)
    control.schedule(store, "default", "w", instance_id="a")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[:100])
    with pytest.raises(StoreError):
        s = Store(path)
        s.get_instance("default", "a")


def test_migrations_are_ordered_and_resume_from_the_recorded_version(tmp_path):
    path = tmp_path / "m.db"
    Store(path).close()
    # Opening again runs nothing (already current) and keeps data.
    s = Store(path)
    control.schedule(s, "default", "w", instance_id="keep")
    s.close()
    assert Store(path).get_instance("default", "keep") is not None


def test_list_and_purge_queries_use_indexes(tmp_path):
    store = Store(tmp_path / "i.db")
    plans = {
        "list": "SELECT iid FROM instances WHERE app_id = 'x' ORDER BY created_at DESC LIMIT 10",
        "status": "SELECT iid FROM instances WHERE app_id = 'x' AND status = 'RUNNING' ORDER BY created_at DESC",
        "name": "SELECT iid FROM instances WHERE app_id = 'x' AND name = 'n' ORDER BY created_at DESC",
        "purge": "SELECT iid FROM instances WHERE app_id = 'x' AND completed_at IS NOT NULL AND completed_at < 5",
        "ready": "SELECT iid FROM instances WHERE app_id = 'x' AND ready_at <= 5 ORDER BY ready_at",
    }
    for what, sql in plans.items():
        plan = " ".join(r[3] for r in store.conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, (what, plan)


def test_bulk_purge_runs_in_batches_and_reports_progress(tmp_path):
    store = Store(tmp_path / "p.db")
    now = time.time()
    with store.write():
        for i in range(25):
            iid = store.insert_instance(app_id="default", instance_id=f"i{i}", name="w", status="COMPLETED",
                                        now=now - 100, input=None)
            store.update_instance(iid, completed_at=now - 100)
            store.append_history(iid, 0, ['{"type":"ExecutionStarted","ts":0}'])
        store.insert_instance(app_id="default", instance_id="live", name="w", status="RUNNING", now=now, input=None)
    batches = []
    flt = ListFilter(completed_before=None)
    n = control.purge_many(store, "default", flt, progress=batches.append, batch=10)
    assert n == 25 and batches == [10, 10, 5]
    assert store.get_instance("default", "live") is not None
    assert store.conn.execute("SELECT COUNT(*) FROM history").fetchone()[0] == 0


def test_list_pages_by_keyset_without_losing_rows(tmp_path):
    store = Store(tmp_path / "l.db")
    with store.write():
        for i in range(35):
            store.insert_instance(app_id="default", instance_id=f"i{i:02d}", name="w", status="RUNNING",
                                  now=1000.0 + (i // 3), input=None)  # ties on created_at
    rows = list(store.list_instances("default", None, page=4))
    assert len(rows) == 35 and len({r.instance_id for r in rows}) == 35
    assert [r.created_at for r in rows] == sorted((r.created_at for r in rows), reverse=True)
    assert len(list(store.list_instances("default", None, limit=7, page=4))) == 7


def test_a_write_lock_held_too_long_is_a_clear_error_and_the_store_is_usable_after(tmp_path, monkeypatch):
    from wf.engine import store as store_module

    path = tmp_path / "busy.db"
    store = Store(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.2)
    with pytest.raises(StoreError, match="is busy: another process has held its write lock"):
        control.schedule(store, "default", "w", instance_id="late")
    holder.execute("ROLLBACK")
    control.schedule(store, "default", "w", instance_id="late")  # the lock is free: it goes through
    assert store.get_instance("default", "late") is not None


def test_a_waiting_writer_gets_the_lock_as_soon_as_it_is_released(tmp_path):
    """The poll takes the lock at the first gap, even after waiting longer than SQLite's backoff."""
    import threading

    path = tmp_path / "gap.db"
    store = Store(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    got = threading.Event()

    def writer():
        control.schedule(store, "default", "w", instance_id="waiter")
        got.set()

    t = threading.Thread(target=writer)
    t.start()
    assert not got.wait(0.3)  # blocked while the lock is held
    holder.execute("ROLLBACK")
    assert got.wait(5)
    t.join()


def test_first_opens_of_a_new_file_racing_each_other_all_succeed(tmp_path):
    # wf serve starts its retention runner and its workers together; two processes may start at
    # once on a fresh file. The loser of the switch to WAL used to get "database is locked".
    import threading

    failures: list[BaseException] = []
    for trial in range(30):
        path = tmp_path / f"race-{trial}.db"
        barrier = threading.Barrier(6)

        def open_it(path=path, barrier=barrier) -> None:
            barrier.wait()
            try:
                Store(path).close()
            except BaseException as exc:  # noqa: BLE001 - collected and reported below
                failures.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not failures, failures[:3]


def test_instance_counts_group_by_app_name_and_status_from_one_index(tmp_path):
    """The metrics' wf_instances gauge: one GROUP BY that reads only the index (cheap per scrape)."""
    store = Store(tmp_path / "c.db")
    for app_id, name, n in (("a", "order", 3), ("a", "refund", 1), ("b", "order", 2)):
        for i in range(n):
            control.schedule(store, app_id, name, instance_id=f"{name}-{i}")
    control.terminate(store, "a", "order-0")
    assert sorted(store.instance_counts()) == [("a", "order", "PENDING", 2), ("a", "order", "TERMINATED", 1),
                                               ("a", "refund", "PENDING", 1), ("b", "order", "PENDING", 2)]
    sql = "SELECT app_id, name, status, COUNT(*) FROM instances GROUP BY app_id, name, status"
    plan = " ".join(r[3] for r in store.conn.execute("EXPLAIN QUERY PLAN " + sql))
    assert "COVERING INDEX ix_instances_name_status" in plan and "TEMP B-TREE" not in plan, plan
    # a list by name still walks the index that is ordered by creation time
    sql = "SELECT iid FROM instances WHERE app_id = 'x' AND name = 'n' ORDER BY created_at DESC LIMIT 10"
    plan = " ".join(r[3] for r in store.conn.execute("EXPLAIN QUERY PLAN " + sql))
    assert "INDEX ix_instances_name (" in plan and "TEMP B-TREE" not in plan, plan


def test_count_total_of_one_app_with_or_without_other_apps(tmp_path):
    """Alone in its store an app is counted by SQLite's count of the table; beside others (named
    before or after it), by its own rows."""
    from wf.model import WorkflowStatus

    store = Store(tmp_path / "a.db")
    with store.write():
        for i in range(5):
            store.insert_instance(app_id="m", instance_id=f"i{i}", name="w", status="PENDING", now=1.0, input=None)
    assert store.count_total("m", None) == store.count_total("m", ListFilter()) == 5
    assert store.count_total("z", None) == 0
    for other in ("a", "z"):
        with store.write():
            store.insert_instance(app_id=other, instance_id="x", name="w", status="COMPLETED", now=1.0, input=None)
        assert store.count_total("m", None) == 5
        assert store.count_total(other, None) == 1
    assert store.count_total("m", ListFilter(statuses=(WorkflowStatus.COMPLETED,))) == 0
    assert store.count_total("a", ListFilter(statuses=(WorkflowStatus.COMPLETED,))) == 1
