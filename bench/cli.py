"""5. CLI: wall time of each read command of the real `wf` executable next to the Temporal CLI's
equivalent, in the same run and interleaved (median of RUNS, with min and max):

    wf --version                        temporal --version
    wf get ID -o json                   temporal workflow describe -w ID -o json
    wf history ID -o json               temporal workflow show -w ID -o json
    wf count                            temporal workflow count
    wf list --limit 10 -o json          temporal workflow list --limit 10 -o json
    wf list -w NAME -s COMPLETED ...    temporal workflow list --query "WorkflowType=... AND ExecutionStatus=..."

wf runs on a store of N_STORE (1,000,000) finished instances and on one of N_PEER (5,000), the size
of Temporal's dev-server store (filled by real workflow runs, at tens per second, so a million is out
of reach); ratios are Temporal's time over wf's (above 1: wf is faster). Then the bulk purge on copies
of the N_PEER stores: `wf purge --all -y` against `temporal workflow delete --query ... --yes` (a
batch job; timed until `temporal workflow count` is 0). Also `dbos workflow list` on a DBOS store of
N_STORE workflows, and `wf list -o jsonl` over every row of the 1M store with its peak RSS.

    python bench/cli.py [N_STORE] [N_PEER]     (stores are cached under $WF_BENCH_DIR, default /tmp/wf-bench)

The package is byte-compiled first (`compileall`), as a wheel install does: a checkout run with
PYTHONDONTWRITEBYTECODE would otherwise recompile every module on every call.
"""

from __future__ import annotations

import compileall
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import conditions, peer_versions, report
from populate import populate

# Only the leading numbers: list.py imports this module with its own options after them.
_SIZES = [int(a) for a in sys.argv[1:3] if a.isdigit()]
N = _SIZES[0] if _SIZES else 1_000_000
N_PEER = _SIZES[1] if len(_SIZES) > 1 else 5_000
DIR = Path(os.environ.get("WF_BENCH_DIR", "/tmp/wf-bench"))
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
RUNS = int(os.environ.get("CLI_RUNS", "21"))


def wf_store(n: int) -> Path:
    path = DIR / f"wf-{n}.db"
    if not path.exists():
        DIR.mkdir(parents=True, exist_ok=True)
        populate(str(path) + ".tmp", n)
        os.rename(str(path) + ".tmp", path)
    return path


def temporal_store(n: int) -> Path | None:
    """A Temporal dev-server SQLite store holding n finished three_steps runs (ids bench-00000000...)."""
    try:
        import temporalio  # noqa: F401
    except ImportError:
        return None
    path = DIR / f"temporal-{n}.sqlite"
    if not path.exists():
        DIR.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="wf-bench-seed-")) / "temporal.sqlite"
        subprocess.run([sys.executable, str(HERE / "temporal_peer.py"), "seed", str(tmp), str(n)], check=True,
                       cwd=HERE, stdout=subprocess.DEVNULL)
        checkpoint(tmp)
        shutil.copy(tmp, str(path) + ".tmp")
        os.rename(str(path) + ".tmp", path)
    return path


def checkpoint(path: Path) -> None:
    """Fold the WAL into the file, so that one file is the whole store (cached, copied)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def dbos_store() -> Path | None:
    """A DBOS SQLite system database holding N finished workflows: one real run, copied N times."""
    if shutil.which("dbos", path=str(BIN)) is None:
        return None
    path = DIR / f"dbos-{N}.sqlite"
    if path.exists():
        return path
    tmp = Path(str(path) + ".tmp")
    tmp.unlink(missing_ok=True)
    subprocess.run([sys.executable, str(HERE / "dbos_peer.py"), "seed", str(tmp)],
                   check=True, capture_output=True)
    conn = sqlite3.connect(tmp)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(workflow_status)")]
    template = dict(zip(cols, conn.execute("SELECT * FROM workflow_status").fetchone(), strict=True))
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


def once_ms(argv: list[str], env: dict[str, str]) -> float:
    return timed(argv, env)[0]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system, every thread) milliseconds of one call. On this shared machine
    the CPU time moves less with the other tenants' load than the wall time does."""
    t = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - t) * 1000
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {os.waitstatus_to_exitcode(status)}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


