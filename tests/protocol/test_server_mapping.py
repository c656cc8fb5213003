"""The server's direction of the proto mapping, with hand-built messages and no server:
wf history events -> HistoryEvent, WorkflowResponse actions -> a Turn, states -> GetInstanceResponse."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from google.protobuf import timestamp_pb2, wrappers_pb2

from wf.engine import history as h
from wf.engine.history import Event
from wf.model import FailureDetails, InvalidArgumentError, WorkflowState, WorkflowStatus
from wf.protocol.actions import activity_result, turn_from_response
from wf.protocol.history import Context, event_from_proto, to_proto, to_proto_list
from wf.protocol.state import instance_response
from wf.protocol.stubs import actions as apb
from wf.protocol.stubs import history as hpb
from wf.protocol.stubs import orchestration as opb
from wf.protocol.stubs import service as spb

CTX = Context("orders", "i-1", "i-1:0")
SV = wrappers_pb2.StringValue


def test_started_event_names_the_instance_and_its_app():
    m = to_proto(Event(h.EXECUTION_STARTED, 1.5, name="chain", data="1"), CTX)
    assert m.eventId == -1 and m.timestamp.seconds == 1 and m.timestamp.nanos == 500_000_000
    assert m.executionStarted.name == "chain" and m.executionStarted.input.value == "1"
    assert m.executionStarted.workflowInstance.instanceId == "i-1"
    assert m.executionStarted.workflowInstance.executionId.value == "i-1:0"
    assert m.router.sourceAppID == "orders"


def test_scheduling_and_completion_events_keep_their_ids_and_payloads():
    sched, done, failed = to_proto_list([
        Event(h.TASK_SCHEDULED, 2.0, event_id=3, name="add_one", data="5", extra={"task_execution_id": "x"}),
        Event(h.TASK_COMPLETED, 3.0, task_id=3, data="6"),
        Event(h.TASK_FAILED, 3.0, task_id=4, failure={"message": "boom", "error_type": "ValueError",
                                                        "stack_trace": "tb"}),
    ], CTX)
    assert (sched.eventId, sched.taskScheduled.name, sched.taskScheduled.input.value) == (3, "add_one", "5")
    assert sched.taskScheduled.taskExecutionId == "x"
    assert (done.taskCompleted.taskScheduledId, done.taskCompleted.result.value) == (3, "6")
    assert failed.taskFailed.taskScheduledId == 4
    assert failed.taskFailed.failureDetails.errorType == "ValueError"
    assert failed.taskFailed.failureDetails.stackTrace.value == "tb"
    assert not to_proto(Event(h.TASK_COMPLETED, 3.0, task_id=3), CTX).taskCompleted.HasField("result")


def test_timer_keeps_its_exact_fire_time_and_origin():
    # Dapr's 'wait for ever' timer: 9999-12-31T23:59:59.999999999Z, which a float cannot hold
    ns = 253402300799 * 10**9 + 999_999_999
    action = apb.WorkflowAction(id=2, createTimer=apb.CreateTimerAction(
        fireAt=timestamp_pb2.Timestamp(seconds=253402300799, nanos=999_999_999),
        externalEvent=hpb.TimerOriginExternalEvent(name="approval")))
    turn = turn_from_response(spb.WorkflowResponse(actions=[action]), now=10.0)
    [created] = turn.events
    assert created.get("fire_at_ns") == ns
    # shown (and run by the engine) as 9999-12-31T23:59:59Z: a float would round into the year 10000
    assert created.to_history_event().extra["fire_at"] == "9999-12-31T23:59:59.000Z"
    back = to_proto(Event.from_json(created.to_json()), CTX)
    assert back.timerCreated.fireAt.seconds == 253402300799 and back.timerCreated.fireAt.nanos == 999_999_999
    assert back.timerCreated.WhichOneof("origin") == "externalEvent"
    assert back.timerCreated.externalEvent.name == "approval"
    fired = to_proto(Event(h.TIMER_FIRED, 11.0, task_id=2, extra=created.extra), CTX)
    assert fired.timerFired.timerId == 2 and fired.timerFired.fireAt.nanos == 999_999_999


def test_every_engine_event_type_maps_and_reads_back_with_the_same_name():
    events = [Event(t, 1.0, event_id=1 if t in h.SCHEDULING_TYPES or t == h.EVENT_SENT else -1, task_id=1, name="n",
                    data='"d"', extra={"status": "COMPLETED", "instance_id": "c-1", "fire_at": 2.0})
              for t in sorted(h.ALL_TYPES)]
    for e in events:
        m = to_proto(e, CTX)
        assert m is not None, e.type
        # ExecutionFailed (no engine writes it today) is Dapr's executionCompleted with status FAILED
        assert event_from_proto(m).event_type == (h.EXECUTION_COMPLETED if e.type == h.EXECUTION_FAILED else e.type)


def test_actions_become_a_turn_with_the_workers_ids():
    res = spb.WorkflowResponse(instanceId="i-1", customStatus=SV(value="busy"), actions=[
        apb.WorkflowAction(id=1, scheduleTask=apb.ScheduleTaskAction(name="a", input=SV(value="1"),
                                                                      taskExecutionId="e1"),
                           router=opb.TaskRouter(sourceAppID="orders", targetAppID="billing")),
        apb.WorkflowAction(id=2, createChildWorkflow=apb.CreateChildWorkflowAction(name="c", instanceId="i-1:0002")),
        apb.WorkflowAction(id=3, sendEvent=apb.SendEventAction(name="ping", instance=opb.WorkflowInstance(
            instanceId="other"), data=SV(value="true"))),
        apb.WorkflowAction(id=4, terminateWorkflow=apb.TerminateWorkflowAction(instanceId="x", recurse=True,
                                                                               reason=SV(value='"bye"'))),
    ])
    turn = turn_from_response(res, now=5.0)
    assert [(e.type, e.event_id, e.name) for e in turn.events] == [
        (h.TASK_SCHEDULED, 1, "a"), (h.CHILD_WORKFLOW_CREATED, 2, "c"), (h.EVENT_SENT, 3, "ping")]
    assert turn.events[0].get("app_id") == "billing" and turn.events[0].get("task_execution_id") == "e1"
    assert turn.events[1].get("instance_id") == "i-1:0002"
    assert turn.events[2].get("instance_id") == "other" and turn.events[2].data == "true"
    assert turn.terminations == [("x", None, '"bye"', True)]
    assert (turn.status, turn.custom_status, turn.custom_status_set) == (None, "busy", True)


@pytest.mark.parametrize("status,expected", [
    (opb.ORCHESTRATION_STATUS_COMPLETED, "COMPLETED"), (opb.ORCHESTRATION_STATUS_FAILED, "FAILED"),
    (opb.ORCHESTRATION_STATUS_TERMINATED, "TERMINATED"),
    (opb.ORCHESTRATION_STATUS_CONTINUED_AS_NEW, "CONTINUED_AS_NEW")])
def test_complete_action_ends_the_turn(status, expected):
    carried = hpb.HistoryEvent(eventRaised=hpb.EventRaisedEvent(name="go", input=SV(value="1")))
    action = apb.WorkflowAction(id=9, completeWorkflow=apb.CompleteWorkflowAction(
        workflowStatus=status, result=SV(value='"r"'), carryoverEvents=[carried],
        failureDetails=opb.TaskFailureDetails(errorType="E", errorMessage="m")))
    turn = turn_from_response(spb.WorkflowResponse(actions=[action]), now=1.0)
    assert (turn.status, turn.output) == (expected, '"r"')
    assert [(e.type, e.name, e.data) for e in turn.carryover] == [(h.EVENT_RAISED, "go", "1")]
    if expected == "FAILED":
        assert turn.failure == FailureDetails("m", "E", None)


@pytest.mark.parametrize("action,message", [
    (apb.WorkflowAction(id=1), "no type"),
    (apb.WorkflowAction(id=1, scheduleTask=apb.ScheduleTaskAction()), "no activity name"),
    (apb.WorkflowAction(id=1, createTimer=apb.CreateTimerAction()), "no fireAt"),
    (apb.WorkflowAction(id=1, createChildWorkflow=apb.CreateChildWorkflowAction(name="c")), "instance ID"),
    (apb.WorkflowAction(id=1, sendEvent=apb.SendEventAction(name="x")), "target instance"),
    (apb.WorkflowAction(id=1, terminateWorkflow=apb.TerminateWorkflowAction()), "no instance ID"),
    (apb.WorkflowAction(id=1, completeWorkflow=apb.CompleteWorkflowAction(
        workflowStatus=opb.ORCHESTRATION_STATUS_RUNNING)), "ORCHESTRATION_STATUS_RUNNING"),
    (apb.WorkflowAction(id=1, createDetachedWorkflow=apb.CreateDetachedWorkflowAction(name="d", instanceId="d")),
     "does not support"),
])
def test_malformed_actions_are_refused_naming_the_problem(action, message):
    with pytest.raises(InvalidArgumentError, match=message):
        turn_from_response(spb.WorkflowResponse(actions=[action]), now=1.0)


def test_two_completions_in_one_turn_are_refused():
    end = apb.WorkflowAction(id=1, completeWorkflow=apb.CompleteWorkflowAction(
        workflowStatus=opb.ORCHESTRATION_STATUS_COMPLETED))
    with pytest.raises(InvalidArgumentError, match="already completed"):
        turn_from_response(spb.WorkflowResponse(actions=[end, end]), now=1.0)


def test_activity_response_is_a_result_or_a_failure():
    assert activity_result(spb.ActivityResponse(result=SV(value="3"))) == ("3", None)
    assert activity_result(spb.ActivityResponse()) == (None, None)
    data, failure = activity_result(spb.ActivityResponse(failureDetails=opb.TaskFailureDetails(
        errorType="KeyError", errorMessage="k", stackTrace=SV(value="tb"))))
    assert data is None and failure == FailureDetails("k", "KeyError", "tb")


def test_instance_response_sends_payloads_only_when_asked():
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    state = WorkflowState("i-1", "chain", WorkflowStatus.FAILED, when, when, serialized_input="1",
                          serialized_output=None, failure_details=FailureDetails("m", "E", "tb"),
                          parent_instance_id="p-1", completed_at=when)
    full = instance_response(state, payloads=True)
    assert full.exists and full.workflowState.workflowStatus == opb.ORCHESTRATION_STATUS_FAILED
    assert full.workflowState.input.value == "1" and not full.workflowState.HasField("output")
    assert full.workflowState.failureDetails.errorMessage == "m"
    assert full.workflowState.parentInstanceId.value == "p-1"
    assert full.workflowState.createdTimestamp.ToDatetime(tzinfo=timezone.utc) == when
    bare = instance_response(state, payloads=False)
    assert not bare.workflowState.HasField("input") and not bare.workflowState.HasField("failureDetails")
    assert instance_response(None, payloads=True) == spb.GetInstanceResponse(exists=False)
