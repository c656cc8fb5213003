"""In-process wake-ups: a client that commits work nudges the workers of the same store at once,
and a worker that commits a step wakes the waiters (wait_for_workflow_*) of the same process.
Other processes are noticed through SQLite's data_version instead (see worker.py)."""

from __future__ import annotations

import threading

_lock = threading.Lock()
_workers: dict[str, set[threading.Event]] = {}
_changed = threading.Condition()


# Keys are Store.key: the real path of the database file, computed once per Store.
def register_worker(key: str, event: threading.Event) -> None:
    with _lock:
        _workers.setdefault(key, set()).add(event)


def unregister_worker(key: str, event: threading.Event) -> None:
    with _lock:
        _workers.get(key, set()).discard(event)


def work_added(key: str) -> None:
    with _lock:
        events = list(_workers.get(key, ()))
    for e in events:
        e.set()


def state_changed() -> None:
    with _changed:
        _changed.notify_all()


def wait_for_change(timeout: float) -> None:
    with _changed:
        _changed.wait(timeout)
