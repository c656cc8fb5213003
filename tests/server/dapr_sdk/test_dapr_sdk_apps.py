"""Dapr SDK apps of our own (dapr_apps.py), unmodified, against a real `wf serve`: the patterns of
Dapr's example programs, their printed results checked, then their instances operated with `wf`."""

from __future__ import annotations

import json

import pytest
from serve_support import run_wf, wf_env


@pytest.fixture
def serve(grpc_serve):
    return grpc_serve()


def test_chaining_runs_and_wf_lists_inspects_and_purges_it(serve):
    [result] = serve.run_app("chaining")
    assert result == {"id": "chain-1", "status": "COMPLETED", "output": "[2, 3, 4]", "error": None}
    listed = json.loads(serve.wf("list", "-o", "json").stdout)
    assert [(i["instance_id"], i["runtime_status"]) for i in listed] == [("chain-1", "COMPLETED")]
    history = [json.loads(line) for line in serve.wf("history", "chain-1", "-o", "jsonl").stdout.splitlines()]
    types = [e["event_type"] for e in history]
    assert types.count("TaskScheduled") == 3 and types.count("TaskCompleted") == 3
    assert types[-1] == "ExecutionCompleted"
    r = serve.wf("purge", "chain-1")
    assert r.returncode == 0, r.stderr
    assert serve.wf("get", "chain-1").returncode == 1


def test_fan_out_fan_in(serve):
    assert serve.run_app("fan_out_fan_in") == [
        {"id": "fan-1", "status": "COMPLETED", "output": str(sum(i * i for i in range(1, 11))), "error": None}]


def test_child_workflows_run_and_report_to_their_parent(serve):
    assert serve.run_app("child") == [
        {"id": "parent-1", "status": "COMPLETED", "output": "[20, 30, 40]", "error": None},
        {"id": "retry-parent", "status": "COMPLETED", "output": '"child ok"', "error": None}]
    assert serve.wf("purge", "retry-parent").returncode == 0
    listed = json.loads(serve.wf("list", "-o", "json").stdout)
    children = [i for i in listed if i["parent_instance_id"] == "parent-1"]
    assert len(children) == 3 and all(c["runtime_status"] == "COMPLETED" for c in children)
    r = serve.wf("purge", "parent-1")  # recursive: the children go with their parent
    assert r.returncode == 0, r.stderr
    assert json.loads(serve.wf("list", "-o", "json").stdout) == []


def test_human_approval_event_wins_or_timer_wins(serve):
    approved, timed_out = serve.run_app("approval")
    assert approved == {"id": "approve-1", "status": "COMPLETED", "output": '"approved by alice"'}
    assert timed_out == {"id": "approve-2", "status": "COMPLETED", "output": '"timed out"', "error": None}


def test_monitor_continues_as_new_until_done(serve):
    result, custom = serve.run_app("monitor")
    assert result == {"id": "monitor-1", "status": "COMPLETED", "output": '"done after 3 rounds"', "error": None}
    assert custom == {"custom_status": "round 3"}  # the SDK sends a str as it is
    history = [json.loads(line) for line in serve.wf("history", "monitor-1", "-o", "jsonl").stdout.splitlines()]
    started = [e for e in history if e["event_type"] == "ExecutionStarted"]
    assert len(started) == 1 and json.loads(started[0]["data"]) == {"round": 3, "rounds": 3}  # the last run only


def test_retries_until_the_policy_gives_up(serve):
    ok, failed, attempts = serve.run_app("retries")
    assert ok == {"id": "retry-ok", "status": "COMPLETED", "output": '"ok after 3 attempts"', "error": None}
    assert failed["id"] == "retry-fail" and failed["status"] == "FAILED"
    assert "attempt 3 failed" in failed["error"]
    # every attempt's activity context has the taskExecutionId its workflow gave the call (Dapr's
    # retries reuse it), handed back by wf serve
    ids = attempts["execution_ids"]
    assert sorted(ids) == ["retry-fail", "retry-ok"] and [len(v) for v in ids.values()] == [3, 3]
    assert all(len(set(v)) == 1 and v[0] for v in ids.values()) and ids["retry-ok"] != ids["retry-fail"]
    r = serve.wf("get", "retry-fail", "-o", "json")
    assert json.loads(r.stdout)["runtime_status"] == "FAILED"
    log = serve.proc.log.read_text()  # wf serve logs each failed attempt and the failed instance
    assert all(f"WARNING wf.workitems: activity flaky of instance retry-fail failed: ValueError: attempt {n} failed"
               in log for n in (1, 2, 3)), log[-3000:]
    assert "ERROR wf.workitems: workflow retrying (instance retry-fail) failed: " in log
    assert "INFO wf.serve.grpc: gRPC /TaskHubSidecarService/StartInstance OK " in log  # each call at info,
    assert "CompleteActivityTask" not in log  # but a worker's call per work item at debug when it succeeds


def test_suspend_resume_terminate_purge_from_the_sdk_client(serve):
    assert serve.run_app("manage") == [
        {"step": "paused", "status": "SUSPENDED"},
        {"step": "event while paused", "status": "SUSPENDED"},
        {"step": "resumed", "status": "COMPLETED", "output": '"got 42"'},
        {"step": "terminated", "status": "TERMINATED", "output": '"stopped"'},
        {"step": "purged", "state": True},
    ]
    listed = json.loads(serve.wf("list", "-o", "json").stdout)
    assert [(i["instance_id"], i["runtime_status"]) for i in listed] == [("manage-1", "COMPLETED")]


