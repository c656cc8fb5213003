"""Workflows that try to stop the engine, run by tests/reliability/test_isolation.py in real
`wf worker` processes: long computations, infinite loops, values that are not JSON, sys.exit(),
an activity that stops the asyncio loop. Each must fail (or hold) only itself.

Markers go to $WF_TEST_MARKERS (a directory) so the tests can see what a workflow is doing.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

import wf

wfr = wf.WorkflowRuntime()


def _mark(name: str) -> None:
    d = os.environ.get("WF_TEST_MARKERS")
    if d:
        Path(d, name).write_text(str(os.getpid()))


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@wfr.activity
def echo(ctx, x):
    return x


@wfr.workflow
def quick(ctx, x):
    y = yield ctx.call_activity(echo, input=x)
    return y


@wfr.workflow
def busy(ctx, seconds):
    """Computes for `seconds` without yielding (only on its first run: replays are quick)."""
    if not ctx.is_replaying:
        _mark(f"busy-{ctx.instance_id}.started")
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            n += 1
        _mark(f"busy-{ctx.instance_id}.finished")
    y = yield ctx.call_activity(echo, input="after")
    return y


@wfr.workflow
def forever(ctx, _):
    _mark(f"forever-{ctx.instance_id}.started")
    n = 0
    while True:
        n += 1
    yield ctx.call_activity(echo, input=n)  # never reached: makes this a generator


@wfr.workflow
def deep_output(ctx, depth):
    yield ctx.call_activity(echo, input=1)
    return _nested(depth)


@wfr.activity
def deep_result(ctx, depth):
    return _nested(depth)


@wfr.workflow
def deep_activity(ctx, depth):
    value = yield ctx.call_activity(deep_result, input=depth)
    return len(value)


@wfr.workflow
def surrogate_name(ctx, _):
    yield ctx.call_activity("\ud800")
    return "unreachable"


@wfr.activity
def always_fails(ctx, _):
    raise RuntimeError("no")


@wfr.workflow
def retry_overflow(ctx, _):
    policy = wf.RetryPolicy(first_retry_interval=timedelta(days=999_999_999), max_number_of_attempts=3)
    yield ctx.call_activity(always_fails, retry_policy=policy)
    return "unreachable"


@wfr.workflow
def exits(ctx, how):
    yield ctx.call_activity(echo, input=1)
    if how == "exit":
        sys.exit(3)
    if how == "SystemExit":
        raise SystemExit("bye")
    raise KeyboardInterrupt


@wfr.activity
def exit_once(ctx, how):
    """Raises a BaseException on its first attempt per instance, then succeeds."""
    d = os.environ.get("WF_TEST_MARKERS", ".")
    path = Path(d, f"attempts-{ctx.workflow_id}")
    n = len(path.read_text()) if path.exists() else 0
    path.write_text("x" * (n + 1))
    if n == 0:
        if how == "exit":
            sys.exit(1)
        raise KeyboardInterrupt
    return n + 1


@wfr.activity
async def async_exit_once(ctx, how):
    d = os.environ.get("WF_TEST_MARKERS", ".")
    path = Path(d, f"attempts-{ctx.workflow_id}")
    n = len(path.read_text()) if path.exists() else 0
    path.write_text("x" * (n + 1))
    await asyncio.sleep(0)
    if n == 0:
        if how == "exit":
            sys.exit(1)
        raise KeyboardInterrupt
    return n + 1


@wfr.workflow
def activity_exits(ctx, args):
    kind, how = args
    policy = wf.RetryPolicy(first_retry_interval=timedelta(milliseconds=10), max_number_of_attempts=3)
    act = async_exit_once if kind == "async" else exit_once
    attempts = yield ctx.call_activity(act, input=how, retry_policy=policy)
    return attempts


@wfr.activity
async def stop_the_loop(ctx, _):
    asyncio.get_running_loop().stop()
    await asyncio.sleep(3600)


@wfr.workflow
def loop_killer(ctx, _):
    yield ctx.call_activity(stop_the_loop)
    return "unreachable"


@wfr.activity
def nan(ctx, _):
    return float("nan")


@wfr.activity
def an_object(ctx, _):
    return object()


@wfr.workflow
def not_json(ctx, what):
    if what == "workflow-nan":
        yield ctx.call_activity(echo, input=1)
        return float("inf")
    if what == "activity-nan":
        return (yield ctx.call_activity(nan))
    if what == "activity-deep":
        return (yield ctx.call_activity(deep_result, input=3000))
    return (yield ctx.call_activity(an_object))


@wfr.workflow
def child(ctx, x):
    return x


@wfr.workflow
def bad_child_id(ctx, child_id):
    try:
        yield ctx.call_child_workflow(child, input=1, instance_id=child_id)
    except wf.TaskFailedError as exc:
        return f"caught: {exc}"
    return "started"


@wfr.workflow
def waits(ctx, _):
    value = yield ctx.wait_for_external_event("go")
    return value


@wfr.workflow
def parent_of_waiter(ctx, _):
    value = yield ctx.call_child_workflow(waits)
    return value
