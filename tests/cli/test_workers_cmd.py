"""`wf workers` and the warnings that use it, through the real `wf` and real worker processes:
who is live (host, pid, heartbeat, activities in flight), `wf run` of a workflow no live worker
will run, `run -s` saying when it starts, and wf serve's metadata counting the live workers."""

from __future__ import annotations

import json
import socket
import subprocess

import pytest
from cli_testing import HERE, WF_EXE, run_wf, wait_until, wf_env
from wf_testing import stop_process

OPS_APP = f"{HERE / 'ops_apps.py'}:wfr"


@pytest.fixture
def ops_worker(db):
    procs: list[subprocess.Popen] = []

    def start(*extra: str) -> subprocess.Popen:
        p = subprocess.Popen([WF_EXE, *extra, "worker", "--app", OPS_APP], env=wf_env(db),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        return p

    yield start
    for p in procs:
        stop_process(p)


def workers(db: str, *args: str) -> list[dict]:
    r = run_wf(db, "workers", "-o", "json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_workers_lists_the_live_ones_with_their_load(db, ops_worker, tmp_path):
    r = run_wf(db, "workers")
    assert r.returncode == 0 and r.stdout == ""
    assert r.stderr == "No live workers: start one with `wf worker --app MODULE:ATTR`.\n"

    p = ops_worker()
    ops_worker("-a", "billing")
    (w,) = wait_until(lambda: workers(db), 20, "worker up")
    assert w["pid"] == p.pid and w["host"] == socket.gethostname() and w["app_id"] == "default"
    assert w["activities_in_flight"] == 0 and w["started_at"].endswith("Z") and w["heartbeat"].endswith("Z")
    assert w["worker_id"].startswith(f"{socket.gethostname()}:{p.pid}:")
    wait_until(lambda: len(workers(db, "-A")) == 2, 20, "both apps' workers")
    assert {x["app_id"] for x in workers(db, "-A")} == {"default", "billing"}

    gate = tmp_path / "gate"
    run_wf(db, "run", "holder", "-i", "h1", "-x", json.dumps(str(gate)))
    wait_until(lambda: workers(db)[0]["activities_in_flight"] == 1, 20, "activity in flight")
    table = run_wf(db, "workers").stdout.splitlines()
    assert table[0].split()[:8] == ["WORKER", "APP", "HOST", "PID", "STARTED", "HEARTBEAT", "ACTIVITIES", "WORKFLOWS"]
    assert str(p.pid) in table[1] and " ago " in table[1]
    gate.touch()
    assert run_wf(db, "wait", "h1", "--timeout", "20s", "-q").returncode == 0

    p.terminate()
    p.wait(timeout=15)
    wait_until(lambda: workers(db) == [], 20, "stopped worker gone")  # a drained worker removes its row


def test_run_warns_when_no_live_worker_will_run_it(db, ops_worker):
    r = run_wf(db, "run", "approval", "-i", "n1")
    assert r.returncode == 0 and r.stdout == "Started approval as n1\n"
    assert r.stderr == ("note: no live worker of app 'default' is running; the instance waits until one starts "
                        "(wf worker --app MODULE:ATTR)\n")
    r = run_wf(db, "run", "approval", "-i", "n2", "-q")
    assert r.stdout == "n2\n" and r.stderr == ""  # quiet: only the id
    ops_worker()
    wait_until(lambda: workers(db), 20, "worker up")
    r = run_wf(db, "run", "approval", "-i", "n3")
    assert r.returncode == 0 and r.stderr == ""


def test_run_with_a_start_time_says_when(db):
    r = run_wf(db, "run", "approval", "-i", "later", "-s", "2h")
    assert r.returncode == 0
    assert r.stdout.startswith("Started approval as later; it starts at ") and "(in 1h59m" in r.stdout
