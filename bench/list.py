"""`wf list` over N instances (default 1,000,000; the store is cli.py's cached one): for every
format, the time to the first row and the process's peak RSS over every row (off a terminal, where
all rows are written), and `wf list` at a pseudo-terminal (the newest 50 and the footer).

    python bench/list.py [N] [--src DIR] [--formats short,wide,...]

--src runs the wf found in DIR (a checkout's src/) instead of the installed one, so two versions
can be measured in the same run.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

from cli import wf_store  # the cached store of N finished instances
from common import report

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
N = int(ARGS[0]) if ARGS else 1_000_000
SRC = sys.argv[sys.argv.index("--src") + 1] if "--src" in sys.argv else None
FORMATS = (sys.argv[sys.argv.index("--formats") + 1].split(",") if "--formats" in sys.argv
           else ["short", "wide", "json", "jsonl", "yaml", "ids"])
ENTRY = "from wf.cli import main; main()"


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WF_")}
    if SRC:
        env["PYTHONPATH"] = SRC
    return env


def first_row_marker(fmt: str) -> int:
    """Lines before the first row: a table's header, json's opening bracket."""
    return 1 if fmt in ("short", "wide") else 0


def piped(db: str, fmt: str) -> dict[str, float]:
    """Every row through a pipe: seconds to the first row, in all, peak RSS (MB), rows."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", ENTRY, "--db", db, "list", "-o", fmt], env=environment(),
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    skip = first_row_marker(fmt)
    first = None
    lines = 0
    for _ in proc.stdout:
        lines += 1
        if first is None and lines > skip:
            first = time.perf_counter() - t
    _, status, usage = os.wait4(proc.pid, 0)
    assert status == 0, f"wf list -o {fmt} exited {status}"
    return {"first_row_ms": round((first or 0) * 1000, 1), "all_s": round(time.perf_counter() - t, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "lines": lines}


def at_a_terminal(db: str) -> dict[str, float]:
    """`wf list` on a pseudo-terminal: ms to the first row, to the footer, peak RSS."""
    master, slave = pty.openpty()
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", ENTRY, "--db", db, "list"], env=environment(),
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    buf = b""
    first = None
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        buf += chunk
        if first is None and buf.count(b"\n") >= 2:
            first = time.perf_counter() - t
    _, status, usage = os.wait4(proc.pid, 0)
    os.close(master)
    return {"first_row_ms": round((first or 0) * 1000, 1), "all_ms": round((time.perf_counter() - t) * 1000, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "lines": buf.count(b"\n")}


if __name__ == "__main__":
    db = str(wf_store(N))
    figures: dict[str, object] = {"instances": N, "src": SRC or "installed", "terminal": at_a_terminal(db)}
    for fmt in FORMATS:
        figures[fmt] = piped(db, fmt)
    figures["targets"] = {"terminal_first_row_ms": 200, "peak_rss_mb": 80}
    report("list", **figures)
