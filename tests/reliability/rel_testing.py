"""Helpers of the reliability and security suites (a uniquely named module: tests/cli has its own).

Real `wf` processes on a temp store, polling against deadlines (no bare sleeps for correctness),
and a digest of what a refused command must leave unchanged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from wf_testing import SCRUBBED_ENV

HERE = Path(__file__).resolve().parent
APP = HERE / "crash_app.py"
APP_SPEC = f"{APP}:wfr"
WF_EXE = shutil.which("wf", path=os.path.dirname(sys.executable)) or shutil.which("wf")



def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "", interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def wf_env(db: str | None, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["XDG_CONFIG_HOME"] = str(home / "config")
    env["XDG_DATA_HOME"] = str(home / "data")
    if db is not None:
        env["WF_DB"] = db
    env.update(extra)
    return env


def run_wf(env: dict[str, str], *args: str, timeout: float = 30, input: str | None = None):
    assert WF_EXE, "the wf console script is not installed in the venv"
    return subprocess.run([WF_EXE, *args], capture_output=True, text=True, timeout=timeout, input=input, env=env)


def start_worker(env: dict[str, str], app_spec: str = APP_SPEC, *extra: str, log: Path | None = None) -> subprocess.Popen:
    """`wf worker --app ...`; its stderr goes to `log` (appended) so a killed worker leaves no pipe to drain."""
    err = open(log, "ab") if log is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen([WF_EXE, *extra, "worker", "--app", app_spec], env=env,
                                stdout=err, stderr=err)
    finally:
        if log is not None:
            err.close()


def wait_ready(db: str, p: subprocess.Popen, timeout: float = 20) -> None:
    """Until the worker process has registered its lease (its signal handlers are in place by then)."""
    def registered() -> bool:
        try:
            return any(r[0] == p.pid for r in query(db, "SELECT pid FROM workers"))
        except sqlite3.OperationalError:  # no file or no schema yet
            return False

    wait_until(lambda: p.poll() is not None or registered(), timeout, what=f"worker {p.pid} registered")
    assert p.poll() is None, f"worker {p.pid} exited {p.returncode} while starting"


def stop(p: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.returncode


def query(db: str, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=rw", uri=True, timeout=30)  # never creates the file
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def store_digest(db: str) -> str:
    """A digest of the instances and history tables (or of the file's bytes when it is no database)."""
    if not os.path.exists(db):
        return "absent"
    h = hashlib.sha256()
    try:
        conn = sqlite3.connect(db, timeout=30)  # reads only
        try:
            for table, order in (("instances", "iid"), ("history", "iid, seq"), ("inbox", "id")):
                for row in conn.execute(f"SELECT * FROM {table} ORDER BY {order}"):  # noqa: S608 - constants
                    h.update(repr(row).encode())
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        with open(db, "rb") as fh:
            h.update(b"raw:" + fh.read())
    return h.hexdigest()


def file_digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def completions_twice(history) -> dict[int, int]:
    """task_scheduled_ids completed (TaskCompleted/TaskFailed/TimerFired/Child*) more than once."""
    seen: dict[int, int] = {}
    for e in history:
        if e.task_scheduled_id is not None and e.event_type in (
                "TaskCompleted", "TaskFailed", "TimerFired", "ChildWorkflowCompleted", "ChildWorkflowFailed"):
            seen[e.task_scheduled_id] = seen.get(e.task_scheduled_id, 0) + 1
    return {k: v for k, v in seen.items() if v > 1}
