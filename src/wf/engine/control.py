"""Management operations on the store: start, raise an event, suspend, resume, terminate, purge.

Each public function is one write transaction that applies DESIGN.md's semantics, so the CLI,
the client and `wf serve` need no worker running to manage instances. The worker shares the
helpers that create children and report a finished child to its parent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime

from wf.engine import history as h
from wf.engine import signals
from wf.engine.history import Event
from wf.engine.store import TERMINAL, InstanceRow, Store
from wf.model import (
    AlreadyExistsError,
    FailureDetails,
    InvalidArgumentError,
    InvalidStateError,
    ListFilter,
    NotFoundError,
    validate_instance_id,
)

IF_EXISTS = ("return", "error", "replace")
PURGE_BATCH = 1000  # instances per transaction: about 10 ms of holding the write lock
PURGE_PAUSE = 0.002


def _require(store: Store, app_id: str, instance_id: str) -> InstanceRow:
    row = store.get_instance(app_id, instance_id)
    if row is None:
        raise NotFoundError(f"no workflow instance {instance_id!r} in app {app_id!r}")
    return row


def _append(store: Store, iid: int, *events: Event) -> None:
    store.append_history(iid, store.history_length(iid), [e.to_json() for e in events])


def create_instance(store: Store, *, app_id: str, instance_id: str, name: str, input: str | None,
                    start_ts: float, now: float, parent_iid: int | None = None,
                    parent_task_id: int | None = None, generation: int = 0) -> int | None:
    """Insert a PENDING instance with its ExecutionStarted message. None if the id is taken."""
    iid = store.insert_instance(app_id=app_id, instance_id=instance_id, name=name, status="PENDING", now=now,
                                input=input, parent_iid=parent_iid, parent_task_id=parent_task_id,
                                ready_at=start_ts)
    if iid is None:
        return None
    extra = {"generation": generation} if generation else None
    started = Event(h.EXECUTION_STARTED, start_ts, name=name, data=input, extra=extra)
    store.add_message(iid, h.EXECUTION_STARTED, start_ts, started.to_json())
    return iid


def schedule(store: Store, app_id: str, name: str, *, input: str | None = None, instance_id: str | None = None,
             start_at: datetime | None = None, if_exists: str = "return") -> str:
    if if_exists not in IF_EXISTS:
        raise InvalidArgumentError(f"unknown if_exists {if_exists!r}; expected one of {', '.join(IF_EXISTS)}")
    if not name:
        raise InvalidArgumentError("a workflow name is required")
    if instance_id is None:
        import uuid  # here, not at the top: it drags in `platform`, and reads (`wf get`) never need it

        instance_id = uuid.uuid4().hex
    else:
        validate_instance_id(instance_id)
    now = time.time()
    start_ts = max(now, start_at.timestamp()) if start_at is not None else now
    def create() -> int | None:
        return create_instance(store, app_id=app_id, instance_id=instance_id, name=name, input=input,
                               start_ts=start_ts, now=now)

    with store.write():
        if create() is None:  # the id is taken (rare: try the insert first, look only on a conflict)
            row = store.get_instance(app_id, instance_id, payloads=False)
            assert row is not None
            if if_exists == "return":
                return instance_id
            if if_exists == "error":
                raise AlreadyExistsError(
                    f"instance {instance_id!r} already exists ({row.status}); use if-exists 'return' or 'replace'")
            if row.status not in TERMINAL:
                raise InvalidStateError(
                    f"instance {instance_id!r} is {row.status}: only a finished instance can be replaced; "
                    "terminate it first")
            store.delete_instances([row.iid, *store.descendants([row.iid])])
            create()
    signals.work_added(store.key)
    return instance_id


def raise_event(store: Store, app_id: str, instance_id: str, event_name: str, data: str | None = None) -> None:
    if not event_name or not event_name.strip():
        raise InvalidArgumentError("an event name is required")
    now = time.time()
    with store.write():
        row = _require(store, app_id, instance_id)
        if row.status in TERMINAL:
            raise InvalidStateError(f"instance {instance_id!r} is {row.status}: it no longer accepts events")
        event = Event(h.EVENT_RAISED, now, name=event_name, data=data)
        store.add_message(row.iid, h.EVENT_RAISED, now, event.to_json())
        store.wake(row.iid, now)
    signals.work_added(store.key)


def suspend(store: Store, app_id: str, instance_id: str, reason: str | None = None) -> None:
    now = time.time()
    with store.write():
        row = _require(store, app_id, instance_id)
        if row.status == "SUSPENDED":
            return
        if row.status not in ("RUNNING", "PENDING"):
            raise InvalidStateError(f"cannot suspend instance {instance_id!r}: it is {row.status}")
        if row.status == "RUNNING":  # a PENDING instance has no execution (no history) yet
            _append(store, row.iid, Event(h.EXECUTION_SUSPENDED, now, data=json.dumps(reason) if reason else None))
        store.update_instance(row.iid, status="SUSPENDED", ready_at=None, updated_at=now, bump_version=True)
    signals.state_changed()


def resume(store: Store, app_id: str, instance_id: str, reason: str | None = None) -> None:
    now = time.time()
    with store.write():
        row = _require(store, app_id, instance_id)
        if row.status in ("RUNNING", "PENDING"):
            return
        if row.status != "SUSPENDED":
            raise InvalidStateError(f"cannot resume instance {instance_id!r}: it is {row.status}")
        if store.has_message(row.iid, h.EXECUTION_STARTED):  # suspended before it started
            store.update_instance(row.iid, status="PENDING", updated_at=now, bump_version=True)
        else:
            _append(store, row.iid, Event(h.EXECUTION_RESUMED, now, data=json.dumps(reason) if reason else None))
            store.update_instance(row.iid, status="RUNNING", updated_at=now, bump_version=True)
        store.refresh_ready(row.iid)
    signals.work_added(store.key)
    signals.state_changed()


def notify_parent(store: Store, row: InstanceRow, status: str, output: str | None,
                  failure: FailureDetails | None, now: float) -> None:
    """Tell a parent workflow that its child ended (a purged or finished parent hears nothing)."""
    if row.parent_iid is None:
        return
    parent = store.get_instance_by_iid(row.parent_iid)
    if parent is None or parent.status in TERMINAL:
        return
    if status == "COMPLETED":
        event = Event(h.CHILD_WORKFLOW_COMPLETED, now, task_id=row.parent_task_id, data=output,
                      name=row.name)
    else:
        if failure is None:
            failure = FailureDetails(f"child workflow {row.instance_id!r} was {status.lower()}",
                                     "WorkflowTerminated" if status == "TERMINATED" else "WorkflowFailed")
        event = Event(h.CHILD_WORKFLOW_FAILED, now, task_id=row.parent_task_id, name=row.name,
                      failure=failure.to_dict())
    store.add_message(parent.iid, event.type, now, event.to_json())
    store.wake(parent.iid, now)


def _terminate_row(store: Store, row: InstanceRow, output: str | None, now: float) -> None:
    _append(store, row.iid, Event(h.EXECUTION_TERMINATED, now, data=output))
    store.delete_inbox(row.iid)
    store.delete_tasks(row.iid)
    store.update_instance(row.iid, status="TERMINATED", output=output, completed_at=now, updated_at=now,
                          ready_at=None, owner=None, bump_version=True)
    notify_parent(store, row, "TERMINATED", output, None, now)


def terminate(store: Store, app_id: str, instance_id: str, output: str | None = None, recursive: bool = True) -> None:
    now = time.time()
    with store.write():
        row = _require(store, app_id, instance_id)
        if row.status == "TERMINATED":
            return
        if row.status in TERMINAL:
            raise InvalidStateError(f"cannot terminate instance {instance_id!r}: it has already {row.status}")
        _terminate_row(store, row, output, now)
        if recursive:
            for iid in store.non_terminal(store.descendants([row.iid])):
                child = store.get_instance_by_iid(iid)
                if child is not None:
                    _terminate_row(store, child, None, now)
    signals.state_changed()


def purge(store: Store, app_id: str, instance_id: str, *, recursive: bool = True, force: bool = False) -> int:
    with store.write():
        row = _require(store, app_id, instance_id)
        if row.status not in TERMINAL and not force:
            raise InvalidStateError(
                f"instance {instance_id!r} is {row.status}: purge removes finished instances only; "
                "terminate it first, or force")
        iids = [row.iid]
        if recursive:
            descendants = store.descendants([row.iid])
            if not force:  # a still-running child of a finished parent is left to run
                running = set(store.non_terminal(descendants))
                descendants = [d for d in descendants if d not in running]
            iids.extend(descendants)
        return store.delete_instances(iids)


def count_purgeable(store: Store, app_id: str, flt: ListFilter, *, force: bool = False) -> int:
    return store.count_instances(app_id, flt, terminal_only=not force)


def purge_many(store: Store, app_id: str, flt: ListFilter, *, force: bool = False, dry_run: bool = False,
               progress: Callable[[int], None] | None = None, batch: int = PURGE_BATCH) -> int:
    """Bulk purge in short transactions, so workers keep running beside a purge of millions."""
    if dry_run:
        return count_purgeable(store, app_id, flt, force=force)
    total = 0
    while True:
        with store.write():
            iids = store.select_purge_batch(app_id, flt, terminal_only=not force, limit=batch)
            if not iids:
                break
            descendants = store.descendants(iids)
            if not force:
                running = set(store.non_terminal(descendants))
                descendants = [d for d in descendants if d not in running]
            n = store.delete_instances(list(dict.fromkeys([*iids, *descendants])))
        total += n
        if progress is not None:
            progress(n)
        time.sleep(PURGE_PAUSE)  # a gap in which waiting writers (workers) take the lock
    return total
