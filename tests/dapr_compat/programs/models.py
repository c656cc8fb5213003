"""Pydantic models as inputs (rebuilt from annotations) and outputs (plain JSON)."""

import sys
from typing import Optional

from pydantic import BaseModel

import wf


def out(text: str) -> None:
    """One write per line: the main thread and activity threads print at once."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()

wfr = wf.WorkflowRuntime()


class Request(BaseModel):
    order_id: str
    customer: str
    amount: float


class Decision(BaseModel):
    order_id: str
    approved: bool
    note: str


@wfr.workflow(name="review")
def review(ctx: wf.DaprWorkflowContext, req: Request):
    if not ctx.is_replaying:
        out(f"workflow: {type(req).__name__} {req.order_id} {req.customer} {req.amount}")
    raw = yield ctx.call_activity(decide, input=req)
    decision = Decision.model_validate(raw)
    if not ctx.is_replaying:
        out(f"workflow: activity result is a {type(raw).__name__}, approved={decision.approved}")
    return decision


@wfr.activity(name="decide")
def decide(ctx: wf.WorkflowActivityContext, req: Optional[Request]) -> Decision:
    out(f"activity: {type(req).__name__} {req.order_id}")
    return Decision(order_id=req.order_id, approved=req.amount <= 100, note="auto" if req.amount <= 100 else "review")


if __name__ == "__main__":
    wfr.start()
    client = wf.DaprWorkflowClient()
    client.schedule_new_workflow(review, input=Request(order_id="O-1", customer="Acme", amount=42.0),
                                 instance_id="models-1")
    state = client.wait_for_workflow_completion("models-1", timeout_in_seconds=30)
    decision = Decision.model_validate_json(state.serialized_output)
    out(f"client: {decision.order_id} approved={decision.approved} note={decision.note}")
    out(f"client: input text {state.serialized_input}")
    client.purge_workflow("models-1")
    wfr.shutdown()
