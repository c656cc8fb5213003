"""Activities: calling them, registration forms, failures as TaskFailedError, retry policies."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import timedelta

import pytest

import wf
from wf_testing import completed_output

pytestmark = pytest.mark.timeout(30)

S = wf.WorkflowStatus


def test_sequence_of_activities_passes_json_payloads(make_app):
    def double(ctx, x):
        return x * 2

    def describe(ctx, d):
        return {"keys": sorted(d), "n": d["n"]}

    def seq(ctx, n):
        a = yield ctx.call_activity(double, input=n)
        b = yield ctx.call_activity(double, input=a)
        c = yield ctx.call_activity(describe, input={"n": b, "z": None, "list": [1, "x"]})
        return {"a": a, "b": b, "c": c}

    app = make_app([seq], [double, describe])
    st = app.run(seq, 5)
    assert completed_output(st) == {"a": 10, "b": 20, "c": {"keys": ["list", "n", "z"], "n": 20}}
    assert json.loads(st.serialized_input) == 5
    assert st.name == "seq"
    assert st.failure_details is None


def test_workflow_without_activities_and_none_input(make_app):
    def noop(ctx, inp):
        return inp

    app = make_app([noop])
    st = app.run(noop)
    assert st.runtime_status == S.COMPLETED
    assert st.serialized_output in (None, "null")


def test_async_activity(make_app):
    async def slow_add(ctx, pair):
        await asyncio.sleep(0.01)
        return pair[0] + pair[1]

    def w(ctx, inp):
        r = yield ctx.call_activity(slow_add, input=[2, 3])
        return r

    app = make_app([w], [slow_add])
    assert completed_output(app.run(w)) == 5


def test_activity_context_names_workflow_and_task(make_app):
    seen = {}

    def probe(ctx, inp):
        seen["workflow_id"] = ctx.workflow_id
        seen["task_id"] = ctx.task_id
        return "ok"

    def w(ctx, inp):
        yield ctx.call_activity(probe)
        return ctx.instance_id

    app = make_app([w], [probe])
    st = app.run(w, instance_id="probe-1")
    assert completed_output(st) == "probe-1"
    assert seen["workflow_id"] == "probe-1"
    assert isinstance(seen["task_id"], int)


def test_decorators_with_and_without_name(app):
    rt = app.runtime

    @rt.activity
    def plain_act(ctx, x):
        return f"plain:{x}"

    @rt.activity(name="custom_activity")
    def renamed_act(ctx, x):
        return f"renamed:{x}"

    @rt.workflow(name="custom_workflow")
    def renamed_wf(ctx, x):
        a = yield ctx.call_activity(plain_act, input=x)
        b = yield ctx.call_activity(renamed_act, input=x)  # by function: resolves to its name
        c = yield ctx.call_activity("custom_activity", input=x)  # by name
        return [a, b, c]

    @rt.workflow
    def plain_wf(ctx, x):
        return x

    app.start()
    st = app.run(renamed_wf, "q")  # scheduled by function
    assert st.name == "custom_workflow"
    assert completed_output(st) == ["plain:q", "renamed:q", "renamed:q"]
    st2 = app.run("custom_workflow", "r")  # scheduled by name
    assert completed_output(st2) == ["plain:r", "renamed:r", "renamed:r"]
    st3 = app.run("plain_wf", 1)
    assert st3.name == "plain_wf"
    assert completed_output(st3) == 1
    hist = app.history(st.instance_id)
    scheduled = [e.name for e in hist if e.event_type == "TaskScheduled"]
    assert scheduled == ["plain_act", "custom_activity", "custom_activity"]


def test_register_functions_with_name(app):
    def act(ctx, x):
        return x + 1

    def flow(ctx, x):
        r = yield ctx.call_activity("inc", input=x)
        return r

    app.runtime.register_activity(act, name="inc")
    app.runtime.register_workflow(flow, name="flow_named")
    app.start()
    st = app.run("flow_named", 41)
    assert completed_output(st) == 42
    assert st.name == "flow_named"


def test_runtime_as_context_manager(db_path):
    def w(ctx, x):
        return x * 3

    client = wf.WorkflowClient(db=db_path)
    rt = wf.WorkflowRuntime(db=db_path)
    rt.register_workflow(w)
    with rt:
        iid = client.schedule_new_workflow(w, input=3)
        st = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    assert completed_output(st) == 9


def test_dapr_client_alias(db_path):
    assert wf.DaprWorkflowClient is wf.WorkflowClient or issubclass(wf.DaprWorkflowClient, wf.WorkflowClient)


def test_activity_failure_is_catchable_in_workflow(make_app):
    def bad(ctx, x):
        raise ValueError(f"bad input {x}")

    def w(ctx, x):
        try:
            yield ctx.call_activity(bad, input=x)
        except wf.TaskFailedError as exc:
            d = exc.details
            return {"message": d.message, "error_type": d.error_type, "stack": d.stack_trace or ""}
        return "not raised"

    app = make_app([w], [bad])
    out = completed_output(app.run(w, 7))
    assert "bad input 7" in out["message"]
    assert out["error_type"] == "ValueError"
    assert "test_api_activities.py" in out["stack"], out["stack"]


def test_uncaught_activity_failure_fails_instance(make_app):
    def bad(ctx, x):
        raise KeyError("missing-thing")

    def w(ctx, x):
        yield ctx.call_activity(bad, input=x)
        return "unreachable"

    app = make_app([w], [bad])
    st = app.run(w, 1)
    assert st.runtime_status == S.FAILED
    assert st.failure_details is not None
    assert "missing-thing" in st.failure_details.message
    with pytest.raises(wf.WorkflowFailedError):
        st.raise_if_failed()
    hist = app.history(st.instance_id)
    failed = [e for e in hist if e.event_type == "TaskFailed"]
    assert len(failed) == 1
    assert failed[0].failure_details is not None
    assert failed[0].failure_details.error_type == "KeyError"
    scheduled = [e for e in hist if e.event_type == "TaskScheduled"]
    assert failed[0].task_scheduled_id == scheduled[0].event_id


def test_workflow_raising_fails_with_details(make_app):
    def w(ctx, x):
        if False:
            yield
        raise RuntimeError("workflow broke")

    app = make_app([w])
    st = app.run(w)
    assert st.runtime_status == S.FAILED
    fd = st.failure_details
    assert fd.message == "workflow broke" or "workflow broke" in fd.message
    assert fd.error_type == "RuntimeError"
    assert fd.stack_trace and "test_api_activities.py" in fd.stack_trace, fd.stack_trace
    with pytest.raises(wf.WorkflowFailedError) as info:
        st.raise_if_failed()
    assert "workflow broke" in str(info.value)


def test_completed_state_raise_if_failed_is_silent(make_app):
    def w(ctx, x):
        return 1

    app = make_app([w])
    st = app.run(w)
    st.raise_if_failed()


# ------------------------------------------------------------------------------------------- retries


def _flaky(fail_times: int, log: list):
    lock = threading.Lock()

    def flaky(ctx, x):
        with lock:
            log.append(time.monotonic())
            n = len(log)
        if n <= fail_times:
            raise ConnectionError(f"attempt {n} failed")
        return f"ok after {n}"

    return flaky


def test_retry_policy_retries_until_success(make_app):
    log: list = []
    flaky = _flaky(2, log)
    policy = wf.RetryPolicy(first_retry_interval=timedelta(milliseconds=50), max_number_of_attempts=3)

    def w(ctx, x):
        r = yield ctx.call_activity(flaky, input=x, retry_policy=policy)
        return r

    app = make_app([w], [flaky])
    st = app.run(w)
    assert completed_output(st) == "ok after 3"
    assert len(log) == 3
    hist = app.history(st.instance_id)
    completed = [e for e in hist if e.event_type == "TaskCompleted"]
    assert len(completed) == 1


def test_retry_policy_gives_up_after_max_attempts(make_app):
    log: list = []
    flaky = _flaky(100, log)
    policy = wf.RetryPolicy(first_retry_interval=timedelta(milliseconds=20), max_number_of_attempts=3)

    def w(ctx, x):
        try:
            yield ctx.call_activity(flaky, retry_policy=policy)
        except wf.TaskFailedError as exc:
            return {"msg": exc.details.message, "type": exc.details.error_type}

    app = make_app([w], [flaky])
    out = completed_output(app.run(w))
    assert len(log) == 3
    assert out["type"] == "ConnectionError"
    assert "attempt 3 failed" in out["msg"]


def test_retry_without_policy_runs_once(make_app):
    log: list = []
    flaky = _flaky(1, log)

    def w(ctx, x):
        try:
            yield ctx.call_activity(flaky)
        except wf.TaskFailedError:
            return "failed"

    app = make_app([w], [flaky])
    assert completed_output(app.run(w)) == "failed"
    assert len(log) == 1


def test_retry_backoff_coefficient_spaces_attempts(make_app):
    log: list = []
    flaky = _flaky(3, log)
    policy = wf.RetryPolicy(
        first_retry_interval=timedelta(milliseconds=100), max_number_of_attempts=4, backoff_coefficient=2.0
    )

    def w(ctx, x):
        r = yield ctx.call_activity(flaky, retry_policy=policy)
        return r

    app = make_app([w], [flaky])
    assert completed_output(app.run(w)) == "ok after 4"
    gaps = [b - a for a, b in zip(log, log[1:], strict=False)]
    # intervals 0.1, 0.2, 0.4 (a little slack below for clock granularity)
    assert gaps[0] >= 0.09, gaps
    assert gaps[1] >= 0.18, gaps
    assert gaps[2] >= 0.36, gaps


def test_retry_max_retry_interval_caps_backoff(make_app):
    log: list = []
    flaky = _flaky(3, log)
    # Uncapped, the waits would be 0.1 + 1 + 10 s; capped at 0.1 s each.
    policy = wf.RetryPolicy(
        first_retry_interval=timedelta(milliseconds=100),
        max_number_of_attempts=4,
        backoff_coefficient=10.0,
        max_retry_interval=timedelta(milliseconds=100),
    )

    def w(ctx, x):
        r = yield ctx.call_activity(flaky, retry_policy=policy)
        return r

    app = make_app([w], [flaky])
    t0 = time.monotonic()
    assert completed_output(app.run(w, timeout=15)) == "ok after 4"
    assert time.monotonic() - t0 < 3.0
    gaps = [b - a for a, b in zip(log, log[1:], strict=False)]
    assert all(g >= 0.09 for g in gaps), gaps
    assert max(gaps) < 1.0, gaps


def test_retry_timeout_stops_retrying(make_app):
    log: list = []
    flaky = _flaky(1000, log)
    policy = wf.RetryPolicy(
        first_retry_interval=timedelta(milliseconds=100),
        max_number_of_attempts=1000,
        retry_timeout=timedelta(milliseconds=500),
    )

    def w(ctx, x):
        try:
            yield ctx.call_activity(flaky, retry_policy=policy)
        except wf.TaskFailedError:
            return "gave up"

    app = make_app([w], [flaky])
    t0 = time.monotonic()
    assert completed_output(app.run(w, timeout=15)) == "gave up"
    elapsed = time.monotonic() - t0
    assert elapsed < 3.0
    assert 2 <= len(log) <= 8, log


def test_activity_runs_concurrently_with_thread_pool(make_app):
    """Plain activities run in a thread pool: two fanned-out activities that wait for each other both finish."""
    barrier = threading.Barrier(2, timeout=5)

    def meet(ctx, i):
        barrier.wait()  # deadlocks (BrokenBarrierError after 5 s) if activities run one at a time
        return i

    def w(ctx, x):
        r = yield wf.when_all([ctx.call_activity(meet, input=i) for i in range(2)])
        return r

    app = make_app([w], [meet])
    assert completed_output(app.run(w)) == [0, 1]


def test_retry_wait_survives_runtime_restart(make_app):
    """The wait between two attempts is a durable timer: a restart during it loses nothing."""
    log: list = []
    flaky = _flaky(1, log)
    policy = wf.RetryPolicy(first_retry_interval=timedelta(milliseconds=600), max_number_of_attempts=3)

    def w(ctx, x):
        r = yield ctx.call_activity(flaky, retry_policy=policy)
        return r

    first = make_app([w], [flaky])
    iid = first.schedule(w)
    first.wait_history(iid, "TaskFailed")
    first.stop()
    second = make_app([w], [flaky])
    assert completed_output(second.wait(iid)) == "ok after 2"
    assert len(log) == 2
    assert log[1] - log[0] >= 0.55
    types = second.types(iid)
    assert types.count("TaskFailed") == 1 and types.count("TaskCompleted") == 1
