"""The app the crash and contention suites run in real `wf worker` processes.

Every activity appends one line to $WF_TEST_RUNS (when set): the suites count how often activities
ran (at least once) against how often their completion was recorded (exactly once).
"""

from __future__ import annotations

import os
import random
import time
from datetime import timedelta

import wf

wfr = wf.WorkflowRuntime(max_concurrent_activities=8)


def _trace(kind: str, key: object) -> None:
    path = os.environ.get("WF_TEST_RUNS")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{kind} {key} {os.getpid()}\n".encode())
        finally:
            os.close(fd)


@wfr.activity
def add(ctx, args):
    _trace("add", f"{ctx.workflow_id}:{ctx.task_id}")
    time.sleep(random.uniform(0.005, 0.05))
    a, b = args
    return a + b


@wfr.activity
def square(ctx, n):
    _trace("square", f"{ctx.workflow_id}:{ctx.task_id}")
    time.sleep(random.uniform(0.005, 0.05))
    return n * n


@wfr.workflow
def order(ctx, n):
    """add -> timer -> external event 'go' -> fan-out of 3 squares -> add. Output: a function of
    n and the event's data, so the test knows what every instance must return."""
    a = yield ctx.call_activity(add, input=[n, 1])
    yield ctx.create_timer(timedelta(milliseconds=50 + (n % 5) * 40))
    go = yield ctx.wait_for_external_event("go")
    squares = yield wf.when_all([ctx.call_activity(square, input=a + i) for i in range(3)])
    total = yield ctx.call_activity(add, input=[sum(squares), go["k"]])
    return {"n": n, "total": total}


def expected_order(n: int, k: int) -> dict:
    a = n + 1
    return {"n": n, "total": sum((a + i) ** 2 for i in range(3)) + k}


@wfr.workflow
def collector(ctx, expected):
    """Waits for `expected` events named 'e' (each data unique), acknowledging each with an
    activity; returns the data in the order received."""
    got = []
    for _ in range(expected):
        v = yield ctx.wait_for_external_event("e")
        got.append(v)
        ctx.set_custom_status(len(got))
    yield ctx.call_activity(add, input=[len(got), 0])
    return got


@wfr.workflow
def victim(ctx, _):
    """Lives until terminated: waits for events for ever, with a short activity between."""
    n = 0
    while True:
        yield ctx.wait_for_external_event("poke")
        n += 1
        yield ctx.call_activity(add, input=[n, 0])


@wfr.activity
def nap(ctx, seconds):
    _trace("nap-start", f"{ctx.workflow_id}:{ctx.task_id}")
    time.sleep(seconds)
    _trace("nap-done", f"{ctx.workflow_id}:{ctx.task_id}")
    return seconds


@wfr.workflow
def naps(ctx, args):
    """`count` activities of `seconds` each, at once; then one more quick one."""
    count, seconds = args
    slept = yield wf.when_all([ctx.call_activity(nap, input=seconds) for _ in range(count)])
    total = yield ctx.call_activity(add, input=[sum(slept), 0])
    return total
