"""The shared vocabulary of wf: statuses, states, history events, filters and errors.

Everything here is plain data with no I/O, so every layer (engine, backends, client, CLI, server)
can import it cheaply.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, overload

INSTANCE_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
DEFAULT_APP_ID = "default"


class WorkflowStatus(enum.Enum):
    """Dapr's members and values (and its str(): `WorkflowStatus.COMPLETED`), plus the two
    statuses wf's store knows beyond Dapr's. Stores, the CLI and the HTTP API use the names."""

    UNKNOWN = 0
    RUNNING = 1
    COMPLETED = 2
    FAILED = 3
    TERMINATED = 4
    PENDING = 5
    SUSPENDED = 6
    STALLED = 7
    CONTINUED_AS_NEW = 8
    CANCELED = 9

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @classmethod
    def parse(cls, text: str) -> "WorkflowStatus":
        """Case-insensitive lookup by name that names the valid choices when it fails."""
        key = text.strip().upper().replace("-", "_")
        if key == "CANCELLED":
            key = "CANCELED"
        try:
            if key == "UNKNOWN":
                raise KeyError(key)
            return cls[key]
        except KeyError:
            names = ", ".join(STATUS_NAMES)
            raise InvalidArgumentError(f"unknown status {text!r}; expected one of {names}") from None


# The statuses of wf's store, CLI and HTTP API, in the order help and errors list them.
STATUS_NAMES = ("RUNNING", "COMPLETED", "CONTINUED_AS_NEW", "FAILED", "CANCELED", "TERMINATED", "PENDING",
                "SUSPENDED", "STALLED")

TERMINAL_STATUSES = frozenset(
    {WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.TERMINATED, WorkflowStatus.CANCELED}
)


@overload
def utc_from_ts(ts: float) -> datetime: ...
@overload
def utc_from_ts(ts: float | None) -> datetime | None: ...
def utc_from_ts(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc)


def naive_utc(ts: float | None) -> datetime | None:
    """A UTC time without tzinfo: what Dapr's SDK hands workflow code and WorkflowState."""
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc).replace(tzinfo=None)


def rfc3339(dt: datetime | None) -> str | None:
    """RFC 3339 UTC with millisecond precision and a Z suffix: the one time format of every output."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class FailureDetails:
    message: str
    error_type: str
    stack_trace: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "error_type": self.error_type, "stack_trace": self.stack_trace}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "FailureDetails | None":
        if not d:
            return None
        return cls(d.get("message", ""), d.get("error_type", "Error"), d.get("stack_trace"))


@dataclass
class WorkflowState:
    """What get_workflow_state returns; the fields of Dapr's WorkflowState."""

    instance_id: str
    name: str
    runtime_status: WorkflowStatus
    created_at: datetime
    last_updated_at: datetime
    serialized_input: str | None = None
    serialized_output: str | None = None
    serialized_custom_status: str | None = None
    failure_details: FailureDetails | None = None
    app_id: str = DEFAULT_APP_ID
    completed_at: datetime | None = None
    parent_instance_id: str | None = None

    def __post_init__(self) -> None:
        # Dapr's states carry naive UTC times; every engine's answer is normalised here.
        for name in ("created_at", "last_updated_at", "completed_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is not None:
                setattr(self, name, value.astimezone(timezone.utc).replace(tzinfo=None))

    def raise_if_failed(self) -> None:
        if self.failure_details is not None:
            raise WorkflowFailedError(
                f"workflow {self.instance_id!r} failed: {self.failure_details.message}", self.failure_details
            )

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON form used by `-o json` and the server; keys never change meaning."""
        return {
            "instance_id": self.instance_id,
            "name": self.name,
            "app_id": self.app_id,
            "runtime_status": self.runtime_status.name,
            "created_at": rfc3339(self.created_at),
            "last_updated_at": rfc3339(self.last_updated_at),
            "completed_at": rfc3339(self.completed_at),
            "parent_instance_id": self.parent_instance_id,
            "serialized_input": self.serialized_input,
            "serialized_output": self.serialized_output,
            "serialized_custom_status": self.serialized_custom_status,
            "failure_details": self.failure_details.to_dict() if self.failure_details else None,
        }

    def to_json(self) -> dict[str, Any]:
        """Dapr's WorkflowState.to_json(): a dict (times as datetimes), failure only when failed."""
        d: dict[str, Any] = {
            "instance_id": self.instance_id,
            "name": self.name,
            "runtime_status": self.runtime_status.name,
            "created_at": self.created_at,
            "last_updated_at": self.last_updated_at,
            "serialized_input": self.serialized_input,
            "serialized_output": self.serialized_output,
            "serialized_custom_status": self.serialized_custom_status,
        }
        if self.failure_details is not None:
            d["failure_details"] = {"message": self.failure_details.message,
                                    "error_type": self.failure_details.error_type,
                                    "stack_trace": self.failure_details.stack_trace}
        return d

    def __str__(self) -> str:  # as Dapr prints a state
        return json.dumps(self.to_json(), indent=4, sort_keys=True, default=str)


@dataclass
class HistoryEvent:
    """One event of an instance's history, in the shape of the Dapr SDK's get_workflow_history."""

    event_id: int
    event_type: str
    timestamp: datetime
    name: str | None = None
    task_scheduled_id: int | None = None
    data: str | None = None  # JSON text: the input, result or event payload
    failure_details: FailureDetails | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # fire_at, instance_id of a child, reason...

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "timestamp": rfc3339(self.timestamp),
            "name": self.name,
            "task_scheduled_id": self.task_scheduled_id,
            "data": self.data,
            "failure_details": self.failure_details.to_dict() if self.failure_details else None,
            **({"extra": self.extra} if self.extra else {}),
        }


