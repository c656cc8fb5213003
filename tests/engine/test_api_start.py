"""Starting instances: the id rule, generated ids, if_exists, start_at, waits, states."""

from __future__ import annotations

import json
import re
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
    return {"input": inp, "event": v}


@pytest.mark.parametrize("iid", ["a", "A-b_9", "x" * 64, "0123456789", "under_score-dash"])
def test_valid_instance_ids(make_app, iid):
    app = make_app([_echo])
    assert app.schedule(_echo, 1, instance_id=iid) == iid
    assert completed_output(app.wait(iid)) == 1


@pytest.mark.parametrize("iid", ["", "x" * 65, "has space", "dot.id", "slash/x", "colon:x", "ünïcode", "new\nline"])
def test_invalid_instance_ids_are_refused(make_app, iid):
    app = make_app([_echo])
    with pytest.raises(wf.InvalidArgumentError):
        app.schedule(_echo, 1, instance_id=iid)
    assert list(app.client.list_workflows()) == []


def test_generated_id_is_uuid4_hex(make_app):
    app = make_app([_echo])
    a = app.schedule(_echo, 1)
    b = app.schedule(_echo, 2)
    assert re.fullmatch(r"[0-9a-f]{32}", a), a
    assert a != b
    assert completed_output(app.wait(a)) == 1
    assert completed_output(app.wait(b)) == 2


def test_schedule_returns_quickly_and_state_has_fields(make_app):
    app = make_app([_waiter])
    before = datetime.now(timezone.utc)
    iid = app.schedule(_waiter, {"k": "v"}, instance_id="fields")
    st = app.client.wait_for_workflow_start(iid, timeout_in_seconds=5)
    assert st.instance_id == "fields"
    assert st.name == "_waiter"
    assert st.runtime_status == S.RUNNING
    assert st.created_at.tzinfo is None  # naive UTC, as Dapr's WorkflowState
    assert before - timedelta(seconds=1) <= st.created_at.replace(tzinfo=timezone.utc) <= datetime.now(timezone.utc)
    assert st.last_updated_at >= st.created_at
    full = app.client.get_workflow_state(iid, fetch_payloads=True)
    assert json.loads(full.serialized_input) == {"k": "v"}
    assert full.serialized_output is None
    light = app.client.get_workflow_state(iid, fetch_payloads=False)
    assert light.runtime_status == S.RUNNING
    assert light.serialized_input is None
    assert full.to_json()["runtime_status"] == "RUNNING" and "failure_details" not in full.to_json()
    assert json.loads(str(full))["serialized_input"] == full.serialized_input  # str() is Dapr's JSON dump
    app.client.raise_workflow_event(iid, "go", data=1)
    done = app.wait(iid)
    assert completed_output(done) == {"input": {"k": "v"}, "event": 1}
    assert done.last_updated_at >= st.last_updated_at


def test_get_state_of_unknown_instance_is_none(make_app):
    app = make_app()
    assert app.client.get_workflow_state("nobody") is None


def test_wait_on_unknown_instance(make_app):
    app = make_app()
    with pytest.raises((wf.NotFoundError, TimeoutError)):
        app.client.wait_for_workflow_completion("nobody", timeout_in_seconds=0.3)


def test_wait_for_completion_times_out(make_app):
    app = make_app([_waiter])
    iid = app.schedule(_waiter)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        app.client.wait_for_workflow_completion(iid, timeout_in_seconds=0.3)
    assert 0.25 <= time.monotonic() - t0 < 3
    assert app.status(iid) == S.RUNNING


# ---------------------------------------------------------------------------------------- if_exists


def test_if_exists_return_is_default_and_starts_nothing(make_app):
    app = make_app([_waiter])
    iid = app.schedule(_waiter, "first", instance_id="same")
    app.wait_status(iid, S.RUNNING)
    assert app.schedule(_waiter, "second", instance_id="same") == "same"
    assert app.client.schedule_new_workflow(_waiter, input="third", instance_id="same", if_exists="return") == "same"
    app.client.raise_workflow_event("same", "go", data=0)
    st = app.wait("same")
    assert completed_output(st) == {"input": "first", "event": 0}
    assert app.types("same").count("ExecutionStarted") == 1
    # a completed instance is also returned as it is
    assert app.schedule(_waiter, "fourth", instance_id="same") == "same"
    assert completed_output(app.state("same")) == {"input": "first", "event": 0}
    assert len(list(app.client.list_workflows())) == 1


def test_if_exists_error_refuses(make_app):
    app = make_app([_echo])
    app.schedule(_echo, 1, instance_id="dup")
    with pytest.raises(wf.AlreadyExistsError):
        app.client.schedule_new_workflow(_echo, input=2, instance_id="dup", if_exists="error")
    completed_output(app.wait("dup"))
    with pytest.raises(wf.AlreadyExistsError):
        app.client.schedule_new_workflow(_echo, input=2, instance_id="dup", if_exists="error")
    assert completed_output(app.state("dup")) == 1


def test_if_exists_replace_restarts_a_terminal_instance(make_app):
    app = make_app([_echo])
    app.schedule(_echo, "old", instance_id="rep")
    assert completed_output(app.wait("rep")) == "old"
    assert app.client.schedule_new_workflow(_echo, input="new", instance_id="rep", if_exists="replace") == "rep"
    st = app.wait("rep")
    assert completed_output(st) == "new"
    hist = app.history("rep")
    started = [e for e in hist if e.event_type == "ExecutionStarted"]
    assert len(started) == 1 and json.loads(started[0].data) == "new"


