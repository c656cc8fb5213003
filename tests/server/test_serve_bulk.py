"""Bulk operations through wf serve: the real `wf --url` against a real `wf serve` process (one
request per batch), and the bulk endpoints driven with httpx (dry run, ids or filter, bad input)."""

from __future__ import annotations

import httpx
import pytest
from wf_testing import seed_waiting

from serve_app import make_runtime
from serve_support import APP_SPEC, run_wf, wait_until, wf_env
from wf.server import create_app

pytestmark = pytest.mark.timeout(120)

TOKEN = "bulk-Token-77aa"
H = {"dapr-api-token": TOKEN}
WF = "/v1.0/workflows/dapr"


def counts(api: httpx.Client, name: str | None = None) -> dict[str, int]:
    out: dict[str, int] = {}
    token = None
    while True:
        params = {"limit": 1000, **({"continuationToken": token} if token else {}), **({"name": name} if name else {})}
        body = api.get(WF, params=params).json()
        for item in body["instances"]:
            out[item["runtimeStatus"]] = out.get(item["runtimeStatus"], 0) + 1
        token = body["continuationToken"]
        if not token:
            return out


def test_bulk_through_a_real_wf_serve_with_its_worker(serve_process, tmp_path):
    db = str(tmp_path / "serve.db")
    seed_waiting(db, 10_000, "approval_workflow", prefix="hold")
    seed_waiting(db, 1_200, "approval_workflow", prefix="go")
    s = serve_process("--app", APP_SPEC, token=TOKEN, db=db)
    env = wf_env(tmp_path, WF_URL=s.url, WF_API_TOKEN=TOKEN)
    with httpx.Client(base_url=s.url, headers=H, timeout=30) as api:
        r = run_wf(env, "suspend", "--all", "-s", "RUNNING", "-r", "freeze", timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "Suspended 11200 instances (status RUNNING; app default)\n"
        assert counts(api) == {"SUSPENDED": 11_200}
        r = run_wf(env, "resume", *[f"go-{i:06d}" for i in range(1_200)], timeout=120)
        assert r.returncode == 0 and r.stdout.startswith("Resumed 1200 instances (ids go-000000, "), r.stderr
        r = run_wf(env, "raise-event", "--all", "-s", "RUNNING", "approval_decision", "-x", '{"approved": true}',
                   timeout=120)
        assert r.returncode == 0 and r.stdout.startswith("Raised approval_decision on 1200 instances"), r.stderr
        wait_until(lambda: counts(api).get("COMPLETED") == 1_200, 60, "the server's worker to complete them")
        r = run_wf(env, "terminate", "--all", "--dry-run")
        lines = r.stdout.splitlines()
        assert len(lines) == 10_001 and lines[0] == "hold-000000" and len(set(lines[:-1])) == 10_000
        assert lines[-1] == "Would terminate 10000 instances (all; app default); dry run, nothing changed"
        r = run_wf(env, "terminate", "--all", "-r", "gave up", timeout=120)
        assert r.returncode == 0 and r.stdout == "Terminated 10000 instances (all; app default)\n", r.stderr
        assert counts(api) == {"COMPLETED": 1_200, "TERMINATED": 10_000}


@pytest.fixture
def api(thread_server, serve_db):
    seed_waiting(serve_db, 5, "approval_workflow", prefix="w")
    server = thread_server(create_app(serve_db, token=TOKEN, runtime=make_runtime(serve_db)))
    with httpx.Client(base_url=server.url, headers=H, timeout=10) as c:
        yield c


def test_dry_run_lists_the_selection_and_changes_nothing(api):
    r = api.post(f"{WF}/terminate", json={"name": "approval_workflow", "dryRun": True})
    assert r.status_code == 200
    assert r.json() == {"dryRun": True, "matchingInstanceCount": 5, "instanceIDs": [f"w-{i:06d}" for i in range(5)]}
    assert counts(api) == {"RUNNING": 5}


def test_ids_and_filters_return_the_summary(api):
    r = api.post(f"{WF}/suspend", json={"instanceIDs": ["w-000000", "w-000001", "nope"], "reason": "x"})
    assert r.status_code == 200
    body = r.json()
    assert (body["done"], body["skipped"], body["failed"]) == (2, 0, 1)
    assert body["failures"] == [{"instanceID": "nope", "reason": "not found"}]
    r = api.post(f"{WF}/resume", json={"status": ["SUSPENDED", "RUNNING"]})
    assert r.json()["done"] == 2 and r.json()["skippedByStatus"] == {"RUNNING": 3}
    r = api.post(f"{WF}/raiseEvent", json={"instanceIDs": ["w-000004"], "eventName": "approval_decision",
                                           "data": {"approved": True}})
    assert r.status_code == 200 and r.json()["done"] == 1
    wait_until(lambda: api.get(f"{WF}/w-000004").json()["runtimeStatus"] == "COMPLETED", 20, "w-000004 done")
    r = api.post(f"{WF}/terminate", json={"output": {"why": "test"}, "recursive": False})
    assert r.json()["done"] == 4
    assert api.get(f"{WF}/w-000000").json()["properties"]["dapr.workflow.output"] == '{"why": "test"}'


@pytest.mark.parametrize("path, body, fragment", [
    ("terminate", {"instanceIDs": ["a"], "status": "RUNNING"}, "not both"),
    ("terminate", {"instanceIDs": "a"}, "instanceIDs must be a list"),
    ("terminate", {"instanceIDs": ["bad id!"]}, "invalid"),
    ("terminate", {"eventName": "x"}, "unknown keys eventName"),
    ("suspend", {"status": "BOGUS"}, "unknown status"),
    ("resume", {"dryRun": "yes"}, "dryRun must be true or false"),
    ("raiseEvent", {"data": 1}, "eventName"),
    ("terminate", [1, 2], "JSON object"),
    ("terminate", {"opID": "a b"}, "opID"),
    ("terminate", {"instanceIDs": ["a"] * 10_001}, "at most 10000"),
])
def test_bad_bulk_requests_are_400_and_change_nothing(api, path, body, fragment):
    r = api.post(f"{WF}/{path}", json=body)
    assert r.status_code == 400, r.text
    assert fragment in r.json()["message"]
    assert counts(api) == {"RUNNING": 5}
