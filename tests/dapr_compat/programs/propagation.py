"""History propagation: a parent hands its history to a child (OWN_HISTORY), which hands its
lineage to an activity (LINEAGE); an activity called without propagation sees none."""

import json

import sys

import wf


def out(text: str) -> None:
    """One write per line: the main thread and activity threads print at once."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()

wfr = wf.WorkflowRuntime()


@wfr.activity(name="check_account")
def check_account(ctx, account):
    return {"account": account, "ok": True}


@wfr.activity(name="audit")
def audit(ctx: wf.WorkflowActivityContext, _):
    history = ctx.get_propagated_history()
    if history is None:
        return "no history"
    chain = [f"{w.app_id}/{w.name}" for w in history.get_workflows()]
    parent = history.get_last_workflow_by_name("checkout")
    check = parent.get_last_activity_by_name("check_account")
    return f"{history.scope.name} {chain} check completed={check.completed} output={check.output}"


@wfr.workflow(name="pay")
def pay(ctx: wf.DaprWorkflowContext, _):
    history = ctx.get_propagated_history()
    check = history.get_workflows()[-1].get_last_activity_by_name("check_account")
    try:
        history.get_workflows()[-1].get_last_activity_by_name("never_called")
    except wf.PropagationNotFoundError:
        missing = "not found"
    seen = yield ctx.call_activity(audit, propagation=wf.PropagationScope.LINEAGE)
    plain = yield ctx.call_activity(audit)
    return {"account": json.loads(check.output)["account"], "missing": missing, "audit": seen, "plain": plain}


@wfr.workflow(name="checkout")
def checkout(ctx: wf.DaprWorkflowContext, account: str):
    yield ctx.call_activity(check_account, input=account)
    return (yield ctx.call_child_workflow(pay, propagation=wf.PropagationScope.OWN_HISTORY))


if __name__ == "__main__":
    wfr.start()
    client = wf.DaprWorkflowClient()
    iid = client.schedule_new_workflow(checkout, input="acct-7")
    result = json.loads(client.wait_for_workflow_completion(iid, timeout_in_seconds=30).serialized_output)
    for key in ("account", "missing", "audit", "plain"):
        out(f"{key}: {result[key]}")
    wfr.shutdown()
