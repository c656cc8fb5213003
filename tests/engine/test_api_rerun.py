"""Rerun from an event (Dapr's RerunWorkflowFromEvent) on the local engine, through the client."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

import wf
from wf_testing import completed_output

pytestmark = pytest.mark.timeout(60)

S = wf.WorkflowStatus


def by_type(app, iid, kind):
    return [e for e in app.history(iid) if e.event_type == kind]


def test_rerun_replays_up_to_the_event_then_runs_on(make_app):
    calls: Counter = Counter()

    def fetch(ctx, n):
        calls["fetch"] += 1
        return n + 1

    def charge(ctx, amount):
        calls["charge"] += 1
        return {"charged": amount}

    def order(ctx, n):
        a = yield ctx.call_activity(fetch, input=n)
        b = yield ctx.call_activity(charge, input=a * 10)
        return {"a": a, "b": b}

    app = make_app([order], [fetch, charge])
    src = app.run(order, 1, instance_id="o-1")
    assert completed_output(src) == {"a": 2, "b": {"charged": 20}}
    charge_id = by_type(app, "o-1", "TaskScheduled")[1].event_id
    source_history = app.types("o-1")

    new = app.client.rerun_workflow_from_event("o-1", charge_id, new_instance_id="o-1-again")
    assert new == "o-1-again"
    assert completed_output(app.wait(new)) == {"a": 2, "b": {"charged": 20}}
    assert calls == {"fetch": 1, "charge": 2}  # fetch was replayed, not run again
    assert app.types("o-1") == source_history  # the source is untouched

    # A new input for the activity rerun; None clears it; a generated id when none is given.
    other = app.client.rerun_workflow_from_event("o-1", charge_id, input=999)
    assert len(other) == 32 and completed_output(app.wait(other)) == {"a": 2, "b": {"charged": 999}}
    cleared = app.client.rerun_workflow_from_event("o-1", charge_id, input=None)
    assert completed_output(app.wait(cleared)) == {"a": 2, "b": {"charged": None}}
    assert calls == {"fetch": 1, "charge": 4}


def test_rerun_from_a_timer_fires_it_at_once(make_app):
    def done(ctx, _):
        return "done"

    def waits(ctx, _):
        yield ctx.create_timer(timedelta(milliseconds=50))
        r = yield ctx.call_activity(done)
        return r

    app = make_app([waits], [done])
    assert completed_output(app.run(waits, instance_id="t-1")) == "done"
    timer = by_type(app, "t-1", "TimerCreated")[0]
    with pytest.raises(wf.InvalidArgumentError, match="timer, which takes no input"):
        app.client.rerun_workflow_from_event("t-1", timer.event_id, input=1)
    new = app.client.rerun_workflow_from_event("t-1", timer.event_id)
    assert completed_output(app.wait(new)) == "done"
    assert [e.event_type for e in app.history(new)].count("TimerFired") == 1


def test_rerun_from_a_child_workflow_starts_a_new_child(make_app):
    def kid(ctx, n):
        return n * 3

    def parent(ctx, n):
        r = yield ctx.call_child_workflow(kid, input=n)
        return r

    app = make_app([parent, kid])
    assert completed_output(app.run(parent, 2, instance_id="p-1")) == 6
    created = by_type(app, "p-1", "ChildWorkflowCreated")[0]
    assert created.extra["instance_id"] == f"p-1-{created.event_id}"
    new = app.client.rerun_workflow_from_event("p-1", created.event_id, new_instance_id="p-2", input=5)
    assert completed_output(app.wait(new)) == 15
    assert completed_output(app.wait(f"p-2-{created.event_id}")) == 15  # the new parent's own child
    assert completed_output(app.state(f"p-1-{created.event_id}")) == 6  # the old child is untouched
    with pytest.raises(wf.InvalidStateError, match="is a child workflow; rerun its parent"):
        app.client.rerun_workflow_from_event(f"p-1-{created.event_id}", 1)


def test_what_cannot_be_rerun(make_app):
    def step(ctx, _):
        return 1

    def waiter(ctx, _):
        yield ctx.call_activity(step)
        yield ctx.wait_for_external_event("go")
        return "ok"

    app = make_app([waiter], [step])
    iid = app.schedule(waiter, instance_id="w-1")
    app.wait_history(iid, "TaskCompleted")
    step_id = by_type(app, iid, "TaskScheduled")[0].event_id
    with pytest.raises(wf.InvalidStateError, match="'w-1' is RUNNING: only a finished instance can be rerun"):
        app.client.rerun_workflow_from_event(iid, step_id)
    app.client.raise_workflow_event(iid, "go")
    app.wait(iid)
    with pytest.raises(wf.NotFoundError, match="no activity, timer or child workflow with event id 7"):
        app.client.rerun_workflow_from_event(iid, 7)
    with pytest.raises(wf.NotFoundError, match="no workflow instance 'nobody'"):
        app.client.rerun_workflow_from_event("nobody", step_id)
    with pytest.raises(wf.InvalidArgumentError, match="must differ"):
        app.client.rerun_workflow_from_event(iid, step_id, new_instance_id=iid)
    with pytest.raises(wf.InvalidArgumentError, match="invalid instance id"):
        app.client.rerun_workflow_from_event(iid, step_id, new_instance_id="bad id!")
    with pytest.raises(wf.InvalidArgumentError, match="invalid event id -1"):
        app.client.rerun_workflow_from_event(iid, -1)
    app.schedule(waiter, instance_id="taken")
    with pytest.raises(wf.AlreadyExistsError, match="'taken' already exists"):
        app.client.rerun_workflow_from_event(iid, step_id, new_instance_id="taken")
