"""History events between Dapr's Durable Task messages and wf's model; no I/O.

proto -> model: what a gRPC client (backends.grpc) reads from GetInstanceHistory.
wf -> proto (to_proto): what wf serve sends its gRPC workers and answers GetInstanceHistory with,
from the engine's stored events (wf.engine.history.Event); the fields a Dapr worker replays
against (event ids, task ids, names, payloads, a timer's exact fire time and origin) are kept, so
the message rebuilt is the one the worker would get from daprd. Event types
take wf's names (those of engine.history: ExecutionStarted, TaskScheduled, ChildWorkflowCreated,
...), so `wf history` reads the same whichever engine answered. Each proto kind is one row of a
table: its wf name, and which of its fields become name / data / task_scheduled_id / failure.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from google.protobuf import json_format, timestamp_pb2, wrappers_pb2

from wf.engine import history as h
from wf.engine.history import Event
from wf.model import HistoryEvent, rfc3339
from wf.protocol.state import failure_from_proto, status_from_proto, text_from_proto, time_from_proto
from wf.protocol.stubs import history as hpb
from wf.protocol.stubs import orchestration as opb

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
    return {"status": status_from_proto(e.workflowStatus).name}


def _terminated_extra(e: Any) -> dict[str, Any]:
    return {"recursive": e.recurse}


def _child_extra(e: Any) -> dict[str, Any]:
    return {"instance_id": e.instanceId}


def _timer_extra(e: Any) -> dict[str, Any]:
    return {"fire_at": _time_text(e.fireAt)} if e.HasField("fireAt") else {}


def _timer_created_extra(e: Any) -> dict[str, Any]:
    """Also why the worker made the timer (a Dapr worker's event wait is a timer: `wf get` says so)."""
    extra = _timer_extra(e)
    origin = e.WhichOneof("origin")
    if origin:
        extra["origin"] = {origin: json_format.MessageToDict(getattr(e, origin))}
    return extra


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
    "timerCreated": ("TimerCreated", "name", None, None, False, _timer_created_extra),
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


# ------------------------------------------------------------------------------ wf -> proto

_NS = 1_000_000_000


def timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(round(seconds * _NS)))
    return ts


