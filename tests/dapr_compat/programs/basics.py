"""Retries, a child workflow, an event racing a timer, pause/resume, purge: with the sync client,
or the async one (`python basics.py aio`). Prints what the test checks."""

import asyncio
import sys
from datetime import timedelta

import wf


def out(text: str) -> None:
    """One write per line: the main thread and activity threads print at once."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()

policy = wf.RetryPolicy(first_retry_interval=timedelta(milliseconds=50), max_number_of_attempts=3,
                        backoff_coefficient=2, max_retry_interval=timedelta(seconds=1))
wfr = wf.WorkflowRuntime()
flaky_calls = 0
child_runs = 0


@wfr.workflow(name="greeter")
def greeter(ctx: wf.DaprWorkflowContext, greeting: str):
    if not ctx.is_replaying:
        out(f"workflow got {greeting}")
    total = yield ctx.call_activity(add, input=5)
    yield ctx.call_activity(flaky, retry_policy=policy)
    child = yield ctx.call_child_workflow(fussy_child, input=total, retry_policy=policy)
    event = ctx.wait_for_external_event("go")
    timeout = ctx.create_timer(timedelta(seconds=20))
    winner = yield wf.when_any([event, timeout])
    if winner == timeout:
        return "timed out"
    return f"{greeting} {child} {event.get_result()}"


@wfr.activity
def add(ctx: wf.WorkflowActivityContext, n: int) -> int:
    out(f"add {n} for {ctx.workflow_id}")
    return n + 1


@wfr.activity(name="flaky")
def flaky(ctx):
    global flaky_calls
    flaky_calls += 1
    out(f"flaky attempt {flaky_calls}")
    if flaky_calls < 2:
        raise ValueError("not yet")


@wfr.workflow
def fussy_child(ctx: wf.DaprWorkflowContext, n: int):
    global child_runs
    if not ctx.is_replaying:
        child_runs += 1
        out(f"child run {child_runs}")
    if child_runs < 2:
        raise ValueError("child not yet")
    return n * 10
    yield  # a generator


def main_sync() -> None:
    client = wf.DaprWorkflowClient()
    iid = client.schedule_new_workflow(greeter, input="hello", instance_id="basics-1")
    client.wait_for_workflow_start(iid)
    state = client.get_workflow_state(iid)
    out(f"started: {state.runtime_status}")
    while "TimerCreated" not in [e.event_type for e in client.get_history(iid)]:
        import time

        time.sleep(0.05)
    client.pause_workflow(iid)
    out(f"after pause: {client.get_workflow_state(iid).runtime_status.name}")
    client.resume_workflow(iid)
    out(f"after resume: {client.get_workflow_state(iid).runtime_status.name}")
    client.raise_workflow_event(iid, "go", data={"by": "test"})
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    out(f"result: {state.serialized_output}")
    kinds = [e.event_type.name for e in client.get_workflow_history(iid)]
    out(f"history starts {kinds[0]} ends {kinds[-1]}")
    client.purge_workflow(iid, True)
    out(f"after purge: {client.get_workflow_state(iid)}")


async def main_aio() -> None:
    from wf.aio import DaprWorkflowClient

    async with DaprWorkflowClient() as client:
        iid = await client.schedule_new_workflow(greeter, input="hi", instance_id="basics-aio")
        await client.wait_for_workflow_start(iid)
        out(f"started: {(await client.get_workflow_state(iid)).runtime_status}")
        while "TimerCreated" not in [e.event_type.name.title().replace("_", "")
                                     for e in await client.get_workflow_history(iid)]:
            await asyncio.sleep(0.05)
        await client.pause_workflow(iid)
        out(f"after pause: {(await client.get_workflow_state(iid)).runtime_status.name}")
        await client.resume_workflow(iid)
        out(f"after resume: {(await client.get_workflow_state(iid)).runtime_status.name}")
        await client.raise_workflow_event(iid, "go", data="async")
        state = await client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
        out(f"result: {state.serialized_output}")
        out(f"ids: {[i async for i in client.iter_workflow_instance_ids(page_size=1)]}")
        await client.purge_workflow(iid)
        out(f"after purge: {await client.get_workflow_state(iid)}")


if __name__ == "__main__":
    wfr.start()
    try:
        if sys.argv[1:] == ["aio"]:
            asyncio.run(main_aio())
        else:
            main_sync()
    finally:
        wfr.shutdown()
