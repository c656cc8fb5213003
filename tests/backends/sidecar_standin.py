"""A stand-in for a Dapr sidecar's gRPC workflow API (TaskHubSidecarService), for the tests of the
gRPC engine and for bench/. A real gRPC server on a loopback port, built on the Dapr package's
stubs; no real sidecar can run here.

It answers as dapr/dapr's wfengine (1.17+) does, with the statuses and messages read there:
GetInstance of an unknown id is exists=false; writes to an unknown id fail with UNKNOWN "no such
instance exists" (Dapr's actor error crossing the wire as text); GetInstanceHistory and
RerunWorkflowFromEvent of an unknown id are NOT_FOUND; a purge of a live instance without force is
UNKNOWN "... orchestration has not yet completed"; a purge filter is refused; a duplicate live id
on start is ALREADY_EXISTS; a missing or wrong token is UNAUTHENTICATED. `older=True` is a sidecar
older than 1.17 (no ListInstanceIDs, no GetInstanceHistory).

Workflows do not run here; instances follow a tiny script instead, enough for the walkthrough:
`approval` waits for the event `approval_decision` and completes with its data, `fails` fails at
once, `quick` completes at once with its input, anything else keeps running. Tests can also set
states directly (`finish`), slow down or fail GetInstance (`get_delay`, `failing_ids`) and PurgeInstances
(`failing_purges`), and read
what the server saw (`calls`, `max_in_flight`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from concurrent import futures
from dataclasses import dataclass, field
from datetime import datetime, timezone
from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf import timestamp_pb2, wrappers_pb2

from wf.protocol.stubs import history as hpb
from wf.protocol.stubs import orchestration as opb
from wf.protocol.stubs import service as pb
from wf.protocol.stubs import service_grpc

S = opb  # statuses: S.ORCHESTRATION_STATUS_RUNNING, ...
TERMINAL = {S.ORCHESTRATION_STATUS_COMPLETED, S.ORCHESTRATION_STATUS_FAILED, S.ORCHESTRATION_STATUS_TERMINATED,
            S.ORCHESTRATION_STATUS_CANCELED}


def now_ts(dt: datetime | None = None) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(dt or datetime.now(timezone.utc))
    return ts


def sv(text: str | None) -> wrappers_pb2.StringValue | None:
    return None if text is None else wrappers_pb2.StringValue(value=text)


@dataclass
class Instance:
    instance_id: str
    name: str
    status: int
    created: datetime
    updated: datetime
    input: str | None = None
    output: str | None = None
    custom_status: str | None = None
    failure: opb.TaskFailureDetails | None = None
    parent: str | None = None
    children: list[str] = field(default_factory=list)
    history: list[hpb.HistoryEvent] = field(default_factory=list)
    pending_status: int | None = None  # what resume returns to

    def event(self, **kind: Any) -> None:
        self.history.append(hpb.HistoryEvent(eventId=-1, timestamp=now_ts(), **kind))

    def to_proto(self, payloads: bool) -> opb.WorkflowState:
        state = opb.WorkflowState(instanceId=self.instance_id, name=self.name, workflowStatus=self.status,
                                  createdTimestamp=now_ts(self.created), lastUpdatedTimestamp=now_ts(self.updated))
        if self.parent:
            state.parentInstanceId.CopyFrom(sv(self.parent))
        if payloads:  # as Dapr's createGetInstanceResponse: only when asked
            for name, value in (("input", self.input), ("output", self.output), ("customStatus", self.custom_status)):
                if value is not None:
                    getattr(state, name).CopyFrom(sv(value))
            if self.failure is not None:
                state.failureDetails.CopyFrom(self.failure)
        return state


class Sidecar(service_grpc.TaskHubSidecarServiceServicer):
    def __init__(self, *, token: str | None = None, older: bool = False) -> None:
        self.token = token
        self.older = older
        self.instances: dict[str, Instance] = {}
        self.lock = threading.RLock()
        self.calls: Counter[str] = Counter()
        self.get_delay = 0.0
        self.failing_ids: set[str] = set()
        self.failing_purges: dict[str, tuple[grpc.StatusCode, str]] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.page_sizes: list[int] = []

    # ------------------------------------------------------------------ test controls

    def add(self, instance_id: str, name: str = "job", status: int = S.ORCHESTRATION_STATUS_COMPLETED, *,
            created: datetime | None = None, updated: datetime | None = None, input: str | None = None,
            output: str | None = None) -> Instance:
        created = created or datetime.now(timezone.utc)
        inst = Instance(instance_id, name, status, created, updated or created, input=input, output=output)
        inst.event(executionStarted=hpb.ExecutionStartedEvent(name=name, input=sv(input)))
        with self.lock:
            self.instances[instance_id] = inst
        return inst

    def finish(self, instance_id: str, status: int, output: str | None = None,
               failure: opb.TaskFailureDetails | None = None) -> None:
        with self.lock:
            inst = self.instances[instance_id]
            inst.status, inst.output, inst.failure = status, output, failure
            inst.updated = datetime.now(timezone.utc)
            completed = hpb.ExecutionCompletedEvent(workflowStatus=status, result=sv(output))
            if failure is not None:
                completed.failureDetails.CopyFrom(failure)
            inst.event(executionCompleted=completed)

    # ------------------------------------------------------------------ plumbing

    def _auth(self, context: grpc.ServicerContext) -> None:
        if not self.token:
            return
        got = dict(context.invocation_metadata()).get("dapr-api-token")
        if got is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing api token in request metadata")
        if got != self.token:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "authentication error: api token mismatch")

    def _enter(self, method: str, context: grpc.ServicerContext) -> None:
        self._auth(context)
        with self.lock:
            self.calls[method] += 1

    def _existing(self, instance_id: str, context: grpc.ServicerContext, message: str,
                  code: grpc.StatusCode = grpc.StatusCode.UNKNOWN) -> Instance:
        inst = self.instances.get(instance_id)
        if inst is None:
            context.abort(code, message)
        assert inst is not None
        return inst

    # ------------------------------------------------------------------ the service

    def StartInstance(self, request, context):
        self._enter("StartInstance", context)
        with self.lock:
            old = self.instances.get(request.instanceId)
            if old is not None and old.status not in TERMINAL:
                context.abort(grpc.StatusCode.ALREADY_EXISTS,
                              f"an active workflow with ID '{request.instanceId}' already exists")
            scheduled = request.HasField("scheduledStartTimestamp")
            inst = self.add(request.instanceId, request.name,
                            S.ORCHESTRATION_STATUS_PENDING if scheduled else S.ORCHESTRATION_STATUS_RUNNING,
                            input=request.input.value if request.HasField("input") else None)
            if scheduled:
                inst.pending_status = S.ORCHESTRATION_STATUS_PENDING
            if request.name == "fails":
                self.finish(inst.instance_id, S.ORCHESTRATION_STATUS_FAILED, failure=opb.TaskFailureDetails(
                    errorType="ValueError", errorMessage="the order is invalid"))
            elif request.name == "quick":
                self.finish(inst.instance_id, S.ORCHESTRATION_STATUS_COMPLETED, output=inst.input)
        return pb.CreateInstanceResponse(instanceId=request.instanceId)

    def GetInstance(self, request, context):
        self._enter("GetInstance", context)
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.get_delay:
                time.sleep(self.get_delay)
            if request.instanceId in self.failing_ids:
                context.abort(grpc.StatusCode.INTERNAL, "failed to load workflow state: state store timeout")
            with self.lock:
                inst = self.instances.get(request.instanceId)
                if inst is None:
                    return pb.GetInstanceResponse(exists=False)
                return pb.GetInstanceResponse(exists=True, workflowState=inst.to_proto(request.getInputsAndOutputs))
        finally:
            with self.lock:
                self.in_flight -= 1

    def RaiseEvent(self, request, context):
        self._enter("RaiseEvent", context)
        with self.lock:
            inst = self._existing(request.instanceId, context, "no such instance exists")
            data = request.input.value if request.HasField("input") else None
            inst.event(eventRaised=hpb.EventRaisedEvent(name=request.name, input=sv(data)))
            if inst.name == "approval" and request.name.lower() == "approval_decision" \
                    and inst.status == S.ORCHESTRATION_STATUS_RUNNING:
                self.finish(inst.instance_id, S.ORCHESTRATION_STATUS_COMPLETED, output=data)
        return pb.RaiseEventResponse()

    def SuspendInstance(self, request, context):
        self._enter("SuspendInstance", context)
        with self.lock:
            inst = self._existing(request.instanceId, context, "no such instance exists")
            reason = request.reason.value if request.HasField("reason") else None
            inst.event(executionSuspended=hpb.ExecutionSuspendedEvent(input=sv(reason)))
            if inst.status not in TERMINAL:
                if inst.status != S.ORCHESTRATION_STATUS_SUSPENDED:
                    inst.pending_status = inst.status
                inst.status = S.ORCHESTRATION_STATUS_SUSPENDED
        return pb.SuspendResponse()

    def ResumeInstance(self, request, context):
        self._enter("ResumeInstance", context)
        with self.lock:
            inst = self._existing(request.instanceId, context, "no such instance exists")
            reason = request.reason.value if request.HasField("reason") else None
            inst.event(executionResumed=hpb.ExecutionResumedEvent(input=sv(reason)))
            if inst.status == S.ORCHESTRATION_STATUS_SUSPENDED:
                inst.status = inst.pending_status or S.ORCHESTRATION_STATUS_RUNNING
        return pb.ResumeResponse()

    def TerminateInstance(self, request, context):
        self._enter("TerminateInstance", context)
        with self.lock:
            inst = self._existing(request.instanceId, context,
                                  "failed to submit termination request: no such instance exists")
            output = request.output.value if request.HasField("output") else None
            if inst.status not in TERMINAL:
                inst.event(executionTerminated=hpb.ExecutionTerminatedEvent(input=sv(output),
                                                                             recurse=request.recursive))
                self.finish(inst.instance_id, S.ORCHESTRATION_STATUS_TERMINATED, output=output)
                if request.recursive:
                    for child in inst.children:
                        if child in self.instances and self.instances[child].status not in TERMINAL:
                            self.finish(child, S.ORCHESTRATION_STATUS_TERMINATED)
        return pb.TerminateResponse()

    def PurgeInstances(self, request, context):
        self._enter("PurgeInstances", context)
        if request.HasField("purgeInstanceFilter"):
            context.abort(grpc.StatusCode.UNKNOWN, "multi-instance purge is not implemented")
        if request.instanceId in self.failing_purges:
            context.abort(*self.failing_purges[request.instanceId])
        with self.lock:
            inst = self._existing(request.instanceId, context, "failed to purge workflow state: failed to fetch "
                                  "workflow state: no such instance exists")
            if inst.status not in TERMINAL and not request.force:
                context.abort(grpc.StatusCode.UNKNOWN,
                              "failed to purge workflow state: orchestration has not yet completed")
            deleted = [inst.instance_id] + ([c for c in inst.children if c in self.instances]
                                            if request.recursive else [])
            for iid in deleted:
                del self.instances[iid]
        return pb.PurgeInstancesResponse(deletedInstanceCount=len(deleted))

    def ListInstanceIDs(self, request, context):
        self._enter("ListInstanceIDs", context)
        if self.older:
            context.abort(grpc.StatusCode.UNIMPLEMENTED,
                          "unknown method ListInstanceIDs for service TaskHubSidecarService")
        with self.lock:
            keys = sorted(self.instances)  # a state store lists by key
            self.page_sizes.append(request.pageSize)
        # The token is an offset into the keys, as some state stores' are: a client that purges
        # while it pages would skip instances (wf takes the whole selection first).
        start = int(request.continuationToken) if request.HasField("continuationToken") else 0
        size = request.pageSize if request.HasField("pageSize") else 100
        page = keys[start:start + size]
        response = pb.ListInstanceIDsResponse(instanceIds=page)
        if start + size < len(keys):
            response.continuationToken = str(start + size)
        return response

    def GetInstanceHistory(self, request, context):
        self._enter("GetInstanceHistory", context)
        if self.older:
            context.abort(grpc.StatusCode.UNIMPLEMENTED,
                          "unknown method GetInstanceHistory for service TaskHubSidecarService")
        with self.lock:
            inst = self._existing(request.instanceId, context, f"workflow instance '{request.instanceId}' not found",
                                  grpc.StatusCode.NOT_FOUND)
            return pb.GetInstanceHistoryResponse(events=list(inst.history))

    def RerunWorkflowFromEvent(self, request, context):
        self._enter("RerunWorkflowFromEvent", context)
        with self.lock:
            source = self._existing(request.sourceInstanceID, context,
                                    f"workflow instance does not exist with ID '{request.sourceInstanceID}'",
                                    grpc.StatusCode.NOT_FOUND)
            new_id = request.newInstanceID if request.HasField("newInstanceID") else f"rerun-{len(self.instances)}"
            if new_id == source.instance_id:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              "rerun workflow instance ID must be different from the original instance ID")
            if source.status not in TERMINAL:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"'{source.instance_id}' is not in a terminal state")
            if source.parent:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"'{source.instance_id}': cannot rerun from child-workflows")
            cut = next((i for i, e in enumerate(source.history) if e.eventId == request.eventID), None)
            if cut is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"does not have history event with ID '{request.eventID}'")
            assert cut is not None
            if new_id in self.instances:
                context.abort(grpc.StatusCode.ALREADY_EXISTS, f"workflow '{new_id}' has already been created")
            target = source.history[cut]
            if request.overwriteInput and target.WhichOneof("eventType") == "timerCreated":
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot write input to timer event '{request.eventID}'")
            inst = self.add(new_id, source.name, S.ORCHESTRATION_STATUS_RUNNING, input=source.input)
            inst.history = list(source.history[:cut + 1])
        return pb.RerunWorkflowFromEventResponse(newInstanceID=new_id)


class Served:
    """A Sidecar served on 127.0.0.1 (an OS-given port) by a real gRPC server."""

    def __init__(self, sidecar: Sidecar, workers: int = 64) -> None:
        self.sidecar = sidecar
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
        service_grpc.add_TaskHubSidecarServiceServicer_to_server(sidecar, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.url = f"grpc://127.0.0.1:{self.port}"
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=None)


@contextlib.contextmanager
def served_sidecar(token: str | None = None) -> Iterator[Sidecar]:
    """A Sidecar served on a loopback port for the duration, its address on .url (the tests' fixture)."""
    sidecar = Sidecar(token=token)
    served = Served(sidecar)
    sidecar.url = served.url
    try:
        yield sidecar
    finally:
        served.stop()


def serve_forever(port_file: str, count: int, token: str | None = None) -> None:
    """bench/: a stand-in with `count` finished instances, serving until killed; writes its port."""
    sidecar = Sidecar(token=token)
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(count):
        sidecar.add(f"inst-{i:07d}", "job", S.ORCHESTRATION_STATUS_COMPLETED, created=base, input='{"n": 1}',
                    output='{"ok": true}')
    served = Served(sidecar, workers=16)
    with open(port_file, "w") as fh:
        fh.write(str(served.port))
    served.server.wait_for_termination()
