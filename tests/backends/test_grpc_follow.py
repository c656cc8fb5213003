"""`wf history -f` over `--url grpc://` against the stand-in Dapr sidecar (a real gRPC server in this
process): the events stream as the sidecar records them, and the exit code says how it ended."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from sidecar_standin import S as St
from sidecar_standin import Sidecar, served_sidecar

from wf.protocol.stubs import orchestration as opb
from wf_testing import SCRUBBED_ENV

pytestmark = pytest.mark.timeout(120)

TOKEN = "Follow-Token-5b2"
WF_EXE = shutil.which("wf", path=os.path.dirname(sys.executable))


@pytest.fixture
def sidecar():
    with served_sidecar(TOKEN) as sc:
        yield sc


def env(url: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    return {**base, "WF_URL": url, "WF_API_TOKEN": TOKEN}


def follow(sidecar: Sidecar, instance_id: str) -> subprocess.Popen:
    return subprocess.Popen([WF_EXE, "history", instance_id, "-f"], env=env(sidecar.url), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("ending, code", [("COMPLETED", 0), ("FAILED", 3), ("TERMINATED", 4)])
def test_history_follow_over_grpc_streams_and_exits_with_the_ending(sidecar, ending, code):
    sidecar.add("job-1", "job", St.ORCHESTRATION_STATUS_RUNNING, input='{"n": 1}')
    p = follow(sidecar, "job-1")
    first = json.loads(p.stdout.readline())
    assert first["event_type"] == "ExecutionStarted" and p.poll() is None  # out while still running
    r = subprocess.run([WF_EXE, "raise-event", "job-1/progress", "-x", '"half"'], env=env(sidecar.url),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    raised = json.loads(p.stdout.readline())
    assert (raised["event_type"], raised["name"]) == ("EventRaised", "progress")
    failure = opb.TaskFailureDetails(errorType="ValueError", errorMessage="bad") if ending == "FAILED" else None
    sidecar.finish("job-1", getattr(St, f"ORCHESTRATION_STATUS_{ending}"), failure=failure)
    out, err = p.stdout.read(), p.stderr.read()  # not communicate(): it would lose what readline() buffered
    assert (p.wait(timeout=60), err) == (code, "")
    assert [json.loads(line)["event_type"] for line in out.splitlines()] == ["ExecutionCompleted"]
