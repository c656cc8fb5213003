"""The audit trail and retention policies through the real `wf`: `wf audit` with its filters and
formats, `wf retention set | show | clear`, and a real worker process applying the policy."""

from __future__ import annotations

import json

import pytest
from cli_testing import one_error_line, run_wf, snapshot, wait_until
from wf_testing import seed_waiting

from wf.engine import control, retention
from wf.engine.store import Store


def audit_rows(db: str, *args: str) -> list[dict]:
    r = run_wf(db, "audit", "-o", "jsonl", *args)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def test_wf_audit_shows_who_did_what_newest_first_with_filters(db):
    seed_waiting(db, 3, "waiter")
    assert run_wf(db, "run", "doubler", "-i", "a1", "-s", "1h").returncode == 0
    assert run_wf(db, "suspend", "seed-000000", "-r", "vendor outage").returncode == 0
    assert run_wf(db, "terminate", "--all", "-w", "waiter", "-r", "stuck").returncode == 0
    assert run_wf(db, "purge", "a1").returncode == 1  # live: refused, recorded as failed
    rows = audit_rows(db)
    assert [(r["operation"], r["instance_id"], r["selection"], r["count"], r["outcome"]) for r in rows] == [
        ("purge", "a1", None, 0, "failed"),
        ("terminate", None, "name waiter", 3, "ok"),
        ("suspend", "seed-000000", None, 1, "ok"),
        ("start", "a1", "doubler", 1, "ok"),
    ]
    assert rows[1]["reason"] == "stuck" and rows[2]["reason"] == "vendor outage"
    assert all(r["actor"] == control.local_actor() for r in rows)
    assert [r["operation"] for r in audit_rows(db, "-w", "terminate")] == ["terminate"]
    assert [r["operation"] for r in audit_rows(db, "-i", "a1")] == ["purge", "start"]
    assert len(audit_rows(db, "-m", "1h", "--limit", "2")) == 2
    table = run_wf(db, "audit", "-o", "wide").stdout.splitlines()
    assert table[0].split() == ["TIME", "APP", "ACTOR", "OPERATION", "TARGET", "COUNT", "OUTCOME", "REASON",
                                "SKIPPED", "FAILED", "DETAIL"]


@pytest.mark.parametrize("args", [("-w", "bogus"), ("-m", "1x"), ("-i", "bad id!"), ("--limit", "0")])
def test_wf_audit_bad_input_is_a_usage_error(db, args):
    r = run_wf(db, "audit", *args)
    assert r.returncode == 2
    one_error_line(r.stderr)


def test_retention_set_show_clear_and_bad_input(db):
    r = run_wf(db, "retention", "set", "--completed", "72h", "--any-terminal", "30d")
    assert r.returncode == 0, r.stderr
    assert "Completed:     3d" in r.stdout and "Any terminal:  30d" in r.stdout and "Failed:        -" in r.stdout
    shown = json.loads(run_wf(db, "retention", "show", "-o", "json").stdout)
    assert shown["completed"] == "3d" and shown["anyTerminal"] == "30d" and shown["set"] is True
    assert shown["audit"] == "90d" and shown["lastRunAt"] is None
    assert run_wf(db, "retention", "set", "--audit", "7d").returncode == 0
    assert json.loads(run_wf(db, "retention", "show", "-o", "json").stdout)["audit"] == "7d"
    before = snapshot(db)
    for args in (("--completed", "0s"), ("--failed", "soon"), ()):
        r = run_wf(db, "retention", "set", *args)
        assert r.returncode == 2, args
        one_error_line(r.stderr)
    assert snapshot(db) == before
    r = run_wf(db, "retention", "clear")
    assert r.returncode == 0 and r.stdout == "Retention policy of app default removed\n"
    assert run_wf(db, "retention", "clear").stdout == "App default had no retention policy\n"
    assert "Policy:" in run_wf(db, "retention", "show").stdout
    assert [r["operation"] for r in audit_rows(db)] == ["retention-clear", "retention-clear", "retention-set",
                                                        "retention-set"]


def test_a_worker_applies_the_policy_counting_from_completion(db, worker_proc):
    assert run_wf(db, "retention", "set", "--completed", "1s", "--any-terminal", "1h").returncode == 0
    worker_proc_env = {"WF_RETENTION_INTERVAL": "100ms"}
    p = worker_proc(env=worker_proc_env)
    assert p.poll() is None
    r = run_wf(db, "run", "doubler", "-i", "done-1", "-x", "1", "--wait", "--timeout", "20s")
    assert r.returncode == 0
    r = run_wf(db, "run", "failing", "-i", "failed-1", "-x", '"x"', "--wait", "--timeout", "20s")
    assert r.returncode == 3
    wait_until(lambda: run_wf(db, "get", "done-1").returncode == 1, 20, "done-1 to be purged by the policy")
    assert run_wf(db, "get", "failed-1").returncode == 0  # FAILED falls under anyTerminal: 1h
    shown = json.loads(run_wf(db, "retention", "show", "-o", "json").stdout)
    assert shown["totalPurged"] == 1 and shown["lastRunAt"] is not None


def test_one_process_at_a_time_and_audit_records_age_out(db):
    seed_waiting(db, 1, "waiter")
    store = Store(db)
    try:
        assert retention.apply_once(store, "holder-a") == {}
        assert retention.apply_once(store, "holder-b") is None  # a holds the lease
        with store.write():
            control._audit(store, app_id="default", operation="start", now=1.0, instance_id="ancient")
        retention.set_audit_retention(store, "default", 86400)
        assert retention.apply_once(store, "holder-a") == {}
        assert [r.instance_id for r in control.list_audit(store, instance_id="ancient")] == []
        with store.write():
            store.release_lease(retention.LEASE, "holder-a")
        assert retention.apply_once(store, "holder-b") == {}
    finally:
        store.close()
