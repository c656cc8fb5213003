"""The audit trail in the store: every management operation leaves a record (who, what, which
instance or selection, how many, why, outcome), refused ones too, and bulk batches add up in one."""

from __future__ import annotations

import pytest
from wf_testing import seed_waiting

import wf
from wf.engine import control
from wf.engine.store import Store


@pytest.fixture
def db(tmp_path) -> str:
    return str(tmp_path / "audit.db")


def records(db: str) -> list:
    store = Store(db)
    try:
        return list(reversed(control.list_audit(store)))  # oldest first
    finally:
        store.close()


def test_each_operation_leaves_one_record_with_the_local_user(db):
    seed_waiting(db, 2, "waiter")
    client = wf.WorkflowClient(db)
    client.schedule_new_workflow("waiter", instance_id="s1")
    client.schedule_new_workflow("waiter", instance_id="s1")  # exists: nothing started, still recorded
    client.raise_workflow_event("seed-000000", "go", data=1)
    client.pause_workflow("seed-000001", reason="vendor")
    client.resume_workflow("seed-000001", reason="back")
    client.terminate_workflow("seed-000001")
    client.purge_workflow("seed-000001")
    with pytest.raises(wf.InvalidStateError):
        client.purge_workflow("s1")  # live: refused, and the refusal is recorded
    client.close()
    recs = records(db)
    assert [(r.operation, r.instance_id, r.count, r.outcome) for r in recs] == [
        ("start", "s1", 1, "ok"),
        ("start", "s1", 0, "ok"),
        ("raise-event", "seed-000000", 1, "ok"),
        ("suspend", "seed-000001", 1, "ok"),
        ("resume", "seed-000001", 1, "ok"),
        ("terminate", "seed-000001", 1, "ok"),
        ("purge", "seed-000001", 1, "ok"),
        ("purge", "s1", 0, "failed"),
    ]
    assert recs[1].detail == "already exists (PENDING); nothing started"
    assert recs[3].reason == "vendor" and recs[2].selection == "go"
    assert "purge removes finished instances only" in recs[-1].detail
    assert all(r.actor == control.local_actor() and "@" in r.actor for r in recs)


def test_a_bulk_operation_is_one_record_however_many_batches(db):
    seed_waiting(db, 1_234, "waiter")
    store = Store(db)
    try:
        ids = control.bulk_select(store, "default", "terminate", wf.ListFilter(name="waiter"))
        result = control.bulk_run(store, "default", "terminate", ids + ["nope"], batch=500, reason="stuck",
                                  selection="name waiter")
        assert (result.done, result.failed) == (1_234, 1)
        with control.acting_as("ops-bot"):
            control.purge_many(store, "default", wf.ListFilter(name="waiter"))
        recs = list(reversed(control.list_audit(store)))
    finally:
        store.close()
    assert [(r.operation, r.selection, r.count, r.failed, r.reason, r.outcome) for r in recs] == [
        ("terminate", "name waiter", 1_234, 1, "stuck", "partial"),
        ("purge", "name waiter", 1_234, 0, None, "ok"),
    ]
    assert recs[1].actor == "ops-bot"


def test_records_outlive_the_instances_they_name(db):
    seed_waiting(db, 1, "waiter")
    client = wf.WorkflowClient(db)
    client.terminate_workflow("seed-000000")
    client.purge_workflow("seed-000000")
    client.close()
    store = Store(db)
    try:
        assert [r.operation for r in control.list_audit(store, instance_id="seed-000000")] == ["purge", "terminate"]
    finally:
        store.close()


def test_rerun_is_recorded_and_so_is_a_refused_one(db, tmp_path):
    import wf as wflib

    rt = wflib.WorkflowRuntime(db=db)

    @rt.activity
    def inc(ctx, x):
        return x + 1

    @rt.workflow
    def two(ctx, x):
        x = yield ctx.call_activity(inc, input=x)
        return (yield ctx.call_activity(inc, input=x))

    client = wflib.WorkflowClient(db)
    with rt:
        client.schedule_new_workflow(two, input=1, instance_id="r1")
        client.wait_for_workflow_completion("r1", timeout_in_seconds=20)
        event_id = next(e.event_id for e in client.get_history("r1") if e.event_type == "TaskScheduled")
        client.rerun_workflow_from_event("r1", event_id, new_instance_id="r1-again")
        with pytest.raises(wflib.WfError):
            client.rerun_workflow_from_event("r1", event_id, new_instance_id="r1-again")  # the id is taken
    client.close()
    recs = [r for r in records(db) if r.operation == "rerun"]
    assert [(r.instance_id, r.selection, r.outcome) for r in recs] == [
        ("r1", f"from event {event_id} as r1-again", "ok"), ("r1", None, "failed")]
