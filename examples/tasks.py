"""A task-processing workflow: validate a task, process its items in parallel, summarize.

    python examples/tasks.py                       # a small demo on a throw-away store
    wf worker --app examples/tasks.py:wfr
    wf run task_workflow -x '{"id": "t-1", "items": [{"sku": "a", "quantity": 2, "price": 2.5}]}' --wait

The items fan out to `process_item` activities (with a retry policy, since item processing talks to
flaky services in real life) and fan back in with when_all; the custom status shows the stage.
"""

from __future__ import annotations

from datetime import timedelta

import wf

wfr = wf.WorkflowRuntime()

ITEM_RETRY = wf.RetryPolicy(
    first_retry_interval=timedelta(milliseconds=100),
    max_number_of_attempts=3,
    backoff_coefficient=2.0,
    max_retry_interval=timedelta(seconds=5),
)


@wfr.workflow(name="task_workflow")
def task_workflow(ctx: wf.DaprWorkflowContext, task: dict):
    ctx.set_custom_status({"stage": "validating"})
    try:
        task = yield ctx.call_activity(validate_task, input=task)
    except wf.TaskFailedError as exc:
        ctx.set_custom_status({"stage": "rejected"})
        return {"status": "invalid", "reason": exc.details.message}

    ctx.set_custom_status({"stage": "processing", "items": len(task["items"])})
    results = yield wf.when_all(
        [ctx.call_activity(process_item, input=item, retry_policy=ITEM_RETRY) for item in task["items"]]
    )

    ctx.set_custom_status({"stage": "summarizing"})
    summary = yield ctx.call_activity(summarize, input={"id": task["id"], "results": results})
    ctx.set_custom_status({"stage": "done"})
    return {"status": "completed", **summary}


@wfr.activity(name="validate_task")
def validate_task(ctx: wf.WorkflowActivityContext, task: dict) -> dict:
    items = task.get("items")
    if not isinstance(items, list) or not items:
        raise ValueError("a task needs a non-empty list of items")
    clean = []
    for n, item in enumerate(items):
        if not isinstance(item, dict) or "sku" not in item:
            raise ValueError(f"item {n} has no sku")
        quantity = int(item.get("quantity", 1))
        if quantity < 1:
            raise ValueError(f"item {n} ({item['sku']}) has quantity {quantity}")
        clean.append({"sku": str(item["sku"]), "quantity": quantity, "price": float(item.get("price", 0))})
    return {"id": task.get("id") or ctx.workflow_id, "items": clean}


@wfr.activity(name="process_item")
def process_item(ctx: wf.WorkflowActivityContext, item: dict) -> dict:
    return {"sku": item["sku"], "line_total": round(item["quantity"] * item["price"], 2)}


@wfr.activity(name="summarize")
def summarize(ctx: wf.WorkflowActivityContext, data: dict) -> dict:
    results = data["results"]
    return {
        "id": data["id"],
        "items": len(results),
        "total": round(sum(r["line_total"] for r in results), 2),
        "lines": {r["sku"]: r["line_total"] for r in results},
    }


def demo() -> dict:
    """One valid task and one invalid task on a throw-away store."""
    import json
    import os
    import tempfile

    saved = os.environ.get("WF_DB")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WF_DB"] = os.path.join(tmp, "tasks-demo.db")  # resolved when wfr starts
        try:
            client = wf.WorkflowClient()
            with wfr:
                good = client.schedule_new_workflow(task_workflow, instance_id="task-1", input={
                    "id": "task-1",
                    "items": [{"sku": "apple", "quantity": 3, "price": 0.5},
                              {"sku": "pear", "quantity": 2, "price": 0.75},
                              {"sku": "fig", "price": 2.0}],
                })
                bad = client.schedule_new_workflow(task_workflow, instance_id="task-2", input={"id": "task-2"})
                for iid in (good, bad):
                    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
                    state.raise_if_failed()
                    results[iid] = json.loads(state.serialized_output)
                    print(f"{iid}: {state.runtime_status} {state.serialized_output}")
        finally:
            if saved is None:
                os.environ.pop("WF_DB", None)
            else:
                os.environ["WF_DB"] = saved
    return results


if __name__ == "__main__":
    demo()
