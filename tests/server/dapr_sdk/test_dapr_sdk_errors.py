"""Bad input on wf serve's gRPC door, through raw Durable Task stubs and the Dapr SDK client:
daprd's status codes and messages, and the store unchanged."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import empty_pb2, wrappers_pb2

from wf.protocol.stubs import actions as apb
from wf.protocol.stubs import orchestration as opb
from wf.protocol.stubs import service as spb
from wf.protocol.stubs import service_grpc


def stub_for(serve, token: str | None = None):
    channel = grpc.insecure_channel(f"127.0.0.1:{serve.grpc_port}")
    metadata = (("dapr-api-token", token),) if token else ()
    return channel, service_grpc.TaskHubSidecarServiceStub(channel), metadata


def rpc_error(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)
    return info.value


def listed(serve) -> list[tuple[str, str]]:
    return [(i["instance_id"], i["runtime_status"]) for i in json.loads(serve.wf("list", "-o", "json").stdout)]


def history_types(serve, instance_id: str) -> list[str]:
    r = serve.wf("history", instance_id, "-o", "jsonl")
    return [json.loads(line)["event_type"] for line in r.stdout.splitlines()]


@pytest.fixture
def serve(grpc_serve):
    return grpc_serve()


def test_token_missing_or_wrong_is_unauthenticated_and_the_right_one_works(grpc_serve):
    serve = grpc_serve(token="s3cret")
    channel, stub, _ = stub_for(serve)
    with channel:
        err = rpc_error(stub.Hello, empty_pb2.Empty())
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        assert err.details() == "missing api token in request metadata"
        err = rpc_error(stub.StartInstance, spb.CreateInstanceRequest(name="chaining", instanceId="x1"),
                        metadata=(("dapr-api-token", "wrong"),))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        assert err.details() == "authentication error: api token mismatch"
        stream = stub.GetWorkItems(spb.GetWorkItemsRequest(), metadata=(("dapr-api-token", "s3cret-not"),))
        err = rpc_error(next, stream)
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert listed(serve) == []
    # The SDK sends DAPR_API_TOKEN as dapr-api-token: an app with the right token runs.
    [result] = serve.run_app("chaining")
    assert result["status"] == "COMPLETED"


def test_a_foreign_authority_is_refused_before_the_token_and_allow_host_admits_it(grpc_serve):
    """DNS rebinding protection, as on the HTTP door: the call's :authority must name this server."""
    serve = grpc_serve(token="s3cret")

    def stub_as(authority: str):
        channel = grpc.insecure_channel(f"127.0.0.1:{serve.grpc_port}",
                                        options=[("grpc.default_authority", authority)])
        return channel, service_grpc.TaskHubSidecarServiceStub(channel)

    token = (("dapr-api-token", "s3cret"),)
    channel, stub = stub_as(f"rebound.example:{serve.grpc_port}")
    with channel:
        for md in (token, (("dapr-api-token", "wrong"),)):  # the Host rule comes first, as over HTTP
            err = rpc_error(stub.StartInstance, spb.CreateInstanceRequest(name="chaining", instanceId="h1"),
                            metadata=md)
            assert err.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "'rebound.example:" in err.details() and "--allow-host rebound.example" in err.details()
        err = rpc_error(next, stub.GetWorkItems(spb.GetWorkItemsRequest(), metadata=token))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    channel, stub = stub_as(f"localhost:{serve.grpc_port + 1}")  # a loopback name, but another port
    with channel:
        assert rpc_error(stub.Hello, empty_pb2.Empty(), metadata=token).code() == grpc.StatusCode.PERMISSION_DENIED
    for name in ("localhost", "127.0.0.1"):  # the server's own names at its own port
        channel, stub = stub_as(f"{name}:{serve.grpc_port}")
        with channel:
            assert stub.Hello(empty_pb2.Empty(), metadata=token) == empty_pb2.Empty()
    assert listed(serve) == []

    allowed = grpc_serve("--allow-host", "rebound.example", token="s3cret", db=str(serve.home / "other.db"))
    channel = grpc.insecure_channel(f"127.0.0.1:{allowed.grpc_port}",
                                    options=[("grpc.default_authority", f"rebound.example:{allowed.grpc_port}")])
    with channel:
        stub = service_grpc.TaskHubSidecarServiceStub(channel)
        stub.StartInstance(spb.CreateInstanceRequest(name="chaining", instanceId="h1"), metadata=token)
    assert listed(allowed) == [("h1", "PENDING")] or listed(allowed) == [("h1", "RUNNING")]


def test_health_probes_answer_as_daprd_does_without_a_token(grpc_serve):
    import httpx

    serve = grpc_serve(token="s3cret")
    for path in ("/v1.0/healthz", "/v1.0/healthz/outbound"):
        assert httpx.get(f"{serve.proc.url}{path}", timeout=10).status_code == 204
    assert serve.run_app("health", DAPR_HEALTH_TIMEOUT="10") == [{"health": "ok"}]


def test_unknown_instance(serve):
    channel, stub, md = stub_for(serve)
    with channel:
        assert stub.GetInstance(spb.GetInstanceRequest(instanceId="nope")).exists is False
        assert stub.WaitForInstanceCompletion(spb.GetInstanceRequest(instanceId="nope"), timeout=5).exists is False
        for call, request in [
            (stub.RaiseEvent, spb.RaiseEventRequest(instanceId="nope", name="go")),
            (stub.TerminateInstance, spb.TerminateRequest(instanceId="nope")),
            (stub.SuspendInstance, spb.SuspendRequest(instanceId="nope")),
            (stub.ResumeInstance, spb.ResumeRequest(instanceId="nope")),
            (stub.PurgeInstances, spb.PurgeInstancesRequest(instanceId="nope")),
            (stub.GetInstanceHistory, spb.GetInstanceHistoryRequest(instanceId="nope")),
        ]:
            err = rpc_error(call, request)
            assert err.code() == grpc.StatusCode.NOT_FOUND, call
            assert "no such instance exists" in err.details()
    assert listed(serve) == []


