"""The gRPC engine (`--url grpc://`): wall time of `wf list --limit 10 -o json`, `wf list -o jsonl`
over every instance (time and peak RSS of the wf process), and `wf purge --all` of finished
instances (instances/s), each against

- `wf serve --grpc-port` on a store of N finished instances (the real server), and
- the test suite's stand-in Dapr sidecar (tests/backends/sidecar_standin.py) holding N instances
  in memory, which shows the client's own cost when the server answers at once.

    python bench/grpc_client.py [N] [N_PURGE]     (defaults 100000 and 10000)
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import report
from populate import populate

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
N_PURGE = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
ROOT = Path(__file__).resolve().parent.parent
WF = shutil.which("wf", path=str(Path(sys.executable).parent)) or "wf"
RUNS = 7
TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("server did not come up")


def standin(count: int) -> tuple[subprocess.Popen, str, str | None]:
    tmp = tempfile.mkdtemp(prefix="wf-bench-grpc-")
    port_file = os.path.join(tmp, "port")
    code = (f"import sys; sys.path[:0] = [{str(ROOT / 'tests' / 'backends')!r}, {str(ROOT / 'src')!r}]\n"
            f"from sidecar_standin import serve_forever; serve_forever({port_file!r}, {count}, {TOKEN!r})\n")
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 600
    while not os.path.exists(port_file) or not open(port_file).read().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the stand-in did not come up")
        time.sleep(0.1)
    port = int(open(port_file).read())
    wait_port(port, proc)
    return proc, f"grpc://127.0.0.1:{port}", None


def wf_serve(count: int) -> tuple[subprocess.Popen, str, str | None]:
    db = os.path.join(tempfile.mkdtemp(prefix="wf-bench-grpc-"), "serve.db")
    populate(db, count)
    grpc_port = free_port()
    env = {**os.environ, "WF_API_TOKEN": TOKEN}
    proc = subprocess.Popen([WF, "--db", db, "serve", "--port", "0", "--grpc-port", str(grpc_port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(grpc_port, proc)
    return proc, f"grpc://127.0.0.1:{grpc_port}", db


def wf(url: str, *args: str, db: str | None = None) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "WF_URL": url, "WF_API_TOKEN": TOKEN} if db is None else {**os.environ, "WF_DB": db}
    t = time.perf_counter()
    r = subprocess.run([WF, *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"wf {' '.join(args)} failed: {r.stderr}")
    return elapsed, r


def jsonl_run(url: str) -> tuple[float, float, int]:
    """wf list -o jsonl | wc -l, with the wf process's own peak RSS (from wait4)."""
    env = {**os.environ, "WF_URL": url, "WF_API_TOKEN": TOKEN}
    t = time.perf_counter()
    proc = subprocess.Popen([WF, "list", "-o", "jsonl"], env=env, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    lines = sum(1 for _ in proc.stdout)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t
    if status != 0:
        raise SystemExit("wf list -o jsonl failed")
    return elapsed, round(usage.ru_maxrss / 1024, 1), lines


def measure(engine: str, start) -> None:
    proc, url, db = start(N)
    try:
        wf(url, "list", "--limit", "10", "-o", "json")  # warm the page cache
        times, local = [], []
        for _ in range(RUNS):  # interleaved with the local engine on the same store: the same load
            times.append(wf(url, "list", "--limit", "10", "-o", "json")[0])
            if db is not None:
                local.append(wf(url, "list", "--limit", "10", "-o", "json", db=db)[0])
        elapsed, rss, lines = jsonl_run(url)
        assert lines == N, (lines, N)
        same_store = {"local_same_store_ms": round(statistics.median(local) * 1000, 1)} if local else {}
        report("grpc_list", engine=engine, instances=N, list_limit10_ms=round(statistics.median(times) * 1000, 1),
               list_limit10_min_ms=round(min(times) * 1000, 1), **same_store, jsonl_all_s=round(elapsed, 1),
               jsonl_per_s=round(N / elapsed), jsonl_peak_rss_mb=rss, target_limit10_ms=300, target_rss_mb=80)
    finally:
        proc.terminate()
        proc.wait()
    proc, url, _ = start(N_PURGE)
    try:
        elapsed, r = wf(url, "purge", "--all", "-y")
        report("grpc_bulk_purge", engine=engine, instances=N_PURGE, seconds=round(elapsed, 2),
               per_s=round(N_PURGE / elapsed), target_per_s=1000, said=r.stdout.strip())
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    measure("stand-in sidecar", standin)
    measure("wf serve --grpc-port", wf_serve)
