"""The second peer: the same workflows on Temporal's dev server (temporal_server.py, SQLite in WAL)
with the temporalio Python SDK and its defaults (workflow sandbox on), one worker in the client's
process. Run in its own process, like dbos_peer.py:

    python temporal_peer.py throughput N normal|full   prints {"rate": workflows per second}
    python temporal_peer.py latency N                  prints {"p50_ms": ..., "p99_ms": ...}
    python temporal_peer.py seed PATH N                PATH: a dev-server store of N finished
                                                       three_steps instances, ids bench-00000000...
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile
import time
import uuid

from temporalio.client import Client
from temporalio.worker import Worker

from common import percentile
from temporal_apps import OneStep, ThreeSteps, inc
from temporal_server import dev_server

QUEUE = "bench"


class Errors(logging.Handler):
    """Counts the SDK's warnings and errors (a failed workflow task is retried, and slows the run)."""

    count = 0

    def emit(self, record: logging.LogRecord) -> None:
        Errors.count += 1


logging.getLogger("temporalio").addHandler(Errors(logging.WARNING))


async def run_many(address: str, n: int, ids: list[str] | None = None) -> float:
    """Start n three_steps workflows at once and wait for all; seconds from the first start."""
    client = await Client.connect(address)
    async with Worker(client, task_queue=QUEUE, workflows=[ThreeSteps, OneStep], activities=[inc]):
        t0 = time.perf_counter()
        handles = []
        for first in range(0, n, 200):  # bounded bursts of start calls
            handles += await asyncio.gather(*(
                client.start_workflow(ThreeSteps.run, i, id=ids[i] if ids else f"t-{uuid.uuid4().hex}",
                                      task_queue=QUEUE)
                for i in range(first, min(n, first + 200))))
        waiting = asyncio.Semaphore(200)  # the server bounds concurrent long polls per namespace

        async def result(handle):
            async with waiting:
                return await handle.result()

        results = await asyncio.gather(*(result(h) for h in handles))
        elapsed = time.perf_counter() - t0
    assert results == [i + 3 for i in range(n)]
    return elapsed


async def latencies(address: str, n: int) -> list[float]:
    """Schedule to completed of a one-activity workflow, one at a time on an idle server."""
    client = await Client.connect(address)
    out = []
    async with Worker(client, task_queue=QUEUE, workflows=[ThreeSteps, OneStep], activities=[inc]):
        for i in range(n + 10):  # the first ten warm up
            t = time.perf_counter()
            await client.execute_workflow(OneStep.run, i, id=f"l-{uuid.uuid4().hex}", task_queue=QUEUE)
            if i >= 10:
                out.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.002)  # idle between runs, as latency.py does
    return out


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "throughput":
        n, durability = int(sys.argv[2]), sys.argv[3]
        with dev_server(f"{tempfile.mkdtemp(prefix='wf-bench-temporal-')}/temporal.sqlite", durability) as addr:
            seconds = asyncio.run(run_many(addr, n))
        print(json.dumps({"rate": n / seconds, "sdk_errors": Errors.count}))
    elif mode == "latency":
        n = int(sys.argv[2])
        with dev_server(f"{tempfile.mkdtemp(prefix='wf-bench-temporal-')}/temporal.sqlite") as addr:
            ms = asyncio.run(latencies(addr, n))
        print(json.dumps({"p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99), "sdk_errors": Errors.count}))
    elif mode == "seed":
        path, n = sys.argv[2], int(sys.argv[3])
        with dev_server(path) as addr:
            seconds = asyncio.run(run_many(addr, n, [f"bench-{i:08d}" for i in range(n)]))
        print(json.dumps({"seeded": n, "rate": n / seconds, "sdk_errors": Errors.count}))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
