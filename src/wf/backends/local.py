"""The local engine as a Backend: reads and management calls go straight to the SQLite store,
so none of them needs a worker running. A read of a store that does not exist yet finds nothing
(and creates no file); the first write creates it."""

from __future__ import annotations

import builtins
import functools
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from types import FunctionType
from typing import TYPE_CHECKING, Any

from wf.engine.store import InstanceRow, Store, store_error
from wf.model import (
    AuditRecord,
    BulkResult,
    FailureDetails,
    HistoryEvent,
    InvalidArgumentError,
    ListFilter,
    NotFoundError,
    RetentionPolicy,
    PendingItem,
    Rates,
    WorkerInfo,
    WorkflowState,
    WorkflowStatus,
    check_list_order,
    check_rate_minutes,
    utc_from_ts,
)

if TYPE_CHECKING:
    from wf.backends.base import Capabilities

# The engine's write paths (wf.engine.control), history decoding and the wait loop are imported by
# the methods that use them: `wf get` and `wf list` load the store and nothing else of the engine.


def _encode_cursor(created_at: float, iid: int) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps([created_at, iid]).encode()).decode().rstrip("=")


MAX_CURSOR = 200


def _decode_cursor(cursor: str | None) -> tuple[float, int] | None:
    """The keyset (created_at, iid) a list page ended on."""
    if not cursor:
        return None
    import base64
    import math

    try:
        if len(cursor) > MAX_CURSOR:  # ours are ~40 characters; a long one is crafted (and may nest deeply)
            raise ValueError
        created_at, iid = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        # exactly what _encode_cursor writes: a finite number and a row id SQLite can hold
        if not (type(created_at) in (int, float) and math.isfinite(created_at) and type(iid) is int
                and 0 <= iid < 2**63):
            raise ValueError
        return float(created_at), iid
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError):
        raise InvalidArgumentError("invalid continuation token: pass back the one a list answer gave") from None


def state_from_row(row: InstanceRow) -> WorkflowState:
    failure = FailureDetails.from_dict(json.loads(row.failure)) if row.failure else None
    return WorkflowState(
        instance_id=row.instance_id,
        name=row.name,
        runtime_status=WorkflowStatus[row.status],
        created_at=utc_from_ts(row.created_at),
        last_updated_at=utc_from_ts(row.updated_at),
        serialized_input=row.input,
        serialized_output=row.output,
        serialized_custom_status=row.custom_status,
        failure_details=failure,
        app_id=row.app_id,
        completed_at=utc_from_ts(row.completed_at),
        parent_instance_id=row.parent_id,
    )


_GENERATOR = 0x20  # inspect.CO_GENERATOR, without importing inspect on the read path


def _store_errors(cls: type) -> type:
    """Wrap every public method: an error of SQLite met mid-query (a damaged page, a full disk)
    becomes the same one-line StoreError as one met when opening the store."""
    def wrap(fn: Callable) -> Callable:
        if fn.__code__.co_flags & _GENERATOR:
            @functools.wraps(fn)
            def gen(self: "LocalBackend", *args: object, **kwargs: object) -> Iterator:
                try:
                    yield from fn(self, *args, **kwargs)
                except sqlite3.DatabaseError as exc:
                    raise store_error(self.path, exc) from None
            return gen

        @functools.wraps(fn)
        def call(self: "LocalBackend", *args: object, **kwargs: object) -> object:
            try:
                return fn(self, *args, **kwargs)
            except sqlite3.DatabaseError as exc:
                raise store_error(self.path, exc) from None
        return call

    for name, value in list(vars(cls).items()):
        if not name.startswith("_") and isinstance(value, FunctionType):
            setattr(cls, name, wrap(value))
    return cls


