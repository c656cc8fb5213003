"""The Dapr SDK worker of bench/grpc_sdk.py: three chained activities (or `chain`: as many as its
input says), written with
`import dapr.ext.workflow` as for a daprd; it finds wf serve through DAPR_GRPC_PORT."""

import time

import dapr.ext.workflow as wf

wfr = wf.WorkflowRuntime()


@wfr.activity(name="inc")
def inc(ctx, x):
    return x + 1


@wfr.workflow(name="three_steps")
def three_steps(ctx, x):
    x = yield ctx.call_activity(inc, input=x)
    x = yield ctx.call_activity(inc, input=x)
    x = yield ctx.call_activity(inc, input=x)
    return x


@wfr.workflow(name="chain")
def chain(ctx, args):
    x = args["x"]
    for _ in range(args["steps"]):
        x = yield ctx.call_activity(inc, input=x)
    return x


if __name__ == "__main__":
    wfr.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(1)
    finally:
        wfr.shutdown()
