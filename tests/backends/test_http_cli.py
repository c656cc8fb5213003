"""The `wf` CLI against a Dapr sidecar mocked with respx: a small stateful fake that answers with
Dapr's exact shapes (202 {"instanceID"}, GetWorkflowResponse with JSON-text properties, Dapr's
error bodies). The walkthrough's commands work; those that need an extension fail in one line."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import httpx
import pytest
import respx
from click.testing import CliRunner

pytestmark = pytest.mark.timeout(60)

URL = "http://sidecar.test:3500"
TOKEN = "Sidecar-Token-5d1e"
BASE = re.escape(URL) + r"/v1\.0/workflows/dapr"
TERMINAL = {"COMPLETED", "FAILED", "TERMINATED"}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class FakeSidecar:
    """Dapr's workflow HTTP API over a dict. approval_workflow completes when it gets the event
    approval_decision (data {"approved": bool}); everything else waits."""

    def __init__(self, mock: respx.MockRouter) -> None:
        self.instances: dict[str, dict] = {}
        self.tokens_seen: set[str] = set()
        self.counter = 0
        mock.get(f"{URL}/v1.0/metadata").mock(side_effect=self.metadata)
        mock.post(url__regex=BASE + r"/(?P<name>[^/]+)/start(\?.*)?$").mock(side_effect=self.start)
        mock.post(url__regex=BASE + r"/(?P<iid>[^/?]+)/raiseEvent/(?P<event>[^/?]+)$").mock(side_effect=self.raise_event)
        mock.post(url__regex=BASE + r"/(?P<iid>[^/?]+)/(?P<op>pause|resume|terminate|purge)(\?.*)?$").mock(
            side_effect=self.manage)
        mock.get(url__regex=BASE + r"/(?P<iid>[^/?]+)(\?.*)?$").mock(side_effect=self.get)

    def _auth(self, request: httpx.Request) -> httpx.Response | None:
        token = request.headers.get("dapr-api-token")
        self.tokens_seen.add(token or "")
        if token != TOKEN:
            return httpx.Response(401, text="invalid api token")
        return None

    @staticmethod
    def _not_found(iid: str) -> httpx.Response:
        return httpx.Response(404, json={"errorCode": "ERR_INSTANCE_ID_NOT_FOUND",
                                         "message": f"unable to find workflow with the provided instance ID: {iid}"})

    def metadata(self, request: httpx.Request) -> httpx.Response:
        return self._auth(request) or httpx.Response(200, json={"id": "orders", "runtimeVersion": "1.14.4",
                                                                "enabledFeatures": [], "extended": {},
                                                                "workflows": {"connectedWorkers": 1}})

    def start(self, request: httpx.Request, name: str) -> httpx.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        iid = request.url.params.get("instanceID")
        if not iid:
            self.counter += 1
            iid = f"{self.counter:032x}"
        old = self.instances.get(iid)
        if old is not None and old["status"] not in TERMINAL:
            return httpx.Response(500, json={"errorCode": "ERR_START_WORKFLOW",
                                             "message": f"error starting workflow '{name}': an active workflow "
                                                        f"with ID '{iid}' already exists"})
        now = _now()
        self.instances[iid] = {"name": name, "status": "RUNNING", "input": request.content.decode(),
                               "output": None, "created": now, "updated": now}
        return httpx.Response(202, json={"instanceID": iid})

    def get(self, request: httpx.Request, iid: str) -> httpx.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        inst = self.instances.get(iid)
        if inst is None:
            return self._not_found(iid)
        props = {"dapr.workflow.input": inst["input"], "dapr.workflow.custom_status": ""}
        if inst["status"] == "COMPLETED":
            props["dapr.workflow.output"] = inst["output"] or ""
        return httpx.Response(200, json={"instanceID": iid, "workflowName": inst["name"],
                                         "createdAt": inst["created"], "lastUpdatedAt": inst["updated"],
                                         "runtimeStatus": inst["status"], "properties": props})

    def raise_event(self, request: httpx.Request, iid: str, event: str) -> httpx.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        inst = self.instances.get(iid)
        if inst is None:
            return self._not_found(iid)
        if inst["status"] == "RUNNING" and inst["name"] == "approval_workflow" and event == "approval_decision":
            decision = json.loads(request.content or b"{}")
            inst["status"] = "COMPLETED"
            inst["output"] = json.dumps({"status": "completed" if decision.get("approved") else "rejected"})
            inst["updated"] = _now()
        return httpx.Response(202)

    def manage(self, request: httpx.Request, iid: str, op: str) -> httpx.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        inst = self.instances.get(iid)
        if inst is None:
            return self._not_found(iid)
        if request.content:  # Dapr parses a body here as its own request message
            return httpx.Response(400, json={"errorCode": "ERR_MALFORMED_REQUEST", "message": "bad body"})
        if op == "purge":
            if inst["status"] not in TERMINAL:
                return httpx.Response(500, json={"errorCode": "ERR_PURGE_WORKFLOW",
                                                 "message": f"error purging workflow {iid}: only terminal "
                                                            "workflows can be purged"})
            del self.instances[iid]
            return httpx.Response(202, content=b"{}")
        new = {"pause": "SUSPENDED", "resume": "RUNNING", "terminate": "TERMINATED"}[op]
        if inst["status"] in TERMINAL and op != "terminate":
            return httpx.Response(500, json={"errorCode": f"ERR_{op.upper()}_WORKFLOW",
                                             "message": f"error {op}ing workflow {iid}: it is {inst['status']}"})
        if inst["status"] not in TERMINAL:
            inst["status"], inst["updated"] = new, _now()
        return httpx.Response(202, content=b"{}")


@pytest.fixture
def sidecar(monkeypatch, tmp_path):
    for var in ("WF_DB", "WF_URL", "WF_API_TOKEN", "DAPR_API_TOKEN", "WF_APP_ID", "WF_PROFILE", "WF_TIMEOUT",
                "WF_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        yield FakeSidecar(mock)


def wf(*args: str, env: dict | None = None):
    from wf import settings
    from wf.cli.app import cli

    try:
        return CliRunner().invoke(cli, list(args), env={"DAPR_API_TOKEN": TOKEN, "WF_URL": URL, **(env or {})},
                                  prog_name="wf", catch_exceptions=False)
    finally:
        settings.clear_overrides()


def one_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert TOKEN not in result.stdout + result.stderr
    return lines[0]


def test_walkthrough_against_a_mocked_sidecar(sidecar):
    r = wf("run", "approval_workflow", "-i", "order-1", "-x", '{"id": "order-1", "amount": 1500}')
    assert r.exit_code == 0, r.stderr
    assert "order-1" in r.stdout
    assert json.loads(sidecar.instances["order-1"]["input"]) == {"id": "order-1", "amount": 1500}

    r = wf("get", "order-1", "-o", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["runtime_status"] == "RUNNING" and doc["name"] == "approval_workflow"

    assert wf("suspend", "order-1", "-r", "vendor outage").exit_code == 0
    assert sidecar.instances["order-1"]["status"] == "SUSPENDED"
    assert wf("resume", "order-1").exit_code == 0
    assert sidecar.instances["order-1"]["status"] == "RUNNING"

    r = wf("raise-event", "order-1/approval_decision", "-x", '{"approved": true}')
    assert r.exit_code == 0 and r.stdout == "Raised event approval_decision on order-1\n"

    r = wf("wait", "order-1", "--timeout", "5s", "-o", "json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(json.loads(r.stdout)["serialized_output"]) == {"status": "completed"}

    r = wf("run", "approval_workflow", "-i", "order-2", "-x", '{"amount": 9000}', "-q")
    assert r.stdout == "order-2\n"
    assert wf("terminate", "order-2").exit_code == 0
    assert wf("wait", "order-2", "--timeout", "5s", "-q").exit_code == 4

    r = wf("purge", "order-1", "order-2")
    assert r.exit_code == 0, r.stderr
    assert "Purged order-1" in r.stdout and "Purged order-2" in r.stdout
    assert sidecar.instances == {}

    r = wf("get", "order-1")
    assert r.exit_code == 1 and "no workflow instance 'order-1'" in one_error(r)
    assert sidecar.tokens_seen == {TOKEN}


@pytest.mark.parametrize("args,what", [
    (("list",), "listing"),
    (("ls", "-s", "RUNNING"), "listing"),
    (("history", "order-1"), "history"),
    (("purge", "--all-older-than", "720h"), "bulk purge"),
    (("purge", "--all", "--dry-run"), "bulk purge"),
    (("rerun", "order-1", "-e", "1"), "rerun"),
])
def test_extensions_fail_in_one_line_against_a_sidecar(sidecar, args, what):
    wf("run", "approval_workflow", "-i", "order-1", "-x", "{}")
    r = wf(*args)
    assert r.exit_code == 1
    assert f"does not offer {what}" in one_error(r)


def test_options_dapr_cannot_carry_fail_in_one_line(sidecar):
    wf("run", "approval_workflow", "-i", "order-1", "-x", "{}")
    r = wf("terminate", "order-1", "--output", '"bye"')
    assert r.exit_code == 1 and "terminate output" in one_error(r)
    r = wf("run", "approval_workflow", "-s", "1h")
    assert r.exit_code == 1 and "start time" in one_error(r)
    assert sidecar.instances["order-1"]["status"] == "RUNNING"


def test_engine_errors_show_the_code_and_message(sidecar):
    wf("run", "approval_workflow", "-i", "order-1", "-x", "{}")
    r = wf("purge", "order-1")
    line = one_error(r)
    assert r.exit_code == 1 and "ERR_PURGE_WORKFLOW" in line and "only terminal workflows" in line
    r = wf("raise-event", "ghost/go")
    assert r.exit_code == 1 and "no workflow instance 'ghost'" in one_error(r)
    r = wf("run", "approval_workflow", "-i", "order-1", "--if-exists", "error")
    assert r.exit_code == 1 and "already exists" in one_error(r)


def test_a_wrong_token_says_to_check_it(sidecar):
    r = wf("get", "order-1", env={"DAPR_API_TOKEN": "not-it"})
    assert r.exit_code == 1
    line = one_error(r)
    assert "check the API token" in line and "not-it" not in line


def test_an_unreachable_url_names_it(sidecar, monkeypatch):
    monkeypatch.setattr("wf.backends.http.time.sleep", lambda s: None)
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="down.test").mock(side_effect=httpx.ConnectError("Connection refused"))
        r = wf("get", "order-1", env={"WF_URL": "http://down.test:3500"})
    assert r.exit_code == 1 and "cannot reach the engine at http://down.test:3500" in one_error(r)


def test_get_says_a_sidecar_cannot_tell_what_an_instance_waits_for(sidecar):
    wf("run", "approval_workflow", "-i", "order-9", "-x", "{}")
    r = wf("get", "order-9")
    assert r.exit_code == 0, r.stderr
    assert "Waiting for:  unknown: this engine's API does not say (wf serve and the local engine do)" in r.stdout
    assert json.loads(wf("get", "order-9", "-o", "json").stdout)["pending"] is None
    r = wf("raise-event", "order-9/typo")  # no pending to compare with: no note, the event goes
    assert r.exit_code == 0 and r.stderr == ""
