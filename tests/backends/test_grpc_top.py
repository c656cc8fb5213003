"""`wf top` over a Dapr sidecar's gRPC API (the stand-in sidecar, a real gRPC server in this
process): counts, rates and the lists come from one pass over the instances (the API has no
count and no order), the failures' errors from reading them again; what the API cannot say (its
workers) shows as unknown. Off a terminal: one snapshot, exit 0."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from sidecar_standin import served_sidecar

from wf_testing import SCRUBBED_ENV

pytestmark = pytest.mark.timeout(120)

TOKEN = "Grpc-Top-Token-9e2"
WF_EXE = shutil.which("wf", path=os.path.dirname(sys.executable))


@pytest.fixture
def sidecar():
    with served_sidecar(TOKEN) as sc:
        yield sc


def wf(url: str, *args: str):
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update(WF_URL=url, WF_API_TOKEN=TOKEN, COLUMNS="100")
    return subprocess.run([WF_EXE, *args], capture_output=True, text=True, timeout=60, env=env)


def test_top_over_grpc_shows_what_the_api_allows(sidecar):
    url = sidecar.url
    for args in (("approval", "-i", "order-1"), ("fails", "-i", "bad-1"), ("approval", "-i", "order-2")):
        assert wf(url, "run", *args, "-q").returncode == 0
    r = wf(url, "top")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"wf top · app default · {url}")
    assert lines[1].split() == ["RUNNING", "2", "PENDING", "0", "FAILED", "1", "COMPLETED", "0", "3", "in", "all"]
    rates = {line.split()[0]: line.split()[1] for line in lines if line.startswith(("started", "completed", "failed"))}
    assert rates == {"started": "3", "completed": "0", "failed": "1"}
    assert "WORKERS: unknown (this engine's API does not list workers)" in lines
    oldest = lines.index("OLDEST RUNNING")
    assert [lines[oldest + 2].split()[0], lines[oldest + 3].split()[0]] == ["order-1", "order-2"]
    failure = next(line for line in lines if line.startswith("bad-1 "))
    assert failure.split()[1] == "fails" and failure.endswith("ValueError: the order is invalid"), failure