def timestamp_ns(ns: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=ns // _NS, nanos=ns % _NS)


def string_value(text: str | None) -> wrappers_pb2.StringValue | None:
    return None if text is None else wrappers_pb2.StringValue(value=text)


def failure_details(failure: dict[str, Any] | None) -> opb.TaskFailureDetails | None:
    if not failure:
        return None
    return opb.TaskFailureDetails(
        errorType=failure.get("error_type") or "",
        errorMessage=failure.get("message") or "",
        stackTrace=string_value(failure.get("stack_trace")),
        isNonRetriable=bool(failure.get("non_retriable", False)),
    )


def status_value(status: str) -> int:
    """A wf status name (RUNNING, COMPLETED, ...) -> OrchestrationStatus."""
    return opb.OrchestrationStatus.Value(f"ORCHESTRATION_STATUS_{status}")


def _fire_at(e: Event) -> timestamp_pb2.Timestamp:
    ns = e.get("fire_at_ns")
    return timestamp_ns(int(ns)) if ns is not None else timestamp(float(e.get("fire_at", e.ts)))


def _timer_origin(e: Event) -> dict[str, Any]:
    origin = e.get("origin")
    if not isinstance(origin, dict) or len(origin) != 1:
        return {}
    (kind, value), = origin.items()
    cls = {"createTimer": hpb.TimerOriginCreateTimer, "externalEvent": hpb.TimerOriginExternalEvent,
           "activityRetry": hpb.TimerOriginActivityRetry, "childWorkflowRetry": hpb.TimerOriginChildWorkflowRetry}.get(kind)
    return {} if cls is None else {kind: json_format.ParseDict(value or {}, cls())}


def _timer_created(e: Event) -> Any:
    fields: dict[str, Any] = {"fireAt": _fire_at(e), **_timer_origin(e)}
    if e.name:
        fields["name"] = e.name
    return hpb.TimerCreatedEvent(**fields)


class Context:
    """What an event needs beyond itself: the instance it belongs to."""

    def __init__(self, app_id: str, instance_id: str, execution_id: str) -> None:
        self.app_id, self.instance_id, self.execution_id = app_id, instance_id, execution_id


def _started(e: Event, c: Context) -> dict[str, Any]:
    return {"executionStarted": hpb.ExecutionStartedEvent(
        name=e.name or "", input=string_value(e.data),
        workflowInstance=opb.WorkflowInstance(instanceId=c.instance_id, executionId=string_value(c.execution_id))),
        "router": opb.TaskRouter(sourceAppID=c.app_id)}


def _scheduled(e: Event, c: Context) -> dict[str, Any]:
    out: dict[str, Any] = {"taskScheduled": hpb.TaskScheduledEvent(
        name=e.name or "", input=string_value(e.data), taskExecutionId=e.get("task_execution_id") or "")}
    if e.get("app_id"):
        out["router"] = opb.TaskRouter(sourceAppID=c.app_id, targetAppID=e.get("app_id"))
    return out


def _child_created(e: Event, c: Context) -> dict[str, Any]:
    out: dict[str, Any] = {"childWorkflowInstanceCreated": hpb.ChildWorkflowInstanceCreatedEvent(
        instanceId=e.get("instance_id") or "", name=e.name or "", input=string_value(e.data))}
    if e.get("app_id"):
        out["router"] = opb.TaskRouter(sourceAppID=c.app_id, targetAppID=e.get("app_id"))
    return out


def _completed(e: Event, c: Context) -> dict[str, Any]:
    return {"executionCompleted": hpb.ExecutionCompletedEvent(
        workflowStatus=status_value(e.get("status", "COMPLETED")),  # type: ignore[arg-type]
        result=string_value(e.data),
        failureDetails=failure_details(e.failure))}


_BUILDERS: dict[str, Callable[[Event, Context], dict[str, Any]]] = {
    h.EXECUTION_STARTED: _started,
    h.WORKFLOW_STARTED: lambda e, c: {"workflowStarted": hpb.WorkflowStartedEvent()},
    h.TASK_SCHEDULED: _scheduled,
    h.TASK_COMPLETED: lambda e, c: {"taskCompleted": hpb.TaskCompletedEvent(
        taskScheduledId=e.task_id if e.task_id is not None else -1, result=string_value(e.data),
        taskExecutionId=e.get("task_execution_id") or "")},
    h.TASK_FAILED: lambda e, c: {"taskFailed": hpb.TaskFailedEvent(
        taskScheduledId=e.task_id if e.task_id is not None else -1, failureDetails=failure_details(e.failure),
        taskExecutionId=e.get("task_execution_id") or "")},
    h.TIMER_CREATED: lambda e, c: {"timerCreated": _timer_created(e)},
    h.TIMER_FIRED: lambda e, c: {"timerFired": hpb.TimerFiredEvent(
        timerId=e.task_id if e.task_id is not None else -1, fireAt=_fire_at(e))},
    h.CHILD_WORKFLOW_CREATED: _child_created,
    h.CHILD_WORKFLOW_COMPLETED: lambda e, c: {"childWorkflowInstanceCompleted": hpb.ChildWorkflowInstanceCompletedEvent(
        taskScheduledId=e.task_id if e.task_id is not None else -1, result=string_value(e.data))},
    h.CHILD_WORKFLOW_FAILED: lambda e, c: {"childWorkflowInstanceFailed": hpb.ChildWorkflowInstanceFailedEvent(
        taskScheduledId=e.task_id if e.task_id is not None else -1, failureDetails=failure_details(e.failure))},
    h.EVENT_RAISED: lambda e, c: {"eventRaised": hpb.EventRaisedEvent(name=e.name or "", input=string_value(e.data))},
    h.EVENT_SENT: lambda e, c: {"eventSent": hpb.EventSentEvent(
        instanceId=e.get("instance_id") or "", name=e.name or "", input=string_value(e.data))},
    h.EXECUTION_SUSPENDED: lambda e, c: {"executionSuspended": hpb.ExecutionSuspendedEvent(input=string_value(e.data))},
    h.EXECUTION_RESUMED: lambda e, c: {"executionResumed": hpb.ExecutionResumedEvent(input=string_value(e.data))},
    h.EXECUTION_TERMINATED: lambda e, c: {"executionTerminated": hpb.ExecutionTerminatedEvent(
        input=string_value(e.data))},
    h.EXECUTION_COMPLETED: _completed,
    h.EXECUTION_FAILED: lambda e, c: _completed(Event(e.type, e.ts, data=e.data, failure=e.failure,
                                                      extra={"status": "FAILED"}), c),
    h.CONTINUE_AS_NEW: lambda e, c: {"continueAsNew": hpb.ContinueAsNewEvent(input=string_value(e.data))},
}


def to_proto(e: Event, context: Context) -> hpb.HistoryEvent | None:
    """One wf event as Dapr's HistoryEvent; None for a type the protocol has no message for."""
    build = _BUILDERS.get(e.type)
    if build is None:
        return None
    return hpb.HistoryEvent(eventId=e.event_id, timestamp=timestamp(e.ts), **build(e, context))


def to_proto_list(events: list[Event], context: Context) -> list[hpb.HistoryEvent]:
    return [m for m in (to_proto(e, context) for e in events) if m is not None]
