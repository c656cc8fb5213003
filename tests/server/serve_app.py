"""Workflows the wf serve tests run: fast and deterministic, one per ending."""

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


def make_runtime(db: str, app_id: str | None = None) -> wf.WorkflowRuntime:
    """A fresh runtime with these workflows on the given store."""
    rt = wf.WorkflowRuntime(db=db, app_id=app_id)
    for name, fn in wfr.workflows.items():
        rt.register_workflow(fn, name=name)
    for name, fn in wfr.activities.items():
        rt.register_activity(fn, name=name)
    return rt
