"""Make a store of N finished instances with about ten history events each, through the store's
own methods (no SQL here), in large transactions. Used by cli.py and purge.py.

    python bench/populate.py PATH N [--age-hours H]
"""

from __future__ import annotations

import sys
import time

import common  # noqa: F401  (puts src/ on the path)
from wf.engine import history as h
from wf.engine.history import Event
from wf.engine.store import Store

BATCH = 20_000


def history_of(ts: float) -> list[str]:
    events = [Event(h.EXECUTION_STARTED, ts, name="three_steps", data="1")]
    for i in range(1, 5):
        events.append(Event(h.TASK_SCHEDULED, ts, event_id=i, name="inc", data=str(i)))
        events.append(Event(h.TASK_COMPLETED, ts, task_id=i, name="inc", data=str(i + 1)))
    events.append(Event(h.EXECUTION_COMPLETED, ts, data="5", extra={"status": "COMPLETED"}))
    return [e.to_json() for e in events]


def populate(path: str, n: int, age_hours: float = 2.0) -> None:
    store = Store(path)
    end = time.time() - age_hours * 3600
    done = 0
    while done < n:
        with store.write():
            rows = []
            for i in range(done, min(n, done + BATCH)):
                ts = end - (n - i) * 0.001
                iid = store.insert_instance(app_id="default", instance_id=f"bench-{i:08d}", name="three_steps",
                                            status="COMPLETED", now=ts, input="1")
                rows.append((ts, "5", iid))
                store.append_history(iid, 0, history_of(ts))
            store.finish_instances([("COMPLETED", out, ts, ts, None, 0, None, iid) for ts, out, iid in rows])
        done = min(n, done + BATCH)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def populate_waiting(path: str, n: int, name: str = "await_event", app_id: str = "default") -> None:
    """N RUNNING instances that wait for an event (history: their start), as a worker leaves them."""
    store = Store(path)
    now = time.time()
    done = 0
    while done < n:
        with store.write():
            for i in range(done, min(n, done + BATCH)):
                iid = store.insert_instance(app_id=app_id, instance_id=f"wait-{i:08d}", name=name,
                                            status="RUNNING", now=now, input="1")
                store.append_history(iid, 0, [Event(h.EXECUTION_STARTED, now, name=name, data="1").to_json()])
        done = min(n, done + BATCH)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


if __name__ == "__main__":
    path, n = sys.argv[1], int(sys.argv[2])
    age = float(sys.argv[sys.argv.index("--age-hours") + 1]) if "--age-hours" in sys.argv else 2.0
    t = time.perf_counter()
    populate(path, n, age)
    print(f"populated {n} instances in {time.perf_counter() - t:.1f}s", file=sys.stderr)
