"""The replay executor as a pure function: hand-built histories in, steps out. No store, no worker."""

from __future__ import annotations

from datetime import timedelta

import pytest

import wf
from wf.engine import history as h
from wf.engine.executor import Execution, execute
from wf.engine.history import Event

T0 = 1_700_000_000.0


def started(data: str | None = None, ts: float = T0) -> Event:
    return Event(h.EXECUTION_STARTED, ts, name="wfn", data=data)


def scheduled(event_id: int, name: str, data: str | None = None) -> Event:
    return Event(h.TASK_SCHEDULED, T0, event_id=event_id, name=name, data=data)


def completed(task_id: int, data: str | None, ts: float = T0 + 1) -> Event:
    return Event(h.TASK_COMPLETED, ts, task_id=task_id, data=data)


def failed(task_id: int, message: str = "boom", ts: float = T0 + 1) -> Event:
    return Event(h.TASK_FAILED, ts, task_id=task_id, failure={"message": message, "error_type": "ValueError"})


def types(step) -> list[str]:
    return [e.type for e in step.events]


def two_steps(ctx, x):
    a = yield ctx.call_activity("a", input=x)
    b = yield ctx.call_activity("b", input=a)
    return a + b


def test_first_step_records_start_and_schedules_the_first_activity():
    _, step = execute(two_steps, "i1", "wfn", [], [started("1")], now=T0)
    assert types(step) == [h.EXECUTION_STARTED, h.TASK_SCHEDULED]
    assert (step.events[1].event_id, step.events[1].name, step.events[1].data) == (1, "a", "1")
    assert step.status is None


def test_replay_then_completion_finishes_the_workflow():
    past = [started("1"), scheduled(1, "a", "1"), completed(1, "2"), scheduled(2, "b", "2")]
    _, step = execute(two_steps, "i1", "wfn", past, [completed(2, "3")], now=T0 + 5)
    assert types(step) == [h.TASK_COMPLETED, h.EXECUTION_COMPLETED]
    assert step.status == "COMPLETED" and step.output == "5"


def test_changed_code_is_a_non_determinism_error_naming_both_sides():
    def changed(ctx, x):
        a = yield ctx.call_activity("c", input=x)
        return a

    past = [started("1"), scheduled(1, "a", "1")]
    _, step = execute(changed, "i1", "wfn", past, [completed(1, "2")], now=T0)
    assert step.status == "FAILED"
    assert step.failure.error_type == "NonDeterminismError"
    assert "TaskScheduled 'a'" in step.failure.message and "TaskScheduled 'c'" in step.failure.message


def test_history_with_work_the_code_no_longer_schedules_is_non_deterministic():
    def nothing(ctx, x):
        return x
        yield  # pragma: no cover - makes this a generator

    _, step = execute(nothing, "i1", "wfn", [started("1"), scheduled(1, "a")], [], now=T0)
    assert step.status == "FAILED" and "schedules nothing" in step.failure.message


def test_a_duplicate_completion_is_recorded_once():
    past = [started("1"), scheduled(1, "a", "1")]
    _, step = execute(two_steps, "i1", "wfn", past, [completed(1, "2"), completed(1, "2")], now=T0)
    assert types(step).count(h.TASK_COMPLETED) == 1


def test_incremental_advance_matches_a_full_replay():
    """What a worker does with a workflow it keeps in memory equals replaying from scratch."""
    ex = Execution(two_steps, "i1", "wfn")
    s1 = ex.advance([started("1")], T0)
    s2 = ex.advance([completed(1, "2")], T0 + 1)
    s3 = ex.advance([completed(2, "3")], T0 + 2)
    incremental = s1.events + s2.events + s3.events
    past = s1.events + s2.events
    _, replayed = execute(two_steps, "i1", "wfn", past, [completed(2, "3")], now=T0 + 2)
    assert [e.to_json() for e in s3.events] == [e.to_json() for e in replayed.events]
    assert s3.output == replayed.output == "5"
    assert len(incremental) == 6


def test_time_and_replaying_flag_come_from_history():
    seen = []

    def clocked(ctx, _):
        seen.append((ctx.current_utc_datetime.timestamp(), ctx.is_replaying))
        yield ctx.call_activity("a")
        seen.append((ctx.current_utc_datetime.timestamp(), ctx.is_replaying))
        return None

    past = [started(ts=T0), scheduled(1, "a")]
    execute(clocked, "i1", "wfn", past, [completed(1, None, ts=T0 + 42)], now=T0 + 100)
    assert seen == [(T0, True), (T0 + 42, False)]


