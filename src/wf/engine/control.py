"""Management operations on the store: start, raise an event, suspend, resume, terminate, purge,
the same in bulk, and the audit record each of them leaves.

Each public function is one write transaction that applies DESIGN.md's semantics, so the CLI,
the client and `wf serve` need no worker running to manage instances. The worker shares the
helpers that create children and report a finished child to its parent.

Audit: every management operation here writes its record in the transaction that does the work
(a refused one in a transaction of its own). The record names who acted: `acting_as(name)` (wf
serve, per request: the token's name) or else the OS user and host. A door that does not come
through these functions (a gRPC rerun, say) calls `record_audit(...)` itself.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from wf.engine import history as h
from wf.engine import metrics, signals
from wf.engine.history import Event
from wf.engine.store import TERMINAL, InstanceRow, Store
from wf.model import (
    AlreadyExistsError,
    BulkResult,
    FailureDetails,
    InvalidArgumentError,
    InvalidStateError,
    ListFilter,
    NotFoundError,
    StoreError,
    WfError,
    WorkflowStatus,
    describe_ids,
    validate_instance_id,
)

IF_EXISTS = ("return", "error", "replace")
PURGE_BATCH = 1000  # instances per transaction: about 10 ms of holding the write lock
PURGE_PAUSE = 0.002
BULK_BATCH = 500  # instances per transaction of a bulk terminate / suspend / resume / raise-event
BULK_PAUSE = 0.002

# ------------------------------------------------------------------------------------------ audit

_actor_var: Any = None  # a contextvars.ContextVar, made on first use (reads never import contextvars)
_local_actor: str | None = None


_actor_lock = threading.Lock()


def _actor() -> Any:
    global _actor_var
    with _actor_lock:
        if _actor_var is None:
            import contextvars

            _actor_var = contextvars.ContextVar("wf_actor", default=None)
        return _actor_var


def local_actor() -> str:
    """user@host of this process: who acts when no door named anyone."""
    global _local_actor
    if _local_actor is None:
        import getpass
        import socket

        try:
            user = getpass.getuser()
        except Exception:  # noqa: BLE001 - no user name (a container's uid without passwd entry)
            import os

            user = f"uid{os.getuid()}"
        _local_actor = f"{user}@{socket.gethostname()}"
    return _local_actor


def current_actor() -> str:
    return _actor().get() or local_actor()


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Operations in this block (this thread or task, and the threads it hands work to through
    contextvars) are recorded as done by `actor`."""
    var = _actor()
    token = var.set(actor)
    try:
        yield
    finally:
        var.reset(token)


def _audit(store: Store, *, app_id: str, operation: str, now: float | None = None, instance_id: str | None = None,
           selection: str | None = None, count: int = 0, skipped: int = 0, failed: int = 0,
           reason: str | None = None, outcome: str = "ok", detail: str | None = None, op_id: str | None = None,
           actor: str | None = None) -> None:
    """Write a record inside the caller's transaction."""
    store.add_audit(at=time.time() if now is None else now, app_id=app_id, actor=actor or current_actor(),
                    operation=operation, instance_id=instance_id, selection=selection, count=count, skipped=skipped,
                    failed=failed, reason=reason, outcome=outcome, detail=detail, op_id=op_id)


def record_audit(store: Store, *, app_id: str, operation: str, instance_id: str | None = None,
                 selection: str | None = None, count: int = 0, reason: str | None = None, outcome: str = "ok",
                 detail: str | None = None, actor: str | None = None) -> None:
    """One audit record in a transaction of its own: for doors whose operation does not come
    through this module (rerun over gRPC, a request refused for its role). outcome: ok, failed, denied."""
    with store.write():
        _audit(store, app_id=app_id, operation=operation, instance_id=instance_id, selection=selection, count=count,
               failed=1 if outcome == "failed" else 0, reason=reason, outcome=outcome, detail=detail, actor=actor)


