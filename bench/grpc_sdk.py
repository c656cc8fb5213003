"""gRPC: N workflows of three chained activities run by a Dapr SDK worker (dapr.ext.workflow, a
separate process) against `wf serve --grpc-port`, beside the in-process runtime on the same
machine in the same run. Workflows per second from the first start to the last completion.

    python bench/grpc_sdk.py [N]
    python bench/grpc_sdk.py N --baseline-src DIR [--rounds R] [--steps S]

With --baseline-src, the gRPC figure is taken R times (default 2) for the server of this checkout
and, alternately, for a server importing wf from DIR (another checkout's src/, e.g. main's before a
change): server CPU seconds per 1000 workflows compare two versions under the same load (CPU
time is robust to what else runs on the machine; wall clock is not).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import Timer, fresh_db, report

N = int(sys.argv[1]) if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else 2000
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_grpc(n: int, server_src: str | None = None, steps: int = 3) -> dict[str, float]:
    """Workflows/s with a Dapr SDK worker against wf serve, and where the CPU went; server_src: the
    server imports wf from there instead of this checkout."""
    from dapr.ext.workflow import DaprWorkflowClient

    db, port, grpc_port = fresh_db(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WF_", "DAPR_"))}
    log = Path(db).with_suffix(".log")
    wf_exe = shutil.which("wf", path=str(BIN)) or "wf"
    server_env = {**env, "PYTHONPATH": server_src} if server_src else env
    with open(log, "wb") as fh:
        server = subprocess.Popen([wf_exe, "--db", db, "serve", "--port", str(port), "--grpc-port", str(grpc_port)],
                                  env=server_env, stdout=fh, stderr=subprocess.STDOUT)
    worker_log = Path(db).with_suffix(".worker.log")
    worker = None
    try:
        wait_for(lambda: b"listening" in log.read_bytes(), 30, "wf serve")
        with open(worker_log, "wb") as fh:
            worker = subprocess.Popen([sys.executable, str(HERE / "dapr_worker.py")], stdout=fh,
                                      stderr=subprocess.STDOUT,
                                      env={**env, "DAPR_GRPC_PORT": str(grpc_port), "DAPR_HTTP_PORT": str(port)})
        wait_for(lambda: b"ready" in worker_log.read_bytes(), 60, "the Dapr SDK worker")
        client = DaprWorkflowClient(host="127.0.0.1", port=str(grpc_port))
        cpu0 = {"server": cpu_seconds(server.pid), "worker": cpu_seconds(worker.pid),
                "client": time.process_time()}
        with Timer() as t:
            with Timer() as scheduling:
                with ThreadPoolExecutor(8) as pool:
                    ids = list(pool.map(lambda i: client.schedule_new_workflow(
                        "three_steps", input=i) if steps == 3 else client.schedule_new_workflow(
                        "chain", input={"x": i, "steps": steps}), range(n)))
            with ThreadPoolExecutor(8) as pool:
                states = list(pool.map(lambda iid: client.wait_for_workflow_completion(iid, timeout_in_seconds=600),
                                       ids))
        bad = [s for s in states if s is None or s.runtime_status.name != "COMPLETED"]
        if bad:
            raise SystemExit(f"{len(bad)} workflows did not complete")
        cpu = {"server": cpu_seconds(server.pid), "worker": cpu_seconds(worker.pid), "client": time.process_time()}
        return {"rate": n / t.elapsed, "elapsed": t.elapsed, "scheduling": scheduling.elapsed,
                **{f"cpu_{k}": cpu[k] - cpu0[k] for k in cpu}}
    finally:
        for p in (worker, server):
            if p is not None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()


def compare(n: int, baseline_src: str, rounds: int, steps: int) -> None:
    """Alternate baseline and current servers; server CPU per 1000 workflows of each."""
    runs: dict[str, list[dict[str, float]]] = {"baseline": [], "current": []}
    for _ in range(rounds):
        runs["baseline"].append(run_grpc(n, baseline_src, steps))
        runs["current"].append(run_grpc(n, steps=steps))

    def per_1000(kind: str, key: str) -> list[float]:
        return [round(r[key] * 1000 / n, 2) for r in runs[kind]]

    report("grpc_sdk_compare", workflows=n, steps=steps, baseline_src=baseline_src,
           **{f"{kind}_{what}": per_1000(kind, f"cpu_{what}") for kind in runs for what in ("server", "worker")},
           **{f"{kind}_per_s": [round(r["rate"]) for r in runs[kind]] for kind in runs})


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=2000)
    parser.add_argument("--baseline-src")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="chained activities per workflow (with --baseline-src)")
    args = parser.parse_args()
    N = args.n
    if args.baseline_src:
        compare(N, args.baseline_src, args.rounds, args.steps)
        raise SystemExit(0)
    from throughput import run_wf  # (it reads sys.argv when imported)

    in_process = run_wf("normal", N)
    g = run_grpc(N)
    report("grpc_sdk", workflows=N, grpc_per_s=round(g["rate"]), in_process_per_s=round(in_process),
           grpc_elapsed_s=round(g["elapsed"], 2), grpc_scheduling_s=round(g["scheduling"], 2),
           cpu_s={k.removeprefix("cpu_"): round(v, 2) for k, v in g.items() if k.startswith("cpu_")},
           targets={"grpc_per_s": 300})
