"""wf.WorkflowClient(url="grpc://...") drives the gRPC engine from Python (a stand-in sidecar here)."""

from __future__ import annotations

import pytest
from sidecar_standin import S as St
from sidecar_standin import Served, Sidecar, hpb, now_ts

import wf
from wf.backends.grpc import GrpcBackend

TOKEN = "py-token"


@pytest.fixture
def sidecar():
    sc = Sidecar(token=TOKEN)
    served = Served(sc)
    sc.url = served.url
    sc.port = served.port
    yield sc
    served.stop()


def test_workflow_client_over_grpc(sidecar):
    with wf.WorkflowClient(url=sidecar.url, token=TOKEN) as client:
        assert isinstance(client.backend, GrpcBackend)
        iid = client.schedule_new_workflow("approval", input={"amount": 7}, instance_id="py-1")
        assert sidecar.instances[iid].input is not None
        client.pause_workflow(iid, reason="lunch")
        assert client.get_workflow_state(iid).runtime_status == wf.WorkflowStatus.SUSPENDED
        client.resume_workflow(iid)
        client.raise_workflow_event(iid, "approval_decision", data={"approved": True})
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=10)
        assert state.runtime_status == wf.WorkflowStatus.COMPLETED
        assert [s.instance_id for s in client.list_workflows(status="COMPLETED")] == ["py-1"]
        assert [e.event_type for e in client.get_history(iid)][:2] == ["ExecutionStarted",
                                                                               "ExecutionSuspended"]
        sidecar.instances[iid].history.append(hpb.HistoryEvent(eventId=2, timestamp=now_ts(),
                                                               taskScheduled=hpb.TaskScheduledEvent(name="a")))
        assert client.rerun_workflow_from_event(iid, 2, new_instance_id="py-2") == "py-2"
        assert client.purge_workflow(iid) == 1
        with pytest.raises(wf.NotFoundError):
            client.terminate_workflow("nobody")


def test_a_backend_from_host_and_port(sidecar):
    b = GrpcBackend.from_host_port("127.0.0.1", sidecar.port, token=TOKEN)
    sidecar.add("h1", "job", St.ORCHESTRATION_STATUS_RUNNING)
    assert b.get("h1").runtime_status == wf.WorkflowStatus.RUNNING
    assert b.display_url == f"grpc://127.0.0.1:{sidecar.port}"
    b.close()
