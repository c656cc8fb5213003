"""Workflows the CLI tests run: fast, deterministic, one per ending (completed, failed, waiting)."""

import wf

wfr = wf.WorkflowRuntime()


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
    return "unreachable"


@wfr.workflow
def waiter(ctx, _input):
    """Waits for the event "go" and returns its data."""
    data = yield ctx.wait_for_external_event("go")
    return {"got": data}


@wfr.workflow
def parent(ctx, n):
    """Starts a child that waits for an event, so terminate / purge can reach children."""
    result = yield ctx.call_child_workflow(waiter, input=n, instance_id=f"{ctx.instance_id}-child")
    return result


@wfr.activity
def nap(ctx, seconds):
    import time

    time.sleep(seconds)
    return seconds


@wfr.workflow
def sleepy(ctx, seconds):
    """An activity that takes `seconds`: lets tests catch a worker in the middle of work."""
    result = yield ctx.call_activity(nap, input=seconds)
    return result
