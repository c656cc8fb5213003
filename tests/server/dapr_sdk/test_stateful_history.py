"""WORKER_CAPABILITY_STATEFUL_HISTORY: a worker that keeps the past events it was sent gets only
what follows them (cachedHistory.eventCount says how many it holds); one without the capability
gets the whole past every turn. Raw Durable Task stubs against a real `wf serve`."""

from __future__ import annotations

from test_dapr_sdk_errors import _next_work_item, complete, done, stub_for

from wf.protocol.stubs import actions as apb
from wf.protocol.stubs import service as spb


def schedule(action_id: int) -> apb.WorkflowAction:
    return apb.WorkflowAction(id=action_id, scheduleTask=apb.ScheduleTaskAction(name="add_one"))


def run_two_activities(stub, stream, instance_id: str) -> list:
    """Drive one instance through three turns; the WorkflowRequest of each turn."""
    stub.StartInstance(spb.CreateInstanceRequest(name="two", instanceId=instance_id))
    turns = []
    for n in (1, 2, 3):
        item = _next_work_item(stream)
        assert item.workflowRequest.instanceId == instance_id
        turns.append(item.workflowRequest)
        action = schedule(n) if n < 3 else done('"ok"')
        stub.CompleteOrchestratorTask(complete(instance_id, item.completionToken, action))
        if n < 3:
            task = _next_work_item(stream)
            assert task.activityRequest.taskId == n
            stub.CompleteActivityTask(spb.ActivityResponse(instanceId=instance_id, taskId=n, result=None,
                                                           completionToken=task.completionToken))
    return turns


def kinds(events) -> list[str]:
    return [e.WhichOneof("eventType") for e in events]


def test_a_stateful_worker_gets_only_the_events_after_those_it_holds(grpc_serve):
    serve = grpc_serve()
    channel, stub, _ = stub_for(serve)
    with channel:
        stream = stub.GetWorkItems(spb.GetWorkItemsRequest(capabilities=[spb.WORKER_CAPABILITY_STATEFUL_HISTORY]))
        first, second, third = run_two_activities(stub, stream, "s1")
        stream.cancel()
        full = list(stub.GetInstanceHistory(spb.GetInstanceHistoryRequest(instanceId="s1")).events)
    assert not first.HasField("cachedHistory") and kinds(first.pastEvents) == []
    assert not second.HasField("cachedHistory")  # it held nothing yet (an empty past)
    assert kinds(second.pastEvents) == ["workflowStarted", "executionStarted", "taskScheduled"]
    assert third.cachedHistory.eventCount == 3  # the past it was sent last turn
    assert kinds(third.pastEvents) == ["workflowStarted", "taskCompleted", "taskScheduled"]
    assert [*second.pastEvents, *third.pastEvents] == full[:6]  # together: the stored history


def test_a_worker_without_the_capability_gets_the_whole_past(grpc_serve):
    serve = grpc_serve()
    channel, stub, _ = stub_for(serve)
    with channel:
        stream = stub.GetWorkItems(spb.GetWorkItemsRequest())
        first, second, third = run_two_activities(stub, stream, "s2")
        stream.cancel()
    assert not any(t.HasField("cachedHistory") for t in (first, second, third))
    assert len(third.pastEvents) == 6 and kinds(third.pastEvents)[:3] == kinds(second.pastEvents)
