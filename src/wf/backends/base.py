"""The Backend protocol: every CLI command and WorkflowClient method is written against it.

Payloads cross this boundary as JSON text (never Python objects): the CLI passes what the user
typed, the client serializes, and each engine stores or sends the text as it is.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from wf.model import (
    AlreadyExistsError,
    AuditRecord,
    BulkResult,
    HistoryEvent,
    InvalidArgumentError,
    InvalidStateError,
    ListFilter,
    NotFoundError,
    PendingItem,
    Rates,
    RetentionPolicy,
    WorkerInfo,
    WorkflowState,
    WorkflowStatus,
    validate_instance_id,
)

IF_EXISTS_CHOICES = ("return", "error", "replace")
MAX_EVENT_ID = 2**32 - 1  # Dapr's eventID is a uint32 on the wire


def check_rerun_args(instance_id: str, event_id: int, new_instance_id: str | None) -> None:
    """What every engine checks before a rerun (usage errors, exit 2)."""
    if isinstance(event_id, bool) or not isinstance(event_id, int) or not 0 <= event_id <= MAX_EVENT_ID:
        raise InvalidArgumentError(f"invalid event id {event_id!r}: expected an event_id from 'wf history' "
                                   f"(0 to {MAX_EVENT_ID})")
    if new_instance_id is not None:
        validate_instance_id(new_instance_id)
        if new_instance_id == instance_id:
            raise InvalidArgumentError("the new instance id must differ from the instance rerun")



def emulate_if_exists(backend: "Backend", instance_id: str, if_exists: str) -> str | None:
    """--if-exists against an engine whose start has no such option (a Dapr sidecar over HTTP or
    gRPC): look first (racy, but the API offers nothing better). The id to return, or None to start."""
    state = backend.get(instance_id, fetch_payloads=False)
    if state is None:
        return None
    if if_exists == "return":
        return instance_id
    if if_exists == "error":
        raise AlreadyExistsError(
            f"instance {instance_id!r} already exists ({state.runtime_status.name}); use if-exists 'return' or 'replace'")
    if not state.runtime_status.is_terminal:
        raise InvalidStateError(
            f"instance {instance_id!r} is {state.runtime_status.name}: only a finished instance can be replaced; "
            "terminate it first")
    backend.purge(instance_id)
    return None


def wait_for_state(get: Callable[[], WorkflowState | None], instance_id: str, app_id: str, *, until: str,
                   timeout: float | None, pause: Callable[[float], None], first: float, factor: float,
                   cap: float, transient: tuple[type[Exception], ...] = ()) -> WorkflowState:
    """Backend.wait for any engine: poll get() until the instance started ("start") or finished,
    pausing first, then factor times longer, up to cap seconds. TimeoutError after timeout, saying
    how long it really waited. A `transient` error of get() (an engine restarting) is waited
    through like a state that has not changed yet; without a timeout, for ever."""
    started = time.monotonic()
    deadline = None if not timeout else started + timeout
    interval = first
    while True:
        try:
            state = get()
        except transient as exc:
            now = "the engine was unreachable: " + " ".join(str(exc).split())[:300]
        else:
            if state is None:
                raise NotFoundError(f"no workflow instance {instance_id!r} in app {app_id!r}")
            status = state.runtime_status
            if status.is_terminal or (until == "start" and status != WorkflowStatus.PENDING):
                return state
            now = f"it is {status.name}"
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                from wf.durations import format_duration

                raise TimeoutError(f"timed out after {format_duration(time.monotonic() - started)} waiting for "
                                   f"instance {instance_id!r} ({now})")
            interval = min(interval, remaining)
        pause(interval)
        interval = min(interval * factor, cap)


def default_statuses(operation: str) -> tuple[WorkflowStatus, ...]:
    """What `--all` selects for a bulk operation when no status is given: the states it applies to."""
    if operation == "resume":
        return (WorkflowStatus.SUSPENDED,)
    if operation == "suspend":
        return (WorkflowStatus.RUNNING, WorkflowStatus.PENDING)
    return tuple(s for s in WorkflowStatus if not s.is_terminal)


def select_by_listing(backend: "Backend", operation: str, flt: ListFilter | None) -> builtins.list[str]:
    """Backend.select for an engine that lists but has no bulk API: the listed ids, where statuses
    default to those the operation applies to."""
    from dataclasses import replace

    flt = flt or ListFilter()
    if not flt.statuses:
        flt = replace(flt, statuses=default_statuses(operation))
    return [s.instance_id for s in backend.list(flt)]


class Pacer:
    """At most rps calls per second across threads (None: no limit)."""

    def __init__(self, rps: float | None) -> None:
        import threading

        self.interval = 1.0 / rps if rps else 0.0
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next)
            self.next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


def bulk_each(backend: "Backend", operation: str, ids: builtins.list[str], *,
              progress: Callable[[int], None] | None = None, rps: float | None = None, concurrency: int = 8,
              **params: Any) -> BulkResult:
    """Backend.bulk for an engine without a bulk API (a Dapr sidecar): one call per instance, a
    few in flight, at most rps per second. A refusal for the instance's state counts as skipped."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from wf.model import InvalidStateError, WfError

    calls: dict[str, Callable[[str], None]] = {
        "terminate": lambda iid: backend.terminate(iid, params.get("output"), params.get("recursive", True)),
        "suspend": lambda iid: backend.suspend(iid, params.get("reason")),
        "resume": lambda iid: backend.resume(iid, params.get("reason")),
        "raise_event": lambda iid: backend.raise_event(iid, params["event_name"], params.get("data")),
    }
    call = calls[operation]
    result = BulkResult(operation, selected=len(ids))
    lock = threading.Lock()
    pace = Pacer(rps)

    def one(iid: str) -> None:
        pace.wait()
        try:
            call(iid)
        except InvalidStateError:
            with lock:
                result.skip("refused")
        except WfError as exc:
            with lock:
                result.fail(iid, "not found" if isinstance(exc, NotFoundError) else str(exc))
        else:
            with lock:
                result.done += 1
        if progress is not None:
            progress(1)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="wf-bulk") as pool:
        builtins.list(pool.map(one, ids))
    return result


