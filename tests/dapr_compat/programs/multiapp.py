"""Three apps on one store: `python multiapp.py front|middle|back`. front starts a workflow that
calls a child workflow on app `middle`, which calls an activity on app `back`. FAIL_MIDDLE=1 or
FAIL_BACK=1 make that part fail; the caller sees a task failure."""

import os
import sys
import time
from datetime import timedelta

import wf


def out(text: str) -> None:
    """One write per line: the main thread and activity threads print at once."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()

role = sys.argv[1]
wfr = wf.WorkflowRuntime(app_id=role)
retry = wf.RetryPolicy(first_retry_interval=timedelta(milliseconds=50), max_number_of_attempts=2)

if role == "front":
    @wfr.workflow
    def front_flow(ctx: wf.DaprWorkflowContext):
        try:
            got = yield ctx.call_child_workflow("middle_flow", input=1, app_id="middle", retry_policy=retry)
            out(f"front: child returned {got}")
        except wf.TaskFailedError as exc:
            out(f"front: child failed: {exc.details.error_type}")
        return "front done"

elif role == "middle":
    @wfr.workflow
    def middle_flow(ctx: wf.DaprWorkflowContext, n: int):
        if not ctx.is_replaying:
            out("middle: called")
        if os.environ.get("FAIL_MIDDLE"):
            raise ValueError("middle fails")
        try:
            got = yield ctx.call_activity("back_step", input=n, app_id="back", retry_policy=retry)
            out(f"middle: activity returned {got}")
        except wf.TaskFailedError as exc:
            out(f"middle: activity failed: {exc.details.message}")
            got = -1
        return got + 1

else:
    @wfr.activity
    def back_step(ctx: wf.WorkflowActivityContext, n: int) -> int:
        out(f"back: called with {n} from {ctx.workflow_id}")
        if os.environ.get("FAIL_BACK"):
            raise ValueError("back fails")
        return n * 100


if __name__ == "__main__":
    wfr.start()
    if role == "front":
        client = wf.DaprWorkflowClient(app_id="front")
        iid = client.schedule_new_workflow("front_flow")
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=60)
        out(f"front: {state.runtime_status.name} {state.serialized_output}")
    else:
        deadline = time.monotonic() + float(os.environ.get("SERVE_SECONDS", "60"))
        while time.monotonic() < deadline and not os.path.exists(os.environ.get("STOP_FILE", "/nonexistent")):
            time.sleep(0.05)
    wfr.shutdown()
