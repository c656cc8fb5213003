"""The worker's own guarantees: workflows kept in memory (no replay per step), group commit,
draining shutdown, lease release, and clear failures for names nobody registered."""

from __future__ import annotations

import sqlite3
import threading
import time

import wf
from wf.engine.store import Store
from wf_testing import completed_output, stays, wait_until


def test_a_workflow_held_in_memory_is_never_replayed(make_app):
    """Linear cost for long histories: each step feeds only new events to the live generator."""
    replays = []
    app = make_app()

    @app.activity
    def inc(ctx, x):
        return x + 1

    @app.workflow
    def counting(ctx, n):
        x = 0
        for _ in range(n):
            x = yield ctx.call_activity(inc, input=x)
            if ctx.is_replaying:
                replays.append(x)
        return x

    app.start()
    state = app.run(counting, 300, timeout=60)
    assert state.serialized_output == "300"
    assert replays == []


def test_a_workflow_new_to_a_worker_is_replayed_from_its_history(make_app, db_path):
    replays = []
    first = make_app()

    @first.activity(name="inc")
    def inc(ctx, x):
        return x + 1

    @first.workflow(name="two_halves")
    def two_halves(ctx, _):
        a = yield ctx.call_activity("inc", input=0)
        replays.append(ctx.is_replaying)
        b = yield ctx.wait_for_external_event("go")
        return a + b

    first.start()
    iid = first.schedule(two_halves)
    wait_until(lambda: replays, what="first half done")
    first.stop()
    second = make_app()
    second.runtime.register_workflow(two_halves, name="two_halves")
    second.runtime.register_activity(inc, name="inc")
    second.start()
    second.client.raise_workflow_event(iid, "go", data=10)
    assert second.wait(iid).serialized_output == "11"
    assert replays == [False, True]  # the second runtime rebuilt the state by replay


def test_many_steps_share_one_transaction(make_app, monkeypatch):
    commits = []
    original = Store.write

    def counting_write(self):
        if threading.current_thread().name == "wf-worker":
            commits.append(1)
        return original(self)

    monkeypatch.setattr(Store, "write", counting_write)
    app = make_app(start=False)

    @app.activity
    def noop(ctx, x):
        return x

    @app.workflow
    def one_step(ctx, x):
        return (yield ctx.call_activity(noop, input=x))

    ids = [app.schedule(one_step, i) for i in range(200)]
    app.start()
    for iid in ids:
        assert app.wait(iid).runtime_status == wf.WorkflowStatus.COMPLETED
    # 200 workflows take 3 steps each (start, activity, completion): 600 commits one at a time.
    assert len(commits) < 200, len(commits)


def test_shutdown_drains_in_flight_activities_and_releases_leases(make_app, db_path):
    started = threading.Event()
    release = threading.Event()
    app = make_app()

    @app.activity
    def slow(ctx, x):
        started.set()
        release.wait(5)
        return "done"

    @app.workflow
    def waits_on_slow(ctx, _):
        return (yield ctx.call_activity(slow))

    app.start()
    iid = app.schedule(waits_on_slow)
    assert started.wait(5)
    threading.Timer(0.2, release.set).start()
    app.stop()  # returns only after the activity finished and its workflow moved on
    assert app.client.get_workflow_state(iid).serialized_output == '"done"'
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT COUNT(*) FROM workers").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM instances WHERE owner IS NOT NULL").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM tasks WHERE owner IS NOT NULL").fetchone()[0] == 0


def test_a_workflow_no_worker_registers_waits_until_one_does(make_app):
    first = make_app()
    iid = first.schedule("registered_later")
    stays(lambda: first.status(iid) == wf.WorkflowStatus.PENDING, 0.5, what="the instance to wait")

    def registered_later(ctx, _):
        return "ran"

    later = make_app([registered_later])
    assert completed_output(later.wait(iid)) == "ran"


def test_an_activity_no_worker_registers_waits_and_runs_when_one_does(make_app):
    app = make_app()

    @app.workflow
    def calls_ghost(ctx, _):
        return (yield ctx.call_activity("ghost", input=2))

    app.start()
    iid = app.schedule(calls_ghost)
    app.wait_history(iid, "TaskScheduled")
    stays(lambda: app.status(iid) == wf.WorkflowStatus.RUNNING, 0.5, what="the activity to wait")

    def ghost(ctx, x):
        return x * 21

    make_app(activities=[ghost])
    assert completed_output(app.wait(iid)) == 42


def test_async_activities_run_on_an_event_loop(make_app):
    app = make_app()

    @app.activity
    async def fetch(ctx, x):
        import asyncio

        await asyncio.sleep(0.01)
        return {"got": x, "task": ctx.task_id, "wf": ctx.workflow_id}

    @app.workflow
    def uses_async(ctx, x):
        return (yield ctx.call_activity(fetch, input=x))

    app.start()
    state = app.run(uses_async, 5, instance_id="async-1")
    assert state.serialized_output == '{"got": 5, "task": 1, "wf": "async-1"}'


def test_a_pending_instance_can_be_suspended_and_resumes_as_pending(make_app):
    from datetime import datetime, timedelta, timezone

    app = make_app()

    @app.workflow
    def echo(ctx, x):
        return x

    app.start()
    iid = app.schedule(echo, 1, start_at=datetime.now(timezone.utc) + timedelta(seconds=0.3))
    app.client.pause_workflow(iid)
    assert app.client.get_workflow_state(iid).runtime_status == wf.WorkflowStatus.SUSPENDED
    time.sleep(0.5)  # the scenario: its start time passes while it is suspended
    assert app.client.get_workflow_state(iid).runtime_status == wf.WorkflowStatus.SUSPENDED
    app.client.resume_workflow(iid)
    assert app.wait(iid).serialized_output == "1"
    assert [e.event_type for e in app.client.get_history(iid)][0] == "ExecutionStarted"


def test_is_running_follows_start_and_shutdown(make_app):
    app = make_app(start=False)
    assert not app.runtime.is_running
    app.start()
    assert app.runtime.is_running
    app.stop()
    assert not app.runtime.is_running
