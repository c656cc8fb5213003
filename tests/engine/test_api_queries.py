"""list_workflows filters, get_workflow_history shapes, purge_workflows (bulk purge)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

import wf
from wf_testing import completed_output, wait_until

pytestmark = pytest.mark.timeout(30)

S = wf.WorkflowStatus


def _echo(ctx, inp):
    if False:
        yield
    return inp


def _waiter(ctx, inp):
    v = yield ctx.wait_for_external_event("go")
    return v


def _boom(ctx, inp):
    if False:
        yield
    raise ValueError("boom")


def _ids(states):
    return [s.instance_id for s in states]


@pytest.fixture
def populated(make_app):
    """Two completed echo, one failed boom, two running waiters, created in this order."""
    app = make_app([_echo, _waiter, _boom])
    for iid in ("e1", "e2"):
        app.schedule(_echo, iid, instance_id=iid)
        completed_output(app.wait(iid))
        time.sleep(0.01)  # distinct creation times
    app.schedule(_boom, None, instance_id="b1")
    assert app.wait("b1").runtime_status == S.FAILED
    time.sleep(0.01)
    for iid in ("w1", "w2"):
        app.schedule(_waiter, None, instance_id=iid)
        app.wait_status(iid, S.RUNNING)
        time.sleep(0.01)
    return app


def test_list_all_newest_first(populated):
    states = list(populated.client.list_workflows())
    assert _ids(states) == ["w2", "w1", "b1", "e2", "e1"]
    assert all(isinstance(s, wf.WorkflowState) for s in states)
    created = [s.created_at for s in states]
    assert created == sorted(created, reverse=True)


def test_list_by_status(populated):
    c = populated.client
    assert sorted(_ids(c.list_workflows(status=S.COMPLETED))) == ["e1", "e2"]
    assert _ids(c.list_workflows(status=S.FAILED)) == ["b1"]
    assert sorted(_ids(c.list_workflows(status=S.RUNNING))) == ["w1", "w2"]
    assert _ids(c.list_workflows(status=S.TERMINATED)) == []


def test_list_by_several_statuses(populated):
    c = populated.client
    assert sorted(_ids(c.list_workflows(status=[S.COMPLETED, S.FAILED]))) == ["b1", "e1", "e2"]


def test_list_by_name(populated):
    c = populated.client
    assert sorted(_ids(c.list_workflows(name="_echo"))) == ["e1", "e2"]
    assert _ids(c.list_workflows(name="_boom")) == ["b1"]
    assert _ids(c.list_workflows(name="nope")) == []
    assert sorted(_ids(c.list_workflows(name="_waiter", status=S.RUNNING))) == ["w1", "w2"]
    assert _ids(c.list_workflows(name="_waiter", status=S.COMPLETED)) == []


def test_list_by_created_time(populated):
    c = populated.client
    e2 = c.get_workflow_state("e2")
    b1 = c.get_workflow_state("b1")
    between = e2.created_at + (b1.created_at - e2.created_at) / 2
    assert e2.created_at < between < b1.created_at
    assert sorted(_ids(c.list_workflows(created_before=between))) == ["e1", "e2"]
    assert sorted(_ids(c.list_workflows(created_after=between))) == ["b1", "w1", "w2"]
    far = datetime.now(timezone.utc) + timedelta(days=1)
    assert _ids(c.list_workflows(created_after=far)) == []
    assert len(_ids(c.list_workflows(created_before=far))) == 5


def test_list_limit(populated):
    c = populated.client
    assert _ids(c.list_workflows(limit=2)) == ["w2", "w1"]
    assert _ids(c.list_workflows(status=S.COMPLETED, limit=1)) == ["e2"]


def test_list_empty_store(make_app):
    app = make_app()
    assert list(app.client.list_workflows()) == []


# ------------------------------------------------------------------------------------------ history


def test_history_shape_of_a_simple_workflow(make_app):
    def act(ctx, x):
        return {"got": x}

    def w(ctx, inp):
        r = yield ctx.call_activity(act, input=inp)
        return r

    app = make_app([w], [act])
    st = app.run(w, {"in": 1}, instance_id="h1")
    completed_output(st)
    hist = app.history("h1")
    types = [e.event_type for e in hist]
    assert types == ["ExecutionStarted", "TaskScheduled", "TaskCompleted", "ExecutionCompleted"]
    started, scheduled, completed, done = hist
    assert all(isinstance(e, wf.HistoryEvent) for e in hist)
    assert started.name == "w"
    assert json.loads(started.data) == {"in": 1}
    assert scheduled.name == "act"
    assert json.loads(scheduled.data) == {"in": 1}
    assert completed.task_scheduled_id == scheduled.event_id
    assert json.loads(completed.data) == {"got": {"in": 1}}
    assert json.loads(done.data) == {"got": {"in": 1}}
    stamps = [e.timestamp for e in hist]
    assert stamps == sorted(stamps)
    assert all(s.tzinfo is not None for s in stamps)
    for e in hist:
        json.dumps(e.to_dict())


def test_history_of_a_failed_workflow(make_app):
    app = make_app([_boom])
    st = app.run(_boom, instance_id="hf")
    assert st.runtime_status == S.FAILED
    hist = app.history("hf")
    assert hist[0].event_type == "ExecutionStarted"
    last = hist[-1]
    assert last.event_type in ("ExecutionFailed", "ExecutionCompleted")
    assert last.failure_details is not None
    assert last.failure_details.error_type == "ValueError"


def test_history_of_timer_event_and_child(make_app):
    def child(ctx, inp):
        if False:
            yield
        return "kid"

    def w(ctx, inp):
        yield ctx.create_timer(timedelta(milliseconds=20))
        ev = yield ctx.wait_for_external_event("E")
        c = yield ctx.call_child_workflow(child, instance_id="hc-kid")
        return [ev, c]

    app = make_app([w, child])
    iid = app.schedule(w, instance_id="hc")
    app.wait_history(iid, "TimerFired")
    app.client.raise_workflow_event(iid, "E", data="ev")
    assert completed_output(app.wait(iid)) == ["ev", "kid"]
    hist = app.history(iid)
    by_type = {e.event_type: e for e in hist}
    for t in ("TimerCreated", "TimerFired", "EventRaised", "ChildWorkflowCreated", "ChildWorkflowCompleted"):
        assert t in by_type, [e.event_type for e in hist]
    assert by_type["TimerFired"].task_scheduled_id == by_type["TimerCreated"].event_id
    assert by_type["ChildWorkflowCompleted"].task_scheduled_id == by_type["ChildWorkflowCreated"].event_id
    assert by_type["ChildWorkflowCreated"].name == "child"
    assert json.loads(by_type["EventRaised"].data) == "ev"
    assert by_type["EventRaised"].name.lower() == "e"
    assert json.loads(by_type["ChildWorkflowCompleted"].data) == "kid"


def test_history_of_a_pending_instance(make_app):
    app = make_app(start=False)
    iid = app.schedule("not_running_yet", 1)
    hist = app.history(iid)
    assert [e.event_type for e in hist] in ([], ["ExecutionStarted"])


# --------------------------------------------------------------------------------- purge_workflows


def test_purge_workflows_selects_terminal_only(populated):
    c = populated.client
    n = c.purge_workflows()
    assert n == 3
    assert sorted(_ids(c.list_workflows())) == ["w1", "w2"]


def test_purge_workflows_by_status(populated):
    c = populated.client
    assert c.purge_workflows(status=S.FAILED) == 1
    assert c.get_workflow_state("b1") is None
    assert sorted(_ids(c.list_workflows())) == ["e1", "e2", "w1", "w2"]


def test_purge_workflows_dry_run_deletes_nothing(populated):
    c = populated.client
    assert c.purge_workflows(dry_run=True) == 3
    assert len(list(c.list_workflows())) == 5
    assert c.purge_workflows(status=S.COMPLETED, dry_run=True) == 2
    assert len(list(c.list_workflows())) == 5


def test_purge_workflows_force_includes_running(populated):
    c = populated.client
    assert c.purge_workflows(force=True) == 5
    assert list(c.list_workflows()) == []


def test_purge_workflows_older_than_counts_from_completion(make_app):
    app = make_app([_waiter, _echo])
    # "old_done" is created last but completes first; "new_done" is created first but completes last
    app.schedule(_waiter, instance_id="new_done")
    app.wait_status("new_done", S.RUNNING)
    completed_output(app.run(_echo, 1, instance_id="old_done"))
    time.sleep(0.6)  # the scenario: time passes after old_done completed
    app.client.raise_workflow_event("new_done", "go", data=2)
    completed_output(app.wait("new_done"))
    c = app.client
    assert c.purge_workflows(older_than=timedelta(milliseconds=400), dry_run=True) == 1
    assert c.purge_workflows(older_than=timedelta(milliseconds=400)) == 1
    assert c.get_workflow_state("old_done") is None
    assert c.get_workflow_state("new_done") is not None
    assert c.purge_workflows(older_than=timedelta(hours=1)) == 0
    assert c.purge_workflows() == 1


def test_purge_workflows_many_in_batches(make_app):
    app = make_app([_echo])
    ids = [app.schedule(_echo, i, instance_id=f"bulk-{i}") for i in range(60)]
    wait_until(
        lambda: len(list(app.client.list_workflows(status=S.COMPLETED))) == 60, timeout=20, what="60 completed"
    )
    assert app.client.purge_workflows(status=S.COMPLETED) == 60
    assert all(app.client.get_workflow_state(i) is None for i in ids[:5])
    assert list(app.client.list_workflows()) == []


def test_purge_workflows_removes_histories(populated):
    c = populated.client
    c.purge_workflows(status=S.COMPLETED)
    with pytest.raises(wf.NotFoundError):
        c.get_workflow_history("e1")