def test_sdk_client_get_state_of_unknown_instance_is_none(serve):
    from dapr.ext.workflow import DaprWorkflowClient

    client = DaprWorkflowClient(host="127.0.0.1", port=str(serve.grpc_port))
    assert client.get_workflow_state("nope") is None


def test_invalid_id_and_missing_name_are_invalid_argument(serve):
    channel, stub, _ = stub_for(serve)
    with channel:
        err = rpc_error(stub.StartInstance, spb.CreateInstanceRequest(name="chaining", instanceId="bad id!"))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "is invalid" in err.details()
        err = rpc_error(stub.StartInstance, spb.CreateInstanceRequest(name="", instanceId="ok-1"))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "workflow name" in err.details()
        err = rpc_error(stub.GetInstance, spb.GetInstanceRequest(instanceId=""))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert listed(serve) == []


def test_start_of_a_live_id_is_already_exists_and_a_finished_one_is_replaced(serve):
    channel, stub, _ = stub_for(serve)
    with channel:
        stub.StartInstance(spb.CreateInstanceRequest(name="waiter", instanceId="dup"))
        err = rpc_error(stub.StartInstance, spb.CreateInstanceRequest(name="waiter", instanceId="dup"))
        assert err.code() == grpc.StatusCode.ALREADY_EXISTS
        assert err.details() == "an active workflow with ID 'dup' already exists"
        stub.TerminateInstance(spb.TerminateRequest(instanceId="dup"))
        stub.StartInstance(spb.CreateInstanceRequest(name="chaining", instanceId="dup"))
    assert listed(serve) == [("dup", "PENDING")]


def _next_work_item(stream) -> spb.WorkItem:
    for item in stream:
        if not item.HasField("healthPing"):
            return item
    raise AssertionError("the stream ended")


def complete(instance_id: str, token: str, *actions: apb.WorkflowAction) -> spb.WorkflowResponse:
    return spb.WorkflowResponse(instanceId=instance_id, completionToken=token, actions=list(actions))


def done(output: str) -> apb.WorkflowAction:
    return apb.WorkflowAction(id=1, completeWorkflow=apb.CompleteWorkflowAction(
        workflowStatus=opb.ORCHESTRATION_STATUS_COMPLETED, result=wrappers_pb2.StringValue(value=output)))


def test_completion_for_a_reassigned_work_item_is_refused_and_changes_nothing(serve):
    channel, stub, _ = stub_for(serve)
    with channel:
        first = stub.GetWorkItems(spb.GetWorkItemsRequest())
        stub.StartInstance(spb.CreateInstanceRequest(name="chaining", instanceId="w1"))
        item = _next_work_item(first)
        assert item.workflowRequest.instanceId == "w1"
        assert [e.WhichOneof("eventType") for e in item.workflowRequest.newEvents] == [
            "workflowStarted", "executionStarted"]
        old_token = item.completionToken
        first.cancel()  # the worker goes away: its item goes to the next worker
        second = stub.GetWorkItems(spb.GetWorkItemsRequest())
        again = _next_work_item(second)
        assert again.workflowRequest.instanceId == "w1" and again.completionToken != old_token

        err = rpc_error(stub.CompleteOrchestratorTask, complete("w1", old_token, done('"late"')))
        assert err.code() == grpc.StatusCode.UNKNOWN and err.details() == "unknown instance ID: w1"
        assert listed(serve) == [("w1", "PENDING")] and history_types(serve, "w1") == []

        # malformed actions: refused, nothing recorded, and the item is still out to this worker
        bad = apb.WorkflowAction(id=1)  # no action type
        err = rpc_error(stub.CompleteOrchestratorTask, complete("w1", again.completionToken, bad))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "no type" in err.details()
        dup = [apb.WorkflowAction(id=1, scheduleTask=apb.ScheduleTaskAction(name="add_one")),
               apb.WorkflowAction(id=1, scheduleTask=apb.ScheduleTaskAction(name="add_one"))]
        err = rpc_error(stub.CompleteOrchestratorTask, complete("w1", again.completionToken, *dup))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "two actions" in err.details()
        nameless = apb.WorkflowAction(id=1, scheduleTask=apb.ScheduleTaskAction(name=""))
        err = rpc_error(stub.CompleteOrchestratorTask, complete("w1", again.completionToken, nameless))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert listed(serve) == [("w1", "PENDING")] and history_types(serve, "w1") == []

        stub.CompleteOrchestratorTask(complete("w1", again.completionToken, done('"ok"')))
        err = rpc_error(stub.CompleteOrchestratorTask, complete("w1", again.completionToken, done('"twice"')))
        assert err.code() == grpc.StatusCode.UNKNOWN  # a completion is recorded once
        state = stub.GetInstance(spb.GetInstanceRequest(instanceId="w1", getInputsAndOutputs=True))
        assert state.workflowState.output.value == '"ok"'
        assert state.workflowState.workflowStatus == opb.ORCHESTRATION_STATUS_COMPLETED
        second.cancel()


def test_activity_completion_with_an_unknown_token_is_refused(serve):
    channel, stub, _ = stub_for(serve)
    with channel:
        err = rpc_error(stub.CompleteActivityTask, spb.ActivityResponse(instanceId="x", taskId=3,
                                                                      completionToken="forged"))
        assert err.code() == grpc.StatusCode.UNKNOWN
        assert err.details() == "unknown instance ID/task ID combo: x/3"