def test_wf_commands_operate_a_live_instance_of_a_dapr_worker(serve, tmp_path):
    from wf_testing import wait_until

    worker = serve.start_worker(tmp_path / "worker.log")
    try:
        wait_until(lambda: b"ready" in (tmp_path / "worker.log").read_bytes(), 60, what="the worker to connect")
        assert serve.wf("run", "waiter", "-i", "live-1", "-q").returncode == 0

        def pending():
            r = serve.wf("get", "live-1", "-o", "json")
            state = json.loads(r.stdout)
            return state["runtime_status"] == "RUNNING" and state.get("pending")

        items = wait_until(pending, 60, what="the waiter to wait")
        assert {"kind": "event", "name": "go"}.items() <= items[0].items()  # the SDK's wait, read from its timer
        assert serve.wf("suspend", "live-1").returncode == 0
        assert serve.wf("raise-event", "live-1/go", "-x", "5").returncode == 0
        assert json.loads(serve.wf("get", "live-1", "-o", "json").stdout)["runtime_status"] == "SUSPENDED"
        assert serve.wf("resume", "live-1").returncode == 0
        r = serve.wf("wait", "live-1", "--timeout", "60s")
        assert r.returncode == 0, r.stderr
        assert json.loads(serve.wf("get", "live-1", "-o", "json").stdout)["serialized_output"] == '"got 5"'
    finally:
        worker.kill()
        worker.wait()


def test_connected_sdk_workers_are_listed_and_counted_and_the_hub_is_not(serve, tmp_path):
    import httpx
    from wf_testing import wait_until

    def connected() -> int:
        return httpx.get(f"{serve.proc.url}/v1.0/metadata", timeout=10).json()["workflows"]["connectedWorkers"]

    def workers() -> list[dict]:
        r = serve.wf("workers", "-o", "json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    assert connected() == 0 and workers() == []  # the gRPC door's own lease row is no worker
    r = serve.wf("run", "chaining", "-i", "nobody-runs-it", "-q")
    assert r.returncode == 0, r.stderr
    card = serve.wf("get", "nobody-runs-it").stdout  # wf get says how to get it run: an SDK app, here
    assert "no live worker of app 'default': start the app's Dapr workflow runtime" in " ".join(card.split())
    assert serve.wf("terminate", "nobody-runs-it", "-q").returncode == 0
    procs = [serve.start_worker(tmp_path / f"worker-{n}.log") for n in range(2)]
    try:
        wait_until(lambda: connected() == 2, 60, what="two SDK workers to be counted")
        listed = workers()
        assert [(w["app_id"], w["pid"], w["workflows"], w["activities"]) for w in listed] == [
            ("default", 0, None, None)] * 2  # what an SDK worker registered is not known to the server
        assert all(w["host"].startswith("127.0.0.1:") for w in listed) and listed[0]["host"] != listed[1]["host"]
        table = serve.wf("workers").stdout
        assert listed[0]["host"] in table and listed[1]["host"] in table
        leases = json.loads(serve.wf("doctor", "-o", "json").stdout)["live_workers"]  # doctor: every lease row, labelled
        assert sorted(w["kind"] for w in leases) == ["grpc-hub", "grpc-stream", "grpc-stream"]
        assert "(grpc-hub, pid" in serve.wf("doctor").stdout
        procs[0].kill()
        procs[0].wait()
        wait_until(lambda: connected() == 1, 60, what="the killed worker to leave the count")
        [left] = workers()
        assert left["host"] in {w["host"] for w in listed}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    wait_until(lambda: connected() == 0, 60, what="the count to return to 0")


def test_wf_get_over_grpc_shows_what_a_dapr_workers_instance_waits_for(serve, tmp_path):
    """`wf --url grpc://` reads pending work from GetInstanceHistory, as the store shows it."""
    from wf_testing import wait_until

    grpc_env = {"WF_URL": f"grpc://127.0.0.1:{serve.grpc_port}"}

    def pending(over_grpc: bool) -> list[dict]:
        env = wf_env(serve.home, **grpc_env) if over_grpc else wf_env(serve.home)
        args = ("get", "mix-1", "-o", "json") if over_grpc else ("--db", serve.db, "get", "mix-1", "-o", "json")
        r = run_wf(env, *args)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout).get("pending") or []

    def kinds(items: list[dict]) -> list[tuple]:
        return sorted((i["kind"], i.get("name")) for i in items)

    worker = serve.start_worker(tmp_path / "worker.log")
    try:
        wait_until(lambda: b"ready" in (tmp_path / "worker.log").read_bytes(), 60, what="the worker to connect")
        assert serve.wf("run", "pending_mix", "-i", "mix-1", "-q").returncode == 0
        expected = [("activity", "sleepy"), ("child", "waiter"), ("event", "go"), ("timer", None)]
        items = wait_until(lambda: (lambda got: got if kinds(got) == expected else None)(pending(True)), 60,
                           what="the four waits over gRPC")
        assert kinds(pending(False)) == expected  # what the store says
        child = next(i for i in items if i["kind"] == "child")
        assert child["instance_id"] == "mix-1-kid"
        timer = next(i for i in items if i["kind"] == "timer")
        assert timer["fire_at"] > "2000"  # an hour from its start, in RFC 3339
        r = run_wf(wf_env(serve.home, **grpc_env), "raise-event", "mix-1/go", "-x", '"now"')
        assert r.returncode == 0 and "not waiting" not in r.stderr, r.stderr  # the wait is known over gRPC
        assert serve.wf("wait", "mix-1", "--timeout", "60s").returncode == 0
        assert pending(True) == []
    finally:
        worker.kill()
        worker.wait()