@dataclass
class PendingItem:
    """One thing a live instance waits for (or an event that waits for it): `wf get`'s "Waiting for".

    kind: event (an external event by name, since when), timer (fire_at), activity (name, attempt,
    worker when one runs it, since when scheduled; next_retry_at and error while a retry waits),
    child (instance_id, name, status), start (a PENDING instance's start_at), suspended (since,
    reason), unconsumed_event (name, count, since: events that arrived with no one waiting),
    no_worker (no live worker of the app can run it; message)."""

    kind: str
    name: str | None = None
    since: datetime | None = None
    fire_at: datetime | None = None
    start_at: datetime | None = None
    next_retry_at: datetime | None = None
    attempt: int | None = None
    worker: str | None = None
    instance_id: str | None = None
    status: str | None = None
    count: int | None = None
    reason: str | None = None
    error: str | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON form (`pending` of `wf get -o json`): only the keys that are set."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if value is not None:
                out[key] = rfc3339(value) if isinstance(value, datetime) else value
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PendingItem":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for key in ("since", "fire_at", "start_at", "next_retry_at"):
            if isinstance(known.get(key), str):
                known[key] = datetime.fromisoformat(known[key].replace("Z", "+00:00"))
        return cls(**known)


@dataclass
class WorkerInfo:
    """A live worker process (`wf workers`): its heartbeat is within the lease."""

    worker_id: str
    app_id: str
    host: str
    pid: int
    started_at: datetime | None
    heartbeat: datetime
    activities_in_flight: int
    workflows: list[str] | None = None  # the names it registered (None: not recorded)
    activities: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"worker_id": self.worker_id, "app_id": self.app_id, "host": self.host, "pid": self.pid,
                "started_at": rfc3339(self.started_at), "heartbeat": rfc3339(self.heartbeat),
                "activities_in_flight": self.activities_in_flight, "workflows": self.workflows,
                "activities": self.activities}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "WorkerInfo":
        def when(v: Any) -> datetime | None:
            return datetime.fromisoformat(v.replace("Z", "+00:00")) if isinstance(v, str) else None

        return cls(str(d.get("worker_id", "")), str(d.get("app_id", "")), str(d.get("host", "")),
                   int(d.get("pid") or 0), when(d.get("started_at")), when(d.get("heartbeat")) or datetime.now(timezone.utc),
                   int(d.get("activities_in_flight") or 0), d.get("workflows"), d.get("activities"))


@dataclass(frozen=True)
class ListFilter:
    """Selection for list_workflows and bulk purge; None means 'any'."""

    statuses: tuple[WorkflowStatus, ...] | None = None
    name: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    completed_before: datetime | None = None  # bulk purge's older_than: counted from the terminal time
    id_prefix: str | None = None  # instance ids that start with this (the dashboard's search box)

    def describe(self) -> str:
        """The selection in words (audit records, confirmations)."""
        parts = []
        if self.statuses:
            parts.append("status " + "|".join(s.name for s in self.statuses))
        if self.name:
            parts.append(f"name {self.name}")
        if self.created_after is not None:
            parts.append(f"created after {rfc3339(self.created_after)}")
        if self.created_before is not None:
            parts.append(f"created before {rfc3339(self.created_before)}")
        if self.completed_before is not None:
            parts.append(f"finished before {rfc3339(self.completed_before)}")
        if self.id_prefix:
            parts.append(f"ids {self.id_prefix}*")
        return ", ".join(parts) or "all"


LIST_ORDERS = ("newest", "oldest", "finished")  # created newest / oldest first; finished: latest finish first
MAX_RATE_MINUTES = 60


