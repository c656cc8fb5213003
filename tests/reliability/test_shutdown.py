"""Shutdown of a real `wf worker`: SIGTERM drains the activities in flight, commits them and
releases every lease (no worker row, no owned instance or task is left); a second SIGTERM or SIGINT
exits at once; a grace period bounds the drain.

tests/cli/test_subprocess.py already checks that one SIGTERM'd activity's result is kept and that a
second SIGINT exits with 130; these add the leases, a fan-out in flight, SIGTERM twice, SIGTERM
then SIGINT, the takeover of what a second signal abandoned, and the grace period.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import wf
from rel_testing import APP, query, start_worker, stop, wait_ready, wait_until, wf_env

pytestmark = [pytest.mark.timeout(60), pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]


def _runs(path, kind: str) -> list[str]:
    if not path.exists():
        return []
    return [line.split()[1] for line in path.read_text().splitlines() if line.split()[0] == kind]


def _leases(db: str) -> dict[str, int]:
    return {
        "workers": query(db, "SELECT COUNT(*) FROM workers")[0][0],
        "owned instances": query(db, "SELECT COUNT(*) FROM instances WHERE owner IS NOT NULL")[0][0],
        "owned tasks": query(db, "SELECT COUNT(*) FROM tasks WHERE owner IS NOT NULL")[0][0],
    }


NO_LEASES = {"workers": 0, "owned instances": 0, "owned tasks": 0}


@pytest.fixture
def setup(tmp_path):
    db = str(tmp_path / "shutdown.db")
    runs = tmp_path / "runs.log"
    env = wf_env(db, tmp_path, WF_TEST_RUNS=str(runs))
    client = wf.WorkflowClient(db=db)
    procs: list[subprocess.Popen] = []

    def spawn() -> subprocess.Popen:
        p = start_worker(env, log=tmp_path / f"worker{len(procs)}.log")
        procs.append(p)
        wait_ready(db, p)
        return p

    yield db, runs, client, spawn, tmp_path
    client.close()
    for p in procs:
        stop(p, signal.SIGKILL)


def test_sigterm_drains_a_fan_out_in_flight_and_releases_every_lease(setup):
    db, runs, client, spawn, tmp_path = setup
    p = spawn()
    iid = client.schedule_new_workflow("naps", input=[4, 1.0], instance_id="fan")
    wait_until(lambda: len(_runs(runs, "nap-start")) == 4, what="4 activities in flight")
    assert _leases(db)["owned tasks"] == 4
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    code = p.wait(timeout=20)
    took = time.monotonic() - t0
    log = (tmp_path / "worker0.log").read_text()
    assert code == 0, log
    assert "draining" in log and "wf worker: stopped" in log and "Traceback" not in log
    assert took < 5, f"drain took {took:.1f}s for 1s activities"
    assert len(_runs(runs, "nap-done")) == 4  # none abandoned
    hist = client.get_history(iid)
    assert [e.event_type for e in hist].count("TaskCompleted") == 4, [e.event_type for e in hist]
    assert _leases(db) == NO_LEASES
    # A new worker goes on at once (nothing to wait out) and runs none of the four again.
    spawn()
    t1 = time.monotonic()
    st = client.wait_for_workflow_completion(iid, timeout_in_seconds=20)
    assert st.runtime_status == wf.WorkflowStatus.COMPLETED and json.loads(st.serialized_output) == 4.0
    assert time.monotonic() - t1 < 3
    assert len(_runs(runs, "nap-start")) == 4


@pytest.mark.parametrize("first, second", [(signal.SIGTERM, signal.SIGTERM), (signal.SIGTERM, signal.SIGINT)],
                         ids=["TERM-TERM", "TERM-INT"])
def test_second_signal_exits_at_once_and_the_work_is_taken_over(setup, first, second):
    db, runs, client, spawn, tmp_path = setup
    p = spawn()
    iid = client.schedule_new_workflow("naps", input=[1, 20.0], instance_id="long")
    wait_until(lambda: _runs(runs, "nap-start"), what="the long activity in flight")
    p.send_signal(first)
    log = tmp_path / "worker0.log"
    wait_until(lambda: "draining" in log.read_text(), what="draining message")
    t0 = time.monotonic()
    p.send_signal(second)
    code = p.wait(timeout=10)
    assert time.monotonic() - t0 < 2, "the second signal did not exit at once"
    assert code == 128 + second, (code, log.read_text())
    assert "second signal, exiting now" in log.read_text() and "Traceback" not in log.read_text()
    assert _runs(runs, "nap-done") == []
    # The abandoned activity is retried by the next worker, at once (its process is gone), and its
    # completion is recorded once.
    spawn()
    wait_until(lambda: len(_runs(runs, "nap-start")) == 2, timeout=10, what="the activity retried")
    hist = client.get_history(iid)
    assert [e.event_type for e in hist].count("TaskCompleted") == 0


GRACE_DRIVER = textwrap.dedent("""
    import signal, sys, threading, importlib.util
    spec = importlib.util.spec_from_file_location("crash_app", sys.argv[1])
    app = importlib.util.module_from_spec(spec); spec.loader.exec_module(app)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    app.wfr._db = sys.argv[2]
    app.wfr.start()
    print("ready", flush=True)
    stop.wait()
    app.wfr.shutdown(timeout=float(sys.argv[3]))
    print("shut down", flush=True)
""")


def test_grace_period_bounds_the_drain_and_releases_what_is_left(setup):
    """An activity longer than the grace period: shutdown returns after the grace, gives the task
    back (a later worker runs it again) and the process exits."""
    db, runs, client, spawn, tmp_path = setup
    env = wf_env(db, tmp_path, WF_TEST_RUNS=str(runs))
    p = subprocess.Popen([sys.executable, "-c", GRACE_DRIVER, str(APP), db, "1.0"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        client.schedule_new_workflow("naps", input=[1, 30.0], instance_id="overlong")
        wait_until(lambda: _runs(runs, "nap-start"), what="the long activity in flight")
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        assert p.stdout.readline().strip() == "shut down"
        assert time.monotonic() - t0 < 3, "shutdown(timeout=1) waited for the activity"
        assert _leases(db) == NO_LEASES
        assert query(db, "SELECT COUNT(*) FROM tasks")[0][0] == 1  # given back, to be run again
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail("the process did not exit within 5s of shutdown(timeout=1) returning: "
                        "it waits for the abandoned activity thread (30s)")
        assert p.returncode == 0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()
