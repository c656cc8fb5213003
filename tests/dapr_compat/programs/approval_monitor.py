"""Dataclass payloads read by attribute (an approval racing a timeout), and a monitor that
continues as new with a dataclass and a namedtuple."""

import sys
from collections import namedtuple
from dataclasses import dataclass
from datetime import datetime, timedelta

import wf


def out(text: str) -> None:
    """One write per line: the main thread and activity threads print at once."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()

wfr = wf.WorkflowRuntime()
Check = namedtuple("Check", "attempt healthy")


@dataclass
class Order:
    cost: float
    product: str
    quantity: int


@dataclass
class Approval:
    approver: str


@wfr.workflow(name="purchase")
def purchase(ctx: wf.DaprWorkflowContext, order: Order):
    assert ctx.current_utc_datetime <= datetime.utcnow() + timedelta(seconds=1)  # naive UTC, as Dapr's
    if order.cost < 1000:
        return "auto-approved"
    yield ctx.call_activity(notify, input=order)
    approval = ctx.wait_for_external_event("approval")
    timeout = ctx.create_timer(timedelta(seconds=float(sys.argv[1]) if len(sys.argv) > 1 else 20))
    winner = yield wf.when_any([approval, timeout])
    if winner == timeout:
        return "cancelled"
    return f"approved by {approval.get_result().approver} for {order.product} x{order.quantity}"


@wfr.activity(name="notify")
def notify(ctx, order: Order):
    out(f"approval needed: {order.product} costs {order.cost}")


@wfr.workflow(name="monitor")
def monitor(ctx: wf.DaprWorkflowContext, check):
    status = yield ctx.call_activity(probe, input=check)
    if not ctx.is_replaying:
        out(f"check {check.attempt}: {status}")
    if check.attempt >= 3:
        return check.attempt
    yield ctx.create_timer(timedelta(milliseconds=50))
    ctx.continue_as_new(Check(check.attempt + 1, status == "healthy"))


@wfr.activity
def probe(ctx, check):
    return "healthy" if check.attempt % 2 else "unhealthy"


if __name__ == "__main__":
    wfr.start()
    client = wf.DaprWorkflowClient()
    small = client.schedule_new_workflow(purchase, input=Order(10, "pen", 1))
    out(f"small: {client.wait_for_workflow_completion(small, timeout_in_seconds=20).serialized_output}")
    big = client.schedule_new_workflow(purchase, input=Order(2000, "desk", 2), instance_id="order-big")
    client.wait_for_workflow_start(big)
    client.raise_workflow_event(big, "approval", data=Approval("Me"))
    out(f"big: {client.wait_for_workflow_completion(big, timeout_in_seconds=20).serialized_output}")
    mon = client.schedule_new_workflow(monitor, input=Check(1, True), instance_id="job1")
    state = client.wait_for_workflow_completion(mon, timeout_in_seconds=20)
    out(f"monitor: {state.runtime_status.name} after {state.serialized_output} checks")
    out(f"state input: {state.serialized_input}")
    wfr.shutdown()
