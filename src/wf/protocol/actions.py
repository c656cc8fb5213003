"""A Dapr worker's answers -> what wf records: WorkflowResponse actions -> a Turn of new history
events, ActivityResponse -> a result or a failure. Pure functions; a malformed message raises
InvalidArgumentError naming what is wrong, before anything is recorded."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from wf.engine import history as h
from wf.engine.history import Event
from wf.engine.workitems import Turn
from wf.model import FailureDetails, InvalidArgumentError
from wf.protocol.stubs import orchestration as opb

_ENDINGS = {
    opb.ORCHESTRATION_STATUS_COMPLETED: "COMPLETED",
    opb.ORCHESTRATION_STATUS_FAILED: "FAILED",
    opb.ORCHESTRATION_STATUS_TERMINATED: "TERMINATED",
    opb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW: "CONTINUED_AS_NEW",
}
_NS = 1_000_000_000
_LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z


def _text(message: Any, name: str) -> str | None:
    return getattr(message, name).value if message.HasField(name) else None


def failure_from_proto(details: opb.TaskFailureDetails) -> FailureDetails:
    return FailureDetails(details.errorMessage, details.errorType or "Error",
                          details.stackTrace.value if details.HasField("stackTrace") else None)


def failure_dict(details: opb.TaskFailureDetails) -> dict[str, Any]:
    d = failure_from_proto(details).to_dict()
    if details.isNonRetriable:
        d["non_retriable"] = True
    return d


def _target_app(action: Any) -> str | None:
    if not action.HasField("router"):
        return None
    return action.router.targetAppID or None


def _schedule_task(a: Any, now: float, turn: Turn) -> None:
    st = a.scheduleTask
    if not st.name:
        raise InvalidArgumentError(f"action {a.id}: scheduleTask has no activity name")
    extra: dict[str, Any] = {}
    if st.taskExecutionId:
        extra["task_execution_id"] = st.taskExecutionId
    if _target_app(a):
        extra["app_id"] = _target_app(a)
    turn.events.append(Event(h.TASK_SCHEDULED, now, event_id=a.id, name=st.name, data=_text(st, "input"),
                             extra=extra or None))


def _create_timer(a: Any, now: float, turn: Turn) -> None:
    ct = a.createTimer
    if not ct.HasField("fireAt"):
        raise InvalidArgumentError(f"action {a.id}: createTimer has no fireAt")
    ns = ct.fireAt.seconds * _NS + ct.fireAt.nanos
    # fire_at (seconds) drives the engine and every display; fire_at_ns keeps the exact time the
    # worker replays against. Dapr's "for ever" (9999-12-31T23:59:59.999999999Z) is rounded down:
    # as a float it would round up into the year 10000, which no datetime can hold.
    seconds = ns / _NS if ns // _NS < _LAST_SECOND else float(_LAST_SECOND)
    extra: dict[str, Any] = {"fire_at": seconds, "fire_at_ns": ns}
    origin = ct.WhichOneof("origin")
    if origin:
        extra["origin"] = {origin: json_format.MessageToDict(getattr(ct, origin))}
    turn.events.append(Event(h.TIMER_CREATED, now, event_id=a.id, name=ct.name or None, extra=extra))


def _create_child(a: Any, now: float, turn: Turn) -> None:
    cw = a.createChildWorkflow
    if not cw.name:
        raise InvalidArgumentError(f"action {a.id}: createChildWorkflow has no workflow name")
    if not cw.instanceId or len(cw.instanceId) > 256:
        raise InvalidArgumentError(f"action {a.id}: createChildWorkflow needs an instance ID of 1 to 256 characters")
    extra: dict[str, Any] = {"instance_id": cw.instanceId}
    if _target_app(a):
        extra["app_id"] = _target_app(a)
    turn.events.append(Event(h.CHILD_WORKFLOW_CREATED, now, event_id=a.id, name=cw.name, data=_text(cw, "input"),
                             extra=extra))


def _send_event(a: Any, now: float, turn: Turn) -> None:
    se = a.sendEvent
    if not se.name or not se.instance.instanceId:
        raise InvalidArgumentError(f"action {a.id}: sendEvent needs an event name and a target instance ID")
    extra: dict[str, Any] = {"instance_id": se.instance.instanceId}
    if _target_app(a):
        extra["app_id"] = _target_app(a)
    turn.events.append(Event(h.EVENT_SENT, now, event_id=a.id, name=se.name, data=_text(se, "data"), extra=extra))


def _complete(a: Any, now: float, turn: Turn) -> None:
    cw = a.completeWorkflow
    status = _ENDINGS.get(cw.workflowStatus)
    if status is None:
        raise InvalidArgumentError(
            f"action {a.id}: completeWorkflow has status {opb.OrchestrationStatus.Name(cw.workflowStatus)}; expected "
            "COMPLETED, FAILED, TERMINATED or CONTINUED_AS_NEW")
    if turn.status is not None:
        raise InvalidArgumentError(f"action {a.id}: the workflow was already completed by an earlier action")
    turn.status = status
    turn.output = _text(cw, "result")
    if status == "FAILED":
        turn.failure = (failure_from_proto(cw.failureDetails) if cw.HasField("failureDetails")
                        else FailureDetails("the workflow failed", "Error"))
    for carried in cw.carryoverEvents:
        if carried.WhichOneof("eventType") != "eventRaised":
            raise InvalidArgumentError(f"action {a.id}: only eventRaised events can be carried over")
        turn.carryover.append(Event(h.EVENT_RAISED, now, name=carried.eventRaised.name,
                                    data=_text(carried.eventRaised, "input")))


def _terminate(a: Any, now: float, turn: Turn) -> None:
    tw = a.terminateWorkflow
    if not tw.instanceId:
        raise InvalidArgumentError(f"action {a.id}: terminateWorkflow has no instance ID")
    turn.terminations.append((tw.instanceId, _target_app(a), _text(tw, "reason"), tw.recurse))


_ACTIONS = {
    "scheduleTask": _schedule_task,
    "createTimer": _create_timer,
    "createChildWorkflow": _create_child,
    "sendEvent": _send_event,
    "completeWorkflow": _complete,
    "terminateWorkflow": _terminate,
}


def turn_from_response(res: Any, now: float) -> Turn:
    """WorkflowResponse -> Turn. Scheduling actions keep their ids: the worker's history refers to them."""
    turn = Turn()
    seen: set[int] = set()
    for a in res.actions:
        kind = a.WhichOneof("workflowActionType")
        build = _ACTIONS.get(kind or "")
        if build is None:
            what = f"a {kind} action, which wf serve does not support" if kind else "an action with no type"
            raise InvalidArgumentError(f"action {a.id}: the workflow sent {what}")
        if kind != "completeWorkflow" and kind != "terminateWorkflow":
            if a.id in seen:
                raise InvalidArgumentError(f"action {a.id}: the id is used by two actions")
            seen.add(a.id)
        build(a, now, turn)
    if res.HasField("customStatus"):
        turn.custom_status, turn.custom_status_set = res.customStatus.value, True
    return turn


def activity_result(res: Any) -> tuple[str | None, FailureDetails | None]:
    """ActivityResponse -> (result JSON, failure)."""
    if res.HasField("failureDetails"):
        return None, failure_from_proto(res.failureDetails)
    return _text(res, "result"), None