def bulk_operation(backend: "Backend", operation: str, *, instance_ids: list[str] | None = None,
                   flt: ListFilter | None = None, dry_run: bool = False,
                   progress: Callable[[int], None] | None = None, rps: float | None = None,
                   **params: Any) -> BulkResult:
    """Select (explicit ids, or a filter, taken now), then apply in batches; a dry run only selects."""
    from wf.model import describe_ids

    if instance_ids is not None:
        ids = list(dict.fromkeys(instance_ids))
        selection = describe_ids(ids)
    else:
        ids = backend.select(operation, flt)
        selection = (flt or ListFilter()).describe()
    if dry_run:
        return BulkResult(operation, selected=len(ids), dry_run=True, instance_ids=ids)
    return backend.bulk(operation, ids, progress=progress, selection=selection, rps=rps, **params)


@dataclass(frozen=True)
class Capabilities:
    """What an engine offers beyond Dapr's core workflow API."""

    engine: str  # "local", "wf-serve", "dapr"
    list: bool = True
    history: bool = True
    bulk_purge: bool = True


class Backend(Protocol):
    app_id: str

    def capabilities(self) -> Capabilities: ...

    def start(
        self,
        name: str,
        *,
        input: str | None = None,
        instance_id: str | None = None,
        start_at: datetime | None = None,
        if_exists: str = "return",
    ) -> str:
        """Schedule a new instance; returns its id. See DESIGN.md 'Start' for if_exists."""

    def get(self, instance_id: str, *, fetch_payloads: bool = True) -> WorkflowState | None: ...

    def raise_event(self, instance_id: str, event_name: str, data: str | None = None) -> None: ...

    def suspend(self, instance_id: str, reason: str | None = None) -> None: ...

    def resume(self, instance_id: str, reason: str | None = None) -> None: ...

    def terminate(self, instance_id: str, output: str | None = None, recursive: bool = True, *,
                  reason: str | None = None) -> None: ...

    def purge(self, instance_id: str, *, recursive: bool = True, force: bool = False) -> int:
        """Delete one instance (and its children); returns how many instances were deleted."""

    def list(
        self, flt: ListFilter | None = None, *, limit: int | None = None, fetch_payloads: bool = False,
        order: str = "newest", all_apps: bool = False,
    ) -> Iterator[WorkflowState]:
        """Newest first (order "oldest": oldest first; "finished": finished instances, the latest
        finish first), of this app or of every app; streams, so a million rows cost flat memory."""

    def history(self, instance_id: str) -> builtins.list[HistoryEvent]: ...

    def rerun(self, instance_id: str, event_id: int, *, new_instance_id: str | None = None,
              input: str | None = None, overwrite_input: bool = False) -> str:
        """Dapr's RerunWorkflowFromEvent: a new instance replaying instance_id's history up to its
        scheduling event event_id, which runs again (with `input` when overwrite_input); returns
        the new id. Only a finished, top-level instance can be rerun."""

    def pending(self, instance_id: str) -> builtins.list[PendingItem] | None:
        """What a live instance waits for (events, timers, activities, children, its start, a
        suspension) and events that wait unconsumed; None when the engine cannot say."""

    def purge_many(
        self,
        flt: ListFilter,
        *,
        force: bool = False,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Bulk purge of terminal instances matching flt (any state with force), in short batches.
        progress(n) is called after each batch with the number deleted in it. Returns the total
        (with dry_run, the number that would be deleted)."""

    def workers(self, *, all_apps: bool = False) -> builtins.list[WorkerInfo]:
        """The live workers of this app (or of every app), oldest first."""

    def count_by(self, flt: ListFilter | None, by: str, *, all_apps: bool = False) -> dict[str, int]:
        """How many instances match flt per "status", "name" or "app" (every app), largest first;
        all_apps: of every app."""

    def rates(self, minutes: int, *, all_apps: bool = False) -> Rates | None:
        """Instances started, completed and failed in each of the last `minutes` minutes (1-60),
        the last 60 s first; None when the engine cannot say."""

    def count_total(self, flt: ListFilter | None) -> int:
        """How many instances of this app match flt (`wf count`)."""

    def count(self, flt: ListFilter, *, force: bool = False) -> int:
        """How many instances a bulk purge with this filter would select (for the confirmation)."""

    def select(self, operation: str, flt: ListFilter | None) -> builtins.list[str]:
        """The ids a bulk operation (terminate, suspend, resume, raise_event) would take now; without
        statuses in flt, those in a state the operation applies to."""

    def bulk(
        self,
        operation: str,
        instance_ids: builtins.list[str],
        *,
        progress: Callable[[int], None] | None = None,
        selection: str | None = None,
        rps: float | None = None,
        **params: Any,
    ) -> BulkResult:
        """Apply a bulk operation to these instances in batches (params: output, recursive, reason,
        event_name, data). progress(n) after each batch; selection describes them for the audit
        record; rps caps the request rate where each instance is one request (a Dapr sidecar)."""

    def audit(self, *, since: datetime | None = None, operation: str | None = None, instance_id: str | None = None,
              limit: int | None = None) -> builtins.list[AuditRecord]:
        """The app's audit records, newest first."""

    def retention(self) -> RetentionPolicy:
        """The app's retention policy (is_set False when none), with its last run and the audit limit."""

    def set_retention(self, *, any_terminal: float | None = None, completed: float | None = None,
                      failed: float | None = None, terminated: float | None = None) -> RetentionPolicy: ...

    def clear_retention(self) -> bool: ...

    def set_audit_retention(self, seconds: float) -> None: ...

    def wait(
        self, instance_id: str, *, until: str = "completion", timeout: float | None = None, fetch_payloads: bool = True
    ) -> WorkflowState:
        """Block until the instance started ("start") or reached a terminal state ("completion").
        Raises TimeoutError when timeout (seconds; None or 0 = for ever) passes, NotFoundError."""

    def close(self) -> None: ...
