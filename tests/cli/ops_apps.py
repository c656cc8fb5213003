"""Workflows that stop and wait, for `wf get`'s "Waiting for" and the operator commands' tests."""

import logging
import os
import time
from datetime import timedelta

import wf

wfr = wf.WorkflowRuntime()


@wfr.activity
def hold(ctx, path):
    """Runs until the file `path` exists (at most 60 s): a test catches it in flight."""
    deadline = time.monotonic() + 60
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    return "released"


applog = logging.getLogger("ops.app")  # the app's own logging: `wf worker` shows it


@wfr.activity
def always_fails(ctx, _):
    applog.info("charging the card")
    applog.debug("debug detail")
    raise RuntimeError("card declined")


@wfr.workflow
def approval(ctx, _):
    """Waits for approval_decision, at most three days."""
    decision = ctx.wait_for_external_event("approval_decision")
    timeout = ctx.create_timer(timedelta(days=3))
    winner = yield wf.when_any([decision, timeout])
    return "timeout" if winner == timeout else decision.get_result()


@wfr.workflow
def holder(ctx, path):
    return (yield ctx.call_activity(hold, input=path))


@wfr.workflow
def retrier(ctx, _):
    policy = wf.RetryPolicy(first_retry_interval=timedelta(hours=1), max_number_of_attempts=3)
    yield ctx.call_activity(always_fails, retry_policy=policy)


@wfr.workflow
def parent_of_approval(ctx, _):
    return (yield ctx.call_child_workflow(approval, instance_id=f"{ctx.instance_id}-kid"))


@wfr.workflow
def fails(ctx, _):
    yield ctx.call_activity(always_fails)


# For the log tests (tests/cli/test_logging.py): a retried activity, a workflow that fails in its
# own code, and a step that computes past WF_STEP_WARN_SECONDS.
@wfr.workflow
def fails_twice(ctx, _):
    policy = wf.RetryPolicy(first_retry_interval=timedelta(milliseconds=50), max_number_of_attempts=2)
    yield ctx.call_activity(always_fails, retry_policy=policy)


@wfr.workflow
def broken(ctx, order):
    yield ctx.create_timer(timedelta(0))
    raise ValueError(f"order {order} has no lines")


@wfr.workflow
def slow_step(ctx, seconds):
    time.sleep(seconds)  # workflow code that does not yield: the watchdog logs it
    return "done"
    yield  # a generator, as workflows are