def test_activity_failure_raises_inside_the_workflow_where_it_can_be_caught():
    def catcher(ctx, _):
        try:
            yield ctx.call_activity("a")
        except wf.TaskFailedError as exc:
            return {"caught": exc.details.message, "type": exc.details.error_type}

    past = [started(), scheduled(1, "a")]
    _, step = execute(catcher, "i1", "wfn", past, [failed(1, "nope")], now=T0)
    assert step.status == "COMPLETED"
    assert step.output == '{"caught": "nope", "type": "ValueError"}'


def test_uncaught_failure_fails_the_instance_with_details():
    def crasher(ctx, _):
        yield ctx.call_activity("a")
        raise KeyError("missing")

    _, step = execute(crasher, "i1", "wfn", [started(), scheduled(1, "a")], [completed(1, None)], now=T0)
    assert step.status == "FAILED"
    assert step.failure.error_type == "KeyError"
    assert "crasher" in step.failure.stack_trace
    assert step.events[-1].type == h.EXECUTION_COMPLETED and step.events[-1].get("status") == "FAILED"


def test_retry_policy_schedules_a_backoff_timer_then_a_new_attempt_then_gives_up():
    policy = wf.RetryPolicy(first_retry_interval=timedelta(seconds=2), max_number_of_attempts=2,
                            backoff_coefficient=3.0)

    def retrying(ctx, _):
        return (yield ctx.call_activity("a", retry_policy=policy))

    ex = Execution(retrying, "i1", "wfn")
    ex.advance([started()], T0)
    s = ex.advance([failed(1, ts=T0 + 1)], T0 + 1)
    assert types(s) == [h.TASK_FAILED, h.TIMER_CREATED]
    timer = s.events[1]
    assert timer.get("fire_at") == T0 + 1 + 2 and timer.get("retry") is True
    fired = Event(h.TIMER_FIRED, T0 + 3, task_id=timer.event_id)
    s = ex.advance([fired], T0 + 3)
    assert types(s) == [h.TIMER_FIRED, h.TASK_SCHEDULED] and s.events[1].name == "a"
    s = ex.advance([failed(s.events[1].event_id, "again", ts=T0 + 4)], T0 + 4)
    assert s.status == "FAILED" and "again" in s.failure.message


def test_retry_backoff_respects_coefficient_and_max_interval():
    policy = wf.RetryPolicy(first_retry_interval=timedelta(seconds=1), max_number_of_attempts=5,
                            backoff_coefficient=10.0, max_retry_interval=timedelta(seconds=5))

    def retrying(ctx, _):
        return (yield ctx.call_activity("a", retry_policy=policy))

    ex = Execution(retrying, "i1", "wfn")
    ex.advance([started()], T0)
    delays = []
    now, task_id = T0, 1
    for _ in range(3):
        s = ex.advance([failed(task_id, ts=now)], now)
        timer = s.events[-1]
        delays.append(timer.get("fire_at") - now)
        now = timer.get("fire_at")
        s = ex.advance([Event(h.TIMER_FIRED, now, task_id=timer.event_id)], now)
        task_id = s.events[-1].event_id
    assert delays == [1.0, 5.0, 5.0]


def test_events_raised_before_the_wait_are_delivered_in_order_and_names_ignore_case():
    def waiter(ctx, _):
        first = yield ctx.wait_for_external_event("Approval")
        second = yield ctx.wait_for_external_event("APPROVAL")
        return [first, second]

    raised = [Event(h.EVENT_RAISED, T0, name="approval", data='"one"'),
              Event(h.EVENT_RAISED, T0, name="approval", data='"two"')]
    _, step = execute(waiter, "i1", "wfn", [], [*raised, started()], now=T0)
    assert step.output == '["one", "two"]'


def test_when_any_event_against_timer_the_timer_wins():
    def race(ctx, _):
        event = ctx.wait_for_external_event("go")
        timer = ctx.create_timer(timedelta(days=3))
        winner = yield wf.when_any([event, timer])
        return "event" if winner is event else "timeout"

    ex = Execution(race, "i1", "wfn")
    s = ex.advance([started()], T0)
    timer = next(e for e in s.events if e.type == h.TIMER_CREATED)
    assert timer.get("fire_at") == T0 + 3 * 86400
    s = ex.advance([Event(h.TIMER_FIRED, T0 + 3 * 86400, task_id=timer.event_id)], T0 + 3 * 86400)
    assert s.output == '"timeout"'


def test_wait_with_timeout_raises_timeout_error_in_the_workflow():
    def waiter(ctx, _):
        try:
            yield ctx.wait_for_external_event("go", timeout=timedelta(seconds=5))
        except TimeoutError:
            return "timed out"

    ex = Execution(waiter, "i1", "wfn")
    s = ex.advance([started()], T0)
    timer = s.events[-1]
    s = ex.advance([Event(h.TIMER_FIRED, T0 + 5, task_id=timer.event_id)], T0 + 5)
    assert s.output == '"timed out"'


