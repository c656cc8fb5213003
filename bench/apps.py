"""The workflows the benchmarks run: three chained activities, a fan-out, a long sequence."""

import wf

wfr = wf.WorkflowRuntime()


@wfr.activity
def inc(ctx, x):
    return x + 1


@wfr.workflow
def three_steps(ctx, x):
    x = yield ctx.call_activity(inc, input=x)
    x = yield ctx.call_activity(inc, input=x)
    x = yield ctx.call_activity(inc, input=x)
    return x


@wfr.workflow
def one_step(ctx, x):
    return (yield ctx.call_activity(inc, input=x))


@wfr.workflow
def fan_out(ctx, n):
    results = yield wf.when_all([ctx.call_activity(inc, input=i) for i in range(n)])
    return sum(results)


STEP_TIMES: list[float] = []


@wfr.workflow
def sequence(ctx, n):
    import time

    x = 0
    for _ in range(n):
        x = yield ctx.call_activity(inc, input=x)
        if not ctx.is_replaying:
            STEP_TIMES.append(time.perf_counter())
    return x
