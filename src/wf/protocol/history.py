"""History events between Dapr's Durable Task messages and wf's model; no I/O.

proto -> model: what a gRPC client (backends.grpc) reads from GetInstanceHistory. Event types
take wf's names (those of engine.history: ExecutionStarted, TaskScheduled, ChildWorkflowCreated,
...), so `wf history` reads the same whichever engine answered. Each proto kind is one row of a
table: its wf name, and which of its fields become name / data / task_scheduled_id / failure.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from wf.model import HistoryEvent, rfc3339
from wf.protocol.state import failure_from_proto, status_from_proto, text_from_proto, time_from_proto

_EPOCH = datetime.fromtimestamp(0, tz=timezone.utc)


def _time_text(ts: Any) -> str | None:
    return rfc3339(time_from_proto(ts))


def _started_extra(e: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if e.HasField("parentInstance") and e.parentInstance.workflowInstance.instanceId:
        extra["parent_instance_id"] = e.parentInstance.workflowInstance.instanceId
    if e.HasField("scheduledStartTimestamp"):
        extra["scheduled_start"] = _time_text(e.scheduledStartTimestamp)
    return extra


def _completed_extra(e: Any) -> dict[str, Any]:
    return {"status": status_from_proto(e.workflowStatus).value}


def _terminated_extra(e: Any) -> dict[str, Any]:
    return {"recursive": e.recurse}


def _child_extra(e: Any) -> dict[str, Any]:
    return {"instance_id": e.instanceId}


def _timer_extra(e: Any) -> dict[str, Any]:
    return {"fire_at": _time_text(e.fireAt)} if e.HasField("fireAt") else {}


def _stalled_extra(e: Any) -> dict[str, Any]:
    return {"description": e.description} if e.description else {}


def _reason(e: Any) -> dict[str, Any]:
    reason = text_from_proto(e, "input")
    return {"reason": reason} if reason else {}


# proto field of the oneof -> (wf event type, name field, data field, task id field, failure?, extra)
_Row = tuple[str, str | None, str | None, str | None, bool, Callable[[Any], dict[str, Any]] | None]
_KINDS: dict[str, _Row] = {
    "executionStarted": ("ExecutionStarted", "name", "input", None, False, _started_extra),
    "executionCompleted": ("ExecutionCompleted", None, "result", None, True, _completed_extra),
    "executionTerminated": ("ExecutionTerminated", None, "input", None, False, _terminated_extra),
    "executionSuspended": ("ExecutionSuspended", None, None, None, False, _reason),
    "executionResumed": ("ExecutionResumed", None, None, None, False, _reason),
    "executionStalled": ("ExecutionStalled", None, None, None, False, _stalled_extra),
    "continueAsNew": ("ContinueAsNew", None, "input", None, False, None),
    "taskScheduled": ("TaskScheduled", "name", "input", None, False, None),
    "taskCompleted": ("TaskCompleted", None, "result", "taskScheduledId", False, None),
    "taskFailed": ("TaskFailed", None, None, "taskScheduledId", True, None),
    "childWorkflowInstanceCreated": ("ChildWorkflowCreated", "name", "input", None, False, _child_extra),
    "childWorkflowInstanceCompleted": ("ChildWorkflowCompleted", None, "result", "taskScheduledId", False, None),
    "childWorkflowInstanceFailed": ("ChildWorkflowFailed", None, None, "taskScheduledId", True, None),
    "detachedWorkflowInstanceCreated": ("DetachedWorkflowCreated", None, None, None, False, _child_extra),
    "timerCreated": ("TimerCreated", "name", None, None, False, _timer_extra),
    "timerFired": ("TimerFired", None, None, "timerId", False, _timer_extra),
    "eventRaised": ("EventRaised", "name", "input", None, False, None),
    "eventSent": ("EventSent", "name", "input", None, False, _child_extra),
    "workflowStarted": ("WorkflowStarted", None, None, None, False, None),
    "workflowCompleted": ("WorkflowCompleted", None, None, None, False, None),
}


def event_from_proto(event: Any) -> HistoryEvent:
    """history.HistoryEvent -> HistoryEvent. A kind this table does not know (a newer sidecar)
    keeps its proto name as the type rather than failing the whole history."""
    kind = event.WhichOneof("eventType")
    timestamp = time_from_proto(event.timestamp) or _EPOCH
    row = _KINDS.get(kind or "")
    if row is None:
        label = (kind or "Unknown")
        return HistoryEvent(event_id=event.eventId, event_type=label[:1].upper() + label[1:], timestamp=timestamp)
    wf_type, name_field, data_field, task_field, has_failure, extra_of = row
    body = getattr(event, kind)
    name = getattr(body, name_field) or None if name_field else None
    return HistoryEvent(
        event_id=event.eventId,
        event_type=wf_type,
        timestamp=timestamp,
        name=name,
        task_scheduled_id=getattr(body, task_field) if task_field else None,
        data=text_from_proto(body, data_field) if data_field else None,
        failure_details=failure_from_proto(body.failureDetails) if has_failure and body.HasField("failureDetails")
        else None,
        extra=extra_of(body) if extra_of else {},
    )
