"""Two worker processes of one app with different registrations: `python split_workers.py
alpha|beta|client`. Each worker claims only what it registered."""

import os
import sys
import time

import wf


def out(text: str) -> None:
    """One write per line: the main thread and activity threads print at once."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()

role = sys.argv[1]
wfr = wf.WorkflowRuntime()

if role == "alpha":
    @wfr.workflow
    def alpha_flow(ctx: wf.DaprWorkflowContext, n: int):
        return [os.getpid(), (yield ctx.call_activity("beta_step", input=n))]

    @wfr.activity
    def alpha_step(ctx, n):
        return ["alpha", os.getpid(), n]

elif role == "beta":
    @wfr.workflow
    def beta_flow(ctx: wf.DaprWorkflowContext, n: int):
        return [os.getpid(), (yield ctx.call_activity("alpha_step", input=n))]

    @wfr.activity
    def beta_step(ctx, n):
        return ["beta", os.getpid(), n]


if __name__ == "__main__":
    if role == "client":
        client = wf.DaprWorkflowClient()
        ids = [client.schedule_new_workflow(name, input=i) for i in range(10) for name in ("alpha_flow", "beta_flow")]
        for iid in ids:
            state = client.wait_for_workflow_completion(iid, timeout_in_seconds=60)
            out(f"{state.name} {state.runtime_status.name} {state.serialized_output}")
    else:
        wfr.start()
        out(f"{role} ready {os.getpid()}")
        while not os.path.exists(os.environ["STOP_FILE"]):
            time.sleep(0.05)
        wfr.shutdown()
