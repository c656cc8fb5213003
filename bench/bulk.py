"""7. Bulk terminate: `wf terminate --all -y` over N running instances (waiting for an event):
instances per second, and the longest wait for the write lock of a worker that keeps running
workflows in another process meanwhile.

    python bench/bulk.py [N]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import fresh_db, report
from populate import populate_waiting
from purge import BUSY_WORKER

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent

if __name__ == "__main__":
    db = fresh_db()
    populate_waiting(db, N)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WF_")}
    env["PYTHONPATH"] = f"{HERE}:{HERE.parent / 'src'}"
    worker = subprocess.Popen([sys.executable, "-c", BUSY_WORKER, db], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=env, cwd=HERE)
    worker.stdin.write("go\n")
    worker.stdin.flush()
    time.sleep(1.0)  # the worker is up and busy
    t = time.perf_counter()
    bulk = subprocess.run([str(BIN / "wf"), "--db", db, "terminate", "--all", "-w", "await_event", "-y",
                           "-r", "bench"], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    worker.stdin.write("stop\n")
    worker.stdin.flush()
    busy = json.loads(worker.communicate(timeout=60)[0].strip().splitlines()[-1])
    assert bulk.returncode == 0, bulk.stderr
    assert f"Terminated {N} instances" in bulk.stdout, bulk.stdout
    report("bulk_terminate", instances=N, seconds=round(elapsed, 2), instances_per_s=round(N / elapsed),
           worker_max_lock_wait_ms=round(busy["max_wait_ms"], 1), worker_workflows_meanwhile=busy["workflows"],
           targets={"instances_per_s": 20000, "worker_max_lock_wait_ms": 100})
