"""The HTTP API of `wf serve` under bad input (a table: status, Dapr error body, store unchanged)
and under schemathesis (bounded: a few dozen generated requests, no server error, responses that
match the OpenAPI document). Skips while `wf serve` does not exist yet."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import wf
from rel_testing import store_digest
from serve_testing import serve  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(120)
TOKEN = "api-Token-77c2"
H = {"dapr-api-token": TOKEN}
HJ = {**H, "Content-Type": "application/json"}
P = "/v1.0/workflows/dapr"



def _token(text: str) -> str:
    """A continuation token crafted in the server's own shape (urlsafe base64 of JSON)."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# (id, method, path, body, headers, allowed statuses, error code or None)
ROWS = [
    ("unknown-instance", "GET", f"{P}/ghost", None, H, (404,), "ERR_INSTANCE_ID_NOT_FOUND"),
    ("unknown-history", "GET", f"{P}/ghost/history", None, H, (404,), "ERR_INSTANCE_ID_NOT_FOUND"),
    ("invalid-id", "GET", f"{P}/bad%20id", None, H, (400,), "ERR_INSTANCE_ID_INVALID"),
    ("over-long-id", "POST", f"{P}/collector/start?instanceID={'x' * 65}", b"0", HJ, (400,), "ERR_INSTANCE_ID_INVALID"),
    ("bad-json-input", "POST", f"{P}/collector/start?instanceID=j1", b"{not json", HJ, (400,), "ERR_MALFORMED_REQUEST"),
    ("nan-input", "POST", f"{P}/collector/start?instanceID=j2", b"NaN", HJ, (400,), "ERR_MALFORMED_REQUEST"),
    ("bad-json-event", "POST", f"{P}/live/raiseEvent/poke", b"[1,", HJ, (400,), "ERR_MALFORMED_REQUEST"),
    ("event-unknown-instance", "POST", f"{P}/ghost/raiseEvent/poke", b"1", HJ, (404,), "ERR_INSTANCE_ID_NOT_FOUND"),
    ("event-finished", "POST", f"{P}/done/raiseEvent/poke", b"1", HJ, (400, 409), None),
    ("suspend-finished", "POST", f"{P}/done/pause", None, H, (400, 409), None),
    ("resume-unknown", "POST", f"{P}/ghost/resume", None, H, (404,), "ERR_INSTANCE_ID_NOT_FOUND"),
    ("terminate-unknown", "POST", f"{P}/ghost/terminate", None, H, (404,), "ERR_INSTANCE_ID_NOT_FOUND"),
    ("purge-running", "POST", f"{P}/live/purge", None, H, (400, 409), None),
    ("list-bad-status", "GET", f"{P}?status=DONE", None, H, (400,), "ERR_MALFORMED_REQUEST"),
    ("list-bad-limit", "GET", f"{P}?limit=-3", None, H, (400,), None),
    ("list-bad-token", "GET", f"{P}?continuationToken=%00garbage", None, H, (400,), None),
    ("token-deeply-nested", "GET", f"{P}?continuationToken={_token('[' * 5000 + ']' * 5000)}", None, H, (400,),
     "ERR_MALFORMED_REQUEST"),
    ("token-huge-row-id", "GET", f"{P}?continuationToken={_token(json.dumps([1.0, 2**70]))}", None, H, (400,),
     "ERR_MALFORMED_REQUEST"),
    ("token-nan", "GET", f"{P}?continuationToken={_token('[NaN, 1]')}", None, H, (400,), "ERR_MALFORMED_REQUEST"),
    ("token-strings", "GET", f"{P}?continuationToken={_token(json.dumps(['1', '2']))}", None, H, (400,),
     "ERR_MALFORMED_REQUEST"),
    ("bulk-purge-bad-body", "POST", f"{P}/purge", b"{oops", HJ, (400,), "ERR_MALFORMED_REQUEST"),
    ("text-plain-body", "POST", f"{P}/collector/start?instanceID=tp", b"1", {**H, "Content-Type": "text/plain"},
     (415,), "ERR_UNSUPPORTED_MEDIA_TYPE"),
    ("form-body", "POST", f"{P}/live/terminate", b"a=1", {**H, "Content-Type": "application/x-www-form-urlencoded"},
     (415,), "ERR_UNSUPPORTED_MEDIA_TYPE"),
    ("foreign-origin", "POST", f"{P}/live/terminate", None, {**H, "Origin": "http://evil.example"}, (403,),
     "ERR_FORBIDDEN_ORIGIN"),
    ("foreign-host", "GET", f"{P}/done", None, {**H, "Host": "evil.example"}, (403,), "ERR_FORBIDDEN_HOST"),
    ("no-token", "GET", f"{P}/done", None, {}, (401,), None),
    ("wrong-token", "GET", f"{P}/done", None, {"dapr-api-token": "nope"}, (401,), None),
    ("unknown-route", "GET", "/v1.0/nothing/here", None, H, (404,), None),
    ("wrong-method", "DELETE", f"{P}/done", None, H, (404, 405), None),
    ("huge-body", "POST", f"{P}/collector/start?instanceID=huge", b"[" + b"1," * 20_000_000 + b"1]", HJ, (413,), None),
]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    """done (COMPLETED) and live (RUNNING) in a store, as test_bad_input.py builds them."""
    import crash_app

    path = tmp_path_factory.mktemp("http") / "seed.db"
    rt = wf.WorkflowRuntime(db=str(path))
    for name, fn in crash_app.wfr.workflows.items():
        rt.register_workflow(fn, name=name)
    for name, fn in crash_app.wfr.activities.items():
        rt.register_activity(fn, name=name)
    c = wf.WorkflowClient(db=str(path))
    with rt:
        c.schedule_new_workflow("collector", input=0, instance_id="done")
        c.schedule_new_workflow("victim", instance_id="live")
        c.wait_for_workflow_completion("done", timeout_in_seconds=10)
        c.wait_for_workflow_start("live", timeout_in_seconds=10)
    c.close()
    return path


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_http_bad_input(row, serve, seeded, tmp_path):
    import httpx

    rid, method, path, body, headers, statuses, code = row
    shutil.copyfile(seeded, tmp_path / "serve.db")
    s = serve(token=TOKEN)
    db = str(tmp_path / "serve.db")
    before = store_digest(db)
    try:
        r = httpx.request(method, s.url + path, content=body, headers=headers, timeout=60)
    except httpx.TransportError as exc:
        assert rid == "huge-body", f"{rid}: {exc!r}"
        r = None
    if r is not None:
        assert r.status_code in statuses, f"{rid}: {r.status_code} {r.text[:300]}"
        if r.status_code != 404 or code:
            doc = r.json()
            assert set(doc) >= {"errorCode", "message"} and doc["message"].strip(), doc
            assert "\n" not in doc["message"] and "Traceback" not in r.text
            if code:
                assert doc["errorCode"] == code, doc
    assert s.proc.poll() is None, "the server died"
    assert store_digest(db) == before, f"{rid} changed the store"
    log = s.stop()
    assert "Traceback" not in log, log[-2000:]


def test_schemathesis_against_the_openapi_document(serve, tmp_path):
    exe = Path(sys.executable).with_name("schemathesis")
    s = serve(token=TOKEN)
    r = subprocess.run(
        [str(exe), "run", f"{s.url}/openapi.json", "--checks", "not_a_server_error,response_schema_conformance",
         "-n", "25", "--max-failures", "5", "--request-timeout", "10", "-H", f"dapr-api-token: {TOKEN}",
         "--seed", "7", "--phases", "examples,fuzzing"],
        capture_output=True, text=True, timeout=100, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    log = s.stop()
    assert "Traceback" not in log, log[-3000:]
    assert json.dumps(TOKEN)[1:-1] not in log
