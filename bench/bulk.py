"""7. Bulk terminate: `wf terminate --all -y` over N running instances (waiting for an event):
instances per second, and the longest wait for the write lock of a worker that keeps running
workflows in another process meanwhile.

    python bench/bulk.py [N]
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from common import fresh_db, report
from populate import populate_waiting
from purge import busy_worker

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
BIN = Path(sys.executable).parent

if __name__ == "__main__":
    db = fresh_db()
    populate_waiting(db, N)
    with busy_worker(db) as (env, busy):
        t = time.perf_counter()
        bulk = subprocess.run([str(BIN / "wf"), "--db", db, "terminate", "--all", "-w", "await_event", "-y",
                               "-r", "bench"], env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - t
    assert bulk.returncode == 0, bulk.stderr
    assert f"Terminated {N} instances" in bulk.stdout, bulk.stdout
    report("bulk_terminate", instances=N, seconds=round(elapsed, 2), instances_per_s=round(N / elapsed),
           worker_max_lock_wait_ms=round(busy["max_wait_ms"], 1), worker_workflows_meanwhile=busy["workflows"],
           targets={"instances_per_s": 20000, "worker_max_lock_wait_ms": 100})
