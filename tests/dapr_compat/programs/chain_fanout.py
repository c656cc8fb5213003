"""Task chaining, fan-out/fan-in over async and sync activities, and the printed status."""

import asyncio

import sys

import wf


def out(text: str) -> None:
    """One write per line: the main thread and activity threads print at once."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()

wfr = wf.WorkflowRuntime()


@wfr.workflow(name="chain")
def chain(ctx: wf.DaprWorkflowContext, n: int):
    a = yield ctx.call_activity(plus_one, input=n)
    b = yield ctx.call_activity(double, input=a)
    return [a, b]


@wfr.activity(name="plus_one")
def plus_one(ctx, n):
    out(f"plus_one {n}")
    return n + 1


@wfr.activity
def double(ctx, n):
    out(f"double {n}")
    return n * 2


@wfr.workflow(name="fan")
def fan(ctx: wf.DaprWorkflowContext, count: int):
    items = yield ctx.call_activity(batch, input=count)
    results = yield wf.when_all([ctx.call_activity(slow_square, input=i) for i in items])
    total = yield ctx.call_activity(summarize, input=results)
    return total


@wfr.activity(name="get_batch")
def batch(ctx, count):
    return list(range(1, count + 1))


@wfr.activity
async def slow_square(ctx, i):
    await asyncio.sleep(0.3)  # concurrently: the whole fan-out takes about one sleep
    out(f"square {i}")
    return i * i


@wfr.activity
def summarize(ctx, results: list):
    out(f"summing {sorted(results)}")
    return sum(results)


if __name__ == "__main__":
    import time

    wfr.start()
    client = wf.DaprWorkflowClient()
    iid = client.schedule_new_workflow(chain, input=41)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    out(f"chain: {state.runtime_status} {state.serialized_output}")
    t0 = time.monotonic()
    iid = client.schedule_new_workflow(fan, input=8)
    state = client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
    out(f"fan: {state.runtime_status.name} {state.serialized_output} concurrent={time.monotonic() - t0 < 2.0}",)
    wfr.shutdown()
