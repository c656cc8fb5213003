"""7. Server: requests per second for GET state through `wf serve`, driven from another process
with 32 concurrent keep-alive connections for a few seconds: wrk when it is installed (Debian's
package `wrk`), else an httpx client in this process (which is then the bottleneck, and says so).

    python bench/server.py [SECONDS]
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from common import fresh_db, percentile, report

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
CONCURRENCY = 32
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def load(url: str) -> tuple[int, list[float]]:
    import httpx

    latencies: list[float] = []
    deadline = time.perf_counter() + SECONDS
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        async def one() -> None:
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                r = await client.get(url)
                r.raise_for_status()
                latencies.append((time.perf_counter() - t) * 1000)

        await asyncio.gather(*(one() for _ in range(CONCURRENCY)))
    return len(latencies), latencies


def load_with_wrk(url: str) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{SECONDS:g}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 2)

    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return {"requests": requests, "requests_per_s": round(requests / SECONDS), "p50_ms": ms("50%"),
            "p99_ms": ms("99%")}


if __name__ == "__main__":
    import wf

    db = fresh_db()
    wf.WorkflowClient(db).schedule_new_workflow("some_workflow", input={"n": 1}, instance_id="bench-1")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WF_")}
    server = subprocess.Popen([str(BIN / "wf"), "--db", db, "serve", "--port", str(port), "--grpc-port", "0"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import httpx

        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 15
        while True:
            try:
                httpx.get(f"{base}/v1.0/workflows/dapr/bench-1", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        url = f"{base}/v1.0/workflows/dapr/bench-1"
        if shutil.which("wrk"):
            tool, figures = "wrk", load_with_wrk(url)
        else:
            n, latencies = asyncio.run(load(url))
            tool, figures = "httpx", {"requests": n, "requests_per_s": round(n / SECONDS),
                                      "p50_ms": round(percentile(latencies, 50), 2),
                                      "p99_ms": round(percentile(latencies, 99), 2)}
    finally:
        server.terminate()
        server.wait(timeout=10)
    report("server", load_generator=tool, seconds=SECONDS, concurrency=CONCURRENCY, **figures)
