"""`wf doctor`: how a store stands (integrity, schema, counts, WAL, orphans, live workers) and the
repairs that are safe while workers run: a WAL checkpoint, rebuilt indexes, orphan rows removed."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from wf.engine.store import SCHEMA_VERSION, Store, store_error
from wf.model import StoreError

LIVE_WORKER_SECONDS = 15.0  # a heartbeat younger than the default lease


def _wal_bytes(path: str | os.PathLike) -> int:
    try:
        return os.path.getsize(f"{path}-wal")
    except OSError:
        return 0


def examine(path: str | os.PathLike, *, repair: bool = False) -> dict[str, Any]:
    """A report of the store at `path`; `ok` is False when it is damaged. Never raises for a
    damaged store: the damage is the report."""
    path = Path(path)
    report: dict[str, Any] = {"store": str(path), "ok": True, "problems": [], "repaired": []}
    if not path.exists():
        raise StoreError(f"no database at {path}")
    try:
        store = Store(path, create=False)
    except StoreError as exc:
        report["ok"] = False
        report["problems"].append(str(exc))
        return report
    try:
        _fill(store, report, repair)
    finally:
        store.close()
    return report


def _fill(store: Store, report: dict[str, Any], repair: bool) -> None:
    def attempt(what: str, fn: Any) -> Any:
        try:
            return fn()
        except (sqlite3.DatabaseError, StoreError) as exc:
            report["ok"] = False
            error = exc if isinstance(exc, StoreError) else store_error(store.path, exc)
            report["problems"].append(f"{what}: {error}")
            return None

    report["schema_version"] = attempt("schema version", store.schema_version)
    report["schema_version_expected"] = SCHEMA_VERSION
    problems = attempt("integrity check", store.integrity_problems)
    if problems:
        report["ok"] = False
        report["problems"].extend(f"integrity: {p}" for p in problems)
    report["counts"] = attempt("counts", store.table_counts)
    report["orphans"] = attempt("orphan rows", store.orphan_counts)
    report["wal_bytes"] = _wal_bytes(store.path)
    now = time.time()
    workers = attempt("workers", store.workers) or []
    report["live_workers"] = [
        {"worker_id": w.worker_id, "kind": w.kind or "worker", "host": w.host, "pid": w.pid,
         "heartbeat_age_s": round(now - w.heartbeat, 1)}
        for w in workers if now - w.heartbeat < LIVE_WORKER_SECONDS
    ]
    if not repair:
        return
    if report["orphans"] and any(report["orphans"].values()):
        def delete() -> int:
            with store.write():
                return store.delete_orphans()
        removed = attempt("removing orphan rows", delete)
        if removed:
            report["repaired"].append(f"removed {removed} orphan rows")
    def reindex() -> bool:
        store.reindex()
        return True

    if attempt("reindex", reindex):
        report["repaired"].append("rebuilt every index")
    result = attempt("checkpoint", store.checkpoint)
    if result is not None:
        report["repaired"].append(f"checkpointed the WAL ({result[2]} pages copied)")
        report["wal_bytes"] = _wal_bytes(store.path)
    if not report["ok"]:  # an index rebuild may have cured it: look again
        again = attempt("integrity check after repair", store.integrity_problems)
        if again == []:
            report["ok"] = True
            report["problems"].append("the integrity check passes after the repair")
