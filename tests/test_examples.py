"""The examples: run as scripts, and driven through the Python API on a test store."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import wf
from wf_testing import completed_output, wait_until

pytestmark = pytest.mark.timeout(60)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
S = wf.WorkflowStatus


def load(name: str):
    """A fresh copy of examples/<name>.py (its module-level runtime is new, not yet started)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def store(db_path, monkeypatch):
    """The examples' runtimes have db=None: they resolve WF_DB when they start."""
    monkeypatch.setenv("WF_DB", db_path)
    return db_path


@pytest.fixture
def approval(store):
    module = load("approval")
    client = wf.WorkflowClient()
    module.wfr.start()
    yield module, client
    module.wfr.shutdown()


@pytest.mark.parametrize("name", ["approval", "tasks"])
def test_example_runs_as_a_script(name, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "WF_DB"}
    env["XDG_DATA_HOME"] = str(tmp_path)  # never the user's store, whatever the demo does
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")], capture_output=True, text=True, timeout=50, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "COMPLETED" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_example_store_is_resolved_at_start_not_at_import(db_path, monkeypatch):
    monkeypatch.delenv("WF_DB", raising=False)
    module = load("approval")  # imported with no store configured
    monkeypatch.setenv("WF_DB", db_path)
    with module.wfr:
        iid = wf.WorkflowClient(db=db_path).schedule_new_workflow(module.approval_workflow, input={"amount": 1})
        st = wf.WorkflowClient(db=db_path).wait_for_workflow_completion(iid, timeout_in_seconds=10)
    assert completed_output(st) == {"status": "completed"}


# ------------------------------------------------------------------------------------------ approval


def test_approval_small_order_skips_approval(approval):
    module, client = approval
    iid = client.schedule_new_workflow(module.approval_workflow, input={"id": "o1", "amount": 1000})
    st = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    assert completed_output(st) == {"status": "completed"}
    names = [e.name for e in client.get_history(iid) if e.event_type == "TaskScheduled"]
    assert names == ["process_order"]


def test_approval_large_order_approved(approval):
    module, client = approval
    iid = client.schedule_new_workflow("approval_workflow", input={"id": "o2", "amount": 1000.01}, instance_id="o2")
    # it asked for approval and now waits for the decision, racing a 3-day timer
    def waiting():
        hist = client.get_history(iid)
        return [e for e in hist if e.event_type == "TimerCreated"]

    timers = wait_until(waiting, what="approval timer created")
    fire_at = timers[0].extra.get("fire_at")  # epoch seconds, where the engine records it
    if isinstance(fire_at, (int, float)):
        fire = datetime.fromtimestamp(fire_at, tz=timezone.utc)
        assert abs(fire - (datetime.now(timezone.utc) + timedelta(days=3))) < timedelta(minutes=1)
    assert client.get_workflow_state(iid).runtime_status == S.RUNNING
    client.raise_workflow_event(iid, "approval_decision", data={"approved": True, "reason": "fine"})
    st = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    assert completed_output(st) == {"status": "completed"}
    names = [e.name for e in client.get_history(iid) if e.event_type == "TaskScheduled"]
    assert names == ["request_approval", "process_order"]


def test_approval_large_order_rejected_with_reason(approval):
    module, client = approval
    iid = client.schedule_new_workflow(module.approval_workflow, input={"id": "o3", "amount": 5000})
    client.raise_workflow_event(iid, "approval_decision", data={"approved": False, "reason": "too expensive"})
    st = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    assert completed_output(st) == {"status": "rejected", "reason": "too expensive"}
    names = [e.name for e in client.get_history(iid) if e.event_type == "TaskScheduled"]
    assert names == ["request_approval"]


def test_approval_timeout_rejects(store):
    module = load("approval")
    module.APPROVAL_TIMEOUT = timedelta(milliseconds=200)  # three days, shortened for the test
    client = wf.WorkflowClient()
    with module.wfr:
        iid = client.schedule_new_workflow(module.approval_workflow, input={"id": "o4", "amount": 2000})
        st = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    assert completed_output(st) == {"status": "rejected", "reason": "approval_timeout"}


def test_approval_through_cli_style_names(approval):
    """The walkthrough's shape: start by name with an explicit id, event name in another case."""
    module, client = approval
    client.schedule_new_workflow("approval_workflow", input={"id": "order-1001", "amount": 1500},
                                 instance_id="order-1001")
    client.raise_workflow_event("order-1001", "Approval_Decision", data={"approved": True})
    st = client.wait_for_workflow_completion("order-1001", timeout_in_seconds=10)
    assert completed_output(st) == {"status": "completed"}


# --------------------------------------------------------------------------------------------- tasks


def test_tasks_workflow_processes_items(store):
    module = load("tasks")
    client = wf.WorkflowClient()
    with module.wfr:
        iid = client.schedule_new_workflow(
            module.task_workflow,
            input={"id": "t1", "items": [{"sku": "a", "quantity": 2, "price": 1.25}, {"sku": "b", "price": 3}]},
        )
        st = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    out = completed_output(st)
    assert out == {"status": "completed", "id": "t1", "items": 2, "total": 5.5, "lines": {"a": 2.5, "b": 3.0}}
    assert json.loads(st.serialized_custom_status) == {"stage": "done"}
    names = [e.name for e in client.get_history(iid) if e.event_type == "TaskScheduled"]
    assert names[0] == "validate_task" and names[-1] == "summarize"
    assert names.count("process_item") == 2


def test_tasks_workflow_rejects_invalid_task(store):
    module = load("tasks")
    client = wf.WorkflowClient()
    with module.wfr:
        iid = client.schedule_new_workflow("task_workflow", input={"id": "t2", "items": [{"quantity": 1}]})
        st = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
    out = completed_output(st)
    assert out["status"] == "invalid"
    assert "sku" in out["reason"]