@_store_errors
class LocalBackend:
    def __init__(self, db: str | os.PathLike, *, app_id: str = "default", durability: str | None = None,
                 store: Store | None = None) -> None:
        """store: an open Store to borrow (one per file shared by many app ids); close() leaves it open."""
        self.path = os.fspath(db)
        self.app_id = app_id
        self.durability = durability
        self._store: Store | None = store
        self._owns_store = store is None
        self._opening = threading.Lock()

    # A store is opened on first use, once even when threads race; reads of a missing file do
    # not create it.
    def _open(self, *, create: bool) -> Store | None:
        if self._store is None:
            with self._opening:
                if self._store is None:
                    if not create and not os.path.exists(self.path):
                        return None
                    self._store = Store(self.path, durability=self.durability)
        return self._store

    def store(self) -> Store:
        store = self._open(create=True)
        assert store is not None
        return store

    def close(self) -> None:
        if self._store is not None:
            if self._owns_store:
                self._store.close()
            self._store = None

    def capabilities(self) -> Capabilities:
        from wf.backends.base import Capabilities

        return Capabilities(engine="local")

    # ------------------------------------------------------------------------------ writes

    def start(self, name: str, *, input: str | None = None, instance_id: str | None = None,
              start_at: datetime | None = None, if_exists: str = "return") -> str:
        from wf.engine import control

        return control.schedule(self.store(), self.app_id, name, input=input, instance_id=instance_id,
                                start_at=start_at, if_exists=if_exists)

    def raise_event(self, instance_id: str, event_name: str, data: str | None = None) -> None:
        from wf.engine import control

        control.raise_event(self._existing(instance_id), self.app_id, instance_id, event_name, data)

    def suspend(self, instance_id: str, reason: str | None = None) -> None:
        from wf.engine import control

        control.suspend(self._existing(instance_id), self.app_id, instance_id, reason)

    def resume(self, instance_id: str, reason: str | None = None) -> None:
        from wf.engine import control

        control.resume(self._existing(instance_id), self.app_id, instance_id, reason)

    def terminate(self, instance_id: str, output: str | None = None, recursive: bool = True, *,
                  reason: str | None = None) -> None:
        from wf.engine import control

        control.terminate(self._existing(instance_id), self.app_id, instance_id, output, recursive, reason=reason)

    def purge(self, instance_id: str, *, recursive: bool = True, force: bool = False) -> int:
        from wf.engine import control

        return control.purge(self._existing(instance_id), self.app_id, instance_id, recursive=recursive, force=force)

    def rerun(self, instance_id: str, event_id: int, *, new_instance_id: str | None = None,
              input: str | None = None, overwrite_input: bool = False) -> str:
        from wf.backends.base import check_rerun_args
        from wf.engine.rerun import rerun

        check_rerun_args(instance_id, event_id, new_instance_id)
        return rerun(self._existing(instance_id), self.app_id, instance_id, event_id, new_instance_id=new_instance_id,
                     input=input, overwrite_input=overwrite_input)

    def purge_many(self, flt: ListFilter, *, force: bool = False, dry_run: bool = False,
                   progress: Callable[[int], None] | None = None) -> int:
        from wf.engine import control

        store = self._open(create=False)
        if store is None:
            return 0
        return control.purge_many(store, self.app_id, flt, force=force, dry_run=dry_run, progress=progress)

    def count(self, flt: ListFilter, *, force: bool = False) -> int:
        from wf.engine import control

        store = self._open(create=False)
        return 0 if store is None else control.count_purgeable(store, self.app_id, flt, force=force)

    def select(self, operation: str, flt: ListFilter | None) -> list[str]:
        from wf.engine import control

        store = self._open(create=False)
        return [] if store is None else control.bulk_select(store, self.app_id, operation, flt)

    def bulk(self, operation: str, instance_ids: list[str], *, progress: Callable[[int], None] | None = None,
             selection: str | None = None, rps: float | None = None, op_id: str | None = None,
             **params: Any) -> BulkResult:
        """In the store, a few hundred instances per transaction (rps does not apply)."""
        store = self._open(create=False)
        if store is None:
            result = BulkResult(operation, selected=len(instance_ids))
            for iid in dict.fromkeys(instance_ids):
                result.fail(iid, "not found")
            return result
        from wf.engine import control

        return control.bulk_run(store, self.app_id, operation, instance_ids, progress=progress, selection=selection,
                                op_id=op_id, **params)
    def workers(self, *, all_apps: bool = False) -> builtins.list[WorkerInfo]:
        import time

        from wf.engine.pending import lease_seconds, worker_info

        store = self._open(create=False)
        if store is None:
            return []
        rows = store.live_workers(None if all_apps else self.app_id, time.time() - lease_seconds())
        return [worker_info(r) for r in rows]

    def count_total(self, flt: ListFilter | None) -> int:
        store = self._open(create=False)
        return 0 if store is None else store.count_total(self.app_id, flt)

    def count_by(self, flt: ListFilter | None, by: str, *, all_apps: bool = False) -> dict[str, int]:
        """Instances matching flt per status, name or app (by "app": across every app)."""
        store = self._open(create=False)
        if store is None:
            return {}
        column = {"status": "status", "name": "name", "app": "app_id"}[by]
        return store.count_by(None if by == "app" or all_apps else self.app_id, flt, column)

    def rates(self, minutes: int, *, all_apps: bool = False) -> Rates | None:
        import time

        check_rate_minutes(minutes)
        store = self._open(create=False)
        if store is None:
            return Rates([0] * minutes, [0] * minutes, [0] * minutes)
        return Rates(**store.rates(None if all_apps else self.app_id, time.time(), minutes))

    def audit(self, *, since: datetime | None = None, operation: str | None = None, instance_id: str | None = None,
              limit: int | None = None) -> list[AuditRecord]:
        from wf.engine import control

        store = self._open(create=False)
        if store is None:
            return []
        return control.list_audit(store, app_id=self.app_id, since=since, operation=operation,
                                  instance_id=instance_id, limit=limit)

    def retention(self) -> RetentionPolicy:
        from dataclasses import replace

        from wf.engine import retention

        store = self._open(create=False)
        if store is None:
            return RetentionPolicy(self.app_id, audit=retention.AUDIT_DEFAULT_SECONDS)
        policy = retention.get_policy(store, self.app_id) or RetentionPolicy(self.app_id)
        return replace(policy, audit=retention.audit_retention(store))

    def set_retention(self, *, any_terminal: float | None = None, completed: float | None = None,
                      failed: float | None = None, terminated: float | None = None) -> RetentionPolicy:
        from wf.engine import retention

        retention.set_policy(self.store(), self.app_id, any_terminal=any_terminal, completed=completed,
                             failed=failed, terminated=terminated)
        return self.retention()

    def clear_retention(self) -> bool:
        from wf.engine import retention

        store = self._open(create=False)
        return False if store is None else retention.clear_policy(store, self.app_id)

    def set_audit_retention(self, seconds: float) -> None:
        from wf.engine import retention

        retention.set_audit_retention(self.store(), self.app_id, seconds)

    def _existing(self, instance_id: str) -> Store:
        store = self._open(create=False)
        if store is None:
            raise NotFoundError(f"no workflow instance {instance_id!r} in app {self.app_id!r}")
        return store

    # ------------------------------------------------------------------------------ reads

    def _row(self, instance_id: str, *, payloads: bool = True) -> InstanceRow | None:
        store = self._open(create=False)
        return None if store is None else store.get_instance(self.app_id, instance_id, payloads=payloads)

    def get(self, instance_id: str, *, fetch_payloads: bool = True) -> WorkflowState | None:
        row = self._row(instance_id, payloads=fetch_payloads)
        return None if row is None else state_from_row(row)

    def list(self, flt: ListFilter | None = None, *, limit: int | None = None, fetch_payloads: bool = False,
             order: str = "newest", all_apps: bool = False) -> Iterator[WorkflowState]:
        check_list_order(order)
        store = self._open(create=False)
        if store is None:
            return
        for row in store.list_instances(None if all_apps else self.app_id, flt, limit=limit, payloads=fetch_payloads,
                                        order=order):
            yield state_from_row(row)

    def list_page(self, flt: ListFilter | None = None, *, limit: int, cursor: str | None = None,
                  fetch_payloads: bool = False, order: str = "newest",
                  all_apps: bool = False) -> tuple[builtins.list[WorkflowState], str | None]:
        """One page of list(), and an opaque cursor for the next page (None after the last)."""
        check_list_order(order)
        store = self._open(create=False)
        if store is None:
            return [], None
        rows = list(store.list_instances(None if all_apps else self.app_id, flt, limit=limit + 1,
                                         payloads=fetch_payloads, after=_decode_cursor(cursor), page=limit + 1,
                                         order=order))
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if rows else None
        key = None if last is None else (last.completed_at if order == "finished" else last.created_at)
        nxt = _encode_cursor(key, last.iid) if more and last is not None and key is not None else None
        return [state_from_row(r) for r in rows], nxt

    def pending(self, instance_id: str) -> builtins.list[PendingItem] | None:
        """What the instance waits for (engine/pending.py); NotFoundError when there is none."""
        import time

        from wf.engine import pending

        row = self._row(instance_id, payloads=False)
        if row is None:
            raise NotFoundError(f"no workflow instance {instance_id!r} in app {self.app_id!r}")
        return pending.for_instance(self.store(), row, time.time())

    def history(self, instance_id: str) -> builtins.list[HistoryEvent]:
        row = self._row(instance_id, payloads=False)
        if row is None:
            raise NotFoundError(f"no workflow instance {instance_id!r} in app {self.app_id!r}")
        from wf.engine.history import Event

        return [Event.from_json(text).to_history_event() for text in self.store().load_history(row.iid)]

    def wait(self, instance_id: str, *, until: str = "completion", timeout: float | None = None,
             fetch_payloads: bool = True) -> WorkflowState:
        """Poll the store; a worker in this process wakes the wait at once, another within ~10 ms."""
        from wf.backends.base import wait_for_state
        from wf.engine import signals

        return wait_for_state(lambda: self.get(instance_id, fetch_payloads=fetch_payloads), instance_id,
                              self.app_id, until=until, timeout=timeout, pause=signals.wait_for_change,
                              first=0.002, factor=2, cap=0.01)
