"""What the metrics hooks cost the engine's hot path: throughput.py's in-process run (N workflows
of three chained activities, durability normal) with metrics off and on, interleaved in one run,
each in a fresh process; and, given another source tree (the code before the hooks, e.g. main's:
`git archive main src | tar -x -C /tmp/before`), that code too. The figure that counts is
workflows per CPU second of the process (all threads): on a machine shared with others, the
wall-clock rate also counts the time spent waiting for a core.

    python bench/metrics.py [N] [RUNS] [BEFORE_SRC]      (default 2000, 5, none)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def one(n: int, src: str, metrics_on: bool) -> dict:
    """In a child process: one run of throughput.run_wf on the code at src."""
    sys.argv = [sys.argv[0]]  # throughput.py reads its sizes from argv at import
    sys.path.insert(0, str(HERE))
    import common  # noqa: F401 - puts this checkout's src first; the tree measured goes before it

    sys.path.insert(0, src)
    import throughput

    import wf

    assert Path(wf.__file__).resolve().is_relative_to(Path(src).resolve()), wf.__file__
    if metrics_on:
        from wf.engine import metrics

        metrics.enable()
    wall = throughput.run_wf("normal", n)
    return {"wall_per_s": wall, "per_cpu_s": throughput.CPU_RATES["normal"][-1]}


def spawn(n: int, src: str, metrics_on: bool) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", str(n), src, "on" if metrics_on else "off"],
                         capture_output=True, text=True, timeout=1800, cwd=HERE)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"a run failed: {out.stderr[-2000:]}")
    return json.loads(lines[-1])


def main() -> None:
    from common import conditions, report

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    before = sys.argv[3] if len(sys.argv) > 3 else None
    here = str(HERE.parent / "src")
    variants = {"metrics_off": (here, False), "metrics_on": (here, True)}
    if before:
        variants = {"before": (os.path.abspath(before), False), **variants}
    figures: dict[str, list[dict]] = {k: [] for k in variants}
    start = conditions()
    for _ in range(runs):  # interleaved: a change in the machine's load hits every variant alike
        for name, (src, on) in variants.items():
            figures[name].append(spawn(n, src, on))

    def median(name: str, key: str) -> float:
        return round(statistics.median(f[key] for f in figures[name]), 1)

    result = {name: {"per_cpu_s": median(name, "per_cpu_s"), "wall_per_s": median(name, "wall_per_s"),
                     "per_cpu_s_all": [round(f["per_cpu_s"]) for f in figures[name]]} for name in variants}
    base = result["before" if before else "metrics_off"]["per_cpu_s"]
    report("metrics_overhead", workflows=n, runs=runs, variants=result,
           on_vs_base_per_cpu=round(result["metrics_on"]["per_cpu_s"] / base, 3),
           off_vs_base_per_cpu=round(result["metrics_off"]["per_cpu_s"] / base, 3),
           conditions={"before": start, "after": conditions()})


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        print(json.dumps(one(int(sys.argv[2]), sys.argv[3], sys.argv[4] == "on")), flush=True)
    else:
        main()