@dataclass
class Rates:
    """Instances started, completed and failed per minute (`wf top`): index 0 is the last 60
    seconds, index 1 the minute before, and so on."""

    started: list[int]
    completed: list[int]
    failed: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {"minutes": len(self.started), "started": self.started, "completed": self.completed,
                "failed": self.failed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Rates":
        def ints(key: str) -> list[int]:
            values = d.get(key)
            return [int(v) for v in values if isinstance(v, int)] if isinstance(values, list) else []

        return cls(ints("started"), ints("completed"), ints("failed"))


def check_list_order(order: str) -> str:
    if order not in LIST_ORDERS:
        raise InvalidArgumentError(f"invalid order {str(order)[:40]!r}: expected {', '.join(LIST_ORDERS)}")
    return order


def check_rate_minutes(minutes: int) -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_RATE_MINUTES:
        raise InvalidArgumentError(f"invalid minutes {str(minutes)[:40]!r}: expected 1 to {MAX_RATE_MINUTES}")
    return minutes


def describe_ids(ids: list[str] | tuple[str, ...]) -> str:
    shown = ", ".join(ids[:5])
    return f"ids {shown}" + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


BULK_OPERATIONS = ("terminate", "suspend", "resume", "raise_event", "purge")
MAX_REASONS = 5  # a bulk summary keeps the first few failures with their reasons


@dataclass
class BulkResult:
    """What a bulk operation did: done, skipped (the operation does not apply to the instance's
    state: terminate a completed one, resume a running one), failed (with the first reasons)."""

    operation: str
    selected: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (instance id, reason), the first few
    skipped_by_status: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    instance_ids: list[str] | None = None  # a dry run's selection

    def fail(self, instance_id: str, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_REASONS:
            self.failures.append((instance_id, reason))

    def skip(self, status: str, n: int = 1) -> None:
        self.skipped += n
        self.skipped_by_status[status] = self.skipped_by_status.get(status, 0) + n

    def merge(self, other: "BulkResult") -> None:
        self.done += other.done
        for status, n in other.skipped_by_status.items():
            self.skip(status, n)
        for iid, reason in other.failures:
            if len(self.failures) < MAX_REASONS:
                self.failures.append((iid, reason))
        self.failed += other.failed

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"operation": self.operation, "selected": self.selected, "done": self.done,
                             "skipped": self.skipped, "failed": self.failed,
                             "skippedByStatus": dict(self.skipped_by_status),
                             "failures": [{"instanceID": i, "reason": r} for i, r in self.failures]}
        if self.dry_run:
            d["dryRun"] = True
            d["instanceIDs"] = list(self.instance_ids or [])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BulkResult":
        def count(key: str) -> int:
            v = d.get(key, 0)
            return v if isinstance(v, int) and not isinstance(v, bool) else 0

        failures = [(str(f.get("instanceID", "")), str(f.get("reason", ""))) for f in d.get("failures") or []
                    if isinstance(f, dict)]
        raw = d.get("skippedByStatus")
        by_status: dict[str, Any] = raw if isinstance(raw, dict) else {}
        ids = d.get("instanceIDs")
        return cls(operation=str(d.get("operation", "")), selected=count("selected"), done=count("done"),
                   skipped=count("skipped"), failed=count("failed"), failures=failures,
                   skipped_by_status={str(k): int(v) for k, v in by_status.items() if isinstance(v, int)},
                   dry_run=bool(d.get("dryRun")),
                   instance_ids=[str(i) for i in ids] if isinstance(ids, list) else None)


@dataclass(frozen=True)
class AuditRecord:
    """One management operation: when, who, what, on which instance or selection, how many, why, how it went."""

    at: datetime
    app_id: str
    actor: str
    operation: str
    instance_id: str | None = None
    selection: str | None = None
    count: int = 0
    skipped: int = 0
    failed: int = 0
    reason: str | None = None
    outcome: str = "ok"
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"at": rfc3339(self.at), "app_id": self.app_id, "actor": self.actor, "operation": self.operation,
                "instance_id": self.instance_id, "selection": self.selection, "count": self.count,
                "skipped": self.skipped, "failed": self.failed, "reason": self.reason, "outcome": self.outcome,
                "detail": self.detail}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AuditRecord":
        at = datetime.fromisoformat(str(d["at"]).replace("Z", "+00:00"))
        return cls(at=at, app_id=str(d.get("app_id", "")), actor=str(d.get("actor", "")),
                   operation=str(d.get("operation", "")), instance_id=d.get("instance_id"),
                   selection=d.get("selection"), count=int(d.get("count") or 0), skipped=int(d.get("skipped") or 0),
                   failed=int(d.get("failed") or 0), reason=d.get("reason"), outcome=str(d.get("outcome", "")),
                   detail=d.get("detail"))


RETENTION_KEYS = ("any_terminal", "completed", "failed", "terminated")
AUDIT_OPERATIONS = ("start", "raise-event", "suspend", "resume", "terminate", "purge", "rerun", "retention-set",
                    "retention-clear")


