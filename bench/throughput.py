"""1. Throughput: N workflows of three chained activities, runtime in-process, with durability
normal and full, and DBOS Transact on SQLite in the same run when it is installed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from common import Timer, fresh_db, report

N = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
N_PEER = int(sys.argv[2]) if len(sys.argv) > 2 else 300
HERE = Path(__file__).resolve().parent


def run_wf(durability: str, n: int) -> float:
    import wf
    from apps import three_steps, wfr

    db = fresh_db()
    client = wf.WorkflowClient(db)
    runtime = wf.WorkflowRuntime(db, durability=durability)
    runtime.workflows, runtime.activities = wfr.workflows, wfr.activities
    with Timer() as t:
        runtime.start()
        ids = [client.schedule_new_workflow(three_steps, input=i) for i in range(n)]
        for iid in ids:
            client.wait_for_workflow_completion(iid, timeout_in_seconds=600)
    runtime.shutdown()
    return n / t.elapsed


def run_dbos(n: int) -> float | None:
    try:
        import dbos  # noqa: F401
    except ImportError:
        return None
    out = subprocess.run([sys.executable, str(HERE / "dbos_peer.py"), "throughput", str(n)], capture_output=True,
                         text=True, timeout=900)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])["rate"] if lines else None


if __name__ == "__main__":
    normal = run_wf("normal", N)
    full = run_wf("full", N)
    peer = run_dbos(N_PEER)
    report("throughput", workflows=N, normal_per_s=round(normal), full_per_s=round(full),
           dbos_sqlite_per_s=None if peer is None else round(peer, 1),
           full_vs_dbos=None if not peer else round(full / peer, 1),
           targets={"normal_per_s": 2000, "full_vs_dbos": 15})