def test_when_all_results_in_order_fan_in():
    def fan(ctx, n):
        return (yield wf.when_all([ctx.call_activity("sq", input=i) for i in range(n)]))

    ex = Execution(fan, "i1", "wfn")
    s = ex.advance([started("3")], T0)
    assert [e.event_id for e in s.events if e.type == h.TASK_SCHEDULED] == [1, 2, 3]
    s = ex.advance([completed(3, "4"), completed(1, "0"), completed(2, "1")], T0 + 1)
    assert s.output == "[0, 1, 4]"


def test_continue_as_new_carries_unconsumed_events_only_with_save_events():
    def looping(ctx, n):
        ctx.continue_as_new(n + 1, save_events=True)
        return None
        yield  # pragma: no cover

    raised = Event(h.EVENT_RAISED, T0, name="x", data="1")
    _, step = execute(looping, "i1", "wfn", [], [started("1"), raised], now=T0)
    assert step.status == "CONTINUED_AS_NEW" and step.new_input == "2"
    assert [e.name for e in step.carryover] == ["x"]


def test_yielding_something_that_is_not_a_task_fails_clearly():
    def bad(ctx, _):
        yield 42

    _, step = execute(bad, "i1", "wfn", [], [started()], now=T0)
    assert step.status == "FAILED" and "yielded int" in step.failure.message


def test_events_after_completion_are_not_recorded():
    def quick(ctx, _):
        return 1

    _, step = execute(quick, "i1", "wfn", [], [started(), completed(9, "1")], now=T0)
    assert types(step) == [h.EXECUTION_STARTED, h.EXECUTION_COMPLETED]


def test_custom_status_is_reported_with_the_step():
    def status(ctx, _):
        ctx.set_custom_status({"stage": 1})
        yield ctx.call_activity("a")
        return None

    _, step = execute(status, "i1", "wfn", [], [started()], now=T0)
    assert step.custom_status_changed and step.custom_status == '{"stage": 1}'


def test_child_workflow_ids_are_deterministic():
    def parent(ctx, _):
        return (yield ctx.call_child_workflow("kid", input=1))

    _, s1 = execute(parent, "p1", "wfn", [], [started()], now=T0)
    _, s2 = execute(parent, "p1", "wfn", [], [started()], now=T0 + 9)
    assert s1.events[1].get("instance_id") == s2.events[1].get("instance_id") == "p1-1"


@pytest.mark.parametrize("event", [
    started("1"), scheduled(3, "a", '{"x":1}'), failed(2),
    Event(h.TIMER_CREATED, T0, event_id=4, extra={"fire_at": T0 + 1.5}),
])
def test_history_json_round_trip(event):
    assert Event.from_json(event.to_json()) == event


def test_public_history_shows_timer_fire_times_in_rfc3339():
    event = Event(h.TIMER_CREATED, T0, event_id=2, extra={"fire_at": T0 + 3 * 86400})
    assert event.to_history_event().extra["fire_at"] == "2023-11-17T22:13:20.000Z"


def test_history_json_keeps_the_known_keys_of_an_event_written_by_a_newer_wf():
    event = Event.from_json('{"type":"TaskCompleted","ts":1.5,"task_id":2,"data":"3","new_field":[1]}')
    assert event == Event(h.TASK_COMPLETED, 1.5, task_id=2, data="3")


def _general_blocked_on(ex: Execution) -> str | None:
    """blocked_on() with its shortcut for one awaited task out of the way."""
    real = ex._buffered
    ex._buffered = {"": __import__("collections").deque()}  # not empty: the general path runs
    try:
        return ex.blocked_on()
    finally:
        ex._buffered = real


def test_what_a_workflow_waits_for_is_the_same_through_the_shortcut_for_one_activity():
    def waits(ctx, x):
        a = yield ctx.call_activity("a", input=x)
        b = yield ctx.call_child_workflow("kid", input=a)
        both = yield wf.when_all([ctx.call_activity("c"), ctx.call_activity("d")])
        return [b, both]

    ex, _ = execute(waits, "i1", "wfn", [], [started("1")], now=T0)
    assert ex.blocked_on() == _general_blocked_on(ex) == '{"tasks":[[1,1]]}'
    ex.advance([completed(1, "2")], T0 + 1)
    assert ex.blocked_on() == _general_blocked_on(ex) == '{"tasks":[[2,1]]}'  # a child workflow
    ex.advance([Event(h.CHILD_WORKFLOW_COMPLETED, T0 + 2, task_id=2, data="5")], T0 + 2)
    assert ex.blocked_on() == _general_blocked_on(ex) == '{"tasks":[[3,1],[4,1]]}'  # no shortcut
    ex.advance([completed(3, "7"), completed(4, "8")], T0 + 3)
    assert ex.blocked_on() is None
