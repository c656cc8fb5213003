"""5. CLI: wall time of `wf --version`, `wf get ID -o json` and `wf list --limit 10 -o json` on a
store of 1,000,000 finished instances, next to `dbos workflow list` on a DBOS store of as many
workflows; and `wf list -o jsonl` over every row, with its peak RSS.

    python bench/cli.py [N]     (stores are cached under $WF_BENCH_DIR, default /tmp/wf-bench)
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import report
from populate import populate

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
DIR = Path(os.environ.get("WF_BENCH_DIR", "/tmp/wf-bench"))
BIN = Path(sys.executable).parent
RUNS = 10


def wf_store() -> Path:
    path = DIR / f"wf-{N}.db"
    if not path.exists():
        DIR.mkdir(parents=True, exist_ok=True)
        populate(str(path) + ".tmp", N)
        os.rename(str(path) + ".tmp", path)
    return path


def dbos_store() -> Path | None:
    """A DBOS SQLite system database holding N finished workflows: one real run, copied N times."""
    if shutil.which("dbos", path=str(BIN)) is None:
        return None
    path = DIR / f"dbos-{N}.sqlite"
    if path.exists():
        return path
    tmp = Path(str(path) + ".tmp")
    tmp.unlink(missing_ok=True)
    subprocess.run([sys.executable, str(Path(__file__).resolve().parent / "dbos_peer.py"), "seed", str(tmp)],
                   check=True, capture_output=True)
    conn = sqlite3.connect(tmp)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(workflow_status)")]
    template = dict(zip(cols, conn.execute("SELECT * FROM workflow_status").fetchone()))
    key = "workflow_uuid" if "workflow_uuid" in cols else "workflow_id"
    base = template["created_at"]
    conn.execute("BEGIN")

    def row(i: int) -> list:
        values = dict(template, **{key: f"bench-{i:08d}", "created_at": base - (N - i), "updated_at": base - (N - i)})
        return [values[c] for c in cols]

    conn.executemany(f"INSERT INTO workflow_status ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                     (row(i) for i in range(N - 1)))
    conn.commit()
    conn.close()
    os.rename(tmp, path)
    return path


def wall_ms(argv: list[str], env: dict[str, str]) -> float:
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 1)


def jsonl_all(db: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Seconds and peak RSS (MB) of `wf list -o jsonl` over every row, and the rows it printed."""
    t = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "wf"), "--db", str(db), "list", "-o", "jsonl"], env=env,
                            stdout=subprocess.PIPE)
    rows = sum(1 for _ in proc.stdout)  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    return round(time.perf_counter() - t, 1), round(usage.ru_maxrss / 1024, 1), rows


if __name__ == "__main__":
    env = {k: v for k, v in os.environ.items() if not k.startswith("WF_")}
    db = wf_store()
    wf = str(BIN / "wf")
    figures = {
        "instances": N,
        "version_ms": wall_ms([wf, "--version"], env),
        "get_json_ms": wall_ms([wf, "--db", str(db), "get", f"bench-{N // 2:08d}", "-o", "json"], env),
        "list_10_json_ms": wall_ms([wf, "--db", str(db), "list", "--limit", "10", "-o", "json"], env),
    }
    peer = dbos_store()
    if peer is not None:
        figures["dbos_list_ms"] = wall_ms([str(BIN / "dbos"), "workflow", "list", "-s", f"sqlite:///{peer}"], env)
        figures["dbos_over_wf_list"] = round(figures["dbos_list_ms"] / figures["list_10_json_ms"], 1)
    seconds, rss, rows = jsonl_all(db, env)
    assert rows == N, rows
    figures.update(jsonl_all_seconds=seconds, jsonl_all_peak_rss_mb=rss,
                   targets={"each_ms": 150, "dbos_over_wf_list": 5, "jsonl_peak_rss_mb": 80})
    report("cli", **figures)
