"""when_all / when_any, child workflows, continue_as_new."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest

import wf
from wf_testing import completed_output, wait_until

pytestmark = pytest.mark.timeout(30)

S = wf.WorkflowStatus


# -------------------------------------------------------------------------------------- when_all / any


def test_when_all_fan_out_fan_in_keeps_order(make_app):
    def square(ctx, x):
        time.sleep(0.01 * (10 - x))  # later items finish first
        return x * x

    def fan(ctx, n):
        tasks = [ctx.call_activity(square, input=i) for i in range(n)]
        results = yield wf.when_all(tasks)
        return {"results": results, "sum": sum(results)}

    app = make_app([fan], [square])
    st = app.run(fan, 10)
    assert completed_output(st) == {"results": [i * i for i in range(10)], "sum": 285}
    hist = app.history(st.instance_id)
    scheduled = [e for e in hist if e.event_type == "TaskScheduled"]
    completed = [e for e in hist if e.event_type == "TaskCompleted"]
    assert len(scheduled) == 10 and len(completed) == 10
    assert sorted(c.task_scheduled_id for c in completed) == sorted(s.event_id for s in scheduled)


def test_when_all_of_nothing(make_app):
    def w(ctx, inp):
        r = yield wf.when_all([])
        return r

    app = make_app([w])
    assert completed_output(app.run(w)) == []


def test_when_all_with_a_failure_raises_task_failed(make_app):
    def maybe(ctx, x):
        if x == 2:
            raise ValueError("item 2 is bad")
        return x

    def w(ctx, inp):
        try:
            yield wf.when_all([ctx.call_activity(maybe, input=i) for i in range(4)])
        except wf.TaskFailedError as exc:
            return {"failed": exc.details.message}
        return "no failure"

    app = make_app([w], [maybe])
    out = completed_output(app.run(w))
    assert "item 2 is bad" in out["failed"]


def test_when_all_mixes_activities_timers_and_events(make_app):
    def one(ctx, inp):
        return 1

    def w(ctx, inp):
        results = yield wf.when_all(
            [
                ctx.call_activity(one),
                ctx.wait_for_external_event("ev"),
                ctx.create_timer(timedelta(milliseconds=100)),
            ]
        )
        return results[:2]

    app = make_app([w], [one])
    iid = app.schedule(w)
    app.client.raise_workflow_event(iid, "ev", data="E")
    assert completed_output(app.wait(iid)) == [1, "E"]


def test_when_any_event_beats_timer(make_app):
    def race(ctx, inp):
        event = ctx.wait_for_external_event("decision")
        timeout = ctx.create_timer(timedelta(seconds=5))
        winner = yield wf.when_any([event, timeout])
        if winner == timeout:
            return {"winner": "timer"}
        return {"winner": "event", "data": winner.get_result(), "same": event.get_result()}

    app = make_app([race])
    iid = app.schedule(race)
    app.wait_history(iid, "TimerCreated")
    t0 = time.monotonic()
    app.client.raise_workflow_event(iid, "decision", data={"ok": 1})
    assert completed_output(app.wait(iid)) == {"winner": "event", "data": {"ok": 1}, "same": {"ok": 1}}
    assert time.monotonic() - t0 < 4


def test_when_any_timer_beats_event(make_app):
    def race(ctx, inp):
        event = ctx.wait_for_external_event("decision")
        timeout = ctx.create_timer(timedelta(milliseconds=200))
        winner = yield wf.when_any([event, timeout])
        return "timer" if winner is timeout else "event"

    app = make_app([race])
    st = app.run(race)
    assert completed_output(st) == "timer"
    # the event arriving after the race is decided does not change anything
    with pytest.raises(wf.InvalidStateError):
        app.client.raise_workflow_event(st.instance_id, "decision", data=1)


def test_when_any_first_activity_wins(make_app):
    release = threading.Event()

    def slow(ctx, inp):
        release.wait(5)
        return "slow"

    def fast(ctx, inp):
        return "fast"

    def w(ctx, inp):
        s = ctx.call_activity(slow)
        f = ctx.call_activity(fast)
        winner = yield wf.when_any([s, f])
        return winner.get_result()

    app = make_app([w], [slow, fast])
    try:
        iid = app.schedule(w)
        st = app.wait(iid)
    finally:
        release.set()
    assert completed_output(st) == "fast"


def test_when_any_then_wait_for_the_loser(make_app):
    def w(ctx, inp):
        a = ctx.wait_for_external_event("a")
        b = ctx.wait_for_external_event("b")
        first = yield wf.when_any([a, b])
        second = b if first is a else a
        rest = yield second
        return [first.get_result(), rest]

    app = make_app([w])
    iid = app.schedule(w)
    app.client.raise_workflow_event(iid, "b", data="B")
    app.wait_history(iid, "EventRaised")
    app.client.raise_workflow_event(iid, "a", data="A")
    assert completed_output(app.wait(iid)) == ["B", "A"]


# ---------------------------------------------------------------------------------- child workflows


def test_child_workflow_result(make_app):
    def add(ctx, pair):
        return pair[0] + pair[1]

    def child(ctx, pair):
        r = yield ctx.call_activity(add, input=pair)
        return r

    def parent(ctx, inp):
        a = yield ctx.call_child_workflow(child, input=[1, 2], instance_id=f"{ctx.instance_id}-c1")
        b = yield ctx.call_child_workflow("child", input=[a, 10])
        return [a, b]

    app = make_app([parent, child], [add])
    st = app.run(parent, instance_id="par")
    assert completed_output(st) == [3, 13]
    child_state = app.state("par-c1")
    assert child_state is not None
    assert child_state.name == "child"
    assert completed_output(child_state) == 3
    assert child_state.parent_instance_id in (None, "par")  # optional field; if set it must be right
    hist = app.history("par")
    created = [e for e in hist if e.event_type == "ChildWorkflowCreated"]
    done = [e for e in hist if e.event_type == "ChildWorkflowCompleted"]
    assert len(created) == 2 and len(done) == 2
    assert [d.task_scheduled_id for d in done] == [c.event_id for c in created]
    assert json.loads(done[0].data) == 3


def test_child_workflows_fan_out(make_app):
    def child(ctx, x):
        yield ctx.create_timer(timedelta(milliseconds=20))
        return x * 10

    def parent(ctx, n):
        results = yield wf.when_all([ctx.call_child_workflow(child, input=i) for i in range(n)])
        return results

    app = make_app([parent, child])
    assert completed_output(app.run(parent, 5)) == [0, 10, 20, 30, 40]


def test_child_failure_is_catchable_in_parent(make_app):
    def child(ctx, inp):
        if False:
            yield
        raise ValueError("child exploded")

    def parent(ctx, inp):
        try:
            yield ctx.call_child_workflow(child, instance_id="kid")
        except wf.TaskFailedError as exc:
            return {"caught": exc.details.message}
        return "not raised"

    app = make_app([parent, child])
    st = app.run(parent)
    out = completed_output(st)
    assert "child exploded" in out["caught"]
    assert app.status("kid") == S.FAILED
    assert "ChildWorkflowFailed" in app.types(st.instance_id)


def test_uncaught_child_failure_fails_parent(make_app):
    def bad(ctx, inp):
        raise RuntimeError("deep failure")

    def child(ctx, inp):
        yield ctx.call_activity(bad)

    def parent(ctx, inp):
        yield ctx.call_child_workflow(child)
        return "unreachable"

    app = make_app([parent, child], [bad])
    st = app.run(parent)
    assert st.runtime_status == S.FAILED
    assert "deep failure" in st.failure_details.message
    with pytest.raises(wf.WorkflowFailedError):
        st.raise_if_failed()


def test_child_workflow_with_retry_policy(make_app):
    attempts = []

    def child(ctx, inp):
        attempts.append(ctx.instance_id)
        if False:
            yield
        if len(attempts) < 2:
            raise ValueError("first child attempt fails")
        return "second time lucky"

    policy = wf.RetryPolicy(first_retry_interval=timedelta(milliseconds=50), max_number_of_attempts=3)

    def parent(ctx, inp):
        r = yield ctx.call_child_workflow(child, retry_policy=policy)
        return r

    app = make_app([parent, child])
    assert completed_output(app.run(parent)) == "second time lucky"


# ---------------------------------------------------------------------------------- continue_as_new


def test_continue_as_new_restarts_with_new_input(make_app):
    generations = []

    def counter(ctx, n):
        if not ctx.is_replaying:
            generations.append(n)
        if n < 3:
            ctx.continue_as_new(n + 1)
            return
        yield ctx.create_timer(timedelta(milliseconds=10))
        return n

    app = make_app([counter])
    st = app.run(counter, 0, instance_id="can")
    assert completed_output(st) == 3
    assert json.loads(st.serialized_input) == 3
    assert generations == [0, 1, 2, 3]
    hist = app.history("can")
    # the history is that of the last execution only
    started = [e for e in hist if e.event_type == "ExecutionStarted"]
    assert len(started) == 1
    assert json.loads(started[0].data) == 3


def test_continue_as_new_after_activity(make_app):
    def step(ctx, n):
        return n + 1

    def loop(ctx, n):
        m = yield ctx.call_activity(step, input=n)
        if m < 5:
            ctx.continue_as_new(m)
            return
        return m

    app = make_app([loop], [step])
    assert completed_output(app.run(loop, 0)) == 5


def _carry_workflow(save_events: bool):
    def carry(ctx, gen):
        if gen == 0:
            yield ctx.wait_for_external_event("go")
            ctx.continue_as_new(1, save_events=save_events)
            return
        try:
            v = yield ctx.wait_for_external_event("data", timeout=timedelta(milliseconds=400))
        except TimeoutError:
            return "no event"
        return {"carried": v}

    return carry


@pytest.mark.parametrize("save_events,expected", [(True, {"carried": "D"}), (False, "no event")])
def test_continue_as_new_save_events(make_app, save_events, expected):
    carry = _carry_workflow(save_events)
    app = make_app(start=False)
    app.runtime.register_workflow(carry, name="carry")
    app.start()
    iid = app.schedule("carry", 0)
    app.wait_history(iid, "ExecutionStarted")
    # "data" arrives first and is not consumed by generation 0; then "go" ends generation 0.
    app.client.raise_workflow_event(iid, "data", data="D")
    app.client.raise_workflow_event(iid, "go")
    assert completed_output(app.wait(iid)) == expected


def test_continue_as_new_then_event_in_new_generation(make_app):
    def w(ctx, gen):
        if gen == 0:
            ctx.continue_as_new(1)
            return
        v = yield ctx.wait_for_external_event("later")
        return v

    app = make_app([w])
    iid = app.schedule(w, 0)

    def in_gen1():
        st = app.state(iid)
        return st and st.serialized_input is not None and json.loads(st.serialized_input) == 1

    wait_until(in_gen1, what="second generation")
    app.client.raise_workflow_event(iid, "later", data="L")
    assert completed_output(app.wait(iid)) == "L"


def test_when_any_decided_in_one_batch_replays_the_same_winner(make_app):
    """The timer fell due and the event arrived while no runtime ran: whichever the engine applies
    first wins, and a later replay (after another restart) must pick the same winner."""

    def race(ctx, inp):
        event = ctx.wait_for_external_event("decision")
        timer = ctx.create_timer(timedelta(milliseconds=200))
        winner = yield wf.when_any([event, timer])
        won = "timer" if winner is timer else "event"
        ctx.set_custom_status(won)
        yield ctx.wait_for_external_event("end")
        return won

    first = make_app([race])
    iid = first.schedule(race)
    first.wait_history(iid, "TimerCreated")
    first.stop()
    time.sleep(0.4)  # the scenario: the timer falls due while nobody runs
    first.client.raise_workflow_event(iid, "decision", data=1)

    second = make_app([race])
    wait_until(lambda: second.state(iid).serialized_custom_status, what="race decided")
    live = json.loads(second.state(iid).serialized_custom_status)
    second.stop()

    third = make_app([race])
    third.client.raise_workflow_event(iid, "end")
    assert completed_output(third.wait(iid)) == live
