"""4. Latency: schedule to completed for a one-activity workflow on an idle runtime, in the same
process and from a second process (the worker runs in a subprocess); and the same on Temporal's dev
server (temporal_peer.py, its worker in the client's process) in the same run, when installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import conditions, fresh_db, peer_versions, percentile, report

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
    temporal = None
    try:
        import temporalio  # noqa: F401

        out = subprocess.run([sys.executable, str(HERE / "temporal_peer.py"), "latency", str(min(N, 200))],
                             capture_output=True, text=True, timeout=900, cwd=HERE)
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        temporal = json.loads(lines[-1]) if lines else None
    except ImportError:
        pass
    p50 = percentile(same, 50)
    report("latency", runs=N, same_process_p50_ms=round(percentile(same, 50), 2),
           same_process_p99_ms=round(percentile(same, 99), 2), second_process_p50_ms=round(percentile(other, 50), 2),
           second_process_p99_ms=round(percentile(other, 99), 2),
           temporal_p50_ms=temporal and round(temporal["p50_ms"], 1), temporal_p99_ms=temporal and round(temporal["p99_ms"], 1),
           temporal_p50_over_wf=temporal and round(temporal["p50_ms"] / p50, 1),
           temporal_sdk_errors=temporal and temporal["sdk_errors"],
           peers=peer_versions(), conditions=conditions(),
           targets={"same_process_p50_ms": 2, "second_process_p50_ms": 50})
