"""`wf get` says why an instance is not moving, through the real `wf` and a real `wf worker`:
external events by name, timers, activities in flight or waiting for a retry, child workflows,
a delayed start, a suspension, events that wait unconsumed, and a missing worker. `wf raise-event`
with a name the instance does not wait for warns with a suggestion and still delivers."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
from cli_testing import HERE, WF_EXE, run_wf, wait_until, wf_env
from wf_testing import stop_process

OPS_APP = f"{HERE / 'ops_apps.py'}:wfr"


@pytest.fixture
def ops_worker(db):
    """A real `wf worker` of tests/cli/ops_apps.py on the temp store; returns its Popen."""
    procs: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        p = subprocess.Popen([WF_EXE, "worker", "--app", OPS_APP], env=wf_env(db), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        procs.append(p)
        return p

    yield start
    for p in procs:
        stop_process(p)


def pending(db: str, iid: str) -> list[dict]:
    r = run_wf(db, "get", iid, "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["pending"]


def kinds(db: str, iid: str) -> list[str]:
    return [p["kind"] for p in pending(db, iid)]


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def test_an_event_and_a_timer_then_a_typo_is_noted_and_still_delivered(db, ops_worker):
    ops_worker()
    assert run_wf(db, "run", "approval", "-i", "a1").returncode == 0
    items = wait_until(lambda: (p := pending(db, "a1")) and p[0]["kind"] == "event" and p, 20, "a1 waiting")
    assert [i["kind"] for i in items] == ["event", "timer"]
    assert items[0]["name"] == "approval_decision"
    fire_at = parse(items[1]["fire_at"])
    assert timedelta(days=2, hours=23) < fire_at - datetime.now(timezone.utc) <= timedelta(days=3)

    card = run_wf(db, "get", "a1").stdout
    assert "Waiting for:  event 'approval_decision', since " in card
    assert "timer, fires " in card and "(in 2d23h)" in card
    assert "Warning" not in card  # a worker is there

    r = run_wf(db, "raise-event", "a1/aproval_decision", "-x", '{"ok": true}')
    assert r.returncode == 0
    assert r.stdout == "Raised event aproval_decision on a1\n"
    assert "not waiting for 'aproval_decision'" in r.stderr and "did you mean approval_decision?" in r.stderr
    unconsumed = wait_until(lambda: [p for p in pending(db, "a1") if p["kind"] == "unconsumed_event"], 20)
    assert unconsumed[0]["name"] == "aproval_decision" and unconsumed[0]["count"] == 1
    assert "Not consumed: event 'aproval_decision' x1" in run_wf(db, "get", "a1").stdout

    r = run_wf(db, "raise-event", "a1", "Approval_Decision", "-x", '"yes"')  # names match case-insensitively
    assert r.returncode == 0 and r.stderr == ""
    r = run_wf(db, "wait", "a1", "--timeout", "20s", "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["serialized_output"] == '"yes"'
    assert pending(db, "a1") == []


def test_an_activity_in_flight_names_its_worker_and_a_retry_its_time(db, ops_worker, tmp_path):
    worker = ops_worker()
    gate = tmp_path / "gate"
    assert run_wf(db, "run", "holder", "-i", "h1", "-x", json.dumps(str(gate))).returncode == 0
    item = wait_until(lambda: [p for p in pending(db, "h1") if p.get("worker")], 20, "hold running")[0]
    assert item["kind"] == "activity" and item["name"] == "hold" and item["attempt"] == 1
    assert f":{worker.pid}:" in item["worker"]
    assert f"activity 'hold', attempt 1, running on worker {item['worker']}, since" in run_wf(db, "get", "h1").stdout
    gate.touch()
    assert run_wf(db, "wait", "h1", "--timeout", "20s", "-q").returncode == 0

    assert run_wf(db, "run", "retrier", "-i", "r1").returncode == 0
    item = wait_until(lambda: [p for p in pending(db, "r1") if p.get("next_retry_at")], 20, "retry waiting")[0]
    assert item["kind"] == "activity" and item["name"] == "always_fails" and item["attempt"] == 1
    assert item["error"] == "card declined"
    assert timedelta(minutes=59) < parse(item["next_retry_at"]) - datetime.now(timezone.utc) <= timedelta(hours=1)
    card = run_wf(db, "get", "r1").stdout
    assert "activity 'always_fails', attempt 1 failed (card declined); next retry " in card and "(in 59m" in card


def test_a_child_a_suspension_and_a_delayed_start(db, ops_worker):
    ops_worker()
    assert run_wf(db, "run", "parent_of_approval", "-i", "p1").returncode == 0
    child = wait_until(lambda: [p for p in pending(db, "p1") if p["kind"] == "child" and p.get("status")], 20)[0]
    assert child == {"kind": "child", "name": "approval", "instance_id": "p1-kid", "status": "RUNNING"}
    assert "child workflow p1-kid (approval), RUNNING" in run_wf(db, "get", "p1").stdout

    assert run_wf(db, "suspend", "p1-kid", "-r", "vendor outage").returncode == 0
    items = pending(db, "p1-kid")
    assert items[0]["kind"] == "suspended" and items[0]["reason"] == "vendor outage"
    assert [i["kind"] for i in items[1:]] == ["event", "timer"]  # and, after resume, still these
    assert "Waiting for:  resume: suspended since " in run_wf(db, "get", "p1-kid").stdout

    assert run_wf(db, "run", "approval", "-i", "later", "-s", "2h").returncode == 0
    items = pending(db, "later")
    assert [i["kind"] for i in items] == ["start"]
    assert timedelta(hours=1, minutes=59) < parse(items[0]["start_at"]) - datetime.now(timezone.utc)
    assert "Waiting for:  its start time, " in run_wf(db, "get", "later").stdout


def test_no_live_worker_is_said(db):
    assert run_wf(db, "run", "approval", "-i", "lonely").returncode == 0
    items = pending(db, "lonely")
    assert [i["kind"] for i in items] == ["start", "no_worker"]
    card = run_wf(db, "get", "lonely").stdout
    assert "Waiting for:  a worker to start it (due since " in card
    assert "Warning:      no live worker of app 'default': start one with `wf worker --app MODULE:ATTR`" in card


def test_raise_event_to_an_instance_waiting_for_nothing_notes_it(db):
    assert run_wf(db, "run", "approval", "-i", "early").returncode == 0
    r = run_wf(db, "raise-event", "early/go")
    assert r.returncode == 0 and r.stdout == "Raised event go on early\n"
    assert r.stderr == "note: early is not waiting for any event now; 'go' is kept until the workflow waits for it\n"
    assert [i["name"] for i in pending(db, "early") if i["kind"] == "unconsumed_event"] == ["go"]


def test_from_history_shows_open_work_for_engines_without_the_store():
    from wf.engine.pending import from_history
    from wf.model import HistoryEvent

    t = datetime(2030, 1, 1, tzinfo=timezone.utc)

    def ev(eid, kind, name=None, task=None, **extra):
        return HistoryEvent(eid, kind, t, name=name, task_scheduled_id=task, extra=extra)

    events = [ev(-1, "ExecutionStarted", "wf"), ev(1, "TaskScheduled", "a"), ev(-1, "TaskCompleted", task=1),
              ev(2, "TimerCreated", fire_at="2030-01-04T00:00:00.000Z"), ev(3, "TaskScheduled", "b"),
              ev(4, "ChildWorkflowCreated", "kid", instance_id="x-4"), ev(-1, "ExecutionSuspended")]
    items = from_history(events)
    assert [(i.kind, i.name) for i in items] == [("suspended", None), ("timer", None), ("activity", "b"),
                                                 ("child", "kid")]
    assert items[1].fire_at == datetime(2030, 1, 4, tzinfo=timezone.utc) and items[3].instance_id == "x-4"
    assert from_history([*events, ev(-1, "ExecutionCompleted")]) == []


def test_an_old_store_without_the_record_falls_back_to_history(db, ops_worker):
    """A step recorded by a wf before this column (waiting IS NULL) still shows its open work."""
    import sqlite3

    ops_worker()
    assert run_wf(db, "run", "retrier", "-i", "old").returncode == 0
    wait_until(lambda: [p for p in pending(db, "old") if p.get("next_retry_at")], 20)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE instances SET waiting = NULL WHERE instance_id = 'old'")
    assert kinds(db, "old") == ["timer"]  # the retry's timer: history alone cannot tell it is a retry