@dataclass(frozen=True)
class RetentionPolicy:
    """How long an app's finished instances are kept (Dapr 1.17's stateRetentionPolicy), counted
    from when each finished; plus when the policy last ran and what it purged."""

    app_id: str
    any_terminal: float | None = None  # seconds; None: no limit
    completed: float | None = None
    failed: float | None = None
    terminated: float | None = None
    updated_at: datetime | None = None
    last_run_at: datetime | None = None
    last_purged: int = 0
    total_purged: int = 0
    audit: float | None = None  # how long audit records are kept (the whole store), seconds

    @property
    def is_set(self) -> bool:
        return any(getattr(self, k) is not None for k in RETENTION_KEYS)

    def limits(self) -> dict[str, float | None]:
        return {k: getattr(self, k) for k in RETENTION_KEYS}

    def to_dict(self) -> dict[str, Any]:
        from wf.durations import format_duration

        def dur(v: float | None) -> str | None:
            return None if v is None else format_duration(v)

        return {"appID": self.app_id, "anyTerminal": dur(self.any_terminal), "completed": dur(self.completed),
                "failed": dur(self.failed), "terminated": dur(self.terminated),
                "updatedAt": rfc3339(self.updated_at), "lastRunAt": rfc3339(self.last_run_at),
                "lastPurged": self.last_purged, "totalPurged": self.total_purged, "audit": dur(self.audit)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RetentionPolicy":
        from wf.durations import parse_duration

        def secs(key: str) -> float | None:
            v = d.get(key)
            return parse_duration(v).total_seconds() if isinstance(v, str) and v else None

        def when(key: str) -> datetime | None:
            v = d.get(key)
            return datetime.fromisoformat(v.replace("Z", "+00:00")) if isinstance(v, str) and v else None

        def count(key: str) -> int:
            v = d.get(key)
            return v if isinstance(v, int) and not isinstance(v, bool) else 0

        return cls(app_id=str(d.get("appID") or ""), any_terminal=secs("anyTerminal"), completed=secs("completed"),
                   failed=secs("failed"), terminated=secs("terminated"), updated_at=when("updatedAt"),
                   last_run_at=when("lastRunAt"), last_purged=count("lastPurged"), total_purged=count("totalPurged"),
                   audit=secs("audit"))


# ---------------------------------------------------------------------------------------------- errors


class WfError(Exception):
    """Base of every error wf reports to a user; `exit_code` is the CLI's."""

    exit_code = 1
    code = "ERR_INTERNAL"


class NotFoundError(WfError):
    code = "ERR_INSTANCE_ID_NOT_FOUND"


class InvalidStateError(WfError):
    """The operation cannot apply to the instance in its current state."""

    code = "ERR_INVALID_STATE"


class AlreadyExistsError(WfError):
    code = "ERR_INSTANCE_ID_ALREADY_EXISTS"


class InvalidArgumentError(WfError):
    """Bad input from the caller: an id, a status, a JSON payload, a duration."""

    exit_code = 2
    code = "ERR_MALFORMED_REQUEST"


class StoreError(WfError):
    """The store cannot be opened or used: corrupt, unreadable, from a newer wf."""

    code = "ERR_STORE"


class UnsupportedError(WfError):
    """The engine does not offer this operation (a Dapr sidecar has no list, for instance)."""

    code = "ERR_NOT_SUPPORTED"


class ConnectionFailedError(WfError):
    code = "ERR_UNREACHABLE"


class AuthError(WfError):
    code = "ERR_UNAUTHORIZED"


class WorkflowFailedError(WfError):
    def __init__(self, message: str, details: FailureDetails | None = None):
        super().__init__(message)
        self.failure_details = details


class NonDeterminismError(Exception):
    """A replay scheduled different work than the history recorded."""


class TaskFailedError(Exception):
    """Raised inside a workflow when an activity or child workflow it awaits has failed."""

    def __init__(self, message: str, details: FailureDetails):
        super().__init__(message)
        self.details = details

    @property
    def failure_details(self) -> FailureDetails:
        return self.details


def validate_instance_id(instance_id: str) -> str:
    if not isinstance(instance_id, str) or not INSTANCE_ID_RE.fullmatch(instance_id):
        raise InvalidArgumentError(
            f"invalid instance id {instance_id!r}: use 1 to 64 letters, digits, '-' or '_'"
        )
    return instance_id


def validate_json(text: str | None, what: str = "input") -> str | None:
    """Check that text is JSON; returns it unchanged (payloads are stored as the caller wrote them)."""
    if text is None:
        return None
    try:
        json.loads(text)
    except RecursionError:  # json.loads recurses per nesting level; the limit depends on the stack
        raise InvalidArgumentError(f"{what} is nested too deeply to be read as JSON") from None
    except ValueError as exc:
        raise InvalidArgumentError(f"{what} is not valid JSON: {exc}") from None
    return text
