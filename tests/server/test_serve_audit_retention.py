"""Audit and retention through a real `wf serve`: the audit trail names the token, a bulk
operation's batches make one record, GET /v1.0/audit, GET / PUT / DELETE /v1.0/retention, and the
server applying the policy itself."""

from __future__ import annotations

import httpx
import pytest
from wf_testing import seed_waiting

from serve_support import APP_SPEC, run_wf, wait_until, wf_env

pytestmark = pytest.mark.timeout(120)

TOKEN = "audit-Token-5150"
H = {"dapr-api-token": TOKEN}


def test_audit_and_retention_through_a_real_wf_serve(serve_process, tmp_path):
    db = str(tmp_path / "serve.db")
    seed_waiting(db, 1_200, "approval_workflow", prefix="w")
    # The server applies the retention policy every 100 ms (wf_env drops the variable from the
    # test's own environment, so it is passed to the server process explicitly).
    s = serve_process("--app", APP_SPEC, token=TOKEN, db=db, env={"WF_RETENTION_INTERVAL": "100ms"})
    env = wf_env(tmp_path, WF_URL=s.url, WF_API_TOKEN=TOKEN)
    with httpx.Client(base_url=s.url, headers=H, timeout=30) as api:
        assert run_wf(env, "suspend", "w-000000", "-r", "look").returncode == 0
        r = run_wf(env, "terminate", "--all", "-s", "RUNNING", "-r", "cleanup", timeout=120)
        assert r.returncode == 0 and r.stdout.startswith("Terminated 1199 instances"), r.stderr
        rows = api.get("/v1.0/audit").json()["records"]
        assert [(x["operation"], x["instance_id"], x["selection"], x["count"], x["actor"], x["reason"])
                for x in rows] == [
            ("terminate", None, "status RUNNING", 1199, "api-token", "cleanup"),  # 3 requests, one record
            ("suspend", "w-000000", None, 1, "api-token", "look"),
        ]
        r = run_wf(env, "audit", "-w", "suspend", "-o", "json")
        assert r.returncode == 0 and '"instance_id": "w-000000"' in r.stdout
        assert api.get("/v1.0/audit", params={"operation": "bogus"}).status_code == 400
        assert api.get("/v1.0/audit", params={"limit": "0"}).status_code == 400

        # retention over HTTP, applied by the server (no other worker on this store)
        r = run_wf(env, "retention", "set", "--terminated", "1s", "--any-terminal", "720h")
        assert r.returncode == 0, r.stderr
        policy = api.get("/v1.0/retention").json()
        assert policy["terminated"] == "1s" and policy["anyTerminal"] == "30d" and policy["set"] is True
        wait_until(lambda: api.get("/v1.0/workflows/dapr/w-000001").status_code == 404, 30,
                   "the server to purge the terminated instances")
        assert run_wf(env, "get", "w-000000").returncode == 0  # still SUSPENDED: not finished
        shown = api.get("/v1.0/retention").json()
        assert shown["totalPurged"] == 1199
        assert api.put("/v1.0/retention", json={"completed": 5}).status_code == 400
        assert api.put("/v1.0/retention", json={"bogus": "1h"}).status_code == 400
        assert api.put("/v1.0/retention", json={"failed": "0s"}).status_code == 400
        assert api.delete("/v1.0/retention").json() == {"removed": True}
        assert api.get("/v1.0/retention").json()["set"] is False
