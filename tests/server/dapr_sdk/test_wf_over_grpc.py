"""The mission's walkthrough through the real `wf` executable over `--url grpc://` to a real
`wf serve --grpc-port` (its app's workflows run by `--app` workers in the server), with a token."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from serve_support import run_wf, wf_env

pytestmark = pytest.mark.timeout(180)

TOKEN = "Serve-Grpc-Token-31c"
APP = str(Path(__file__).resolve().parents[2] / "cli" / "apps.py") + ":wfr"


def one_error(r) -> str:
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_walkthrough_against_wf_serve_grpc(grpc_serve, tmp_path):
    serve = grpc_serve("--app", APP, token=TOKEN)
    env = wf_env(tmp_path, WF_URL=f"grpc://127.0.0.1:{serve.grpc_port}", WF_API_TOKEN=TOKEN)

    def wf(*args: str, **extra: str):
        return run_wf({**env, **extra}, *args)

    def status(iid: str) -> str:
        r = wf("get", iid, "-o", "json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["runtime_status"]

    def eventually(iid: str, want: str) -> None:
        deadline = time.monotonic() + 20
        while status(iid) != want:
            assert time.monotonic() < deadline, f"{iid} never became {want}"
            time.sleep(0.1)

    for args in (("waiter", "-i", "w1"), ("waiter", "-i", "w2"), ("failing", "-i", "f1", "-x", '"bad order"')):
        r = wf("run", *args, "-q")
        assert (r.returncode, r.stdout.strip()) == (0, args[2]), r.stderr
    eventually("w1", "RUNNING")
    eventually("w2", "RUNNING")
    r = wf("list", "-s", "RUNNING", "-o", "ids")
    assert r.returncode == 0 and sorted(r.stdout.split()) == ["w1", "w2"], r.stderr

    assert wf("raise-event", "w1/go", "-x", '"hi"').returncode == 0
    r = wf("wait", "w1", "--timeout", "20s", "-o", "json")
    assert r.returncode == 0 and json.loads(json.loads(r.stdout)["serialized_output"]) == {"got": "hi"}, r.stderr

    assert wf("suspend", "w2", "-r", "vendor outage").returncode == 0
    assert status("w2") == "SUSPENDED"
    assert wf("resume", "w2", "-r", "vendor back").returncode == 0
    eventually("w2", "RUNNING")
    assert wf("wait", "w2", "--timeout", "300ms").returncode == 124
    assert wf("wait", "f1", "--timeout", "20s").returncode == 3
    assert wf("terminate", "w2", "--output", '{"by": "ops"}', "--no-recursive").returncode == 0
    assert wf("wait", "w2", "--timeout", "20s").returncode == 4

    r = wf("history", "w2", "-o", "json")
    kinds = [e["event_type"] for e in json.loads(r.stdout)]
    assert kinds[0] == "ExecutionStarted" and {"ExecutionSuspended", "ExecutionResumed"} <= set(kinds), kinds

    r = wf("purge", "w1")
    assert (r.returncode, r.stdout.strip()) == (0, "Purged w1"), r.stderr
    r = wf("get", "w1")
    assert r.returncode == 1 and "no workflow instance 'w1'" in one_error(r)
    time.sleep(0.01)
    r = wf("purge", "--all-older-than", "1ms")
    assert r.returncode == 0 and "Purged 2 instances" in r.stdout, r.stdout + r.stderr
    assert wf("list", "-o", "ids").stdout.split() == []

    r = wf("get", "w2", WF_API_TOKEN="wrong")
    assert r.returncode == 1 and "check the token" in one_error(r)


def test_rerun_through_every_door_of_wf_serve(grpc_serve, tmp_path):
    """wf rerun over gRPC, over wf serve's HTTP extension, and on the store itself (the local engine)."""
    serve = grpc_serve("--app", APP, token=TOKEN)
    doors = {
        "grpc": wf_env(tmp_path, WF_URL=f"grpc://127.0.0.1:{serve.grpc_port}", WF_API_TOKEN=TOKEN),
        "http": wf_env(tmp_path, WF_URL=f"http://127.0.0.1:{serve.http_port}", WF_API_TOKEN=TOKEN),
        "local": wf_env(tmp_path, WF_DB=serve.db),
    }
    env = doors["grpc"]
    assert run_wf(env, "run", "doubler", "-i", "d1", "-x", "21", "--wait", "--timeout", "20s").returncode == 0
    events = json.loads(run_wf(env, "history", "d1", "-o", "json").stdout)
    task = next(e["event_id"] for e in events if e["event_type"] == "TaskScheduled")
    for door, door_env in doors.items():
        r = run_wf(door_env, "rerun", "d1", "-e", str(task), "--new-instance-id", f"d1-{door}", "-x", "50")
        assert (r.returncode, r.stdout.strip()) == (0, f"d1-{door}"), f"{door}: {r.stderr}"
        r = run_wf(env, "wait", f"d1-{door}", "--timeout", "20s", "-o", "json")
        assert r.returncode == 0 and json.loads(r.stdout)["serialized_output"] == "100", f"{door}: {r.stdout}"
        r = run_wf(door_env, "rerun", "d1", "-e", "99")
        assert r.returncode == 1 and "event id 99" in one_error(r), f"{door}: {r.stderr}"
    r = run_wf(env, "rerun", "d1", "-e", str(task))  # input kept: the original 21
    assert r.returncode == 0
    r = run_wf(env, "wait", r.stdout.strip(), "--timeout", "20s", "-o", "json")
    assert json.loads(r.stdout)["serialized_output"] == "42"
