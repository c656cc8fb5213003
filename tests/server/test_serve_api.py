"""wf serve's HTTP API on a real uvicorn server (in a thread, on an OS-given loopback port),
driven with httpx and with WorkflowClient(url=...)."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

import wf
from serve_app import make_runtime
from serve_support import wait_until
from wf.server import create_app

pytestmark = pytest.mark.timeout(60)

TOKEN = "serve-Token-3a7f"
H = {"dapr-api-token": TOKEN}
S = wf.WorkflowStatus


@pytest.fixture
def server(thread_server, serve_db):
    """A server with the test workflows running in-process (as `wf serve --app`)."""
    return thread_server(create_app(serve_db, token=TOKEN, runtime=make_runtime(serve_db)))


@pytest.fixture
def api(server):
    with httpx.Client(base_url=server.url, headers={**H, "Content-Type": "application/json"}, timeout=10) as c:
        yield c


def status_of(api: httpx.Client, iid: str, prefix: str = "/v1.0") -> str | None:
    r = api.get(f"{prefix}/workflows/dapr/{iid}")
    return r.json()["runtimeStatus"] if r.status_code == 200 else None


def test_start_get_raise_event_with_dapr_shapes(api):
    r = api.post("/v1.0/workflows/dapr/approval_workflow/start", params={"instanceID": "order-1"},
                 content=b'{"id": "order-1", "amount": 1500}')
    assert r.status_code == 202 and r.json() == {"instanceID": "order-1"}
    wait_until(lambda: status_of(api, "order-1") == "RUNNING", what="order-1 running")
    doc = api.get("/v1.0/workflows/dapr/order-1").json()
    assert set(doc) == {"instanceID", "workflowName", "createdAt", "lastUpdatedAt", "runtimeStatus", "properties"}
    assert doc["workflowName"] == "approval_workflow" and doc["createdAt"].endswith("Z")
    assert json.loads(doc["properties"]["dapr.workflow.input"]) == {"id": "order-1", "amount": 1500}
    assert doc["properties"]["dapr.workflow.custom_status"] == ""
    assert "dapr.workflow.output" not in doc["properties"]

    r = api.post("/v1.0/workflows/dapr/order-1/raiseEvent/approval_decision", content=b'{"approved": true}')
    assert r.status_code == 202 and r.content == b""
    wait_until(lambda: status_of(api, "order-1") == "COMPLETED", what="order-1 completed")
    props = api.get("/v1.0/workflows/dapr/order-1").json()["properties"]
    assert json.loads(props["dapr.workflow.output"]) == {"order": "order-1", "approved": True}
    assert props["wf.completed_at"].endswith("Z") and props["wf.app_id"] == "default"


def test_start_without_an_id_and_the_beta1_prefix(api):
    r = api.post("/v1.0-beta1/workflows/dapr/doubler/start", content=b"21")
    assert r.status_code == 202
    iid = r.json()["instanceID"]
    assert len(iid) == 32
    wait_until(lambda: status_of(api, iid, "/v1.0-beta1") == "COMPLETED", what="doubler completed")
    props = api.get(f"/v1.0-beta1/workflows/dapr/{iid}").json()["properties"]
    assert props["dapr.workflow.output"] == "42" and props["dapr.workflow.custom_status"] == '"doubling"'


def test_failure_details_and_history(api):
    api.post("/v1.0/workflows/dapr/failing/start", params={"instanceID": "f1"}, content=b'"nope"')
    wait_until(lambda: status_of(api, "f1") == "FAILED", what="f1 failed")
    props = api.get("/v1.0/workflows/dapr/f1").json()["properties"]
    assert props["dapr.workflow.failure.error_type"] == "ValueError" or "nope" in props[
        "dapr.workflow.failure.error_message"]
    events = api.get("/v1.0/workflows/dapr/f1/history").json()["events"]
    types = [e["event_type"] for e in events]
    assert types[0] == "ExecutionStarted" and "TaskFailed" in types
    assert set(events[0]) >= {"event_id", "event_type", "timestamp", "name", "task_scheduled_id", "data",
                              "failure_details"}


def test_suspend_resume_terminate_purge_and_their_conflicts(api):
    api.post("/v1.0/workflows/dapr/approval_workflow/start", params={"instanceID": "c1"}, content=b"{}")
    wait_until(lambda: status_of(api, "c1") == "RUNNING", what="c1 running")
    assert api.post("/v1.0/workflows/dapr/c1/pause", params={"reason": "hold"}).status_code == 202
    assert status_of(api, "c1") == "SUSPENDED"
    assert api.post("/v1.0/workflows/dapr/c1/pause").status_code == 202  # a repeat is a no-op
    assert api.post("/v1.0/workflows/dapr/c1/resume").status_code == 202
    r = api.post("/v1.0/workflows/dapr/c1/purge")
    assert r.status_code == 409 and r.json()["errorCode"] == "ERR_INVALID_STATE"
    assert api.post("/v1.0/workflows/dapr/c1/terminate", content=b'"bye"').status_code == 202
    doc = api.get("/v1.0/workflows/dapr/c1").json()
    assert doc["runtimeStatus"] == "TERMINATED" and doc["properties"]["dapr.workflow.output"] == '"bye"'
    r = api.post("/v1.0/workflows/dapr/c1/pause")
    assert r.status_code == 409 and "TERMINATED" in r.json()["message"]
    r = api.post("/v1.0/workflows/dapr/c1/purge")
    assert r.status_code == 202 and r.json() == {"deletedInstanceCount": 1}
    r = api.get("/v1.0/workflows/dapr/c1")
    assert r.status_code == 404 and r.json() == {
        "errorCode": "ERR_INSTANCE_ID_NOT_FOUND",
        "message": "unable to find workflow with the provided instance ID: c1"}


def test_start_if_exists_and_start_time(api):
    p = "/v1.0/workflows/dapr/approval_workflow/start"
    assert api.post(p, params={"instanceID": "x1"}).status_code == 202
    assert api.post(p, params={"instanceID": "x1"}).json() == {"instanceID": "x1"}  # return: the default
    r = api.post(p, params={"instanceID": "x1", "ifExists": "error"})
    assert r.status_code == 409 and r.json()["errorCode"] == "ERR_INSTANCE_ID_ALREADY_EXISTS"
    r = api.post(p, params={"instanceID": "later", "startTime": "1h"})
    assert r.status_code == 202 and status_of(api, "later") == "PENDING"


def test_list_filters_and_continuation_tokens(api):
    for i in range(7):
        api.post("/v1.0/workflows/dapr/approval_workflow/start", params={"instanceID": f"l{i}"}, content=b"{}")
    api.post("/v1.0/workflows/dapr/doubler/start", params={"instanceID": "d1"}, content=b"1")
    wait_until(lambda: status_of(api, "d1") == "COMPLETED", what="d1 completed")

    seen, token, pages = [], None, 0
    while True:
        params = {"name": "approval_workflow", "limit": 3}
        if token:
            params["continuationToken"] = token
        body = api.get("/v1.0/workflows/dapr", params=params).json()
        seen += [d["instanceID"] for d in body["instances"]]
        pages += 1
        token = body["continuationToken"]
        if not token:
            break
    assert pages == 3 and seen == [f"l{i}" for i in reversed(range(7))]  # newest first, each once

    body = api.get("/v1.0/workflows/dapr", params=[("status", "COMPLETED"), ("status", "failed")]).json()
    assert [d["instanceID"] for d in body["instances"]] == ["d1"]
    body = api.get("/v1.0/workflows/dapr", params={"status": "RUNNING,PENDING", "createdAfter": "2000-01-01"}).json()
    assert len(body["instances"]) == 7
    body = api.get("/v1.0/workflows/dapr", params={"createdBefore": "2000-01-01T00:00:00Z"}).json()
    assert body == {"instances": [], "continuationToken": None}


def test_bulk_purge_with_dry_run_and_older_than(api):
    for i in range(3):
        api.post("/v1.0/workflows/dapr/doubler/start", params={"instanceID": f"p{i}"}, content=b"1")
    api.post("/v1.0/workflows/dapr/approval_workflow/start", params={"instanceID": "live"}, content=b"{}")
    wait_until(lambda: all(status_of(api, f"p{i}") == "COMPLETED" for i in range(3)), what="p* completed")
    r = api.post("/v1.0/workflows/dapr/purge", json={"olderThan": "1h"})
    assert r.json() == {"deletedInstanceCount": 0}  # they finished a moment ago
    r = api.post("/v1.0/workflows/dapr/purge", json={"dryRun": True})
    assert r.status_code == 200 and r.json() == {"dryRun": True, "matchingInstanceCount": 3}
    r = api.post("/v1.0/workflows/dapr/purge", json={"status": ["COMPLETED"], "olderThan": "0s"})
    assert r.json() == {"deletedInstanceCount": 3}
    assert status_of(api, "live") in ("RUNNING", "PENDING")
    r = api.post("/v1.0/workflows/dapr/purge", json={"status": "RUNNING"})
    assert r.status_code == 400 and "force" in r.json()["message"]


def test_app_ids_are_separate(api):
    api.post("/v1.0/workflows/dapr/approval_workflow/start", params={"instanceID": "a1", "appID": "billing"})
    assert api.get("/v1.0/workflows/dapr/a1").status_code == 404
    doc = api.get("/v1.0/workflows/dapr/a1", params={"appID": "billing"}).json()
    assert doc["properties"]["wf.app_id"] == "billing" and doc["runtimeStatus"] == "PENDING"
    r = api.get("/v1.0/workflows/dapr/a1", params={"appID": "no good"})
    assert r.status_code == 400


@pytest.mark.parametrize("method,path,kwargs,code", [
    ("GET", "/v1.0/workflows/dapr/bad%20id", {}, "ERR_INSTANCE_ID_INVALID"),
    ("POST", "/v1.0/workflows/dapr/w/start?instanceID=" + "x" * 65, {}, "ERR_INSTANCE_ID_INVALID"),
    ("POST", "/v1.0/workflows/dapr/w/start", {"content": b"{nope"}, "ERR_MALFORMED_REQUEST"),
    ("POST", "/v1.0/workflows/dapr/w/start", {"content": b"\xff\xfe"}, "ERR_MALFORMED_REQUEST"),
    ("POST", "/v1.0/workflows/dapr/w/start", {"content": b"[" * 100_000}, "ERR_MALFORMED_REQUEST"),
    ("POST", "/v1.0/workflows/dapr/w/start?startTime=soon", {}, "ERR_MALFORMED_REQUEST"),
    ("POST", "/v1.0/workflows/dapr/w/start?ifExists=maybe", {}, "ERR_MALFORMED_REQUEST"),
    ("POST", "/v1.0/workflows/other/w/start", {}, "ERR_WORKFLOW_COMPONENT_NOT_FOUND"),
    ("GET", "/v1.0/workflows/dapr?status=DONE", {}, "ERR_MALFORMED_REQUEST"),
    ("GET", "/v1.0/workflows/dapr?limit=0", {}, "ERR_MALFORMED_REQUEST"),
    ("GET", "/v1.0/workflows/dapr?limit=ten", {}, "ERR_MALFORMED_REQUEST"),
    ("GET", "/v1.0/workflows/dapr?createdAfter=yesterday", {}, "ERR_MALFORMED_REQUEST"),
    ("GET", "/v1.0/workflows/dapr?continuationToken=%00garbage", {}, "ERR_MALFORMED_REQUEST"),
    ("GET", "/v1.0/workflows/dapr?fetchPayloads=perhaps", {}, "ERR_MALFORMED_REQUEST"),
    ("POST", "/v1.0/workflows/dapr/purge", {"content": b"[1]"}, "ERR_MALFORMED_REQUEST"),
    ("POST", "/v1.0/workflows/dapr/purge", {"json": {"dryrun": True}}, "ERR_MALFORMED_REQUEST"),
    ("POST", "/v1.0/workflows/dapr/purge", {"json": {"olderThan": "-5h"}}, "ERR_MALFORMED_REQUEST"),
    ("POST", "/v1.0/workflows/dapr/purge", {"json": {"force": "yes"}}, "ERR_MALFORMED_REQUEST"),
    ("POST", "/v1.0/workflows/dapr/ghost/raiseEvent/go", {"content": b"1"}, "ERR_INSTANCE_ID_NOT_FOUND"),
    ("POST", "/v1.0/workflows/dapr/ghost/terminate?recursive=sometimes", {}, "ERR_MALFORMED_REQUEST"),
    ("GET", "/v1.0/workflows/dapr/ghost/history", {}, "ERR_INSTANCE_ID_NOT_FOUND"),
    ("GET", "/v1.0/nothing", {}, "ERR_ROUTE_NOT_FOUND"),
])
def test_bad_requests_get_dapr_errors_never_a_500(api, method, path, kwargs, code):
    r = api.request(method, path, **kwargs)
    assert r.status_code in (400, 404), (r.status_code, r.text)
    doc = r.json()
    assert doc["errorCode"] == code and doc["message"] and "Traceback" not in r.text


def test_token_health_metadata_and_openapi(server):
    assert httpx.get(f"{server.url}/v1.0/workflows/dapr/x").status_code == 401
    r = httpx.get(f"{server.url}/v1.0/workflows/dapr/x", headers={"dapr-api-token": TOKEN + "x"})
    assert r.status_code == 401 and r.json()["errorCode"] == "ERR_UNAUTHORIZED" and TOKEN not in r.text
    assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"
    assert httpx.get(f"{server.url}/v1.0/healthz").status_code == 204
    meta = httpx.get(f"{server.url}/v1.0/metadata", headers=H).json()
    assert meta["id"] == "default" and meta["wf"]["engine"] == "wf" and meta["wf"]["version"] == wf.__version__
    assert {"list", "history", "bulkPurge"} <= set(meta["wf"]["extensions"])
    assert meta["workflows"]["connectedWorkers"] == 1
    doc = httpx.get(f"{server.url}/openapi.json").json()
    paths = doc["paths"]
    assert "/v1.0/workflows/{component}/{name}/start" in paths and "/v1.0/workflows/{component}" in paths
    assert "/v1.0/workflows/{component}/{instance_id}/history" in paths
    assert not [p for p in paths if p.startswith("/v1.0-beta1")]  # served, not documented twice


def test_request_bodies_are_capped(thread_server, serve_db):
    s = thread_server(create_app(serve_db, max_body=1024))
    big = b'"' + b"x" * 2000 + b'"'
    j = {"Content-Type": "application/json"}
    r = httpx.post(f"{s.url}/v1.0/workflows/dapr/w/start?instanceID=big", content=big, headers=j)
    assert r.status_code == 413 and r.json()["errorCode"] == "ERR_REQUEST_TOO_LARGE"

    def chunks():  # no Content-Length: the cap counts what arrives
        for _ in range(4):
            yield b"x" * 600

    r = httpx.post(f"{s.url}/v1.0/workflows/dapr/w/start?instanceID=big", content=chunks(), headers=j)
    assert r.status_code == 413
    r = httpx.get(f"{s.url}/v1.0/workflows/dapr/big")
    assert r.status_code == 404  # nothing was started
    assert httpx.post(f"{s.url}/v1.0/workflows/dapr/w/start?instanceID=small", content=b"1",
                      headers=j).status_code == 202


def test_workflow_client_over_wf_serve(server):
    with wf.WorkflowClient(url=server.url, token=TOKEN) as client:
        iid = client.schedule_new_workflow("approval_workflow", input={"id": "o-9"}, instance_id="o-9")
        assert client.wait_for_workflow_start(iid, timeout_in_seconds=15).runtime_status == S.RUNNING
        client.pause_workflow(iid, reason="check")
        assert client.get_workflow_state(iid).runtime_status == S.SUSPENDED
        client.resume_workflow(iid)
        client.raise_workflow_event(iid, "approval_decision", data={"approved": True})
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=15)
        assert state.runtime_status == S.COMPLETED
        assert json.loads(state.serialized_output) == {"order": "o-9", "approved": True}
        assert state.completed_at is not None and state.app_id == "default"

        d = client.schedule_new_workflow("doubler", input=5)
        assert json.loads(client.wait_for_workflow_completion(d, timeout_in_seconds=15).serialized_output) == 10
        ids = [s.instance_id for s in client.list_workflows(status="COMPLETED")]
        assert ids == [d, iid]
        assert [s.instance_id for s in client.list_workflows(name="doubler")] == [d]
        history = client.get_history(iid)
        assert "EventRaised" in [e.event_type for e in history]
        assert "ExecutionSuspended" in [e.event_type for e in history]

        t = client.schedule_new_workflow("approval_workflow", instance_id="t-1")
        client.terminate_workflow(t, output={"why": "test"})
        state = client.wait_for_workflow_completion(t, timeout_in_seconds=15)
        assert state.runtime_status == S.TERMINATED and json.loads(state.serialized_output) == {"why": "test"}
        assert client.purge_workflow(t) == 1
        assert client.get_workflow_state(t) is None
        assert client.purge_workflows(older_than=timedelta(hours=1)) == 0
        assert client.purge_workflows(older_than=timedelta(0), dry_run=True) == 2
        assert client.purge_workflows(status="COMPLETED") == 2
        assert list(client.list_workflows()) == []
        with pytest.raises(wf.NotFoundError):
            client.raise_workflow_event("ghost", "x")
        with pytest.raises(wf.InvalidStateError):
            client.purge_workflow(client.schedule_new_workflow("approval_workflow", instance_id="live"))


def test_workflow_client_in_another_app(server):
    with wf.WorkflowClient(url=server.url, token=TOKEN, app_id="billing") as billing, \
            wf.WorkflowClient(url=server.url, token=TOKEN) as default:
        billing.schedule_new_workflow("doubler", input=1, instance_id="b-1")
        assert billing.get_workflow_state("b-1").app_id == "billing"
        assert default.get_workflow_state("b-1") is None
        assert [s.instance_id for s in billing.list_workflows()] == ["b-1"]


def test_a_wrong_token_from_the_client_is_an_auth_error(server):
    with wf.WorkflowClient(url=server.url, token="nope") as client:
        with pytest.raises(wf.WfError, match="check the API token") as info:
            client.get_workflow_state("x")
        assert "nope" not in str(info.value)
