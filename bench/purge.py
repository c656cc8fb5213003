"""6. Purge: `wf purge --all-older-than 1h` over N finished instances of ten history events each:
instances per second, peak RSS, and the longest wait for the write lock of a worker that keeps
running workflows in another process meanwhile.

    python bench/purge.py [N]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common import fresh_db, report
from populate import populate

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent

# A worker process that keeps running one-activity workflows and records how long its
# dispatcher waited for the write lock (BEGIN IMMEDIATE) each time.
BUSY_WORKER = r'''
import json, sys, threading, time
from contextlib import contextmanager
from wf.engine import store as S
waits = []
original = S.Store.write
@contextmanager
def timed_write(self):
    t = time.perf_counter()
    with original(self) as conn:
        if threading.current_thread().name == "wf-worker":
            waits.append(time.perf_counter() - t)
        yield conn
S.Store.write = timed_write
import wf, apps
apps.wfr._db = sys.argv[1]
client = wf.WorkflowClient(sys.argv[1])
apps.wfr.start()
done = 0
for line in sys.stdin:  # "go" once, then "stop"
    if line.strip() == "stop":
        break
    stop = threading.Event()
    def feed():
        global done
        while not stop.is_set():
            iid = client.schedule_new_workflow(apps.one_step, input=1)
            client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
            done += 1
    t = threading.Thread(target=feed, daemon=True); t.start()
apps.wfr.shutdown()
print(json.dumps({"max_wait_ms": max(waits) * 1000, "transactions": len(waits), "workflows": done}))
'''

@contextmanager
def busy_worker(db: str) -> Iterator[tuple[dict[str, str], dict]]:
    """A worker process keeps running workflows on db while the block runs: yields the environment
    to run wf with and a dict that gets the worker's figures (max_wait_ms, workflows) at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WF_")}
    env["PYTHONPATH"] = f"{HERE}:{HERE.parent / 'src'}"
    worker = subprocess.Popen([sys.executable, "-c", BUSY_WORKER, db], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=env, cwd=HERE)
    assert worker.stdin is not None
    worker.stdin.write("go\n")
    worker.stdin.flush()
    time.sleep(1.0)  # the worker is up and busy
    busy: dict = {}
    try:
        yield env, busy
    finally:
        worker.stdin.write("stop\n")
        worker.stdin.flush()
        busy.update(json.loads(worker.communicate(timeout=60)[0].strip().splitlines()[-1]))


if __name__ == "__main__":
    db = fresh_db()
    cache = Path(os.environ.get("WF_BENCH_DIR", "/tmp/wf-bench")) / f"wf-{N}.db"
    if cache.exists():
        shutil.copy(cache, db)
    else:
        populate(db, N)
    with busy_worker(db) as (env, busy):
        t = time.perf_counter()
        purge = subprocess.Popen([str(BIN / "wf"), "--db", db, "purge", "--all-older-than", "1h", "-y"], env=env,
                                 stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(purge.pid, 0)
        elapsed = time.perf_counter() - t
    assert os.waitstatus_to_exitcode(status) == 0
    report("purge", instances=N, seconds=round(elapsed, 2), instances_per_s=round(N / elapsed),
           peak_rss_mb=round(usage.ru_maxrss / 1024, 1), worker_max_lock_wait_ms=round(busy["max_wait_ms"], 1),
           worker_workflows_meanwhile=busy["workflows"],
           targets={"instances_per_s": 50000, "worker_max_lock_wait_ms": 100})
