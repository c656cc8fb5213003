"""Versions and patches across restarts: `python versioning.py start|v2only|both|patched|unpatched`.
Each run is one process; the instance ids are fixed so later runs find what earlier ones left."""

import sys
import time

import wf


def out(text: str) -> None:
    """One write per line: the main thread and activity threads print at once."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()

part = sys.argv[1]
wfr = wf.WorkflowRuntime()


@wfr.activity(name="say")
def say(ctx, text):
    sys.stdout.write(f"{part}: {text}\n")  # one write: activities of two instances may print at once
    sys.stdout.flush()


def v1(ctx: wf.DaprWorkflowContext):
    yield ctx.call_activity(say, input="v1 started")
    yield ctx.wait_for_external_event("go")
    yield ctx.call_activity(say, input="v1 finished")
    return 1


def v2(ctx: wf.DaprWorkflowContext):
    yield ctx.call_activity(say, input="v2 started")
    yield ctx.wait_for_external_event("go")
    yield ctx.call_activity(say, input="v2 finished")
    return 2


def checks_patch(ctx: wf.DaprWorkflowContext):
    branch = "patched" if ctx.is_patched("fix-1") else "unpatched"
    yield ctx.wait_for_external_event("go")
    yield ctx.call_activity(say, input=f"took the {branch} branch")
    return branch


def forgets_patch(ctx: wf.DaprWorkflowContext):
    yield ctx.wait_for_external_event("go")
    return "forgot"


def before_patch(ctx: wf.DaprWorkflowContext):
    yield ctx.call_activity(say, input="old code")
    yield ctx.wait_for_external_event("go")
    return "old"


def after_patch(ctx: wf.DaprWorkflowContext):
    yield ctx.call_activity(say, input="old code")
    if ctx.is_patched("late"):
        yield ctx.call_activity(say, input="new step")
    yield ctx.wait_for_external_event("go")
    return "late patched" if ctx.is_patched("late") else "late unpatched"


if part == "start":
    wfr.register_versioned_workflow(v1, name="order", is_latest=True)
    wfr.register_workflow(checks_patch, name="patchy")
    wfr.register_workflow(before_patch, name="late")
elif part == "v2only":
    wfr.register_versioned_workflow(v2, name="order", is_latest=True)
    wfr.register_workflow(forgets_patch, name="patchy")
elif part == "both":
    wfr.versioned_workflow(name="order", version_name="v1", is_latest=False)(v1)
    wfr.versioned_workflow(name="order", is_latest=True)(v2)
    wfr.register_workflow(checks_patch, name="patchy")
    wfr.register_workflow(after_patch, name="late")


def wait_for(client, iid, status):
    deadline = time.monotonic() + 20
    while client.get_workflow_state(iid).runtime_status != status and time.monotonic() < deadline:
        time.sleep(0.05)
    return client.get_workflow_state(iid)


if __name__ == "__main__":
    wfr.start()
    client = wf.DaprWorkflowClient()
    if part == "start":
        for name, iid in (("order", "o-1"), ("patchy", "p-1"), ("late", "l-1")):
            client.schedule_new_workflow(name, instance_id=iid)
        while len([e for e in client.get_history("o-1") if e.event_type == "TaskCompleted"]) < 1:
            time.sleep(0.05)
        while "TaskCompleted" not in [e.event_type for e in client.get_history("l-1")]:
            time.sleep(0.05)
        wait_for(client, "p-1", wf.WorkflowStatus.RUNNING)
        time.sleep(0.3)
    elif part == "v2only":
        new = client.schedule_new_workflow("order", instance_id="o-2")
        client.raise_workflow_event(new, "go")
        done = client.wait_for_workflow_completion(new, timeout_in_seconds=20)
        out(f"{part}: new instance -> {done.serialized_output}")
        for iid in ("o-1", "p-1"):
            client.raise_workflow_event(iid, "go")
            state = wait_for(client, iid, wf.WorkflowStatus.STALLED)
            out(f"{part}: {iid} is {state.runtime_status.name} ({state.failure_details.error_type})")
    else:
        client.raise_workflow_event("l-1", "go")
        for iid in ("o-1", "p-1", "l-1"):
            state = client.wait_for_workflow_completion(iid, timeout_in_seconds=20)
            out(f"{part}: {iid} {state.runtime_status.name} {state.serialized_output}")
    wfr.shutdown()
