"""The approval workflow: orders over 1000 wait for a person's decision, at most three days.

    python examples/approval.py                              # a small demo on a throw-away store
    wf worker --app examples/approval.py:wfr                 # run it as a worker on your store
    wf run approval_workflow -x '{"id": "order-1", "amount": 1500}'
    wf raise-event order-1/approval_decision -x '{"approved": true}'

The module is written against Dapr's workflow API: `import dapr.ext.workflow as wf` would run it on
Dapr unchanged. `wfr` has no store of its own: the store is resolved when it starts (the `--db` of
the `wf` command that loaded this module, else WF_DB, else the profile's, else the default path).
"""

from __future__ import annotations

import logging
from datetime import timedelta

import wf

log = logging.getLogger("approval")

APPROVAL_THRESHOLD = 1000
APPROVAL_TIMEOUT = timedelta(days=3)

wfr = wf.WorkflowRuntime()


@wfr.workflow(name="approval_workflow")
def approval_workflow(ctx: wf.DaprWorkflowContext, order: dict):
    if order["amount"] > APPROVAL_THRESHOLD:
        yield ctx.call_activity(request_approval, input=order)
        decision_task = ctx.wait_for_external_event("approval_decision")
        timeout_task = ctx.create_timer(APPROVAL_TIMEOUT)
        winner = yield wf.when_any([decision_task, timeout_task])
        if winner == timeout_task:
            return {"status": "rejected", "reason": "approval_timeout"}
        decision = decision_task.get_result() or {}
        if not decision.get("approved"):
            return {"status": "rejected", "reason": decision.get("reason")}
    yield ctx.call_activity(process_order, input=order)
    return {"status": "completed"}


@wfr.activity(name="request_approval")
def request_approval(ctx: wf.WorkflowActivityContext, order: dict) -> None:
    # A real app would open a ticket or send a message; the answer comes back as the event
    # "approval_decision" with data {"approved": bool, "reason": str}.
    log.info("approval requested for order %s (amount %s), instance %s",
             order.get("id"), order["amount"], ctx.workflow_id)


@wfr.activity(name="process_order")
def process_order(ctx: wf.WorkflowActivityContext, order: dict) -> dict:
    log.info("processing order %s", order.get("id"))
    return {"order_id": order.get("id"), "processed": True}


def demo() -> dict:
    """Three orders on a throw-away store: a small one, an approved one and a rejected one."""
    import os
    import tempfile

    saved = os.environ.get("WF_DB")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WF_DB"] = os.path.join(tmp, "approval-demo.db")  # resolved when wfr starts
        try:
            return _run_demo()
        finally:
            if saved is None:
                os.environ.pop("WF_DB", None)
            else:
                os.environ["WF_DB"] = saved


def _run_demo() -> dict:
    import json

    client = wf.WorkflowClient()
    results = {}
    with wfr:
        small = client.schedule_new_workflow(approval_workflow, input={"id": "order-7", "amount": 20},
                                             instance_id="order-7")
        approved = client.schedule_new_workflow(approval_workflow, input={"id": "order-1001", "amount": 1500},
                                                instance_id="order-1001")
        rejected = client.schedule_new_workflow(approval_workflow, input={"id": "order-1002", "amount": 9000},
                                                instance_id="order-1002")
        client.wait_for_workflow_start(approved, timeout_in_seconds=30)
        client.raise_workflow_event(approved, "approval_decision", data={"approved": True, "reason": "ok"})
        client.raise_workflow_event(rejected, "approval_decision",
                                    data={"approved": False, "reason": "over budget"})
        for iid in (small, approved, rejected):
            state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
            state.raise_if_failed()
            results[iid] = json.loads(state.serialized_output)
            print(f"{iid}: {state.runtime_status} {state.serialized_output}")
    return results


if __name__ == "__main__":
    demo()