def list_audit(store: Store, *, app_id: str | None = None, since: datetime | None = None,
               operation: str | None = None, instance_id: str | None = None, limit: int | None = None):
    from wf.model import AuditRecord, utc_from_ts

    rows = store.list_audit(app_id=app_id, since=since.timestamp() if since else None, operation=operation,
                            instance_id=instance_id, limit=limit)
    return [AuditRecord(at=utc_from_ts(r.at), app_id=r.app_id, actor=r.actor,
                        operation=r.operation, instance_id=r.instance_id, selection=r.selection, count=r.count,
                        skipped=r.skipped, failed=r.failed, reason=r.reason, outcome=r.outcome, detail=r.detail)
            for r in rows]


F = TypeVar("F", bound=Callable[..., Any])


def _audited(operation: str) -> Callable[[F], F]:
    """Record a refused operation (its transaction rolled back) before the error goes on."""
    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def call(store: Store, app_id: str, instance_id: str | None = None, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(store, app_id, instance_id, *args, **kwargs)
            except WfError as exc:
                if not isinstance(exc, StoreError):
                    try:
                        record_audit(store, app_id=app_id, operation=operation,
                                     instance_id=instance_id if isinstance(instance_id, str) else None,
                                     reason=kwargs.get("reason"), outcome="failed", detail=str(exc))
                    except WfError:
                        pass  # the store cannot take the record either: the original error matters more
                raise
        return call  # type: ignore[return-value]
    return wrap


def _new_id() -> str:
    import uuid  # here, not at the top: it drags in `platform`, and reads (`wf get`) never need it

    return uuid.uuid4().hex


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
        instance_id = _new_id()
    else:
        validate_instance_id(instance_id)
    now = time.time()
    start_ts = max(now, start_at.timestamp()) if start_at is not None else now
    def create() -> int | None:
        return create_instance(store, app_id=app_id, instance_id=instance_id, name=name, input=input,
                               start_ts=start_ts, now=now)

    try:
        with store.write():
            detail = None
            if create() is None:  # the id is taken (rare: try the insert first, look only on a conflict)
                row = store.get_instance(app_id, instance_id, payloads=False)
                assert row is not None
                if if_exists == "return":
                    _audit(store, app_id=app_id, operation="start", now=now, instance_id=instance_id,
                           selection=name, detail=f"already exists ({row.status}); nothing started")
                    return instance_id
                if if_exists == "error":
                    raise AlreadyExistsError(
                        f"instance {instance_id!r} already exists ({row.status}); use if-exists 'return' or 'replace'")
                if row.status not in TERMINAL:
                    raise InvalidStateError(
                        f"instance {instance_id!r} is {row.status}: only a finished instance can be replaced; "
                        "terminate it first")
                descendants = store.descendants([row.iid])
                _refuse_running_descendants(store, instance_id, descendants, "replace")
                store.delete_instances([row.iid, *descendants])
                create()
                detail = f"replaced a {row.status} instance"
            _audit(store, app_id=app_id, operation="start", now=now, instance_id=instance_id, selection=name,
                   count=1, detail=detail)
    except (AlreadyExistsError, InvalidStateError) as exc:
        record_audit(store, app_id=app_id, operation="start", instance_id=instance_id, selection=name,
                     outcome="failed", detail=str(exc))
        raise
    signals.work_added(store.key)
    return instance_id


def _refuse_running_descendants(store: Store, instance_id: str, descendants: list[int], what: str) -> None:
    """Replacing a finished parent must not delete a child still running (terminate --no-recursive
    leaves one): refuse, naming it, as purge leaves it alone."""
    running = store.non_terminal(descendants)
    if running:
        names = [r.instance_id for r in (store.get_instance_by_iid(i) for i in running[:3]) if r is not None]
        more = f" and {len(running) - len(names)} more" if len(running) > len(names) else ""
        raise InvalidStateError(
            f"cannot {what} instance {instance_id!r}: its child workflow {', '.join(map(repr, names))}{more} "
            "is still running; terminate it first")


# ------------------------------------------------------------------------------ one instance, many instances
#
# Each operation is written once, over a list of rows in one transaction: the single-instance
# call is the batch of one, after it checked the state (and refused what does not apply).


def _suspend_rows(store: Store, rows: Sequence[InstanceRow], now: float, reason: str | None) -> None:
    running = [r for r in rows if r.status == "RUNNING"]  # a PENDING instance has no execution (no history) yet
    if running:
        lengths = store.history_lengths([r.iid for r in running])
        event = Event(h.EXECUTION_SUSPENDED, now, data=json.dumps(reason) if reason else None).to_json()
        store.append_history_rows([(r.iid, lengths.get(r.iid, 0), event) for r in running])
    store.set_status([r.iid for r in rows], "SUSPENDED", now, clear_ready=True)


def _resume_rows(store: Store, rows: Sequence[InstanceRow], now: float, reason: str | None) -> None:
    iids = [r.iid for r in rows]
    not_started = store.with_message(iids, h.EXECUTION_STARTED)  # suspended before it started
    started = [iid for iid in iids if iid not in not_started]
    if not_started:
        store.set_status(list(not_started), "PENDING", now)
    if started:
        lengths = store.history_lengths(started)
        event = Event(h.EXECUTION_RESUMED, now, data=json.dumps(reason) if reason else None).to_json()
        store.append_history_rows([(iid, lengths.get(iid, 0), event) for iid in started])
        store.set_status(started, "RUNNING", now)
    store.refresh_ready_many(iids)


def _raise_event_rows(store: Store, rows: Sequence[InstanceRow], now: float, event_name: str,
                      data: str | None) -> None:
    event = Event(h.EVENT_RAISED, now, name=event_name, data=data).to_json()
    store.add_messages((r.iid, h.EVENT_RAISED, now, event) for r in rows)
    store.wake_many([r.iid for r in rows], now)


def restart_execution(store: Store, row: InstanceRow, now: float, generation: int, new_input: str | None,
                      carryover: Sequence[Event], custom_status: tuple[str | None] | None = None) -> None:
    """Continue-as-new: a fresh history whose ExecutionStarted carries the new input, the raised
    events kept (and the carried-over ones re-queued), the instance RUNNING again. custom_status:
    (value,) when the last step set it. Used by the in-process worker and the gRPC work items."""
    store.delete_tasks(row.iid)
    store.clear_history(row.iid)
    store.delete_inbox(row.iid, keep_kind=h.EVENT_RAISED)
    started = Event(h.EXECUTION_STARTED, now, name=row.name, data=new_input, extra={"generation": generation})
    store.add_message(row.iid, h.EXECUTION_STARTED, now, started.to_json())
    store.add_messages((row.iid, e.type, now, e.to_json()) for e in carryover)
    fields: dict[str, Any] = {"custom_status": custom_status[0]} if custom_status is not None else {}
    store.update_instance(row.iid, status="RUNNING", input=new_input, output=None, updated_at=now,
                          waiting=None, bump_version=True, **fields)
    store.refresh_ready(row.iid)


def terminate_rows(store: Store, rows: Sequence[InstanceRow], output: str | None, now: float,
                   recursive: bool) -> None:
    """End live instances as TERMINATED (with their children when recursive), inside the caller's
    transaction; a live parent hears of its terminated child."""
    iids = [r.iid for r in rows]
    lengths = store.history_lengths(iids)
    event = Event(h.EXECUTION_TERMINATED, now, data=output).to_json()
    store.append_history_rows([(iid, lengths.get(iid, 0), event) for iid in iids])
    store.clear_work(iids)
    store.mark_terminated(iids, output, now)
    for row in rows:  # after marking: a parent terminated in the same batch hears nothing
        if row.parent_iid is not None:
            notify_parent(store, row, "TERMINATED", output, None, now)
    if recursive:
        children = store.non_terminal(store.descendants(iids))  # every generation below
        if children:
            terminate_rows(store, store.instances_by_iids(children), None, now, recursive=False)


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


@_audited("raise-event")
def raise_event(store: Store, app_id: str, instance_id: str, event_name: str, data: str | None = None) -> None:
    if not event_name or not event_name.strip():
        raise InvalidArgumentError("an event name is required")
    now = time.time()
    with store.write():
        row = _require(store, app_id, instance_id)
        if row.status in TERMINAL:
            raise InvalidStateError(f"instance {instance_id!r} is {row.status}: it no longer accepts events")
        _raise_event_rows(store, [row], now, event_name, data)
        _audit(store, app_id=app_id, operation="raise-event", now=now, instance_id=instance_id,
               selection=event_name, count=1)
    signals.work_added(store.key)


@_audited("suspend")
def suspend(store: Store, app_id: str, instance_id: str, reason: str | None = None) -> None:
    now = time.time()
    with store.write():
        row = _require(store, app_id, instance_id)
        if row.status != "SUSPENDED":
            if row.status not in ("RUNNING", "PENDING"):
                raise InvalidStateError(f"cannot suspend instance {instance_id!r}: it is {row.status}")
            _suspend_rows(store, [row], now, reason)
        _audit(store, app_id=app_id, operation="suspend", now=now, instance_id=instance_id, reason=reason,
               count=int(row.status != "SUSPENDED"))
    signals.state_changed()


@_audited("resume")
def resume(store: Store, app_id: str, instance_id: str, reason: str | None = None) -> None:
    now = time.time()
    with store.write():
        row = _require(store, app_id, instance_id)
        if row.status not in ("RUNNING", "PENDING"):
            if row.status != "SUSPENDED":
                raise InvalidStateError(f"cannot resume instance {instance_id!r}: it is {row.status}")
            _resume_rows(store, [row], now, reason)
        _audit(store, app_id=app_id, operation="resume", now=now, instance_id=instance_id, reason=reason,
               count=int(row.status == "SUSPENDED"))
    signals.work_added(store.key)
    signals.state_changed()


@_audited("terminate")
def terminate(store: Store, app_id: str, instance_id: str, output: str | None = None, recursive: bool = True,
              *, reason: str | None = None) -> None:
    now = time.time()
    with store.write():
        row = _require(store, app_id, instance_id)
        if row.status != "TERMINATED":
            if row.status in TERMINAL:
                raise InvalidStateError(f"cannot terminate instance {instance_id!r}: it has already {row.status}")
            terminate_rows(store, [row], output, now, recursive)
        _audit(store, app_id=app_id, operation="terminate", now=now, instance_id=instance_id, reason=reason,
               count=int(row.status != "TERMINATED"))
    signals.state_changed()


@_audited("purge")
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
        n = store.delete_instances(iids)
        _audit(store, app_id=app_id, operation="purge", instance_id=instance_id, count=n,
               detail="forced" if force else None)
    metrics.purged(app_id, n, "request")
    return n


def count_purgeable(store: Store, app_id: str, flt: ListFilter, *, force: bool = False) -> int:
    return store.count_instances(app_id, flt, terminal_only=not force)


def purge_many(store: Store, app_id: str, flt: ListFilter, *, force: bool = False, dry_run: bool = False,
               progress: Callable[[int], None] | None = None, batch: int = PURGE_BATCH,
               audit_as: str | None = "purge", trigger: str = "request") -> int:
    """Bulk purge in short transactions, so workers keep running beside a purge of millions.
    One audit record (audit_as; None for none) names the selection and adds up the batches.
    trigger: what the metrics count it as (request, retention)."""
    if dry_run:
        return count_purgeable(store, app_id, flt, force=force)
    total = 0
    op_id = _new_id()
    selection = selection_text(flt) + (", forced" if force else "")
    while True:
        with store.write():
            iids = store.select_purge_batch(app_id, flt, terminal_only=not force, limit=batch)
            if not iids:
                if total == 0 and audit_as:
                    _audit(store, app_id=app_id, operation=audit_as, selection=selection, op_id=op_id)
                break
            descendants = store.descendants(iids)
            if not force:
                running = set(store.non_terminal(descendants))
                descendants = [d for d in descendants if d not in running]
            n = store.delete_instances(list(dict.fromkeys([*iids, *descendants])))
            if audit_as:
                _audit(store, app_id=app_id, operation=audit_as, selection=selection, count=n, op_id=op_id)
        total += n
        metrics.purged(app_id, n, trigger)
        if progress is not None:
            progress(n)
        time.sleep(PURGE_PAUSE)  # a gap in which waiting writers (workers) take the lock
    return total


# ------------------------------------------------------------------------------ bulk operations

def _live(status: str) -> bool:
    return status not in TERMINAL


# What each bulk operation applies to; an instance in another state is skipped.
APPLIES: dict[str, Callable[[str], bool]] = {
    "terminate": _live,
    "suspend": lambda status: status in ("RUNNING", "PENDING"),
    "resume": lambda status: status == "SUSPENDED",
    "raise_event": _live,
}
# What `--all` selects when no status is given.
DEFAULT_STATUSES: dict[str, tuple[WorkflowStatus, ...]] = {
    op: tuple(s for s in WorkflowStatus if applies(s.name)) for op, applies in APPLIES.items()
}


def selection_text(flt: ListFilter | None = None, ids: Sequence[str] | None = None) -> str:
    """A bulk operation's selection, for its audit record."""
    if ids is not None:
        return describe_ids(list(ids))
    return (flt or ListFilter()).describe()


def _check_operation(operation: str) -> None:
    if operation not in APPLIES:
        raise InvalidArgumentError(f"unknown bulk operation {operation!r}; expected one of {', '.join(APPLIES)}")


def bulk_select(store: Store, app_id: str, operation: str, flt: ListFilter | None) -> list[str]:
    """The instances a bulk operation takes, once, at its start; without statuses, those it applies to."""
    _check_operation(operation)
    flt = flt or ListFilter()
    if not flt.statuses:
        from dataclasses import replace

        flt = replace(flt, statuses=DEFAULT_STATUSES[operation])
    return store.select_ids(app_id, flt)


def bulk_apply(store: Store, app_id: str, operation: str, instance_ids: Sequence[str], *,
               output: str | None = None, recursive: bool = True, reason: str | None = None,
               event_name: str | None = None, data: str | None = None, selection: str | None = None,
               op_id: str | None = None) -> BulkResult:
    """One batch of a bulk operation, in one transaction, with its audit record (the batches of
    one operation, sharing op_id, add up in one record)."""
    _check_operation(operation)
    if operation == "raise_event" and (not event_name or not event_name.strip()):
        raise InvalidArgumentError("an event name is required")
    ids = list(dict.fromkeys(instance_ids))
    result = BulkResult(operation, selected=len(ids))
    applies = APPLIES[operation]
    now = time.time()
    with store.write():
        rows = store.instances_by_ids(app_id, ids)
        found = {r.instance_id for r in rows}
        for iid in ids:
            if iid not in found:
                result.fail(iid, "not found")
        todo = []
        for row in rows:
            if applies(row.status):
                todo.append(row)
            else:
                result.skip(row.status)
        if todo:
            if operation == "terminate":
                terminate_rows(store, todo, output, now, recursive)
            elif operation == "suspend":
                _suspend_rows(store, todo, now, reason)
            elif operation == "resume":
                _resume_rows(store, todo, now, reason)
            else:
                _raise_event_rows(store, todo, now, event_name or "", data)
        result.done = len(todo)
        detail = f"event {event_name}" if operation == "raise_event" else None
        _audit(store, app_id=app_id, operation=operation.replace("_", "-"), now=now,
               selection=selection or selection_text(ids=ids), count=result.done, skipped=result.skipped,
               failed=result.failed, reason=reason, outcome=_outcome(result), detail=detail, op_id=op_id)
    if operation in ("resume", "raise_event"):
        signals.work_added(store.key)
    signals.state_changed()
    return result


def _outcome(result: BulkResult) -> str:
    if not result.failed:
        return "ok"
    return "partial" if result.done else "failed"


def bulk_run(store: Store, app_id: str, operation: str, instance_ids: Sequence[str], *,
             progress: Callable[[int], None] | None = None, batch: int = BULK_BATCH,
             selection: str | None = None, op_id: str | None = None, **params: Any) -> BulkResult:
    """A bulk operation over a selection taken beforehand, in short transactions with a gap
    between them, so workers keep running beside it. progress(n) after each batch."""
    _check_operation(operation)
    ids = list(dict.fromkeys(instance_ids))
    total = BulkResult(operation, selected=len(ids))
    op_id = op_id or _new_id()
    selection = selection or selection_text(ids=ids)
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        try:
            part = bulk_apply(store, app_id, operation, chunk, selection=selection, op_id=op_id, **params)
        except StoreError as exc:  # the store is unusable: the rest fails the same way
            for iid in ids[start:]:
                total.fail(iid, str(exc))
            break
        total.merge(part)
        if progress is not None:
            progress(len(chunk))
        time.sleep(BULK_PAUSE)  # a gap in which waiting writers (workers) take the lock
    return total
