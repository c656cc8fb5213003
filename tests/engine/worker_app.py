"""A workflow app run as a separate worker process by test_workers.py.

    python worker_app.py DB MARKER_DIR [MAX_CONCURRENT_ACTIVITIES]

prints "ready" once its runtime has started, and on SIGTERM or SIGINT shuts the runtime down
(draining in-flight work) and exits 0. Activities leave traces in MARKER_DIR so the test can see
which process ran what, and how often.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import wf

wfr = wf.WorkflowRuntime(
    db=sys.argv[1] if len(sys.argv) > 1 else None,
    max_concurrent_activities=int(sys.argv[3]) if len(sys.argv) > 3 else None,
)
MARKERS = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(".")


@wfr.activity
def work(ctx, i):
    time.sleep(0.1)
    return {"i": i, "pid": os.getpid()}


@wfr.workflow
def fanout(ctx, n):
    results = yield wf.when_all([ctx.call_activity(work, input=i) for i in range(n)])
    return results


@wfr.activity
def slow_once(ctx, key):
    """The first attempt hangs (the test kills its process); a later attempt returns at once."""
    path = MARKERS / f"{key}.attempts"
    with open(path, "a") as fh:
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        os.fsync(fh.fileno())
    attempts = path.read_text().split()
    if len(attempts) == 1:
        time.sleep(60)
    return {"attempts": len(attempts), "pid": os.getpid()}


@wfr.activity
def after(ctx, inp):
    return inp


@wfr.workflow
def crashy(ctx, key):
    r = yield ctx.call_activity(slow_once, input=key)
    done = yield ctx.call_activity(after, input="after")
    return {"slow": r, "after": done}


@wfr.activity
def drained(ctx, key):
    (MARKERS / f"{key}.started").write_text(str(os.getpid()))
    time.sleep(0.5)
    with open(MARKERS / f"{key}.runs", "a") as fh:
        fh.write(f"{os.getpid()}\n")
    return os.getpid()


@wfr.workflow
def drain_flow(ctx, key):
    pid = yield ctx.call_activity(drained, input=key)
    done = yield ctx.call_activity(after, input="next")
    return {"drained_by": pid, "after": done}


@wfr.workflow
def timers(ctx, n):
    for _ in range(n):
        yield ctx.create_timer(timedelta(milliseconds=50))
    return n


@wfr.workflow
def long_timer(ctx, secs):
    yield ctx.create_timer(timedelta(seconds=secs))
    done = yield ctx.call_activity(after, input="after-timer")
    return done


@wfr.workflow
def wait_event(ctx, inp):
    v = yield ctx.wait_for_external_event("ping")
    return v


@wfr.workflow
def accumulate(ctx, n):
    got = []
    for _ in range(n):
        v = yield ctx.wait_for_external_event("ping")
        got.append(v)
        who = yield ctx.call_activity(whoami)
        got.append(who)
        ctx.set_custom_status(len(got) // 2)
    return got


@wfr.activity
def whoami(ctx, inp):
    return os.getpid()


@wfr.workflow
def quick(ctx, inp):
    if False:
        yield
    return inp


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    wfr.start()
    print("ready", flush=True)
    while not stop.is_set():
        stop.wait(0.05)
    wfr.shutdown()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
