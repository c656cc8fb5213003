"""Retention by policy: how long each app's finished instances are kept (Dapr 1.17's
stateRetentionPolicy: anyTerminal, completed, failed, terminated), and how long the audit trail is.

Policies live in the store. Workers and `wf serve` run a RetentionRunner; one process at a time
applies the policies (a lease row), counting from when each instance finished, through the bulk
purge's short transactions (the same lock budget as `wf purge`).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from wf.engine import control, metrics
from wf.engine.store import RetentionRow, Store
from wf.model import InvalidArgumentError, ListFilter, RetentionPolicy, WorkflowStatus, utc_from_ts

LEASE = "retention"
LEASE_SECONDS = 300.0  # a holder that died gives the job up after this long
INTERVAL_SECONDS = 10.0  # between runs (WF_RETENTION_INTERVAL overrides: tests, busy stores)
AUDIT_KEY = "audit_retention_seconds"
AUDIT_DEFAULT_SECONDS = 90 * 86400.0
AUDIT_BATCH = 1000

# status -> the policy's own field for it (None: only anyTerminal applies)
STATUS_FIELDS = (("COMPLETED", "completed"), ("FAILED", "failed"), ("TERMINATED", "terminated"),
                 ("CANCELED", None))


def _policy(row: RetentionRow) -> RetentionPolicy:
    return RetentionPolicy(app_id=row.app_id, any_terminal=row.any_terminal, completed=row.completed,
                           failed=row.failed, terminated=row.terminated, updated_at=utc_from_ts(row.updated_at),
                           last_run_at=utc_from_ts(row.last_run_at), last_purged=row.last_purged,
                           total_purged=row.total_purged)


def get_policy(store: Store, app_id: str) -> RetentionPolicy | None:
    rows = store.retention_policies(app_id)
    return _policy(rows[0]) if rows else None


def _describe(limits: dict[str, float | None]) -> str:
    from wf.durations import format_duration

    return ", ".join(f"{k.replace('_', '-')} {format_duration(v)}" for k, v in limits.items() if v is not None)


def set_policy(store: Store, app_id: str, *, any_terminal: float | None = None, completed: float | None = None,
               failed: float | None = None, terminated: float | None = None) -> RetentionPolicy:
    """Replace the app's policy (seconds; None: no limit for that status). At least one limit."""
    limits = {"any_terminal": any_terminal, "completed": completed, "failed": failed, "terminated": terminated}
    for key, value in limits.items():
        if value is not None and value <= 0:
            raise InvalidArgumentError(f"invalid {key.replace('_', '-')} retention: expected a duration > 0")
    if all(v is None for v in limits.values()):
        raise InvalidArgumentError("name at least one limit (--any-terminal, --completed, --failed, --terminated); "
                                   "'wf retention clear' removes the policy")
    now = time.time()
    with store.write():
        store.set_retention(app_id, any_terminal, completed, failed, terminated, now)
        control._audit(store, app_id=app_id, operation="retention-set", now=now, selection=_describe(limits),
                       count=1)
    policy = get_policy(store, app_id)
    assert policy is not None
    return policy


def clear_policy(store: Store, app_id: str) -> bool:
    """Remove the app's policy; False when it had none."""
    with store.write():
        removed = store.clear_retention(app_id)
        control._audit(store, app_id=app_id, operation="retention-clear", count=int(removed),
                       detail=None if removed else "no policy was set")
    return removed


def audit_retention(store: Store) -> float:
    value = store.get_meta(AUDIT_KEY)
    return float(value) if value else AUDIT_DEFAULT_SECONDS


def set_audit_retention(store: Store, app_id: str, seconds: float) -> None:
    if seconds <= 0:
        raise InvalidArgumentError("invalid audit retention: expected a duration > 0")
    from wf.durations import format_duration

    with store.write():
        store.set_meta(AUDIT_KEY, repr(float(seconds)))
        control._audit(store, app_id=app_id, operation="retention-set", selection=f"audit {format_duration(seconds)}",
                       count=1)


def _limit(policy: RetentionRow, field: str | None) -> float | None:
    own = getattr(policy, field) if field else None
    return own if own is not None else policy.any_terminal


def apply_once(store: Store, holder: str, *, now: float | None = None) -> dict[str, int] | None:
    """One run: every app's policy, then the audit trail's age limit. None when another process
    holds the lease; otherwise the number purged per app."""
    now = time.time() if now is None else now
    with store.write():
        if not store.take_lease(LEASE, holder, now, LEASE_SECONDS):
            return None
    purged: dict[str, int] = {}
    for policy in store.retention_policies():
        n = 0
        for status, field in STATUS_FIELDS:
            limit = _limit(policy, field)
            if limit is None:
                continue
            from datetime import datetime, timezone

            cutoff = datetime.fromtimestamp(now - limit, tz=timezone.utc)
            flt = ListFilter(statuses=(WorkflowStatus[status],), completed_before=cutoff)
            n += control.purge_many(store, policy.app_id, flt, audit_as=None, trigger="retention")
        with store.write():
            store.record_retention_run(policy.app_id, time.time(), n)
        purged[policy.app_id] = n
    metrics.retention_ran()
    before = now - audit_retention(store)
    while True:
        with store.write():
            if store.prune_audit(before, AUDIT_BATCH) < AUDIT_BATCH:
                break
        time.sleep(control.PURGE_PAUSE)
    return purged


def interval() -> float:
    text = os.environ.get("WF_RETENTION_INTERVAL")
    if not text:
        return INTERVAL_SECONDS
    from wf.durations import parse_duration

    return max(0.01, parse_duration(text).total_seconds())


class RetentionRunner:
    """A daemon thread that applies the store's retention policies every few seconds, on its own
    connection, while this process holds the lease (another process may hold it instead)."""

    def __init__(self, db: str | os.PathLike, *, durability: str | None = None) -> None:
        import socket
        import uuid

        self.db, self.durability = db, durability
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> "RetentionRunner":
        self._thread = threading.Thread(target=self._run, name="wf-retention", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        import logging

        log = logging.getLogger("wf.retention")
        store: Any = None
        try:
            store = Store(self.db, durability=self.durability)
            pause = interval()
            while not self._stop.is_set():
                try:
                    apply_once(store, self.holder)
                except Exception as exc:  # noqa: BLE001 - a bad run is logged; the next one tries again
                    self.error = exc
                    log.warning("wf retention: %s", exc)
                self._stop.wait(pause)
        except Exception as exc:  # noqa: BLE001 - the store cannot be opened: retention stays off here
            self.error = exc
            log.warning("wf retention: %s", exc)
        finally:
            if store is not None:
                try:
                    with store.write():
                        store.release_lease(LEASE, self.holder)
                except Exception:  # noqa: BLE001 - the lease expires by itself
                    pass
                store.close()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
