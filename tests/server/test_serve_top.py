"""`wf top` over wf serve: the extensions it reads (GET /v1.0/rates; list ?order= and ?allApps=;
countBy with allApps) on a real uvicorn server, and the real `wf --url ... top` on a pseudo-terminal
against a real `wf serve` that runs the workflows, with a read-only token."""

from __future__ import annotations

import httpx
import pytest
from terminal_testing import Terminal

from serve_app import make_runtime
from serve_support import APP_SPEC, run_wf, wait_until, wf_env
from wf.server import create_app

pytestmark = pytest.mark.timeout(120)

TOKEN = "serve-Top-Token-5c1d"


@pytest.fixture
def api(thread_server, serve_db):
    server = thread_server(create_app(serve_db, token=TOKEN, runtime=make_runtime(serve_db)))
    with httpx.Client(base_url=server.url, headers={"dapr-api-token": TOKEN}, timeout=10) as c:
        yield c


def start(api: httpx.Client, name: str, iid: str, body: bytes = b"1", app: str | None = None) -> None:
    params = {"instanceID": iid, **({"appID": app} if app else {})}
    r = api.post(f"/v1.0/workflows/dapr/{name}/start", params=params, content=body,
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 202, r.text


def test_rates_orders_and_every_app_through_the_api(api):
    start(api, "doubler", "d1")
    start(api, "doubler", "d2")
    start(api, "failing", "f1", b'"boom"')
    start(api, "approval_workflow", "w1", b'{"id": 1}')
    start(api, "approval_workflow", "w2", b'{"id": 2}')
    start(api, "doubler", "b1", app="billing")  # no worker of billing here: it stays PENDING

    def counts(**extra: str) -> dict:
        return api.get("/v1.0/workflows/dapr", params={"countBy": "status", **extra}).json()["counts"]

    wait_until(lambda: counts() == {"COMPLETED": 2, "RUNNING": 2, "FAILED": 1}, 30, "the instances to settle")
    assert counts(allApps="true") == {"COMPLETED": 2, "RUNNING": 2, "FAILED": 1, "PENDING": 1}

    r = api.get("/v1.0/rates", params={"minutes": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["minutes"] == 5 and body["started"][0] == 5 and body["completed"][0] == 2 and body["failed"][0] == 1
    assert all(len(body[k]) == 5 and sum(body[k][1:]) == 0 for k in ("started", "completed", "failed"))
    assert api.get("/v1.0/rates", params={"allApps": "true"}).json()["started"][0] == 6
    assert len(api.get("/v1.0/rates").json()["started"]) == 15  # the default
    for bad in ("0", "61", "many"):
        r = api.get("/v1.0/rates", params={"minutes": bad})
        assert r.status_code == 400 and r.json()["errorCode"] == "ERR_MALFORMED_REQUEST", bad

    def ids(**params: str) -> list[str]:
        r = api.get("/v1.0/workflows/dapr", params=params)
        assert r.status_code == 200, r.text
        return [i["instanceID"] for i in r.json()["instances"]]

    assert ids(status="RUNNING", order="oldest") == ["w1", "w2"]
    assert ids(order="oldest", allApps="true")[-1] == "b1" and len(ids(allApps="true")) == 6
    assert ids(order="finished") == ids(order="finished", status="COMPLETED,FAILED") and len(ids(order="finished")) == 3
    assert ids(order="oldest", limit="1") == ["d1"]
    r = api.get("/v1.0/workflows/dapr", params={"order": "sideways"})
    assert r.status_code == 400 and "order" in r.json()["message"]
    meta = api.get("/v1.0/metadata").json()["wf"]["extensions"]
    assert {"rates", "listOrder", "allApps"} <= set(meta)


def test_wf_top_through_a_real_wf_serve_with_a_read_token(serve_process, tmp_path):
    tokens = tmp_path / "tokens.toml"
    r = run_wf(wf_env(tmp_path), "serve", "token", "add", "watcher", "--role", "read", "--tokens", str(tokens))
    reader = r.stdout.strip()
    s = serve_process("--app", APP_SPEC, "--tokens", str(tokens), token="serve-Top-Admin-1")
    admin = wf_env(tmp_path, WF_URL=s.url, WF_API_TOKEN="serve-Top-Admin-1")
    for args in (("doubler", "-i", "d1", "-x", "1"), ("failing", "-i", "f1", "-x", '"card declined"'),
                 ("approval_workflow", "-i", "w1", "-x", "{}")):
        assert run_wf(admin, "run", *args).returncode == 0
    wait_until(lambda: run_wf(admin, "count", "-s", "RUNNING").stdout.strip() == "1"
               and run_wf(admin, "count", "-s", "FAILED").stdout.strip() == "1", 30, "the instances to settle")

    t = Terminal(["top", "--interval", "500ms"], wf_env(tmp_path, WF_URL=s.url, WF_API_TOKEN=reader))
    try:
        lines = t.wait_for(lambda ls: ls[-1].startswith("q quit") and any(line.startswith("f1 ") for line in ls),
                           what="wf top over wf serve")
        assert lines[0].startswith(f"wf top · app default · {s.url}")
        assert lines[1].split()[:8] == ["RUNNING", "1", "PENDING", "0", "FAILED", "1", "COMPLETED", "1"]
        assert next(line for line in lines if line.startswith("started")).split()[1] == "3"
        assert any(line.startswith("WORKERS (") and "unknown" not in line for line in lines)
        assert any(line.startswith("w1 ") and "approval_workflow" in line for line in lines)
        failure = next(line for line in lines if line.startswith("f1 "))
        assert failure.split()[1] == "failing" and "card declined" in failure
        assert t.end("q") == 0 and t.restored()
    finally:
        t.close()
