"""engine.workitems.Hub on a real store, without gRPC: what a worker outside the process is handed
and what its answers record (the gRPC door only translates messages to and from these calls)."""

from __future__ import annotations

import pytest

from wf.engine import control
from wf.engine import history as h
from wf.engine.history import Event
from wf.engine.store import Store
from wf.model import FailureDetails
from wf.engine.workitems import ActivityItem, Hub, StaleWorkItemError, Turn, WorkflowItem


@pytest.fixture
def hub(tmp_path):
    hub = Hub(tmp_path / "wf.db", "app")
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def store(tmp_path, hub):
    s = Store(tmp_path / "wf.db")
    yield s
    s.close()


def next_item(stream, timeout: float = 10.0):
    item = stream.next(timeout)
    assert item is not None, "no work item arrived"
    return item


def schedule(name="add", event_id=1, data="1") -> Event:
    return Event(h.TASK_SCHEDULED, 0.0, event_id=event_id, name=name, data=data)


def test_a_workflow_and_its_activity_go_round_trip(hub, store):
    stream = hub.connect()
    control.schedule(store, "app", "flow", input="1", instance_id="i-1")
    item = next_item(stream)
    assert isinstance(item, WorkflowItem) and item.instance_id == "i-1" and item.past == []
    assert [e.type for e in item.new] == [h.WORKFLOW_STARTED, h.EXECUTION_STARTED]
    hub.complete_workflow(item.token, "i-1", Turn(events=[schedule()], custom_status="s", custom_status_set=True))

    task = next_item(stream)
    assert isinstance(task, ActivityItem) and (task.task.name, task.task.task_id, task.task.input) == ("add", 1, "1")
    hub.complete_activity(task.token, "i-1", 1, "2", None)

    again = next_item(stream)
    assert isinstance(again, WorkflowItem)
    assert [e.type for e in again.past] == [h.WORKFLOW_STARTED, h.EXECUTION_STARTED, h.TASK_SCHEDULED]
    assert [(e.type, e.task_id, e.data) for e in again.new[1:]] == [(h.TASK_COMPLETED, 1, "2")]
    hub.complete_workflow(again.token, "i-1", Turn(status="COMPLETED", output="2"))
    row = store.get_instance("app", "i-1")
    assert (row.status, row.output, row.custom_status, row.owner) == ("COMPLETED", "2", "s", None)
    types = [Event.from_json(t).type for t in store.load_history(row.iid)]
    assert types[-1] == h.EXECUTION_COMPLETED and types.count(h.TASK_COMPLETED) == 1


def test_a_closed_stream_gives_its_items_to_another_and_the_late_answer_is_refused(hub, store):
    first = hub.connect()
    control.schedule(store, "app", "flow", instance_id="i-2")
    item = next_item(first)
    second = hub.connect()
    hub.disconnect(first)
    again = next_item(second)
    assert again.instance_id == "i-2" and again.token != item.token
    with pytest.raises(StaleWorkItemError, match="unknown instance ID: i-2"):
        hub.complete_workflow(item.token, "i-2", Turn(status="COMPLETED"))
    assert store.get_instance("app", "i-2").status == "PENDING"
    hub.complete_workflow(again.token, "i-2", Turn(status="COMPLETED", output="1"))
    with pytest.raises(StaleWorkItemError):  # recorded once
        hub.complete_workflow(again.token, "i-2", Turn(status="COMPLETED", output="2"))
    assert store.get_instance("app", "i-2").output == "1"


def test_an_activity_of_a_closed_stream_runs_again_elsewhere_and_its_result_lands_once(hub, store):
    first = hub.connect()
    control.schedule(store, "app", "flow", instance_id="i-3")
    hub.complete_workflow(next_item(first).token, "i-3", Turn(events=[schedule()]))
    task = next_item(first)
    second = hub.connect()
    hub.disconnect(first)
    task_again = next_item(second)
    assert isinstance(task_again, ActivityItem) and task_again.task.id == task.task.id
    with pytest.raises(StaleWorkItemError, match="i-3/1"):
        hub.complete_activity(task.token, "i-3", 1, "late", None)
    hub.complete_activity(task_again.token, "i-3", 1, "2", None)
    turn = next_item(second)
    assert [(e.type, e.data) for e in turn.new[1:]] == [(h.TASK_COMPLETED, "2")]


