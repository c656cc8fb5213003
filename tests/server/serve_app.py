"""Workflows the wf serve tests run: fast and deterministic, one per ending."""

import os
import time
from datetime import timedelta

import wf

wfr = wf.WorkflowRuntime()  # `wf serve --app tests/server/serve_app.py:wfr` resolves its store


@wfr.activity
def double(ctx, n):
    return n * 2


@wfr.activity
def explode(ctx, message):
    raise ValueError(message)


@wfr.workflow
def doubler(ctx, n):
    ctx.set_custom_status("doubling")
    result = yield ctx.call_activity(double, input=n)
    return result


@wfr.workflow
def failing(ctx, message):
    yield ctx.call_activity(explode, input=message or "boom")


@wfr.workflow(name="approval_workflow")
def approval(ctx, order):
    """Waits for "approval_decision" and reports it."""
    decision = yield ctx.wait_for_external_event("approval_decision")
    return {"order": (order or {}).get("id"), "approved": bool((decision or {}).get("approved"))}


@wfr.workflow
def event_echo(ctx, event_name):
    """Waits for the event its input names and returns its data."""
    data = yield ctx.wait_for_external_event(event_name)
    return data


_attempts: dict[str, int] = {}


@wfr.activity
def flaky(ctx, fail_times):
    """Fails its first `fail_times` attempts for each workflow, then succeeds (a retry to look at)."""
    n = _attempts[ctx.workflow_id] = _attempts.get(ctx.workflow_id, 0) + 1
    if n <= fail_times:
        raise RuntimeError(f"attempt {n} fails")
    return n


@wfr.workflow
def retrying(ctx, fail_times):
    """Calls flaky under a retry policy, then doubles its answer."""
    policy = wf.RetryPolicy(first_retry_interval=timedelta(milliseconds=50), max_number_of_attempts=5)
    attempts = yield ctx.call_activity(flaky, input=fail_times, retry_policy=policy)
    result = yield ctx.call_activity(double, input=attempts)
    return result


@wfr.activity
def wait_for_file(ctx, path):
    """Runs until the file exists (at most 60 s): an activity in flight for as long as a test likes."""
    deadline = time.monotonic() + 60
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    return path


@wfr.workflow
def gated(ctx, path):
    result = yield ctx.call_activity(wait_for_file, input=path)
    return result


def make_runtime(db: str, app_id: str | None = None) -> wf.WorkflowRuntime:
    """A fresh runtime with these workflows on the given store."""
    rt = wf.WorkflowRuntime(db=db, app_id=app_id)
    for name, fn in wfr.workflows.items():
        rt.register_workflow(fn, name=name)
    for name, fn in wfr.activities.items():
        rt.register_activity(fn, name=name)
    return rt
