"""The mission's walkthrough through the real `wf` executable over `--url grpc://` with a token,
against the stand-in Dapr sidecar (a real gRPC server in this process), and the one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from sidecar_standin import S as St
from sidecar_standin import Served, Sidecar, served_sidecar

from wf_testing import SCRUBBED_ENV

pytestmark = pytest.mark.timeout(120)

TOKEN = "Grpc-Token-77a1"
WF_EXE = shutil.which("wf", path=os.path.dirname(sys.executable))


@pytest.fixture
def sidecar():
    with served_sidecar(TOKEN) as sc:
        yield sc


def wf(url: str, *args: str, token: str | None = TOKEN, timeout: float = 60, **env: str):
    base = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    base["WF_URL"] = url
    if token:
        base["WF_API_TOKEN"] = token
    base.update(env)
    return subprocess.run([WF_EXE, *args], capture_output=True, text=True, timeout=timeout, env=base)


def one_error(r) -> str:
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_walkthrough_over_grpc(sidecar):
    url = sidecar.url
    r = wf(url, "run", "approval", "-i", "order-1", "-x", '{"amount": 1500}', "-q")
    assert (r.returncode, r.stdout.strip()) == (0, "order-1"), r.stderr
    assert wf(url, "run", "fails", "-i", "bad-1", "-q").returncode == 0
    assert wf(url, "run", "job", "-i", "slow-1", "-q").returncode == 0
    r = wf(url, "run", "job", "-i", "later-1", "-s", "2h", "-q")
    assert r.returncode == 0 and sidecar.instances["later-1"].status == St.ORCHESTRATION_STATUS_PENDING
    r = wf(url, "run", "job", "-i", "slow-1", "--if-exists", "error")
    assert r.returncode == 1 and "already exists" in one_error(r)

    r = wf(url, "get", "order-1", "-o", "json")
    state = json.loads(r.stdout)
    assert (state["runtime_status"], state["name"], state["serialized_input"]) == ("RUNNING", "approval",
                                                                                   '{"amount": 1500}')

    r = wf(url, "list", "-s", "RUNNING", "-o", "ids")
    assert (r.returncode, r.stdout.split()) == (0, ["order-1", "slow-1"]), r.stderr
    r = wf(url, "list", "-o", "jsonl")
    assert sorted(json.loads(line)["instance_id"] for line in r.stdout.splitlines()) == [
        "bad-1", "later-1", "order-1", "slow-1"]

    r = wf(url, "raise-event", "order-1/approval_decision", "-x", '{"approved": true}')
    assert r.returncode == 0, r.stderr
    r = wf(url, "wait", "order-1", "--timeout", "10s", "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["serialized_output"] == '{"approved": true}'

    assert wf(url, "suspend", "slow-1", "-r", "vendor outage").returncode == 0
    assert json.loads(wf(url, "get", "slow-1", "-o", "json").stdout)["runtime_status"] == "SUSPENDED"
    assert wf(url, "resume", "slow-1", "-r", "vendor back").returncode == 0
    assert wf(url, "wait", "slow-1", "--timeout", "300ms").returncode == 124
    assert wf(url, "wait", "bad-1", "--timeout", "10s").returncode == 3
    r = wf(url, "terminate", "slow-1", "--output", '{"by": "ops"}', "--no-recursive")
    assert r.returncode == 0, r.stderr
    assert wf(url, "wait", "slow-1", "--timeout", "10s").returncode == 4
    assert sidecar.instances["slow-1"].output == '{"by": "ops"}'

    r = wf(url, "history", "slow-1", "-o", "json")
    events = json.loads(r.stdout)
    assert [e["event_type"] for e in events] == ["ExecutionStarted", "ExecutionSuspended", "ExecutionResumed",
                                                 "ExecutionTerminated", "ExecutionCompleted"]
    assert events[1]["extra"] == {"reason": "vendor outage"}

    r = wf(url, "purge", "order-1")
    assert (r.returncode, r.stdout.strip()) == (0, "Purged order-1"), r.stderr
    r = wf(url, "get", "order-1")
    assert r.returncode == 1 and "no workflow instance 'order-1'" in one_error(r)
    r = wf(url, "purge", "later-1")
    assert r.returncode == 1 and "has not finished" in one_error(r)

    old = datetime.now(timezone.utc) - timedelta(days=40)
    for i in range(5):
        sidecar.add(f"old-{i}", "job", St.ORCHESTRATION_STATUS_COMPLETED, created=old, updated=old)
    r = wf(url, "purge", "--all-older-than", "720h", "--dry-run")
    assert r.returncode == 0 and "Would purge 5 instances" in r.stdout
    r = wf(url, "purge", "--all-older-than", "720h")
    assert r.returncode == 0 and "Purged 5 instances" in r.stdout, r.stdout + r.stderr
    assert sorted(sidecar.instances) == ["bad-1", "later-1", "slow-1"]
    r = wf(url, "purge", "--all", "--all-filter-status", "FAILED")
    assert r.returncode == 0 and "Purged 1 instance " in r.stdout
    assert sorted(sidecar.instances) == ["later-1", "slow-1"]


def test_errors_over_grpc_are_one_line(sidecar):
    url = sidecar.url
    sidecar.add("a1")
    r = wf(url, "get", "a1", token="wrong")
    assert r.returncode == 1 and "check the token" in one_error(r) and "wrong" not in r.stderr
    r = wf(url, "get", "a1", token=None)
    assert r.returncode == 1 and "check the token" in one_error(r)
    r = wf("grpc://127.0.0.1:9", "get", "a1")
    assert r.returncode == 1 and "cannot reach the engine at grpc://127.0.0.1:9" in one_error(r)
    r = wf("grpc://127.0.0.1:notaport", "get", "a1")
    assert r.returncode == 2 and "expected grpc://HOST:PORT" in one_error(r)
    r = wf(url, "raise-event", "ghost/e")
    assert r.returncode == 1 and "no workflow instance 'ghost'" in one_error(r)
    sidecar.get_delay = 2.0
    r = wf(url, "get", "a1", WF_TIMEOUT="0.3")
    assert r.returncode == 1 and "did not answer within 0.3s" in one_error(r)


def test_an_older_sidecar_list_says_what_to_do():
    sc = Sidecar(older=True)
    served = Served(sc)
    try:
        sc.add("a1")
        r = wf(served.url, "list", token=None)
        line = one_error(r)
        assert r.returncode == 1 and "older than 1.17" in line and "Upgrade Dapr" in line
        r = wf(served.url, "get", "a1", "-o", "json", token=None)
        assert r.returncode == 0 and json.loads(r.stdout)["runtime_status"] == "COMPLETED"
    finally:
        served.stop()


def test_without_the_extra_one_line_names_it(tmp_path):
    # A meta-path finder hiding grpc stands in for an install without the 'dapr' extra.
    code = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name in ('grpc', 'dapr') or name.startswith(('grpc.', 'dapr.')):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from wf.cli import main\n"
        "sys.argv = ['wf', '--url', 'grpc://127.0.0.1:50001', 'get', 'a1']\n"
        "main()\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 1
    assert one_error(r) == ("Error: grpc URLs: the gRPC engine needs the 'dapr' extra: "
                            "pip install 'wf[dapr]'")


def test_bulk_purge_reports_failures(sidecar):
    import grpc

    for i in range(30):
        sidecar.add(f"d{i:02d}")
    sidecar.failing_purges = {"d03": (grpc.StatusCode.INTERNAL, "state store write failed")}
    r = wf(sidecar.url, "purge", "--all")
    assert r.returncode == 1
    assert "Purged 29 instances" in r.stdout and "failed 1" in r.stdout
    assert "1 instance could not be purged (first: d03:" in one_error(r)


def test_grpc_commands_import_neither_httpx_nor_the_dapr_sdk(sidecar):
    sidecar.add("a1")
    probe = ("import json, sys\n"
             "from wf.cli.app import cli\n"
             "try:\n"
             "    cli.main(sys.argv[1:], prog_name='wf')\n"
             "except SystemExit:\n"
             "    pass\n"
             "sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)) + '\\n')\n")
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    for args in (("get", "a1", "-o", "json"), ("list", "-o", "json", "--limit", "10")):
        r = subprocess.run([sys.executable, "-c", probe, "--url", sidecar.url, "--token", TOKEN, *args],
                           capture_output=True, text=True, timeout=30, env=env)
        assert json.loads(r.stdout) and "grpc" in r.stderr
        mods = set(json.loads(r.stderr.split("MODULES ")[-1]))
        bad = sorted(m for m in mods if m.split(".")[0] in ("httpx", "rich", "aiohttp", "fastapi")
                     or m.startswith(("dapr.clients", "dapr.ext.workflow.dapr_workflow_client", "wf.engine.store",
                                      "wf.engine.worker", "wf.server", "sqlite3")))
        assert bad == [], f"wf {' '.join(args)} over gRPC imported {bad}"


def test_rerun_over_grpc(sidecar):
    from sidecar_standin import hpb, now_ts

    inst = sidecar.add("src-1", "job", St.ORCHESTRATION_STATUS_COMPLETED)
    inst.history.append(hpb.HistoryEvent(eventId=4, timestamp=now_ts(),
                                         taskScheduled=hpb.TaskScheduledEvent(name="charge")))
    r = wf(sidecar.url, "rerun", "src-1", "-e", "4", "--new-instance-id", "src-2", "-x", '{"amount": 9}')
    assert (r.returncode, r.stdout.strip()) == (0, "src-2"), r.stderr
    assert sidecar.instances["src-2"].history[-1].taskScheduled.name == "charge"
    r = wf(sidecar.url, "rerun", "src-1", "-e", "5")
    assert r.returncode == 1 and "does not have history event with ID '5'" in one_error(r)
    r = wf(sidecar.url, "rerun", "src-1", "-e", "4", "--new-instance-id", "src-1")
    assert r.returncode == 2 and "must differ" in one_error(r)
    r = wf(sidecar.url, "rerun", "src-1", "-e", "-3")
    assert r.returncode == 2 and one_error(r)
