"""The workflow context: custom status, is_replaying, deterministic time, instance_id, replay and
non-determinism across a runtime restart."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

import wf
from wf_testing import completed_output, wait_until

pytestmark = pytest.mark.timeout(30)

S = wf.WorkflowStatus


def _custom(app, iid):
    st = app.state(iid)
    if st is None or st.serialized_custom_status is None:
        return None
    return json.loads(st.serialized_custom_status)


def test_set_custom_status_is_visible_while_running_and_after(make_app):
    def w(ctx, inp):
        ctx.set_custom_status({"step": "waiting", "n": 1})
        yield ctx.wait_for_external_event("go")
        ctx.set_custom_status("finished")
        return "ok"

    app = make_app([w])
    iid = app.schedule(w)
    wait_until(lambda: _custom(app, iid) == {"step": "waiting", "n": 1}, what="custom status set")
    assert app.status(iid) == S.RUNNING
    app.client.raise_workflow_event(iid, "go")
    st = app.wait(iid)
    assert completed_output(st) == "ok"
    assert json.loads(st.serialized_custom_status) == "finished"


def test_instance_id_in_context(make_app):
    def w(ctx, inp):
        if False:
            yield
        return ctx.instance_id

    app = make_app([w])
    assert completed_output(app.run(w, instance_id="my-id_1")) == "my-id_1"


def test_is_replaying_after_restart(make_app):
    seen: list[tuple[str, bool, str]] = []

    def note(ctx, inp):
        return inp

    def build(tag):
        def w(ctx, inp):
            seen.append(("a", ctx.is_replaying, tag))
            yield ctx.call_activity(note, input=1)
            seen.append(("b", ctx.is_replaying, tag))
            yield ctx.wait_for_external_event("go")
            seen.append(("c", ctx.is_replaying, tag))
            return "done"

        return w

    first = make_app(start=False)
    first.runtime.register_workflow(build("first"), name="w")
    first.runtime.register_activity(note)
    first.start()
    iid = first.schedule("w")
    first.wait_history(iid, "TaskCompleted")
    wait_until(lambda: ("b", False, "first") in seen, what="first runtime past the activity")
    first.stop()

    second = make_app(start=False)
    second.runtime.register_workflow(build("second"), name="w")
    second.runtime.register_activity(note)
    second.start()
    second.client.raise_workflow_event(iid, "go")
    assert completed_output(second.wait(iid)) == "done"

    # Each line of code ran exactly once for real (not replaying), wherever it ran.
    live = [label for label, replaying, _ in seen if not replaying]
    assert sorted(live) == ["a", "b", "c"], seen
    # The second runtime had to rebuild the state: it replayed a and b.
    assert ("a", True, "second") in seen, seen
    assert ("b", True, "second") in seen, seen
    assert ("c", False, "second") in seen, seen


def test_current_utc_datetime_is_deterministic(make_app):
    times: dict[str, set] = {"t0": set(), "t1": set()}

    def tick(ctx, inp):
        return "tick"

    def build():
        def w(ctx, inp):
            t0 = ctx.current_utc_datetime
            times["t0"].add(t0)
            yield ctx.call_activity(tick)
            t1 = ctx.current_utc_datetime
            times["t1"].add(t1)
            yield ctx.wait_for_external_event("go")
            return [t0.isoformat(), t1.isoformat()]

        return w

    first = make_app(start=False)
    first.runtime.register_workflow(build(), name="w")
    first.runtime.register_activity(tick)
    first.start()
    before = datetime.now(timezone.utc)
    iid = first.schedule("w")
    wait_until(lambda: times["t1"], what="workflow past the activity")
    first.stop()

    second = make_app(start=False)
    second.runtime.register_workflow(build(), name="w")
    second.runtime.register_activity(tick)
    second.start()
    second.client.raise_workflow_event(iid, "go")
    out = completed_output(second.wait(iid))

    # replays saw the very same values as the first run
    assert len(times["t0"]) == 1, times
    assert len(times["t1"]) == 1, times
    t0, t1 = next(iter(times["t0"])), next(iter(times["t1"]))
    assert out == [t0.isoformat(), t1.isoformat()]
    assert t0.tzinfo is None  # naive UTC, as Dapr's SDK gives it
    assert t0 <= t1
    assert before - timedelta(seconds=2) <= t0.replace(tzinfo=timezone.utc) <= datetime.now(timezone.utc)
    # taken from history: t0 is the time of an event in the history
    stamps = [e.timestamp.replace(tzinfo=None) for e in second.history(iid)]
    assert any(abs((s - t0).total_seconds()) < 0.002 for s in stamps), (t0, stamps)


def test_current_utc_datetime_advances_with_timer(make_app):
    def w(ctx, inp):
        t0 = ctx.current_utc_datetime
        yield ctx.create_timer(timedelta(milliseconds=200))
        return (ctx.current_utc_datetime - t0).total_seconds()

    app = make_app([w])
    assert completed_output(app.run(w)) >= 0.19


# ----------------------------------------------------------------------------------- non-determinism


def test_code_change_between_runs_fails_with_non_determinism(make_app):
    def alpha_step(ctx, inp):
        return "alpha"

    def beta_step(ctx, inp):
        return "beta"

    def v1(ctx, inp):
        yield ctx.call_activity(alpha_step)
        yield ctx.wait_for_external_event("go")
        yield ctx.call_activity(alpha_step)
        return "v1"

    def v2(ctx, inp):
        yield ctx.call_activity(beta_step)  # replays differently from the recorded history
        yield ctx.wait_for_external_event("go")
        return "v2"

    first = make_app(start=False)
    first.runtime.register_workflow(v1, name="evolving")
    first.runtime.register_activity(alpha_step)
    first.start()
    iid = first.schedule("evolving")
    first.wait_history(iid, "TaskCompleted")
    first.stop()

    second = make_app(start=False)
    second.runtime.register_workflow(v2, name="evolving")
    second.runtime.register_activity(alpha_step)
    second.runtime.register_activity(beta_step)
    second.start()
    second.client.raise_workflow_event(iid, "go")
    st = second.wait(iid)
    assert st.runtime_status == S.FAILED, st
    msg = st.failure_details.message
    assert "alpha_step" in msg and "beta_step" in msg, msg
    assert "determinis" in (msg + st.failure_details.error_type).lower(), st.failure_details
    # the step that was never recorded did not run as new work
    assert [e.name for e in second.history(iid) if e.event_type == "TaskScheduled"] == ["alpha_step"]


def test_code_change_from_activity_to_timer_is_non_determinism(make_app):
    def alpha_step(ctx, inp):
        return "alpha"

    def v1(ctx, inp):
        yield ctx.call_activity(alpha_step)
        yield ctx.wait_for_external_event("go")
        return "v1"

    def v2(ctx, inp):
        yield ctx.create_timer(timedelta(milliseconds=10))
        yield ctx.wait_for_external_event("go")
        return "v2"

    first = make_app(start=False)
    first.runtime.register_workflow(v1, name="evolving")
    first.runtime.register_activity(alpha_step)
    first.start()
    iid = first.schedule("evolving")
    first.wait_history(iid, "TaskCompleted")
    first.stop()

    second = make_app(start=False)
    second.runtime.register_workflow(v2, name="evolving")
    second.runtime.register_activity(alpha_step)
    second.start()
    second.client.raise_workflow_event(iid, "go")
    st = second.wait(iid)
    assert st.runtime_status == S.FAILED, st
    msg = st.failure_details.message
    assert "alpha_step" in msg, msg
    assert "timer" in msg.lower(), msg


def test_code_change_that_keeps_the_same_steps_replays_fine(make_app):
    def alpha_step(ctx, inp):
        return "alpha"

    def v1(ctx, inp):
        a = yield ctx.call_activity(alpha_step)
        yield ctx.wait_for_external_event("go")
        return "v1:" + a

    def v2(ctx, inp):
        a = yield ctx.call_activity(alpha_step)
        yield ctx.wait_for_external_event("go")
        return "v2:" + a

    first = make_app(start=False)
    first.runtime.register_workflow(v1, name="evolving")
    first.runtime.register_activity(alpha_step)
    first.start()
    iid = first.schedule("evolving")
    first.wait_history(iid, "TaskCompleted")
    first.stop()

    second = make_app(start=False)
    second.runtime.register_workflow(v2, name="evolving")
    second.runtime.register_activity(alpha_step)
    second.start()
    second.client.raise_workflow_event(iid, "go")
    assert completed_output(second.wait(iid)) == "v2:alpha"


def test_code_change_that_drops_a_recorded_step_is_non_determinism(make_app):
    def alpha_step(ctx, inp):
        return "alpha"

    def v1(ctx, inp):
        yield ctx.call_activity(alpha_step)
        yield ctx.wait_for_external_event("go")
        return "v1"

    def v2(ctx, inp):
        yield ctx.wait_for_external_event("go")  # the recorded alpha_step is gone
        return "v2"

    first = make_app(start=False)
    first.runtime.register_workflow(v1, name="evolving")
    first.runtime.register_activity(alpha_step)
    first.start()
    iid = first.schedule("evolving")
    first.wait_history(iid, "TaskCompleted")
    first.stop()

    second = make_app(start=False)
    second.runtime.register_workflow(v2, name="evolving")
    second.runtime.register_activity(alpha_step)
    second.start()
    second.client.raise_workflow_event(iid, "go")
    st = second.wait(iid)
    assert st.runtime_status == S.FAILED, st
    assert "alpha_step" in st.failure_details.message, st.failure_details
