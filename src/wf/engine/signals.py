"""In-process wake-ups: a client that commits work nudges the workers of the same store at once,
and a worker that commits a step wakes the waiters (wait_for_workflow_*) of the same process.
Other processes are noticed through SQLite's data_version instead (see worker.py)."""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()
_workers: dict[str, set[threading.Event]] = {}
_changed = threading.Condition()


def _key(path: str | os.PathLike) -> str:
    return os.path.realpath(path)


def register_worker(path: str | os.PathLike, event: threading.Event) -> None:
    with _lock:
        _workers.setdefault(_key(path), set()).add(event)


def unregister_worker(path: str | os.PathLike, event: threading.Event) -> None:
    with _lock:
        _workers.get(_key(path), set()).discard(event)


def work_added(path: str | os.PathLike) -> None:
    with _lock:
        events = list(_workers.get(_key(path), ()))
    for e in events:
        e.set()


def state_changed() -> None:
    with _changed:
        _changed.notify_all()


def wait_for_change(timeout: float) -> None:
    with _changed:
        _changed.wait(timeout)