def test_if_exists_replace_restarts_a_failed_instance(make_app):
    def flaky_wf(ctx, inp):
        if False:
            yield
        if inp == "fail":
            raise ValueError("nope")
        return inp

    app = make_app([flaky_wf])
    app.schedule(flaky_wf, "fail", instance_id="rep2")
    assert app.wait("rep2").runtime_status == S.FAILED
    app.client.schedule_new_workflow(flaky_wf, input="ok", instance_id="rep2", if_exists="replace")
    st = app.wait("rep2")
    assert completed_output(st) == "ok"
    assert st.failure_details is None


def test_if_exists_replace_refuses_a_live_instance(make_app):
    app = make_app([_waiter])
    app.schedule(_waiter, "live", instance_id="busy")
    app.wait_status("busy", S.RUNNING)
    with pytest.raises((wf.InvalidStateError, wf.AlreadyExistsError)):
        app.client.schedule_new_workflow(_waiter, input="other", instance_id="busy", if_exists="replace")
    assert app.status("busy") == S.RUNNING
    assert json.loads(app.state("busy").serialized_input) == "live"


def test_if_exists_bad_value(make_app):
    app = make_app([_echo])
    with pytest.raises((wf.InvalidArgumentError, ValueError)):
        app.client.schedule_new_workflow(_echo, input=1, instance_id="x", if_exists="sometimes")


# ----------------------------------------------------------------------------------------- start_at


def test_start_at_keeps_instance_pending_until_then(make_app):
    app = make_app([_echo])
    start_at = datetime.now(timezone.utc) + timedelta(milliseconds=700)
    iid = app.client.schedule_new_workflow(_echo, input="later", instance_id="delayed", start_at=start_at)
    st = app.state(iid)
    assert st.runtime_status == S.PENDING
    with pytest.raises(TimeoutError):
        app.client.wait_for_workflow_start(iid, timeout_in_seconds=0.2)
    assert app.status(iid) == S.PENDING
    started = app.client.wait_for_workflow_start(iid, timeout_in_seconds=5)
    assert started.runtime_status in (S.RUNNING, S.COMPLETED)
    assert datetime.now(timezone.utc) >= start_at - timedelta(milliseconds=20)
    done = app.wait(iid)
    assert completed_output(done) == "later"
    assert app.history(iid)[0].event_type == "ExecutionStarted"


def test_start_at_in_the_past_starts_now(make_app):
    app = make_app([_echo])
    iid = app.client.schedule_new_workflow(
        _echo, input=1, start_at=datetime.now(timezone.utc) - timedelta(hours=1)
    )
    assert completed_output(app.wait(iid, timeout=5)) == 1


def test_start_at_survives_restart(make_app):
    first = make_app([_echo])
    start_at = datetime.now(timezone.utc) + timedelta(milliseconds=600)
    iid = first.client.schedule_new_workflow(_echo, input="x", start_at=start_at)
    first.stop()
    second = make_app([_echo])
    assert completed_output(second.wait(iid)) == "x"


def test_wait_for_start_returns_without_payloads_by_default(make_app):
    app = make_app([_waiter])
    iid = app.schedule(_waiter, {"big": "x"})
    st = app.client.wait_for_workflow_start(iid, timeout_in_seconds=5)
    assert st.runtime_status == S.RUNNING
    assert st.serialized_input is None
    st2 = app.client.wait_for_workflow_start(iid, fetch_payloads=True, timeout_in_seconds=5)
    assert json.loads(st2.serialized_input) == {"big": "x"}


def test_schedule_without_a_running_runtime_is_pending(make_app):
    client_only = make_app(start=False)
    iid = client_only.schedule("anything", 1)
    assert client_only.status(iid) == S.PENDING
    wait_until(lambda: client_only.status(iid) == S.PENDING, what="still pending")


@pytest.mark.parametrize(
    "value",
    ['{"a": 1}', "plain text", "", None, "null", "ünïcödé ✓", [1, "2", None, True, 1.5], {"nested": {"x": [1]}}, 0, False],
    ids=["json-looking-string", "text", "empty-string", "none", "string-null", "unicode", "list", "dict", "zero", "false"],
)
def test_payloads_round_trip_as_json(make_app, value):
    """Inputs, event data and outputs are JSON-encoded Python values: a string that looks like JSON
    stays a string."""

    def echo(ctx, inp):
        ev = yield ctx.wait_for_external_event("e")
        return {"input": inp, "event": ev}

    app = make_app([echo])
    iid = app.schedule(echo, value)
    app.client.raise_workflow_event(iid, "e", data=value)
    st = app.wait(iid)
    assert completed_output(st) == {"input": value, "event": value}
    if value is not None:
        assert json.loads(st.serialized_input) == value
    else:
        assert st.serialized_input in (None, "null")


def test_wait_for_completion_without_payloads(make_app):
    app = make_app([_echo])
    iid = app.schedule(_echo, {"x": 1})
    st = app.client.wait_for_workflow_completion(iid, fetch_payloads=False, timeout_in_seconds=10)
    assert st.runtime_status == S.COMPLETED
    assert st.serialized_input is None and st.serialized_output is None
    assert json.loads(app.state(iid).serialized_output) == {"x": 1}
