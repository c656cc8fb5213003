"""Durable timers: timedelta and datetime forms, firing once, surviving a runtime restart."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from wf_testing import completed_output

pytestmark = pytest.mark.timeout(30)


def test_timer_with_timedelta(make_app):
    def w(ctx, secs):
        start = ctx.current_utc_datetime
        yield ctx.create_timer(timedelta(seconds=secs))
        return (ctx.current_utc_datetime - start).total_seconds()

    app = make_app([w])
    t0 = time.monotonic()
    st = app.run(w, 0.2)
    assert time.monotonic() - t0 >= 0.19
    assert completed_output(st) >= 0.19
    types = app.types(st.instance_id)
    assert types.count("TimerCreated") == 1
    assert types.count("TimerFired") == 1


def test_timer_with_datetime(make_app):
    def w(ctx, inp):
        fire_at = ctx.current_utc_datetime + timedelta(milliseconds=200)
        yield ctx.create_timer(fire_at)
        return ctx.current_utc_datetime >= fire_at

    app = make_app([w])
    t0 = time.monotonic()
    st = app.run(w)
    assert completed_output(st) is True
    assert time.monotonic() - t0 >= 0.19


def test_timer_in_the_past_fires_at_once(make_app):
    def w(ctx, inp):
        yield ctx.create_timer(datetime(2000, 1, 1, tzinfo=timezone.utc))
        yield ctx.create_timer(timedelta(0))
        return "done"

    app = make_app([w])
    assert completed_output(app.run(w, timeout=5)) == "done"


def test_timer_fired_refers_to_its_timer(make_app):
    def w(ctx, inp):
        yield ctx.create_timer(timedelta(milliseconds=50))
        yield ctx.create_timer(timedelta(milliseconds=50))
        return "done"

    app = make_app([w])
    st = app.run(w)
    completed_output(st)
    hist = app.history(st.instance_id)
    created = [e for e in hist if e.event_type == "TimerCreated"]
    fired = [e for e in hist if e.event_type == "TimerFired"]
    assert len(created) == 2 and len(fired) == 2
    assert [f.task_scheduled_id for f in fired] == [c.event_id for c in created]
    assert created[0].event_id != created[1].event_id


def test_timer_survives_runtime_restart_and_fires_once(make_app, db_path):
    runs_after_timer = []

    def after(ctx, inp):
        runs_after_timer.append(inp)
        return inp

    def sleeper(ctx, inp):
        yield ctx.create_timer(timedelta(milliseconds=800))
        r = yield ctx.call_activity(after, input="after-timer")
        return r

    first = make_app([sleeper], [after])
    iid = first.schedule(sleeper)
    first.wait_history(iid, "TimerCreated")
    first.stop()  # the timer is pending, nobody runs the store

    second = make_app([sleeper], [after])
    st = second.wait(iid)
    assert completed_output(st) == "after-timer"
    types = second.types(iid)
    assert types.count("TimerCreated") == 1
    assert types.count("TimerFired") == 1
    assert runs_after_timer == ["after-timer"]


def test_timer_due_while_no_runtime_runs_fires_on_next_start(make_app):
    def sleeper(ctx, inp):
        yield ctx.create_timer(timedelta(milliseconds=200))
        return "woke"

    first = make_app([sleeper])
    iid = first.schedule(sleeper)
    first.wait_history(iid, "TimerCreated")
    first.stop()
    time.sleep(0.4)  # the scenario: the timer falls due while no runtime is up
    assert first.status(iid).name in ("RUNNING", "PENDING")

    second = make_app([sleeper])
    t0 = time.monotonic()
    st = second.wait(iid, timeout=5)
    assert completed_output(st) == "woke"
    assert time.monotonic() - t0 < 2.0
    assert second.types(iid).count("TimerFired") == 1


def test_timer_does_not_fire_early_after_restart(make_app):
    def sleeper(ctx, inp):
        yield ctx.create_timer(timedelta(seconds=1.5))
        return "woke"

    first = make_app([sleeper])
    t0 = time.monotonic()
    iid = first.schedule(sleeper)
    first.wait_history(iid, "TimerCreated")
    first.stop()
    second = make_app([sleeper])
    st = second.wait(iid)
    assert completed_output(st) == "woke"
    assert time.monotonic() - t0 >= 1.45