def test_an_activity_keeps_its_execution_id_across_re_delivery_and_into_its_completion(hub, store):
    first = hub.connect()
    control.schedule(store, "app", "flow", instance_id="i-x")
    given = Event(h.TASK_SCHEDULED, 0.0, event_id=1, name="add", data="1", extra={"task_execution_id": "exec-1"})
    hub.complete_workflow(next_item(first).token, "i-x", Turn(events=[given, schedule(event_id=2)]))
    tasks = {t.task.task_id: t for t in (next_item(first), next_item(first))}
    assert tasks[1].execution_id == "exec-1"  # the worker's own id, as Dapr hands it back
    derived = tasks[2].execution_id  # none given: one derived from the task
    assert derived and derived != "exec-1"
    second = hub.connect()
    hub.disconnect(first)
    again = {t.task.task_id: t for t in (next_item(second), next_item(second))}
    assert (again[1].execution_id, again[2].execution_id) == ("exec-1", derived)  # the same on re-delivery
    hub.complete_activity(again[1].token, "i-x", 1, "2", None)
    hub.complete_activity(again[2].token, "i-x", 2, None, FailureDetails("no", "ValueError"))
    seen: set = set()
    while len(seen) < 2:  # the results may come in one turn or two
        turn = next_item(second)
        seen |= {(e.type, e.get("task_execution_id")) for e in turn.new[1:]}
        hub.complete_workflow(turn.token, "i-x", Turn())
    assert seen == {(h.TASK_COMPLETED, "exec-1"), (h.TASK_FAILED, derived)}


def test_a_turn_that_raced_a_terminate_is_dropped(hub, store):
    stream = hub.connect()
    control.schedule(store, "app", "flow", instance_id="i-4")
    item = next_item(stream)
    control.terminate(store, "app", "i-4", output='"stop"')
    hub.complete_workflow(item.token, "i-4", Turn(events=[schedule()]))
    row = store.get_instance("app", "i-4")
    assert (row.status, row.output) == ("TERMINATED", '"stop"')
    assert [Event.from_json(t).type for t in store.load_history(row.iid)] == [h.EXECUTION_TERMINATED]
    assert stream.next(0.3) is None  # no activity was scheduled


def test_children_timers_and_continue_as_new(hub, store):
    stream = hub.connect()
    control.schedule(store, "app", "parent", input="3", instance_id="p")
    item = next_item(stream)
    child = Event(h.CHILD_WORKFLOW_CREATED, 0.0, event_id=1, name="kid", data="7", extra={"instance_id": "p:0001"})
    hub.complete_workflow(item.token, "p", Turn(events=[child]))
    kid = next_item(stream)
    assert kid.instance_id == "p:0001" and kid.new[1].data == "7"
    hub.complete_workflow(kid.token, "p:0001", Turn(status="COMPLETED", output="70"))
    parent = next_item(stream)
    assert [(e.type, e.task_id, e.data) for e in parent.new[1:]] == [(h.CHILD_WORKFLOW_COMPLETED, 1, "70")]
    timer = Event(h.TIMER_CREATED, 0.0, event_id=2, extra={"fire_at": 0.0})  # already due
    hub.complete_workflow(parent.token, "p", Turn(events=[timer]))
    fired = next_item(stream)
    assert [(e.type, e.task_id) for e in fired.new[1:]] == [(h.TIMER_FIRED, 2)]
    carried = Event(h.EVENT_RAISED, 0.0, name="go", data="1")
    hub.complete_workflow(fired.token, "p", Turn(status="CONTINUED_AS_NEW", output="4", carryover=[carried]))
    fresh = next_item(stream)
    assert fresh.past == [] and fresh.generation == 1
    assert [(e.type, e.data) for e in fresh.new[1:]] == [(h.EXECUTION_STARTED, "4"), (h.EVENT_RAISED, "1")]
    assert store.get_instance("app", "p").input == "4"
