"""Bulk operations against a Dapr sidecar (respx-mocked with Dapr's shapes): one call per
instance, a few in flight, at most --rps per second; --all needs a listing the sidecar lacks."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
import respx
from click.testing import CliRunner

URL = "http://dapr.test:3500"
WF = f"{URL}/v1.0/workflows/dapr"
METADATA = {"id": "orders", "runtimeVersion": "1.14.4", "components": [], "workflows": {"connectedWorkers": 1}}


def not_found(iid: str) -> httpx.Response:
    return httpx.Response(404, json={"errorCode": "ERR_INSTANCE_ID_NOT_FOUND",
                                     "message": f"unable to find workflow with the provided instance ID: {iid}"})


@pytest.fixture
def sidecar():
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        mock.get(f"{URL}/v1.0/metadata").respond(200, json=METADATA)
        yield mock


def wf(*args: str):
    from wf import settings
    from wf.cli.app import cli

    try:
        return CliRunner().invoke(cli, list(args), env={"WF_URL": URL}, prog_name="wf", catch_exceptions=False)
    finally:
        settings.clear_overrides()


def test_one_call_per_instance_bounded_and_paced(sidecar):
    in_flight = peak = 0
    lock = threading.Lock()
    times: list[float] = []

    def pause(request: httpx.Request, iid: str) -> httpx.Response:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
            times.append(time.monotonic())
        time.sleep(0.01)
        with lock:
            in_flight -= 1
        return not_found(iid) if iid == "gone" else httpx.Response(202)

    route = sidecar.route(method="POST", url__regex=rf"{WF}/(?P<iid>[^/]+)/pause").mock(side_effect=pause)
    ids = [f"o{i}" for i in range(9)] + ["gone"]
    r = wf("suspend", *ids, "-r", "vendor down", "--rps", "40")
    assert r.exit_code == 1
    assert r.stdout.startswith("Suspended 9 instances (ids o0, o1, o2, o3, o4 and 5 more; app default); failed 1")
    assert "failed gone: not found" in r.stderr
    assert route.call_count == 10
    assert all(c.request.url.params["reason"] == "vendor down" for c in route.calls)
    assert peak <= 8
    assert times[-1] - times[0] >= 9 / 40 * 0.95  # 10 calls at 40/s span at least 9 intervals


def test_a_sidecar_refusal_of_the_state_is_skipped_not_failed(sidecar):
    sidecar.post(f"{WF}/a/terminate").respond(202)
    sidecar.post(f"{WF}/b/terminate").respond(409, json={"errorCode": "ERR_INVALID_STATE", "message": "completed"})
    r = wf("terminate", "a", "b")
    assert r.exit_code == 0
    assert r.stdout == "Terminated 1 instance (ids a, b; app default); skipped 1 (not applicable: refused 1)\n"


def test_all_needs_a_listing_the_sidecar_does_not_offer(sidecar):
    r = wf("terminate", "--all", "-s", "RUNNING", "-y")
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: the engine's HTTP API at http://dapr.test:3500 does not offer bulk operations "
                               "by filter (name the instance ids instead)")
    r = wf("terminate", "a", "b", "--output", '"x"')
    assert r.exit_code == 1 and "does not offer a terminate output" in r.stderr


def test_retention_and_audit_against_a_sidecar_say_where_they_live(sidecar):
    r = wf("retention", "set", "--completed", "72h", "--failed", "30d")
    assert r.exit_code == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: a Dapr sidecar keeps its retention policy in the app's "
                                                   "Configuration resource (Dapr 1.17+)")
    assert 'spec: {workflow: {stateRetentionPolicy: {completed: "72h", failed: "720h"}}}' in lines[0]
    r = wf("retention", "show")
    assert r.exit_code == 1 and 'anyTerminal: "720h"' in r.stderr
    r = wf("audit")
    assert r.exit_code == 1 and "does not offer the audit trail" in r.stderr