def summary(times: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(times), 1), "min": round(min(times), 1), "max": round(max(times), 1)}


def pairs(db_big: Path, db_same: Path, address: str | None, env: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    """name -> {"wf_1m": argv, "wf": argv (same size as Temporal's), "temporal": argv}."""
    wf = str(BIN / "wf")
    iid_big, iid_same = f"bench-{N // 2:08d}", f"bench-{N_PEER // 2:08d}"
    wf_args = {
        "version": (["--version"], ["--version"]),
        "get": (["get", iid_big, "-o", "json"], ["get", iid_same, "-o", "json"]),
        "history": (["history", iid_big, "-o", "json"], ["history", iid_same, "-o", "json"]),
        "count": (["count"], ["count"]),
        "list_10": (["list", "--limit", "10", "-o", "json"],) * 2,
        "list_filtered": (["list", "-w", "three_steps", "-s", "COMPLETED", "--limit", "10", "-o", "json"],) * 2,
    }
    out = {}
    for name, (big, same) in wf_args.items():
        argvs = {"wf_1m": [wf, *([] if name == "version" else ["--db", str(db_big)]), *big],
                 "wf": [wf, *([] if name == "version" else ["--db", str(db_same)]), *same]}
        out[name] = argvs
    if address is not None:
        t = shutil.which("temporal", path=str(BIN))
        a = ["--address", address]
        out["version"]["temporal"] = [t, "--version"]
        out["get"]["temporal"] = [t, "workflow", "describe", "-w", iid_same, "-o", "json", *a]
        out["history"]["temporal"] = [t, "workflow", "show", "-w", iid_same, "-o", "json", *a]
        out["count"]["temporal"] = [t, "workflow", "count", *a]
        out["list_10"]["temporal"] = [t, "workflow", "list", "--limit", "10", "-o", "json", *a]
        out["list_filtered"]["temporal"] = [
            t, "workflow", "list", "--query", "WorkflowType='three_steps' AND ExecutionStatus='Completed'",
            "--limit", "10", "-o", "json", *a]
    return out


def measure_pairs(commands: dict[str, dict[str, list[str]]], env: dict[str, str]) -> dict:
    times: dict[str, dict[str, list[float]]] = {name: {side: [] for side in argvs} for name, argvs in commands.items()}
    cpu: dict[str, dict[str, list[float]]] = {name: {side: [] for side in argvs} for name, argvs in commands.items()}
    for argvs in commands.values():  # one untimed call each: page cache, connection set-up
        for argv in argvs.values():
            once_ms(argv, env)
    for _ in range(RUNS):  # interleaved: wf and Temporal take turns, so the machine's load hits both
        for name, argvs in commands.items():
            for side, argv in argvs.items():
                wall, used = timed(argv, env)
                times[name][side].append(wall)
                cpu[name][side].append(used)
    out = {}
    for name, sides in times.items():
        row: dict = {f"{side}_ms": summary(values) for side, values in sides.items()}
        row["cpu_ms"] = {side: round(statistics.median(values), 1) for side, values in cpu[name].items()}
        if "temporal" in sides:
            t = statistics.median(sides["temporal"])
            row["temporal_over_wf"] = round(t / statistics.median(sides["wf"]), 2)
            row["temporal_over_wf_1m"] = round(t / statistics.median(sides["wf_1m"]), 2)
        out[name] = row
    return out


def bulk_purge(db_same: Path, temporal_db: Path | None, env: dict[str, str]) -> dict:
    """Seconds to purge every finished instance of the N_PEER stores (copies)."""
    work = Path(tempfile.mkdtemp(prefix="wf-bench-purge-"))
    wf_copy = work / "wf.db"
    shutil.copy(db_same, wf_copy)
    t = time.perf_counter()
    subprocess.run([str(BIN / "wf"), "--db", str(wf_copy), "purge", "--all", "-y"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    out: dict = {"instances": N_PEER, "wf_s": round(time.perf_counter() - t, 2)}
    if temporal_db is not None:
        from temporal_server import dev_server

        t_copy = work / "temporal.sqlite"
        shutil.copy(temporal_db, t_copy)
        exe = shutil.which("temporal", path=str(BIN))
        with dev_server(t_copy) as address:
            a = ["--address", address]
            t = time.perf_counter()
            subprocess.run([exe, "workflow", "delete", "--query", "ExecutionStatus='Completed'", "--yes",
                            "--reason", "bench", *a], check=True, stdout=subprocess.DEVNULL, env=env)
            deadline = time.monotonic() + 1800
            while True:
                left = subprocess.run([exe, "workflow", "count", "-o", "json", *a], capture_output=True, text=True,
                                      env=env)
                if left.returncode == 0 and json.loads(left.stdout).get("count", "0") in (0, "0"):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("Temporal's batch delete did not finish in 30 minutes")
                time.sleep(0.5)
            out["temporal_s"] = round(time.perf_counter() - t, 2)
        out["temporal_over_wf"] = round(out["temporal_s"] / max(out["wf_s"], 1e-3), 1)
    shutil.rmtree(work, ignore_errors=True)
    return out


def jsonl_all(db: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Seconds and peak RSS (MB) of `wf list -o jsonl` over every row, and the rows it printed."""
    t = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "wf"), "--db", str(db), "list", "-o", "jsonl"], env=env,
                            stdout=subprocess.PIPE)
    rows = sum(1 for _ in proc.stdout)  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    return round(time.perf_counter() - t, 1), round(usage.ru_maxrss / 1024, 1), rows


if __name__ == "__main__":
    compileall.compile_dir(str(HERE.parent / "src" / "wf"), quiet=1, force=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WF_", "TEMPORAL_"))}
    before = conditions()
    db_big, db_same = wf_store(N), wf_store(N_PEER)
    t_store = temporal_store(N_PEER)
    figures: dict = {"instances": N, "same_size_instances": N_PEER, "runs": RUNS}
    if t_store is not None:
        from temporal_server import dev_server

        work = Path(tempfile.mkdtemp(prefix="wf-bench-cli-"))
        shutil.copy(t_store, work / "temporal.sqlite")  # reads only, but the server writes as it starts
        with dev_server(work / "temporal.sqlite") as address:
            figures["commands"] = measure_pairs(pairs(db_big, db_same, address, env), env)
        shutil.rmtree(work, ignore_errors=True)
    else:
        figures["commands"] = measure_pairs(pairs(db_big, db_same, None, env), env)
    figures["bulk_purge"] = bulk_purge(db_same, t_store, env)
    peer = dbos_store()
    if peer is not None:
        dbos = [once_ms([str(BIN / "dbos"), "workflow", "list", "-s", f"sqlite:///{peer}"], env) for _ in range(5)]
        figures["dbos_list_ms"] = summary(dbos)
        figures["dbos_over_wf_list"] = round(statistics.median(dbos) /
                                             figures["commands"]["list_10"]["wf_1m_ms"]["median"], 1)
    seconds, rss, rows = jsonl_all(db_big, env)
    assert rows == N, rows
    figures.update(jsonl_all_seconds=seconds, jsonl_all_peak_rss_mb=rss, peers=peer_versions(),
                   conditions={"before": before, "after": conditions()},
                   targets={"temporal_over_wf": 1.0, "dbos_over_wf_list": 5, "jsonl_peak_rss_mb": 80})
    report("cli", **figures)
