"""What `wf top` reads from the store: instances started / completed / failed per minute, lists
oldest first and latest finished first (with keyset paging), of one app or every app, and the
query plans of these reads: index range scans, never a scan of the instances table."""

from __future__ import annotations

import time

import pytest

from wf.backends.local import LocalBackend
from wf.engine.store import Store
from wf.model import InvalidArgumentError, ListFilter, WorkflowStatus


def add(store: Store, app: str, iid: str, status: str, created: float, finished: float | None = None) -> None:
    with store.write():
        key = store.insert_instance(app_id=app, instance_id=iid, name="w", status=status, now=created, input=None)
        if finished is not None:
            store.update_instance(key, completed_at=finished, updated_at=finished)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "r.db")
    yield s
    s.close()


def test_rates_count_per_minute_the_last_minute_first(store):
    now = time.time()
    add(store, "default", "a", "RUNNING", now - 10)  # minute 0
    add(store, "default", "b", "COMPLETED", now - 70, now - 5)  # started in minute 1, completed in minute 0
    add(store, "default", "c", "FAILED", now - 200, now - 130)  # started minute 3, failed minute 2
    add(store, "default", "d", "TERMINATED", now - 20, now - 15)  # started; terminated is neither rate
    add(store, "default", "old", "COMPLETED", now - 16 * 60, now - 15 * 60 - 1)  # before the window
    add(store, "billing", "e", "FAILED", now - 30, now - 20)  # another app

    rates = store.rates("default", now, 15)
    assert rates["started"][:5] == [2, 1, 0, 1, 0] and sum(rates["started"]) == 4
    assert rates["completed"][:3] == [1, 0, 0] and sum(rates["completed"]) == 1
    assert rates["failed"][:3] == [0, 0, 1] and sum(rates["failed"]) == 1
    assert all(len(v) == 15 for v in rates.values())

    every = store.rates(None, now, 15)
    assert every["started"][0] == 3 and every["failed"][0] == 1 and sum(every["failed"]) == 2
    assert store.rates("nobody", now, 3) == {"started": [0, 0, 0], "completed": [0, 0, 0], "failed": [0, 0, 0]}


def test_backend_rates_validate_minutes_and_read_a_missing_store_as_zero(tmp_path):
    backend = LocalBackend(tmp_path / "none.db")
    rates = backend.rates(5)
    assert rates is not None and rates.started == [0] * 5 and rates.failed == [0] * 5
    assert not (tmp_path / "none.db").exists()  # a read creates no file
    for bad in (0, 61, True):
        with pytest.raises(InvalidArgumentError):
            backend.rates(bad)


def test_lists_oldest_first_and_latest_finished_first_page_by_page(tmp_path):
    store = Store(tmp_path / "o.db")
    now = time.time()
    for i in range(7):
        add(store, "default", f"r{i}", "RUNNING", now - 100 + i)
        add(store, "default", f"f{i}", "FAILED", now - 1000 + i, now - 50 + (i * 3) % 7)  # finished out of order
    add(store, "billing", "r-billing", "RUNNING", now - 500)
    store.close()
    backend = LocalBackend(tmp_path / "o.db")
    running = ListFilter(statuses=(WorkflowStatus.RUNNING,))
    failed = ListFilter(statuses=(WorkflowStatus.FAILED,))
    assert [s.instance_id for s in backend.list(running, order="oldest")] == [f"r{i}" for i in range(7)]
    assert [s.instance_id for s in backend.list(running, order="oldest", all_apps=True, limit=2)] == ["r-billing", "r0"]
    by_finish = sorted(range(7), key=lambda i: (i * 3) % 7, reverse=True)
    assert [s.instance_id for s in backend.list(failed, order="finished")] == [f"f{i}" for i in by_finish]
    assert [s.instance_id for s in backend.list(None, order="finished", limit=1)] == [f"f{by_finish[0]}"]

    for order, flt in (("oldest", running), ("finished", failed)):
        seen, cursor = [], None
        while True:
            page, cursor = backend.list_page(flt, limit=3, cursor=cursor, order=order)
            seen += [s.instance_id for s in page]
            if cursor is None:
                break
        assert seen == [s.instance_id for s in backend.list(flt, order=order)], order
    with pytest.raises(InvalidArgumentError):
        list(backend.list(None, order="sideways"))
    backend.close()


def test_what_top_reads_is_served_by_indexes(store):
    """Every statement of the rates and of the ordered lists, with its real parameters, searches an
    index; none scans the instances table (cheap on a million instances)."""
    now = time.time()
    add(store, "default", "a", "RUNNING", now - 10)
    add(store, "billing", "b", "FAILED", now - 30, now - 20)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    store.rates("default", now, 15)
    store.rates(None, now, 15)
    list(store.list_instances("default", ListFilter(statuses=(WorkflowStatus.RUNNING,)), limit=20, order="oldest"))
    list(store.list_instances("default", ListFilter(statuses=(WorkflowStatus.FAILED,)), limit=20, order="finished"))
    store.conn.set_trace_callback(None)
    reads = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(reads) == 6  # two for each rates, one for each list
    for sql in reads:
        plan = [r[3] for r in store.conn.execute("EXPLAIN QUERY PLAN " + sql)]
        assert any(p.startswith("SEARCH instances USING COVERING INDEX") or p.startswith("SEARCH instances USING INDEX")
                   for p in plan), (sql, plan)
        assert not any(p.startswith("SCAN instances") for p in plan), (sql, plan)
        assert not any("TEMP B-TREE FOR ORDER BY" in p for p in plan), (sql, plan)
