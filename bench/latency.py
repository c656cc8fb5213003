"""4. Latency: schedule to completed for a one-activity workflow on an idle runtime, in the same
process and from a second process (the worker runs in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from common import fresh_db, percentile, report

N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
HERE = Path(__file__).resolve().parent


def measure(client, n: int) -> list[float]:
    from apps import one_step

    out = []
    for i in range(n):
        t = time.perf_counter()
        iid = client.schedule_new_workflow(one_step, input=i)
        client.wait_for_workflow_completion(iid, timeout_in_seconds=30)
        out.append((time.perf_counter() - t) * 1000)
        time.sleep(0.002)  # idle between runs
    return out


if __name__ == "__main__":
    import wf
    from apps import wfr

    db = fresh_db()
    client = wf.WorkflowClient(db)
    wfr._db = db
    with wfr:
        measure(client, 20)  # warm up
        same = measure(client, N)
    env = dict(os.environ, WF_DB=db, PYTHONPATH=f"{HERE}:{HERE.parent / 'src'}")
    worker = subprocess.Popen([sys.executable, "-c", "import apps, signal; apps.wfr.start(); signal.pause()"],
                              cwd=HERE, env=env)
    try:
        measure(client, 20)  # also waits for the worker to come up
        other = measure(client, N)
    finally:
        worker.kill()
    report("latency", runs=N, same_process_p50_ms=round(percentile(same, 50), 2),
           same_process_p99_ms=round(percentile(same, 99), 2), second_process_p50_ms=round(percentile(other, 50), 2),
           second_process_p99_ms=round(percentile(other, 99), 2),
           targets={"same_process_p50_ms": 10, "second_process_p50_ms": 50})
