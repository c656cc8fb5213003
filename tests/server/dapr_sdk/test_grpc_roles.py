"""Roles on wf serve's gRPC door: the same named tokens and role table as the HTTP door; a call
beyond its token's role is PERMISSION_DENIED with a denied audit record, and what a token may do
is recorded under its name."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import empty_pb2

from wf.protocol.stubs import service as spb
from wf.protocol.stubs import service_grpc
from wf.server.auth import add_token


def test_grpc_calls_are_checked_against_the_token_role(grpc_serve, tmp_path):
    tokens = str(tmp_path / "tokens.toml")
    reader = add_token(tokens, "reader", "read")
    oncall = add_token(tokens, "oncall", "operate")
    serve = grpc_serve("--tokens", tokens, token="grpc-admin-1")
    with grpc.insecure_channel(f"127.0.0.1:{serve.grpc_port}") as channel:
        stub = service_grpc.TaskHubSidecarServiceStub(channel)
        stub.Hello(empty_pb2.Empty(), metadata=(("dapr-api-token", reader),))
        with pytest.raises(grpc.RpcError) as info:
            stub.StartInstance(spb.CreateInstanceRequest(name="chaining", instanceId="g1"),
                               metadata=(("dapr-api-token", reader),))
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert info.value.details() == "token 'reader' has role read: start needs operate"
        stub.StartInstance(spb.CreateInstanceRequest(name="chaining", instanceId="g1"),
                           metadata=(("dapr-api-token", oncall),))
        with pytest.raises(grpc.RpcError) as info:
            stub.StartInstance(spb.CreateInstanceRequest(name="chaining", instanceId="g2"),
                               metadata=(("dapr-api-token", "wrong"),))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    rows = json.loads(serve.wf("audit", "-o", "json").stdout)
    assert [(r["actor"], r["operation"], r["instance_id"], r["outcome"]) for r in reversed(rows)] == [
        ("reader", "start", None, "denied"),
        ("oncall", "start", "g1", "ok"),
    ]
