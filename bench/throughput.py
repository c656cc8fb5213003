"""1. Throughput: N workflows of three chained activities (N = 500 and 2,000), runtime in-process,
durability normal and full, five runs each (median, min, max), interleaved with the peers in the
same run: DBOS Transact on SQLite and Temporal's dev server (SQLite, WAL; synchronous NORMAL for
"normal", FULL for "full"), each when installed (the bench extra). Then whether two worker
processes on one store beat one: the same N = 2,000 with the workers out of process. Beside each
wall-clock rate of wf, its rate per CPU second of the process (all threads).

    python bench/throughput.py [SIZES] [RUNS]      (default 500,2000 and 5)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import Timer, conditions, fresh_db, peer_versions, report

SIZES = [int(n) for n in (sys.argv[1] if len(sys.argv) > 1 else "500,2000").split(",")]
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
HERE = Path(__file__).resolve().parent


CPU_RATES: dict[str, list[float]] = {}  # workflows per CPU second of this process, per durability


def run_wf(durability: str, n: int) -> float:
    import wf
    from apps import three_steps, wfr

    db = fresh_db()
    client = wf.WorkflowClient(db)
    runtime = wf.WorkflowRuntime(db, durability=durability)
    runtime.workflows, runtime.activities = wfr.workflows, wfr.activities
    cpu = time.process_time()
    with Timer() as t:
        runtime.start()
        ids = [client.schedule_new_workflow(three_steps, input=i) for i in range(n)]
        for iid in ids:
            client.wait_for_workflow_completion(iid, timeout_in_seconds=600)
    # What the run cost in CPU (every thread): on a machine shared with others, the wall-clock rate
    # also counts the time this process waited for a core.
    CPU_RATES.setdefault(durability, []).append(n / (time.process_time() - cpu))
    runtime.shutdown()
    return n / t.elapsed


def run_wf_processes(processes: int, n: int) -> float:
    """n workflows scheduled from here, run by `processes` worker processes on one store."""
    import wf
    from apps import one_step, three_steps

    db = fresh_db()
    client = wf.WorkflowClient(db)
    env = dict(os.environ, WF_DB=db, PYTHONPATH=f"{HERE}:{HERE.parent / 'src'}")
    workers = [subprocess.Popen([sys.executable, "-c", "import apps, signal; apps.wfr.start(); signal.pause()"],
                                cwd=HERE, env=env) for _ in range(processes)]
    try:
        warm = [client.schedule_new_workflow(one_step, input=i) for i in range(4 * processes)]
        for iid in warm:  # every worker is up
            client.wait_for_workflow_completion(iid, timeout_in_seconds=120)
        with Timer() as t:
            ids = [client.schedule_new_workflow(three_steps, input=i) for i in range(n)]
            for iid in ids:
                client.wait_for_workflow_completion(iid, timeout_in_seconds=600)
    finally:
        for w in workers:
            w.kill()
            w.wait()
    return n / t.elapsed


PEER_ERRORS: dict[str, int] = {}  # Temporal SDK warnings/errors per run (retried workflow tasks)


def run_peer(script: str, *args: str) -> float | None:
    """A peer's rate from its own process; None when it is not installed or failed."""
    module = {"dbos_peer.py": "dbos", "temporal_peer.py": "temporalio"}[script]
    try:
        __import__(module)
    except ImportError:
        return None
    out = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True, timeout=1800,
                         cwd=HERE)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        print(f"{script} {' '.join(args)} failed: {out.stderr[-500:]}", file=sys.stderr)
        return None
    figures = json.loads(lines[-1])
    if "sdk_errors" in figures:
        PEER_ERRORS[" ".join(args)] = figures["sdk_errors"]
    return figures["rate"]


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values)), "min": round(min(values)), "max": round(max(values))}


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 1) if a and b else None


if __name__ == "__main__":
    before = conditions()
    sizes = {}
    for n in SIZES:
        CPU_RATES.clear()
        normal: list[float] = []
        full: list[float] = []
        # The peers run between wf's rounds, so a change in the machine's load hits both sides.
        peers = [("dbos", "dbos_peer.py", "throughput", str(n)),
                 ("temporal_normal", "temporal_peer.py", "throughput", str(n), "normal"),
                 ("temporal_full", "temporal_peer.py", "throughput", str(n), "full")]
        peer: dict[str, float | None] = {}
        for i in range(max(RUNS, len(peers))):
            if i < RUNS:
                normal.append(run_wf("normal", n))
                full.append(run_wf("full", n))
            if i < len(peers):
                key, script, *args = peers[i]
                peer[key] = run_peer(script, *args)
        wf_full = statistics.median(full)
        sizes[str(n)] = {
            "wf_normal_per_s": spread(normal), "wf_full_per_s": spread(full),
            "wf_normal_per_cpu_s": spread(CPU_RATES["normal"]), "wf_full_per_cpu_s": spread(CPU_RATES["full"]),
            "dbos_sqlite_per_s": peer.get("dbos") and round(peer["dbos"], 1),
            "temporal_normal_per_s": peer.get("temporal_normal") and round(peer["temporal_normal"], 1),
            "temporal_full_per_s": peer.get("temporal_full") and round(peer["temporal_full"], 1),
            "full_vs_dbos": ratio(wf_full, peer.get("dbos")),
            "full_vs_temporal_full": ratio(wf_full, peer.get("temporal_full")),
            "normal_vs_temporal_normal": ratio(statistics.median(normal), peer.get("temporal_normal")),
        }
    n = max(SIZES)
    one, two = [], []
    for _ in range(3):
        one.append(run_wf_processes(1, n))
        two.append(run_wf_processes(2, n))
    report("throughput", runs=RUNS, sizes=sizes,
           worker_processes={"workflows": n, "one_per_s": spread(one), "two_per_s": spread(two),
                             "two_over_one": round(statistics.median(two) / statistics.median(one), 2)},
           temporal_sdk_errors=PEER_ERRORS, peers=peer_versions(), conditions={"before": before, "after": conditions()},
           targets={"normal_per_s": 2000, "full_vs_dbos": 25, "full_vs_temporal_full": 50})
