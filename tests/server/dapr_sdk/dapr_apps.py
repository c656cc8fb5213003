"""Dapr workflow apps of our own, written against the Dapr SDK (`import dapr.ext.workflow`) and run
unmodified against `wf serve` as subprocesses: the SDK finds the server through DAPR_GRPC_PORT as
it would find a daprd.

usage: python dapr_apps.py SCENARIO    prints one JSON line per result, then "done"
       python dapr_apps.py worker      runs only the worker (prints "ready"), until killed
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import timedelta

import dapr.ext.workflow as wf

wfr = wf.WorkflowRuntime()
ATTEMPTS_FILE = os.environ.get("ATTEMPTS_FILE", "")


@wfr.activity(name="add_one")
def add_one(ctx: wf.WorkflowActivityContext, x: int) -> int:
    return x + 1


@wfr.activity(name="square")
def square(ctx: wf.WorkflowActivityContext, x: int) -> int:
    return x * x


@wfr.activity(name="slow_add_one")
def slow_add_one(ctx: wf.WorkflowActivityContext, x: int) -> int:
    if ATTEMPTS_FILE:  # one line per run: the crash test counts how often each ran
        with open(ATTEMPTS_FILE, "a") as fh:
            fh.write(f"{ctx.workflow_id}:{ctx.task_id}:{ctx.get_inner_context().task_execution_id}:{os.getpid()}\n")
    time.sleep(float(os.environ.get("SLOW_SECONDS", "0.3")))
    return x + 1


@wfr.activity(name="flaky")
def flaky(ctx: wf.WorkflowActivityContext, fail_times: int) -> str:
    key = f"{ctx.workflow_id}"
    flaky.execution_ids.setdefault(key, []).append(ctx.get_inner_context().task_execution_id)  # type: ignore[attr-defined]
    counts = flaky.counts  # type: ignore[attr-defined]
    counts[key] = counts.get(key, 0) + 1
    if counts[key] <= fail_times:
        raise ValueError(f"attempt {counts[key]} failed")
    return f"ok after {counts[key]} attempts"


flaky.counts = {}  # type: ignore[attr-defined]
flaky.execution_ids = {}  # type: ignore[attr-defined]


@wfr.workflow(name="chaining")
def chaining(ctx: wf.DaprWorkflowContext, x: int):
    a = yield ctx.call_activity(add_one, input=x)
    b = yield ctx.call_activity(add_one, input=a)
    c = yield ctx.call_activity(add_one, input=b)
    return [a, b, c]


@wfr.workflow(name="slow_chaining")
def slow_chaining(ctx: wf.DaprWorkflowContext, x: int):
    for _ in range(3):
        x = yield ctx.call_activity(slow_add_one, input=x)
    return x


@wfr.workflow(name="fan_out_fan_in")
def fan_out_fan_in(ctx: wf.DaprWorkflowContext, n: int):
    results = yield wf.when_all([ctx.call_activity(square, input=i) for i in range(1, n + 1)])
    return sum(results)


@wfr.workflow(name="child")
def child(ctx: wf.DaprWorkflowContext, x: int):
    y = yield ctx.call_activity(add_one, input=x)
    return y * 10


@wfr.workflow(name="parent")
def parent(ctx: wf.DaprWorkflowContext, xs: list):
    tasks = [ctx.call_child_workflow(child, input=x) for x in xs]
    return (yield wf.when_all(tasks))


CHILD_RUNS = {"n": 0}


@wfr.workflow(name="flaky_child")
def flaky_child(ctx: wf.DaprWorkflowContext, _: None):
    if not ctx.is_replaying:
        CHILD_RUNS["n"] += 1
    if CHILD_RUNS["n"] < 2:
        raise ValueError("the child failed")
    return "child ok"


@wfr.workflow(name="retry_parent")
def retry_parent(ctx: wf.DaprWorkflowContext, _: None):
    # a retried child keeps its instance id: the finished first attempt is replaced, as in Dapr
    policy = wf.RetryPolicy(first_retry_interval=timedelta(milliseconds=100), max_number_of_attempts=3)
    return (yield ctx.call_child_workflow(flaky_child, retry_policy=policy))


@wfr.workflow(name="approval")
def approval(ctx: wf.DaprWorkflowContext, timeout_s: float):
    approved = ctx.wait_for_external_event("approval")
    timer = ctx.create_timer(timedelta(seconds=timeout_s))
    winner = yield wf.when_any([approved, timer])
    if winner == timer:
        return "timed out"
    return f"approved by {approved.get_result()['by']}"


@wfr.workflow(name="monitor")
def monitor(ctx: wf.DaprWorkflowContext, state: dict):
    ctx.set_custom_status(f"round {state['round']}")
    if state["round"] >= state["rounds"]:
        return f"done after {state['round']} rounds"
    yield ctx.create_timer(timedelta(seconds=0.2))
    ctx.continue_as_new({"round": state["round"] + 1, "rounds": state["rounds"]})


@wfr.workflow(name="retrying")
def retrying(ctx: wf.DaprWorkflowContext, fail_times: int):
    policy = wf.RetryPolicy(first_retry_interval=timedelta(milliseconds=100), max_number_of_attempts=3)
    return (yield ctx.call_activity(flaky, input=fail_times, retry_policy=policy))


APP_B = os.environ.get("CROSS_APP_B", "app-b")
APP_PY = os.environ.get("CROSS_APP_PY", "app-py")


@wfr.workflow(name="cross_app")
def cross_app(ctx: wf.DaprWorkflowContext, text: str):
    # by name: the target apps register what this app does not (dapr_app_b.py, wf_app_py.py)
    shouted = yield ctx.call_activity("b_shout", input=text, app_id=APP_B)
    child_b = yield ctx.call_child_workflow("b_child", input=text, app_id=APP_B)
    doubled = yield ctx.call_activity("py_double", input=21, app_id=APP_PY)
    child_py = yield ctx.call_child_workflow("py_child", input=5, app_id=APP_PY)
    return [shouted, child_b, doubled, child_py]


@wfr.activity(name="sleepy")
def sleepy(ctx: wf.WorkflowActivityContext, seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


@wfr.workflow(name="pending_mix")
def pending_mix(ctx: wf.DaprWorkflowContext, _: None):
    # open at once: a timer, an activity, a child workflow and an event wait (for wf get's pending)
    winner = yield wf.when_any([ctx.create_timer(timedelta(hours=1)), ctx.call_activity(sleepy, input=120),
                                ctx.call_child_workflow(waiter, instance_id=f"{ctx.instance_id}-kid"),
                                ctx.wait_for_external_event("go")])
    return f"woken by {winner.get_result()}"


@wfr.workflow(name="waiter")
def waiter(ctx: wf.DaprWorkflowContext, _: None):
    value = yield ctx.wait_for_external_event("go")
    return f"got {value}"


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def scenario(name: str, client: wf.DaprWorkflowClient) -> None:
    def run(workflow, input, **kw):
        iid = client.schedule_new_workflow(workflow, input=input, **kw)
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=60)
        emit(id=iid, status=state.runtime_status.name, output=state.serialized_output,
             error=state.failure_details.message if state.failure_details else None)
        return iid

    if name == "chaining":
        run(chaining, 1, instance_id="chain-1")
    elif name == "fan_out_fan_in":
        run(fan_out_fan_in, 10, instance_id="fan-1")
    elif name == "child":
        run(parent, [1, 2, 3], instance_id="parent-1")
        run(retry_parent, None, instance_id="retry-parent")
    elif name == "approval":
        iid = client.schedule_new_workflow(approval, input=30, instance_id="approve-1")
        client.wait_for_workflow_start(iid, timeout_in_seconds=30)
        client.raise_workflow_event(iid, "approval", data={"by": "alice"})
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=60)
        emit(id=iid, status=state.runtime_status.name, output=state.serialized_output)
        run(approval, 0.5, instance_id="approve-2")
    elif name == "monitor":
        iid = run(monitor, {"round": 0, "rounds": 3}, instance_id="monitor-1")
        emit(custom_status=client.get_workflow_state(iid).serialized_custom_status)
    elif name == "retries":
        run(retrying, 2, instance_id="retry-ok")
        run(retrying, 5, instance_id="retry-fail")
        emit(execution_ids=flaky.execution_ids)  # type: ignore[attr-defined]
    elif name == "manage":
        iid = client.schedule_new_workflow(waiter, instance_id="manage-1")
        client.wait_for_workflow_start(iid, timeout_in_seconds=30)
        client.pause_workflow(iid)
        emit(step="paused", status=client.get_workflow_state(iid).runtime_status.name)
        client.raise_workflow_event(iid, "go", data=42)
        time.sleep(0.5)  # the event must wait for the resume: nothing may happen meanwhile
        emit(step="event while paused", status=client.get_workflow_state(iid).runtime_status.name)
        client.resume_workflow(iid)
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=60)
        emit(step="resumed", status=state.runtime_status.name, output=state.serialized_output)
        other = client.schedule_new_workflow(waiter, instance_id="manage-2")
        client.wait_for_workflow_start(other, timeout_in_seconds=30)
        client.terminate_workflow(other, output="stopped")
        state = client.wait_for_workflow_completion(other, timeout_in_seconds=60)
        emit(step="terminated", status=state.runtime_status.name, output=state.serialized_output)
        client.purge_workflow(other)
        emit(step="purged", state=client.get_workflow_state(other) is None)
    elif name == "health":
        from dapr.clients.health import DaprHealth

        DaprHealth.wait_for_sidecar()  # what DaprClient() does first: GET /v1.0/healthz/outbound
        emit(health="ok")
    else:
        raise SystemExit(f"unknown scenario {name}")


def main() -> None:
    name = sys.argv[1]
    wfr.start()
    try:
        if name == "worker":
            print("ready", flush=True)
            while True:
                time.sleep(1)
        scenario(name, wf.DaprWorkflowClient())
        print("done", flush=True)
    finally:
        wfr.shutdown()


if __name__ == "__main__":
    main()
