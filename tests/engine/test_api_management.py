"""Suspend / resume, terminate, purge: their effects, repeats as no-ops, errors on unknown or
terminal instances."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

import wf
from wf_testing import completed_output, stays, wait_until

pytestmark = pytest.mark.timeout(30)

S = wf.WorkflowStatus


def _waiter(ctx, inp):
    v = yield ctx.wait_for_external_event("go")
    return v


def _echo(ctx, inp):
    if False:
        yield
    return inp


# ---------------------------------------------------------------------------------- suspend / resume


def test_suspend_keeps_events_for_after_resume(make_app):
    app = make_app([_waiter])
    iid = app.schedule(_waiter)
    app.wait_status(iid, S.RUNNING)
    app.client.pause_workflow(iid, reason="maintenance")
    assert app.status(iid) == S.SUSPENDED
    app.client.raise_workflow_event(iid, "go", data="kept")
    stays(lambda: app.status(iid) == S.SUSPENDED, 0.4, what="suspended while an event arrives")
    app.client.resume_workflow(iid, reason="done")
    assert completed_output(app.wait(iid)) == "kept"
    types = app.types(iid)
    assert "ExecutionSuspended" in types and "ExecutionResumed" in types
    assert types.index("ExecutionSuspended") < types.index("ExecutionResumed")


def test_suspend_stops_progress_of_timers_and_activities(make_app):
    ran = []

    def mark(ctx, inp):
        ran.append(inp)
        return inp

    def w(ctx, inp):
        yield ctx.create_timer(timedelta(milliseconds=300))
        yield ctx.call_activity(mark, input="after")
        return "done"

    app = make_app([w], [mark])
    iid = app.schedule(w)
    app.wait_history(iid, "TimerCreated")
    app.client.pause_workflow(iid)
    stays(lambda: app.status(iid) == S.SUSPENDED and not ran, 0.6, what="no progress while suspended")
    app.client.resume_workflow(iid)
    assert completed_output(app.wait(iid)) == "done"
    assert ran == ["after"]


def test_suspend_and_resume_repeats_are_no_ops(make_app):
    app = make_app([_waiter])
    iid = app.schedule(_waiter)
    app.wait_status(iid, S.RUNNING)
    app.client.resume_workflow(iid)  # resume a running instance: no-op
    assert app.status(iid) == S.RUNNING
    app.client.pause_workflow(iid)
    app.client.pause_workflow(iid)  # suspend a suspended instance: no-op
    assert app.status(iid) == S.SUSPENDED
    app.client.resume_workflow(iid)
    app.client.resume_workflow(iid)
    assert app.status(iid) == S.RUNNING
    app.client.raise_workflow_event(iid, "go", data=1)
    assert completed_output(app.wait(iid)) == 1
    types = app.types(iid)
    assert types.count("ExecutionSuspended") == 1
    assert types.count("ExecutionResumed") == 1


def test_suspend_or_resume_a_completed_instance_is_an_error(make_app):
    app = make_app([_echo])
    st = app.run(_echo, 1)
    completed_output(st)
    with pytest.raises(wf.InvalidStateError):
        app.client.pause_workflow(st.instance_id)
    with pytest.raises(wf.InvalidStateError):
        app.client.resume_workflow(st.instance_id)
    assert app.status(st.instance_id) == S.COMPLETED


def test_terminate_a_suspended_instance(make_app):
    app = make_app([_waiter])
    iid = app.schedule(_waiter)
    app.wait_status(iid, S.RUNNING)
    app.client.pause_workflow(iid)
    app.client.terminate_workflow(iid, output="stopped")
    st = app.wait(iid)
    assert st.runtime_status == S.TERMINATED
    assert json.loads(st.serialized_output) == "stopped"


# ---------------------------------------------------------------------------------------- terminate


def test_terminate_with_output_runs_no_more_work(make_app):
    ran = []

    def mark(ctx, inp):
        ran.append(inp)
        return inp

    def w(ctx, inp):
        yield ctx.create_timer(timedelta(milliseconds=300))
        yield ctx.call_activity(mark, input="after-timer")
        return "finished"

    app = make_app([w], [mark])
    iid = app.schedule(w)
    app.wait_history(iid, "TimerCreated")
    app.client.terminate_workflow(iid, output={"why": "operator"})
    st = app.wait(iid)
    assert st.runtime_status == S.TERMINATED
    assert json.loads(st.serialized_output) == {"why": "operator"}
    stays(lambda: not ran and app.status(iid) == S.TERMINATED, 0.6, what="no work after terminate")
    assert "ExecutionTerminated" in app.types(iid)
    assert "TaskScheduled" not in app.types(iid)


def test_terminate_without_output(make_app):
    app = make_app([_waiter])
    iid = app.schedule(_waiter)
    app.wait_status(iid, S.RUNNING)
    app.client.terminate_workflow(iid)
    st = app.wait(iid)
    assert st.runtime_status == S.TERMINATED
    assert st.serialized_output in (None, "null")


def test_terminate_twice_is_a_no_op(make_app):
    app = make_app([_waiter])
    iid = app.schedule(_waiter)
    app.wait_status(iid, S.RUNNING)
    app.client.terminate_workflow(iid, output=1)
    app.wait(iid)
    app.client.terminate_workflow(iid, output=2)
    st = app.state(iid)
    assert st.runtime_status == S.TERMINATED
    assert json.loads(st.serialized_output) == 1
    assert app.types(iid).count("ExecutionTerminated") == 1


def test_terminate_a_pending_instance(make_app):
    app = make_app(start=False)
    iid = app.schedule("never_registered", 1)
    assert app.status(iid) == S.PENDING
    app.client.terminate_workflow(iid, output="cancelled before start")
    assert app.status(iid) == S.TERMINATED


def test_terminate_a_completed_instance_is_an_error(make_app):
    app = make_app([_echo])
    st = app.run(_echo, 5)
    completed_output(st)
    with pytest.raises(wf.InvalidStateError):
        app.client.terminate_workflow(st.instance_id, output="late")
    st2 = app.state(st.instance_id)
    assert st2.runtime_status == S.COMPLETED
    assert json.loads(st2.serialized_output) == 5


def _parent_with_child(app):
    def child(ctx, inp):
        v = yield ctx.wait_for_external_event("child-go")
        return v

    def parent(ctx, inp):
        r = yield ctx.call_child_workflow(child, instance_id=f"{ctx.instance_id}-child")
        return r

    app.runtime.register_workflow(child)
    app.runtime.register_workflow(parent)
    return parent


def test_terminate_is_recursive_by_default(make_app):
    app = make_app(start=False)
    parent = _parent_with_child(app)
    app.start()
    iid = app.schedule(parent, instance_id="p1")
    app.wait_status("p1-child", S.RUNNING)
    app.client.terminate_workflow(iid, output="stop all")
    assert app.wait(iid).runtime_status == S.TERMINATED
    wait_until(lambda: app.status("p1-child") == S.TERMINATED, what="child terminated too")


def test_terminate_not_recursive_leaves_child_running(make_app):
    app = make_app(start=False)
    parent = _parent_with_child(app)
    app.start()
    iid = app.schedule(parent, instance_id="p2")
    app.wait_status("p2-child", S.RUNNING)
    app.client.terminate_workflow(iid, output="only parent", recursive=False)
    assert app.wait(iid).runtime_status == S.TERMINATED
    stays(lambda: app.status("p2-child") == S.RUNNING, 0.3, what="child keeps running")
    app.client.raise_workflow_event("p2-child", "child-go", data="kid done")
    assert completed_output(app.wait("p2-child")) == "kid done"
    # the parent stays terminated when its orphan child completes
    stays(lambda: app.status(iid) == S.TERMINATED, 0.3, what="parent stays terminated")


# -------------------------------------------------------------------------------------------- purge


def test_purge_a_completed_instance(make_app):
    app = make_app([_echo])
    st = app.run(_echo, 1, instance_id="gone")
    completed_output(st)
    app.client.purge_workflow("gone")
    assert app.state("gone") is None
    with pytest.raises(wf.NotFoundError):
        app.client.get_workflow_history("gone")
    assert list(app.client.list_workflows()) == []
    # the id can be used again
    app.schedule(_echo, 2, instance_id="gone")
    assert completed_output(app.wait("gone")) == 2


def test_purge_a_running_instance_needs_force(make_app):
    app = make_app([_waiter])
    iid = app.schedule(_waiter, instance_id="alive")
    app.wait_status(iid, S.RUNNING)
    with pytest.raises(wf.InvalidStateError):
        app.client.purge_workflow(iid)
    assert app.status(iid) == S.RUNNING
    app.client.purge_workflow(iid, force=True)
    assert app.state(iid) is None
    # nothing resurrects it: raising to it now is not found
    with pytest.raises(wf.NotFoundError):
        app.client.raise_workflow_event(iid, "go", data=1)
    stays(lambda: app.state(iid) is None, 0.3, what="purged instance stays gone")


def test_purge_a_suspended_instance_needs_force(make_app):
    app = make_app([_waiter])
    iid = app.schedule(_waiter)
    app.wait_status(iid, S.RUNNING)
    app.client.pause_workflow(iid)
    with pytest.raises(wf.InvalidStateError):
        app.client.purge_workflow(iid)
    app.client.purge_workflow(iid, force=True)
    assert app.state(iid) is None


def test_purge_is_recursive_by_default(make_app):
    app = make_app(start=False)
    parent = _parent_with_child(app)
    app.start()
    app.schedule(parent, instance_id="pp")
    app.wait_status("pp-child", S.RUNNING)
    app.client.raise_workflow_event("pp-child", "child-go", data=1)
    assert completed_output(app.wait("pp")) == 1
    app.client.purge_workflow("pp")
    assert app.state("pp") is None
    assert app.state("pp-child") is None


def test_purge_not_recursive_keeps_children(make_app):
    app = make_app(start=False)
    parent = _parent_with_child(app)
    app.start()
    app.schedule(parent, instance_id="pq")
    app.wait_status("pq-child", S.RUNNING)
    app.client.raise_workflow_event("pq-child", "child-go", data=1)
    assert completed_output(app.wait("pq")) == 1
    app.client.purge_workflow("pq", recursive=False)
    assert app.state("pq") is None
    assert completed_output(app.state("pq-child")) == 1


def test_purge_forced_recursive_of_running_parent_removes_running_child(make_app):
    app = make_app(start=False)
    parent = _parent_with_child(app)
    app.start()
    app.schedule(parent, instance_id="pr")
    app.wait_status("pr-child", S.RUNNING)
    app.client.purge_workflow("pr", force=True)
    assert app.state("pr") is None
    assert app.state("pr-child") is None


# ------------------------------------------------------------------------------ unknown instances


@pytest.mark.parametrize(
    "op",
    [
        lambda c: c.pause_workflow("missing"),
        lambda c: c.resume_workflow("missing"),
        lambda c: c.terminate_workflow("missing"),
        lambda c: c.raise_workflow_event("missing", "e"),
        lambda c: c.purge_workflow("missing"),
        lambda c: c.get_workflow_history("missing"),
    ],
    ids=["pause", "resume", "terminate", "raise", "purge", "history"],
)
def test_operations_on_unknown_instance_are_not_found(make_app, op):
    app = make_app()
    with pytest.raises(wf.NotFoundError):
        op(app.client)


def test_failed_instance_refuses_operations_but_can_be_purged(make_app):
    def boom(ctx, inp):
        if False:
            yield
        raise ValueError("x")

    app = make_app([boom])
    st = app.run(boom, instance_id="failed-one")
    assert st.runtime_status == S.FAILED
    with pytest.raises(wf.InvalidStateError):
        app.client.pause_workflow("failed-one")
    with pytest.raises(wf.InvalidStateError):
        app.client.raise_workflow_event("failed-one", "e")
    app.client.purge_workflow("failed-one")
    assert app.state("failed-one") is None


def test_concurrent_management_calls_do_not_corrupt(make_app):
    """Many clients raising events at once: every event is recorded once, in some order."""
    def collect(ctx, n):
        got = []
        for _ in range(n):
            v = yield ctx.wait_for_external_event("item")
            got.append(v)
        return sorted(got)

    app = make_app([collect])
    iid = app.schedule(collect, 20)
    app.wait_status(iid, S.RUNNING)
    errors = []

    def raiser(k):
        try:
            c = wf.WorkflowClient(db=app.db)
            for i in range(5):
                c.raise_workflow_event(iid, "item", data=k * 5 + i)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=raiser, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert completed_output(app.wait(iid)) == list(range(20))
    assert app.types(iid).count("EventRaised") == 20


def test_terminate_while_an_activity_runs_ignores_its_late_result(make_app):
    release = threading.Event()
    started = threading.Event()

    def hold(ctx, inp):
        started.set()
        release.wait(5)
        return "held"

    def w(ctx, inp):
        r = yield ctx.call_activity(hold)
        yield ctx.create_timer(timedelta(milliseconds=50))
        return r

    app = make_app([w], [hold])
    iid = app.schedule(w)
    assert started.wait(5)
    app.client.terminate_workflow(iid, output="T")
    release.set()
    st = app.wait(iid)
    assert st.runtime_status == S.TERMINATED
    stays(lambda: app.status(iid) == S.TERMINATED, 0.4, what="stays terminated after the late result")
    assert json.loads(app.state(iid).serialized_output) == "T"
    assert "TimerCreated" not in app.types(iid)


def test_force_purge_while_an_activity_runs(make_app):
    release = threading.Event()
    started = threading.Event()

    def hold(ctx, inp):
        started.set()
        release.wait(5)
        return "held"

    def w(ctx, inp):
        r = yield ctx.call_activity(hold)
        return r

    def quick(ctx, inp):
        if False:
            yield
        return inp

    app = make_app([w, quick], [hold])
    app.schedule(w, instance_id="doomed")
    assert started.wait(5)
    app.client.purge_workflow("doomed", force=True)
    release.set()
    # the late completion neither resurrects the instance nor stops the worker
    assert completed_output(app.run(quick, 1)) == 1
    stays(lambda: app.state("doomed") is None, 0.3, what="purged instance stays gone")


def test_force_purge_then_reuse_id_runs_the_new_instance(make_app):
    app = make_app([_waiter])
    app.schedule(_waiter, "A", instance_id="reused")
    app.wait_history("reused", "ExecutionStarted")
    app.wait_status("reused", S.RUNNING)
    app.client.purge_workflow("reused", force=True)
    app.schedule(_waiter, "B", instance_id="reused")
    app.wait_status("reused", S.RUNNING)
    app.client.raise_workflow_event("reused", "go", data="B-event")
    st = app.wait("reused")
    assert completed_output(st) == "B-event"
    assert json.loads(st.serialized_input) == "B"


def test_terminate_and_purge_reach_grandchildren(make_app):
    def leaf(ctx, inp):
        v = yield ctx.wait_for_external_event("x")
        return v

    def middle(ctx, inp):
        r = yield ctx.call_child_workflow(leaf, instance_id=f"{ctx.instance_id}-leaf")
        return r

    def top(ctx, inp):
        r = yield ctx.call_child_workflow(middle, instance_id=f"{ctx.instance_id}-mid")
        return r

    app = make_app([leaf, middle, top])
    app.schedule(top, instance_id="g")
    app.wait_status("g-mid-leaf", S.RUNNING)
    app.client.terminate_workflow("g")
    for iid in ("g", "g-mid", "g-mid-leaf"):
        app.wait_status(iid, S.TERMINATED)
    app.client.purge_workflow("g")
    assert [app.state(i) for i in ("g", "g-mid", "g-mid-leaf")] == [None, None, None]


def test_activity_completing_while_suspended_is_kept_for_after_resume(make_app):
    release = threading.Event()
    started = threading.Event()

    def hold(ctx, inp):
        started.set()
        release.wait(5)
        return "held"

    def w(ctx, inp):
        r = yield ctx.call_activity(hold)
        return r

    app = make_app([w], [hold])
    iid = app.schedule(w)
    assert started.wait(5)
    app.client.pause_workflow(iid)
    release.set()
    stays(lambda: app.status(iid) == S.SUSPENDED, 0.4, what="suspended while the activity completes")
    app.client.resume_workflow(iid)
    assert completed_output(app.wait(iid)) == "held"
    assert app.types(iid).count("TaskCompleted") == 1


def test_suspension_survives_a_runtime_restart(make_app):
    first = make_app([_waiter])
    iid = first.schedule(_waiter)
    first.wait_status(iid, S.RUNNING)
    first.client.pause_workflow(iid)
    first.stop()
    second = make_app([_waiter])
    second.client.raise_workflow_event(iid, "go", data="after restart")
    stays(lambda: second.status(iid) == S.SUSPENDED, 0.4, what="still suspended after a restart")
    second.client.resume_workflow(iid)
    assert completed_output(second.wait(iid)) == "after restart"


def test_terminating_a_child_does_not_leave_the_parent_hanging(make_app):
    def child(ctx, inp):
        v = yield ctx.wait_for_external_event("x")
        return v

    def parent(ctx, inp):
        try:
            r = yield ctx.call_child_workflow(child, instance_id=f"{ctx.instance_id}-c")
        except wf.TaskFailedError as exc:
            return {"child_failed": exc.details.message}
        return {"child_result": r}

    app = make_app([child, parent])
    app.schedule(parent, instance_id="tp")
    app.wait_status("tp-c", S.RUNNING)
    app.client.terminate_workflow("tp-c", output="killed")
    st = app.wait("tp")
    assert st.runtime_status in (S.COMPLETED, S.FAILED), st
    if st.runtime_status == S.COMPLETED:
        assert "child_failed" in completed_output(st)
    assert app.status("tp-c") == S.TERMINATED


def test_waiting_on_an_instance_that_gets_purged(make_app):
    app = make_app([_waiter])
    iid = app.schedule(_waiter)
    app.wait_status(iid, S.RUNNING)
    timer = threading.Timer(0.3, lambda: app.client.purge_workflow(iid, force=True))
    timer.start()
    try:
        with pytest.raises(wf.NotFoundError):
            app.client.wait_for_workflow_completion(iid, timeout_in_seconds=5)
    finally:
        timer.join()
