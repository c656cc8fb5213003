"""The benchmark workflows on Temporal's Python SDK: the same three chained activities (and one) as
apps.py. A module of its own, as Temporal's workflow sandbox re-imports the module of a workflow."""

from datetime import timedelta

from temporalio import activity, workflow

TIMEOUT = timedelta(seconds=60)


@activity.defn(name="inc")
async def inc(x: int) -> int:
    return x + 1


@workflow.defn(name="three_steps")
class ThreeSteps:
    @workflow.run
    async def run(self, x: int) -> int:
        for _ in range(3):
            x = await workflow.execute_activity(inc, x, start_to_close_timeout=TIMEOUT)
        return x


@workflow.defn(name="one_step")
class OneStep:
    @workflow.run
    async def run(self, x: int) -> int:
        return await workflow.execute_activity(inc, x, start_to_close_timeout=TIMEOUT)
