"""proto -> model: states and history events, from hand-built Durable Task messages."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from google.protobuf import timestamp_pb2, wrappers_pb2

from wf.model import FailureDetails, WfError, WorkflowStatus
from wf.protocol import history as hmap
from wf.protocol import state as smap
from wf.protocol.stubs import history as hpb
from wf.protocol.stubs import orchestration as opb

T0 = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=timezone.utc)


def ts(dt: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(dt)
    return out


def sv(text: str) -> wrappers_pb2.StringValue:
    return wrappers_pb2.StringValue(value=text)


@pytest.mark.parametrize("status", [s for s in WorkflowStatus if s is not WorkflowStatus.UNKNOWN])
def test_every_status_round_trips_through_dapr_numbers(status):
    assert smap.status_from_proto(smap.status_to_proto(status)) is status


def test_dapr_numbers_statuses_its_own_way():
    assert smap.status_from_proto(opb.ORCHESTRATION_STATUS_RUNNING) is WorkflowStatus.RUNNING  # 0
    assert smap.status_from_proto(opb.ORCHESTRATION_STATUS_TERMINATED) is WorkflowStatus.TERMINATED  # 5
    assert smap.status_from_proto(opb.ORCHESTRATION_STATUS_STALLED) is WorkflowStatus.STALLED
    with pytest.raises(WfError, match="unknown runtime status 99"):
        smap.status_from_proto(99)


def full_state(**over):
    fields = dict(
        instanceId="order-7", name="approval", workflowStatus=opb.ORCHESTRATION_STATUS_FAILED,
        createdTimestamp=ts(T0), lastUpdatedTimestamp=ts(T0.replace(minute=5)),
        input=sv('{"amount": 5}'), output=sv("null"), customStatus=sv('"step 2"'),
        failureDetails=opb.TaskFailureDetails(errorType="ValueError", errorMessage="bad", stackTrace=sv("tb")),
        parentInstanceId=sv("parent-1"),
    )
    fields.update(over)
    return opb.WorkflowState(**fields)


def test_a_full_state():
    s = smap.state_from_proto(full_state(), app_id="shop")
    assert (s.instance_id, s.name, s.runtime_status, s.app_id) == ("order-7", "approval", WorkflowStatus.FAILED, "shop")
    N0 = T0.replace(tzinfo=None)  # states carry naive UTC, as Dapr's
    assert s.created_at == N0 and s.created_at.tzinfo is None
    assert s.last_updated_at == N0.replace(minute=5)
    assert (s.serialized_input, s.serialized_output, s.serialized_custom_status) == ('{"amount": 5}', "null", '"step 2"')
    assert s.failure_details == FailureDetails("bad", "ValueError", "tb")
    assert s.parent_instance_id == "parent-1"
    # Dapr leaves completedTimestamp unset: a finished instance ended at its last update.
    assert s.completed_at == N0.replace(minute=5)


def test_absent_payloads_are_none_and_an_empty_string_is_kept():
    s = smap.state_from_proto(opb.WorkflowState(instanceId="a", name="w", createdTimestamp=ts(T0),
                                                input=sv("")), app_id="default")
    assert s.serialized_input == "" and s.serialized_output is None and s.serialized_custom_status is None
    assert s.failure_details is None and s.parent_instance_id is None
    assert s.runtime_status is WorkflowStatus.RUNNING and s.completed_at is None
    assert s.last_updated_at == T0.replace(tzinfo=None)  # unset: falls back to the creation time


def test_fetch_payloads_false_drops_input_and_output():
    s = smap.state_from_proto(full_state(), app_id="default", fetch_payloads=False)
    assert s.serialized_input is None and s.serialized_output is None


def test_an_explicit_completed_timestamp_wins():
    s = smap.state_from_proto(full_state(completedTimestamp=ts(T0.replace(hour=13))), app_id="default")
    assert s.completed_at == T0.replace(hour=13, tzinfo=None)


def test_empty_failure_details_mean_no_failure():
    s = smap.state_from_proto(full_state(failureDetails=opb.TaskFailureDetails()), app_id="default")
    assert s.failure_details is None


def ev(event_id: int = -1, **kind) -> hpb.HistoryEvent:
    return hpb.HistoryEvent(eventId=event_id, timestamp=ts(T0), **kind)


def test_history_of_a_workflow_in_wf_names():
    events = [
        ev(executionStarted=hpb.ExecutionStartedEvent(name="approval", input=sv('{"a": 1}'))),
        ev(0, taskScheduled=hpb.TaskScheduledEvent(name="charge", input=sv("1"))),
        ev(taskCompleted=hpb.TaskCompletedEvent(taskScheduledId=0, result=sv('"ok"'))),
        ev(1, timerCreated=hpb.TimerCreatedEvent(fireAt=ts(T0.replace(hour=14)))),
        ev(timerFired=hpb.TimerFiredEvent(timerId=1, fireAt=ts(T0.replace(hour=14)))),
        ev(eventRaised=hpb.EventRaisedEvent(name="approval_decision", input=sv("true"))),
        ev(2, childWorkflowInstanceCreated=hpb.ChildWorkflowInstanceCreatedEvent(name="kid", instanceId="k-1")),
        ev(childWorkflowInstanceFailed=hpb.ChildWorkflowInstanceFailedEvent(
            taskScheduledId=2, failureDetails=opb.TaskFailureDetails(errorType="E", errorMessage="boom"))),
        ev(executionSuspended=hpb.ExecutionSuspendedEvent(input=sv("vendor outage"))),
        ev(executionResumed=hpb.ExecutionResumedEvent()),
        ev(executionCompleted=hpb.ExecutionCompletedEvent(workflowStatus=opb.ORCHESTRATION_STATUS_COMPLETED,
                                                          result=sv('{"done": true}'))),
    ]
    out = [hmap.event_from_proto(e) for e in events]
    assert [e.event_type for e in out] == [
        "ExecutionStarted", "TaskScheduled", "TaskCompleted", "TimerCreated", "TimerFired", "EventRaised",
        "ChildWorkflowCreated", "ChildWorkflowFailed", "ExecutionSuspended", "ExecutionResumed", "ExecutionCompleted"]
    started, sched, done, timer, fired, raised, child, child_failed, suspended, resumed, completed = out
    assert (started.name, started.data, started.event_id) == ("approval", '{"a": 1}', -1)
    assert (sched.event_id, sched.name, sched.data) == (0, "charge", "1")
    assert (done.task_scheduled_id, done.data) == (0, '"ok"')
    assert timer.extra == {"fire_at": "2026-11-25T14:00:00.123Z"} and timer.event_id == 1
    assert fired.task_scheduled_id == 1
    assert (raised.name, raised.data) == ("approval_decision", "true")
    assert child.extra == {"instance_id": "k-1"} and child.name == "kid"
    assert child_failed.failure_details == FailureDetails("boom", "E", None) and child_failed.task_scheduled_id == 2
    assert suspended.extra == {"reason": "vendor outage"} and resumed.extra == {}
    assert completed.extra == {"status": "COMPLETED"} and completed.data == '{"done": true}'
    assert all(e.timestamp == T0 for e in out)


def test_a_failed_execution_and_a_terminated_one():
    failed = hmap.event_from_proto(ev(executionCompleted=hpb.ExecutionCompletedEvent(
        workflowStatus=opb.ORCHESTRATION_STATUS_FAILED,
        failureDetails=opb.TaskFailureDetails(errorType="RuntimeError", errorMessage="no", stackTrace=sv("tb")))))
    assert failed.extra == {"status": "FAILED"} and failed.failure_details == FailureDetails("no", "RuntimeError", "tb")
    term = hmap.event_from_proto(ev(executionTerminated=hpb.ExecutionTerminatedEvent(input=sv('"bye"'), recurse=True)))
    assert (term.event_type, term.data, term.extra) == ("ExecutionTerminated", '"bye"', {"recursive": True})


def test_the_parent_of_a_child_execution():
    e = hmap.event_from_proto(ev(executionStarted=hpb.ExecutionStartedEvent(
        name="kid", parentInstance=opb.ParentInstanceInfo(
            taskScheduledId=2, workflowInstance=opb.WorkflowInstance(instanceId="p-1")))))
    assert e.extra == {"parent_instance_id": "p-1"}


def test_an_event_without_a_kind_does_not_break_the_history():
    e = hmap.event_from_proto(hpb.HistoryEvent(eventId=4, timestamp=ts(T0)))
    assert (e.event_id, e.event_type, e.name, e.data) == (4, "Unknown", None, None)
