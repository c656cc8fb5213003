"""The log of a real `wf serve` process: each HTTP request and gRPC call (never the token), the
failures and the app's own logging of its --app workers, start, drain and stop."""

from __future__ import annotations

import json
import socket

import httpx
import pytest
from serve_support import HERE, run_wf, wait_until, wf_env

OPS_APP = f"{HERE.parent / 'cli' / 'ops_apps.py'}:wfr"
TOKEN = "Log-Token-5ecret-99"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_logs_requests_calls_and_failures_never_the_token(serve_process, tmp_path):
    pytest.importorskip("grpc", reason="the gRPC door comes with the dapr extra")
    grpc_port = free_port()
    s = serve_process("--log-format", "json", "--app", OPS_APP, "--grpc-port", str(grpc_port), token=TOKEN)
    auth = {"dapr-api-token": TOKEN}
    r = httpx.get(f"{s.url}/v1.0/workflows/dapr/nobody", headers=auth,
                  params={"token": TOKEN, "dapr-api-token": TOKEN, "instanceID": "x"})
    assert r.status_code == 404
    assert httpx.get(f"{s.url}/v1.0/metadata").status_code == 401
    assert httpx.post(f"{s.url}/v1.0/workflows/dapr/fails/start", params={"instanceID": "sv1"},
                      headers=auth).status_code == 202
    env = wf_env(tmp_path)
    assert run_wf(env, "--url", s.url, "--token", TOKEN, "wait", "sv1", "--timeout", "30s", "-q").returncode == 3
    grpc_url = f"grpc://127.0.0.1:{grpc_port}"
    assert run_wf(env, "--url", grpc_url, "--token", TOKEN, "get", "nobody").returncode == 1
    assert run_wf(env, "--url", grpc_url, "--token", "not-the-token", "get", "nobody").returncode == 1
    wait_until(lambda: "UNAUTHENTICATED" in s.log.read_text(), 10, "the refused gRPC call logged")
    log = s.stop()

    assert TOKEN not in log
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert records and len(records) == len([line for line in log.splitlines() if line.strip()]), log[-3000:]
    access = [r for r in records if r["logger"] == "wf.serve.access"]
    seen = {(r["method"], r["path"], r["query"], r["status"]) for r in access}
    assert ("GET", "/v1.0/workflows/dapr/nobody", "token=***&dapr-api-token=***&instanceID=x", 404) in seen
    assert ("GET", "/v1.0/metadata", "", 401) in seen  # refused requests too
    assert ("POST", "/v1.0/workflows/dapr/fails/start", "instanceID=sv1", 202) in seen
    assert all(isinstance(r["duration_ms"], (int, float)) and r["client"] == "127.0.0.1" for r in access)
    assert "GET /v1.0/metadata 401 " in next(r["message"] for r in access if r["path"] == "/v1.0/metadata")

    calls = {(r["method"].rsplit("/", 1)[-1], r["status"]) for r in records if r["logger"] == "wf.serve.grpc"}
    assert {("GetInstance", "OK"), ("GetInstance", "UNAUTHENTICATED")} <= calls  # (Dapr: not found is OK, exists=false)

    failed = [r for r in records if r.get("instance_id") == "sv1" and r.get("status") == "FAILED"]
    assert len(failed) == 1 and failed[0]["workflow"] == "fails" and "card declined" in failed[0]["error"]
    assert any(r.get("activity") == "always_fails" and r["instance_id"] == "sv1" for r in records)
    assert any(r["logger"] == "ops.app" and r["message"] == "charging the card" for r in records)

    messages = [r["message"] for r in records]
    assert messages[0].startswith(f"wf serve: listening on {s.url}; gRPC on port {grpc_port}")
    assert any(m.startswith("wf serve: stopping; finishing the requests in progress") for m in messages)
    assert any("draining (up to" in m for m in messages) and messages[-1] == "wf serve: stopped"


def test_serve_log_level_warning_hides_requests(serve_process):
    s = serve_process("--log-level", "warning")
    assert httpx.get(f"{s.url}/v1.0/metadata").status_code == 200
    log = s.stop()
    assert "/v1.0/metadata" not in log and "wf serve: listening" not in log and "INFO" not in log
