"""External events: delivery, case-insensitive names, buffering in arrival order, timeouts, errors."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

import wf
from wf_testing import completed_output, wait_until

pytestmark = pytest.mark.timeout(30)

S = wf.WorkflowStatus


def test_event_delivers_json_data(make_app):
    def w(ctx, inp):
        data = yield ctx.wait_for_external_event("approval")
        return {"got": data}

    app = make_app([w])
    iid = app.schedule(w)
    app.wait_status(iid, S.RUNNING)
    app.client.raise_workflow_event(iid, "approval", data={"approved": True, "n": [1, 2]})
    assert completed_output(app.wait(iid)) == {"got": {"approved": True, "n": [1, 2]}}
    hist = app.history(iid)
    raised = [e for e in hist if e.event_type == "EventRaised"]
    assert len(raised) == 1
    assert raised[0].name.lower() == "approval"


def test_event_without_data(make_app):
    def w(ctx, inp):
        data = yield ctx.wait_for_external_event("go")
        return {"data": data}

    app = make_app([w])
    iid = app.schedule(w)
    app.client.raise_workflow_event(iid, "go")
    assert completed_output(app.wait(iid)) == {"data": None}


def test_event_names_match_case_insensitively(make_app):
    def w(ctx, inp):
        a = yield ctx.wait_for_external_event("Approval_Decision")
        b = yield ctx.wait_for_external_event("approval_decision")
        return [a, b]

    app = make_app([w])
    iid = app.schedule(w)
    app.wait_history(iid, "ExecutionStarted")
    app.client.raise_workflow_event(iid, "APPROVAL_DECISION", data=1)
    app.client.raise_workflow_event(iid, "approval_DECISION", data=2)
    assert completed_output(app.wait(iid)) == [1, 2]


def test_events_raised_before_the_wait_are_kept_in_arrival_order(make_app):
    def w(ctx, inp):
        yield ctx.wait_for_external_event("go")
        got = []
        for _ in range(4):
            v = yield ctx.wait_for_external_event("item")
            got.append(v)
        return got

    app = make_app([w])
    iid = app.schedule(w)
    app.wait_status(iid, S.RUNNING)
    for i, name in enumerate(["item", "ITEM", "Item", "item"]):
        app.client.raise_workflow_event(iid, name, data=i)
    app.client.raise_workflow_event(iid, "go")
    assert completed_output(app.wait(iid)) == [0, 1, 2, 3]


def test_event_raised_before_the_workflow_starts_is_kept(make_app):
    def w(ctx, inp):
        v = yield ctx.wait_for_external_event("early")
        return v

    app = make_app(start=False)
    app.runtime.register_workflow(w)
    iid = app.schedule(w, instance_id="early-bird")
    app.client.raise_workflow_event(iid, "early", data="first")  # nobody runs it yet
    app.start()
    assert completed_output(app.wait(iid)) == "first"


def test_events_for_other_names_do_not_satisfy_a_wait(make_app):
    def w(ctx, inp):
        v = yield ctx.wait_for_external_event("wanted")
        return v

    app = make_app([w])
    iid = app.schedule(w)
    app.client.raise_workflow_event(iid, "other", data="no")
    app.wait_history(iid, "EventRaised")
    time.sleep(0.2)  # give a wrong delivery the chance to happen
    assert app.status(iid) == S.RUNNING
    app.client.raise_workflow_event(iid, "wanted", data="yes")
    assert completed_output(app.wait(iid)) == "yes"


def test_wait_for_external_event_timeout(make_app):
    def w(ctx, inp):
        try:
            v = yield ctx.wait_for_external_event("never", timeout=timedelta(milliseconds=200))
        except TimeoutError:
            return "timed out"
        except Exception as exc:  # noqa: BLE001 - the test reports the wrong type
            return f"wrong exception {type(exc).__name__}: {exc}"
        return f"got {v}"

    app = make_app([w])
    t0 = time.monotonic()
    st = app.run(w)
    assert completed_output(st) == "timed out"
    assert time.monotonic() - t0 >= 0.19


def test_wait_for_external_event_with_timeout_gets_event_in_time(make_app):
    def w(ctx, inp):
        v = yield ctx.wait_for_external_event("soon", timeout=timedelta(seconds=5))
        return v

    app = make_app([w])
    iid = app.schedule(w)
    app.client.raise_workflow_event(iid, "soon", data=42)
    t0 = time.monotonic()
    assert completed_output(app.wait(iid)) == 42
    assert time.monotonic() - t0 < 4


def test_raise_event_to_unknown_instance_is_not_found(make_app):
    app = make_app()
    with pytest.raises(wf.NotFoundError):
        app.client.raise_workflow_event("no-such-instance", "x", data=1)


def test_raise_event_to_terminal_instance_is_invalid_state(make_app):
    def w(ctx, inp):
        return "done"

    app = make_app([w])
    st = app.run(w)
    completed_output(st)
    with pytest.raises(wf.InvalidStateError):
        app.client.raise_workflow_event(st.instance_id, "late", data=1)


def test_raise_event_with_bad_instance_id(make_app):
    app = make_app()
    with pytest.raises((wf.InvalidArgumentError, wf.NotFoundError)):
        app.client.raise_workflow_event("bad id!", "x")


def test_event_after_workflow_finished_waiting_is_ignored_by_it(make_app):
    """An event nobody waits for does not disturb a running workflow that later completes."""

    def w(ctx, inp):
        a = yield ctx.wait_for_external_event("a")
        yield ctx.create_timer(timedelta(milliseconds=200))
        return a

    app = make_app([w])
    iid = app.schedule(w)
    app.client.raise_workflow_event(iid, "a", data="A")
    app.wait_history(iid, "TimerCreated")
    app.client.raise_workflow_event(iid, "unrelated", data="U")
    assert completed_output(app.wait(iid)) == "A"
    wait_until(lambda: app.types(iid)[-1] == "ExecutionCompleted", what="ExecutionCompleted last")
