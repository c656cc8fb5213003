"""examples/management_app.py: the FastAPI service on WorkflowClient(url=...), against a real
`wf serve` app (in a thread) running the approval workflow of examples/approval.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import httpx
import pytest

import wf
from serve_support import wait_until
from wf.server import create_app

pytestmark = pytest.mark.timeout(60)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOKEN = "mgmt-Token-8e2b"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}_mgmt", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def orders(thread_server, serve_db):
    approval = load("approval")
    runtime = wf.WorkflowRuntime(db=serve_db)
    for name, fn in approval.wfr.workflows.items():
        runtime.register_workflow(fn, name=name)
    for name, fn in approval.wfr.activities.items():
        runtime.register_activity(fn, name=name)
    engine = thread_server(create_app(serve_db, token=TOKEN, runtime=runtime))
    client = wf.WorkflowClient(url=engine.url, token=TOKEN)
    service = thread_server(load("management_app").create_app(client))
    with httpx.Client(base_url=service.url, timeout=15) as http:
        yield http
    client.close()


def status(http: httpx.Client, order_id: str) -> str | None:
    r = http.get(f"/orders/{order_id}")
    return r.json()["status"] if r.status_code == 200 else None


def test_start_read_approve(orders):
    r = orders.post("/orders", json={"id": "1001", "amount": 1500})
    assert r.status_code == 201, r.text
    assert r.json()["instance_id"] == "order-1001" and r.json()["order"] == {"id": "1001", "amount": 1500.0}
    assert orders.post("/orders", json={"id": "1001", "amount": 1500}).status_code == 201  # idempotent
    wait_until(lambda: status(orders, "1001") == "RUNNING", what="order 1001 waiting for approval")

    r = orders.post("/orders/1001/approve", json={"approved": True, "reason": "within budget"})
    assert r.status_code == 202
    wait_until(lambda: status(orders, "1001") == "COMPLETED", what="order 1001 completed")
    assert orders.get("/orders/1001").json()["result"] == {"status": "completed"}

    r = orders.post("/orders/1001/approve", json={"approved": True})
    assert r.status_code == 409  # a finished workflow takes no more events


def test_a_small_order_needs_no_approval_and_a_rejection(orders):
    orders.post("/orders", json={"id": "7", "amount": 20})
    wait_until(lambda: status(orders, "7") == "COMPLETED", what="order 7 completed")
    orders.post("/orders", json={"id": "1002", "amount": 9000})
    wait_until(lambda: status(orders, "1002") == "RUNNING", what="order 1002 waiting")
    orders.post("/orders/1002/approve", json={"approved": False, "reason": "over budget"})
    wait_until(lambda: status(orders, "1002") == "COMPLETED", what="order 1002 decided")
    assert orders.get("/orders/1002").json()["result"] == {"status": "rejected", "reason": "over budget"}


def test_cancel_and_purge(orders):
    orders.post("/orders", json={"id": "1003", "amount": 5000})
    wait_until(lambda: status(orders, "1003") == "RUNNING", what="order 1003 waiting")
    assert orders.delete("/orders/1003").status_code == 409  # still running: not purged
    r = orders.post("/orders/1003/cancel", json={"reason": "customer changed their mind"})
    assert r.status_code == 200 and r.json()["status"] == "TERMINATED"
    assert r.json()["result"] == {"status": "cancelled", "reason": "customer changed their mind"}
    assert orders.delete("/orders/1003").status_code == 204
    assert orders.get("/orders/1003").status_code == 404
    assert orders.delete("/orders/1003").status_code == 404
    assert orders.post("/orders/1003/approve", json={"approved": True}).status_code == 404


def test_bad_orders_are_refused_by_the_service(orders):
    assert orders.post("/orders", json={"id": "no spaces", "amount": 1}).status_code == 422
    assert orders.post("/orders", json={"id": "8", "amount": -1}).status_code == 422
