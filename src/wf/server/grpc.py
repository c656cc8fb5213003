"""Dapr's gRPC workflow service (Durable Task `TaskHubSidecarService`) over the local engine.

Unmodified Dapr SDK apps connect to `wf serve --grpc-port` as to a daprd: as clients (start, get,
wait, raise, suspend, resume, terminate, purge, list, history) and as workers (GetWorkItems:
their workflows replay in the app from the history sent here; wf records what they decide,
through wf.engine.workitems). A connection belongs to the server's app id, as a daprd belongs
to one app; a client call may name another app of the same store in its router.

Errors are daprd's where the SDK depends on them: GetInstance of an unknown instance answers
exists=false; NOT_FOUND "no such instance exists" for the other calls; UNAUTHENTICATED for a
missing or wrong dapr-api-token; UNKNOWN "unknown instance ID: ..." (or ".../task ID combo")
for a completion whose work item is not out; INVALID_ARGUMENT for a bad id or malformed actions.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent import futures
from datetime import timezone
from typing import Any

import grpc
from google.protobuf import empty_pb2

from wf.backends.local import LocalBackend
from wf.engine.history import Event
from wf.engine.workitems import ActivityItem, Hub, StaleWorkItemError, WorkflowItem
from wf.model import (
    INSTANCE_ID_RE,
    AlreadyExistsError,
    InvalidArgumentError,
    InvalidStateError,
    ListFilter,
    NotFoundError,
    WfError,
    WorkflowStatus,
)
from wf.protocol import actions as pactions
from wf.protocol import history as phistory
from wf.protocol import state as pstates
from wf.protocol.stubs import orchestration as opb
from wf.protocol.stubs import service as spb
from wf.protocol.stubs import service_grpc

log = logging.getLogger("wf.server.grpc")

TOKEN_KEY = "dapr-api-token"
WAIT_POLL = 0.1  # a waiter's poll for changes the hub does not see (a terminate, another process)
HEALTH_PING_INTERVAL = 10.0  # an idle stream gets a ping: a dead peer is noticed by the failed send
MAX_MESSAGE = 16 * 1024 * 1024
NOT_FOUND = "no such instance exists"
APP_ID_MAX = 128
PROTO_CACHE = 2000  # instances whose encoded history is kept between their turns
STREAM_SENT = 10_000  # instances per stream whose past a stateful worker is known to hold


def execution_id(instance_id: str, generation: int) -> str:
    return f"{instance_id}:{generation}"


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, _Abort):
        return exc.code, exc.message
    if isinstance(exc, StaleWorkItemError):
        return grpc.StatusCode.UNKNOWN, msg
    if isinstance(exc, NotFoundError):
        return grpc.StatusCode.NOT_FOUND, f"{NOT_FOUND}: {msg}"
    if isinstance(exc, AlreadyExistsError):
        return grpc.StatusCode.ALREADY_EXISTS, msg
    if isinstance(exc, InvalidArgumentError):
        return grpc.StatusCode.INVALID_ARGUMENT, msg
    if isinstance(exc, InvalidStateError):
        return grpc.StatusCode.FAILED_PRECONDITION, msg
    if isinstance(exc, TimeoutError):
        return grpc.StatusCode.DEADLINE_EXCEEDED, msg
    if isinstance(exc, WfError):
        return grpc.StatusCode.INTERNAL, msg
    log.error("wf serve (gRPC): unexpected %s", type(exc).__name__, exc_info=exc)
    return grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); see the server's log"


def _rpc(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Engine errors become gRPC statuses with one-line messages, never tracebacks."""

    def wrapper(self: "Servicer", request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except Exception as exc:  # noqa: BLE001 - answered as a status
            code, message = _status_for(exc)
            context.abort(code, message)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _check_id(instance_id: str) -> str:
    if not INSTANCE_ID_RE.fullmatch(instance_id or ""):
        raise _Abort(grpc.StatusCode.INVALID_ARGUMENT,
                     f"workflow instance ID {instance_id[:80]!r} is invalid: use 1 to 64 letters, digits, '-' or '_'")
    return instance_id


def _lookup_id(instance_id: str) -> str:
    """Ids of existing instances: any non-empty id (a Dapr worker names children 'PARENT:0001')."""
    if not instance_id:
        raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "an instance ID is required")
    if len(instance_id) > 256:
        raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "the instance ID is longer than 256 characters")
    return instance_id


class Servicer(service_grpc.TaskHubSidecarServiceServicer):
    def __init__(self, db: str | os.PathLike, hub: Hub, app_id: str, *, durability: str | None = None) -> None:
        self.db, self.hub, self.app_id, self.durability = db, hub, app_id, durability
        self._backends: dict[str, LocalBackend] = {}
        self._lock = threading.Lock()
        # instance id -> (generation, events covered, the last of them, their messages): the history
        # already encoded for the previous turn, so a turn encodes only what is new since
        self._encoded: OrderedDict[str, tuple[int, int, Event, list[Any]]] = OrderedDict()

    def close(self) -> None:
        with self._lock:
            backends, self._backends = list(self._backends.values()), {}
        for b in backends:
            b.close()

    def _backend(self, router: Any = None) -> LocalBackend:
        app_id = (router.targetAppID if router is not None else "") or self.app_id
        if len(app_id) > APP_ID_MAX:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "the target app ID is too long")
        with self._lock:
            backend = self._backends.get(app_id)
            if backend is None:
                backend = LocalBackend(self.db, app_id=app_id, durability=self.durability)
                backend.store()
                self._backends[app_id] = backend
            return backend

    def _router(self, request: Any) -> Any:
        return request.router if request.HasField("router") else None

    # ------------------------------------------------------------------------------ client calls

    @_rpc
    def Hello(self, request: Any, context: grpc.ServicerContext) -> Any:
        return empty_pb2.Empty()

    @_rpc
    def StartInstance(self, request: Any, context: grpc.ServicerContext) -> Any:
        instance_id = _check_id(request.instanceId) if request.instanceId else uuid.uuid4().hex
        if not request.name:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "a workflow name is required")
        start_at = request.scheduledStartTimestamp.ToDatetime(tzinfo=timezone.utc) \
            if request.HasField("scheduledStartTimestamp") else None
        data = request.input.value if request.HasField("input") else None
        backend = self._backend(self._router(request))
        # Dapr's rule: an id in use by a live instance is refused; a finished one is replaced.
        try:
            backend.start(request.name, input=data, instance_id=instance_id, start_at=start_at,
                          if_exists="error" if request.enforceUniqueInstanceId else "replace")
        except (AlreadyExistsError, InvalidStateError):
            raise _Abort(grpc.StatusCode.ALREADY_EXISTS,
                         f"an active workflow with ID '{instance_id}' already exists") from None
        return spb.CreateInstanceResponse(instanceId=instance_id)

    @_rpc
    def GetInstance(self, request: Any, context: grpc.ServicerContext) -> Any:
        backend = self._backend(self._router(request))
        state = backend.get(_lookup_id(request.instanceId), fetch_payloads=request.getInputsAndOutputs)
        return pstates.instance_response(state, payloads=request.getInputsAndOutputs)

    def _wait(self, request: Any, context: grpc.ServicerContext, reached: Callable[[WorkflowStatus], bool]) -> Any:
        """Wake on the hub's word that the instance started or ended; poll every 100 ms for what
        others change (a terminate, another process)."""
        backend = self._backend(self._router(request))
        instance_id = _lookup_id(request.instanceId)
        changed = self.hub.watch(backend.app_id, instance_id)
        try:
            while True:
                changed.clear()
                state = backend.get(instance_id, fetch_payloads=request.getInputsAndOutputs)
                if state is None or reached(state.runtime_status):
                    return pstates.instance_response(state, payloads=request.getInputsAndOutputs)
                if not context.is_active():
                    raise _Abort(grpc.StatusCode.CANCELLED, "the caller went away")
                remaining = context.time_remaining()
                if remaining is not None and remaining <= 0:
                    raise _Abort(grpc.StatusCode.DEADLINE_EXCEEDED, "timed out waiting for the workflow")
                changed.wait(min(WAIT_POLL, remaining) if remaining is not None else WAIT_POLL)
        finally:
            self.hub.unwatch(backend.app_id, instance_id, changed)

    @_rpc
    def WaitForInstanceStart(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._wait(request, context, lambda s: s != WorkflowStatus.PENDING)

    @_rpc
    def WaitForInstanceCompletion(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._wait(request, context, lambda s: s.is_terminal)

    @_rpc
    def RaiseEvent(self, request: Any, context: grpc.ServicerContext) -> Any:
        if not request.name:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "an event name is required")
        data = request.input.value if request.HasField("input") else None
        self._backend(self._router(request)).raise_event(_lookup_id(request.instanceId), request.name, data)
        return spb.RaiseEventResponse()

    @_rpc
    def TerminateInstance(self, request: Any, context: grpc.ServicerContext) -> Any:
        output = request.output.value if request.HasField("output") else None
        backend = self._backend(self._router(request))
        backend.terminate(_lookup_id(request.instanceId), output, request.recursive)
        self.hub.notify([(backend.app_id, request.instanceId)])
        return spb.TerminateResponse()

    @_rpc
    def SuspendInstance(self, request: Any, context: grpc.ServicerContext) -> Any:
        reason = request.reason.value if request.HasField("reason") and request.reason.value else None
        self._backend(self._router(request)).suspend(_lookup_id(request.instanceId), reason)
        return spb.SuspendResponse()

    @_rpc
    def ResumeInstance(self, request: Any, context: grpc.ServicerContext) -> Any:
        reason = request.reason.value if request.HasField("reason") and request.reason.value else None
        self._backend(self._router(request)).resume(_lookup_id(request.instanceId), reason)
        return spb.ResumeResponse()

    @_rpc
    def PurgeInstances(self, request: Any, context: grpc.ServicerContext) -> Any:
        backend = self._backend(self._router(request))
        if request.HasField("purgeInstanceFilter"):
            f = request.purgeInstanceFilter
            statuses = tuple(WorkflowStatus[opb.OrchestrationStatus.Name(s).removeprefix("ORCHESTRATION_STATUS_")]
                             for s in f.runtimeStatus)
            flt = ListFilter(
                statuses=statuses or None,
                created_after=f.createdTimeFrom.ToDatetime(tzinfo=_UTC) if f.HasField("createdTimeFrom") else None,
                created_before=f.createdTimeTo.ToDatetime(tzinfo=_UTC) if f.HasField("createdTimeTo") else None)
            n = backend.purge_many(flt, force=request.force)
        else:
            n = backend.purge(_lookup_id(request.instanceId), recursive=request.recursive, force=request.force)
        return spb.PurgeInstancesResponse(deletedInstanceCount=n, isComplete=_bool_value(True))

    @_rpc
    def ListInstanceIDs(self, request: Any, context: grpc.ServicerContext) -> Any:
        size = request.pageSize if request.HasField("pageSize") and request.pageSize else 1000
        cursor = request.continuationToken if request.HasField("continuationToken") and request.continuationToken \
            else None
        states, token = self._backend().list_page(None, limit=min(size, 10_000), cursor=cursor, fetch_payloads=False)
        res = spb.ListInstanceIDsResponse(instanceIds=[s.instance_id for s in states])
        if token:
            res.continuationToken = token
        return res

    @_rpc
    def GetInstanceHistory(self, request: Any, context: grpc.ServicerContext) -> Any:
        backend = self._backend()
        instance_id = _lookup_id(request.instanceId)
        store = backend.store()
        row = store.get_instance(backend.app_id, instance_id, payloads=False)
        if row is None:
            raise NotFoundError(f"no workflow instance {instance_id!r} in app {backend.app_id!r}")
        events = [Event.from_json(text) for text in store.load_history(row.iid)]
        generation = next((int(e.get("generation", 0)) for e in events if e.type == "ExecutionStarted"), 0)
        ctx = phistory.Context(row.app_id, instance_id, execution_id(instance_id, generation))
        return spb.GetInstanceHistoryResponse(events=phistory.to_proto_list(events, ctx))

    @_rpc
    def RerunWorkflowFromEvent(self, request: Any, context: grpc.ServicerContext) -> Any:
        if request.HasField("newChildWorkflowInstanceID"):
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "wf serve does not rename a rerun child workflow; "
                         "leave newChildWorkflowInstanceID unset")
        backend = self._backend(self._router(request))
        new_id = backend.rerun(_lookup_id(request.sourceInstanceID), request.eventID,
                               new_instance_id=request.newInstanceID if request.HasField("newInstanceID") else None,
                               input=request.input.value if request.HasField("input") else None,
                               overwrite_input=request.overwriteInput)
        return spb.RerunWorkflowFromEventResponse(newInstanceID=new_id)

    # ------------------------------------------------------------------------------ worker calls

    def GetWorkItems(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        pings = spb.WORKER_CAPABILITY_HEALTH_PING in request.capabilities
        # A stateful worker keeps, per instance, the past events it was last sent; we then send
        # only what follows them. instance id -> (iid, generation, how many it holds)
        held: OrderedDict[str, tuple[int, int, int]] | None = \
            OrderedDict() if spb.WORKER_CAPABILITY_STATEFUL_HISTORY in request.capabilities else None
        stream = self.hub.connect(_peer_address(context.peer()))
        context.add_callback(lambda: self.hub.disconnect(stream))
        log.info("a worker of app %s connected (%d connected)", self.app_id, self.hub.connected)
        last_sent = time.monotonic()
        try:
            while context.is_active() and not stream.closed:
                item = stream.next(timeout=0.5)
                if item is None:
                    if pings and time.monotonic() - last_sent >= HEALTH_PING_INTERVAL:
                        last_sent = time.monotonic()
                        yield spb.WorkItem(healthPing=spb.HealthPing())
                    continue
                try:
                    message = self._work_item(item, held)
                except Exception:  # noqa: BLE001 - a work item wf cannot encode goes back, the stream lives
                    log.exception("cannot encode a work item for instance %s", _instance_of(item))
                    self.hub.abandon(item.token)
                    continue
                last_sent = time.monotonic()
                yield message
        finally:
            self.hub.disconnect(stream)

    def _work_item(self, item: WorkflowItem | ActivityItem,
                   held: "OrderedDict[str, tuple[int, int, int]] | None" = None) -> Any:
        if isinstance(item, WorkflowItem):
            exec_id = execution_id(item.instance_id, item.generation)
            ctx = phistory.Context(item.app_id, item.instance_id, exec_id)
            past = self._encoded_past(item, ctx)
            new = phistory.to_proto_list(item.new, ctx)
            request = spb.WorkflowRequest(instanceId=item.instance_id, executionId=phistory.string_value(exec_id),
                                          newEvents=new, router=opb.TaskRouter(sourceAppID=item.app_id))
            kept = held.get(item.instance_id) if held is not None else None
            if kept is not None and kept[:2] == (item.iid, item.generation) and 0 < kept[2] <= len(past):
                # the worker holds the first kept[2] (history only grows within a generation); it
                # checks the count and fetches the history itself if it no longer has them
                request.cachedHistory.eventCount = kept[2]
                request.pastEvents.extend(past[kept[2]:])
            else:
                request.pastEvents.extend(past)
            if held is not None:
                held[item.instance_id] = (item.iid, item.generation, len(past))
                held.move_to_end(item.instance_id)
                if len(held) > STREAM_SENT:
                    held.popitem(last=False)
            message = spb.WorkItem(completionToken=item.token, workflowRequest=request)
            everything = [*item.past, *item.new]
            if everything:
                with self._lock:
                    self._encoded[item.instance_id] = (item.generation, len(everything), everything[-1], past + new)
                    self._encoded.move_to_end(item.instance_id)
                    if len(self._encoded) > PROTO_CACHE:
                        self._encoded.popitem(last=False)
            return message
        t = item.task
        return spb.WorkItem(
            completionToken=item.token,
            activityRequest=spb.ActivityRequest(
                name=t.name, taskId=t.task_id, input=phistory.string_value(t.input), taskExecutionId=item.execution_id,
                workflowInstance=opb.WorkflowInstance(instanceId=t.instance_id)))

    def _encoded_past(self, item: WorkflowItem, ctx: phistory.Context) -> list[Any]:
        """The past events as messages: those encoded for the previous turn, plus the rest. The
        cache is used only when the hub handed out the very events it was built from (the same
        objects: its own history cache, continuing the turn this server recorded last)."""
        with self._lock:
            cached = self._encoded.get(item.instance_id)
        if cached is not None:
            generation, n, last, messages = cached
            if generation == item.generation and 0 < n <= len(item.past) and item.past[n - 1] is last:
                return messages + phistory.to_proto_list(item.past[n:], ctx)
        return phistory.to_proto_list(item.past, ctx)

    @_rpc
    def CompleteOrchestratorTask(self, request: Any, context: grpc.ServicerContext) -> Any:
        turn = pactions.turn_from_response(request, time.time())
        self.hub.complete_workflow(request.completionToken, request.instanceId, turn)
        if turn.status is not None:  # ended or continued as new: its encoded history is of no more use
            with self._lock:
                self._encoded.pop(request.instanceId, None)
        return spb.CompleteTaskResponse()

    CompleteWorkflowTask = CompleteOrchestratorTask

    @_rpc
    def CompleteActivityTask(self, request: Any, context: grpc.ServicerContext) -> Any:
        data, failure = pactions.activity_result(request)
        self.hub.complete_activity(request.completionToken, request.instanceId, request.taskId, data, failure)
        return spb.CompleteTaskResponse()


def _peer_address(peer: str) -> str:
    """grpcio's 'ipv4:127.0.0.1:5000' / 'ipv6:[::1]:5000' -> the address; anything else as it is."""
    for prefix in ("ipv4:", "ipv6:"):
        if peer.startswith(prefix):
            return peer[len(prefix):]
    return peer


def _instance_of(item: WorkflowItem | ActivityItem) -> str:
    return item.instance_id if isinstance(item, WorkflowItem) else item.task.instance_id


def _bool_value(v: bool) -> Any:
    from google.protobuf import wrappers_pb2

    return wrappers_pb2.BoolValue(value=v)


_UTC = timezone.utc


class TokenInterceptor(grpc.ServerInterceptor):
    """daprd's API token check (the dapr-api-token metadata, compared in constant time), plus wf's
    roles (wf.server.auth): a named token's role must allow the method's operation. The handler runs
    as the token's name, so its audit records name it."""

    def __init__(self, token: str | None = None, tokens: Any = None,
                 on_denied: Callable[[Any, str], None] | None = None) -> None:
        from wf.server.auth import TokenTable

        self.tokens = tokens if tokens is not None else TokenTable(single=token)
        self.on_denied = on_denied

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        from wf.server.auth import GRPC_OPERATIONS, allows, required_role

        given = next((v for k, v in (details.invocation_metadata or ()) if k == TOKEN_KEY), None)
        identity = self.tokens.identify(given)
        code = grpc.StatusCode.UNAUTHENTICATED
        if identity is not None:
            operation = GRPC_OPERATIONS.get(str(details.method).rsplit("/", 1)[-1], "admin")
            needed = required_role(operation)
            if allows(identity.role, needed):
                return _acting_as(continuation(details), identity.name)
            if self.on_denied is not None:
                self.on_denied(identity, operation)
            code = grpc.StatusCode.PERMISSION_DENIED
            message = f"token {identity.name!r} has role {identity.role}: {operation} needs {needed}"
        else:
            message = ("missing api token in request metadata" if given is None
                       else "authentication error: api token mismatch")
        handler = continuation(details)

        def refuse(request: Any, context: grpc.ServicerContext) -> Any:
            context.abort(code, message)

        def refuse_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            context.abort(code, message)
            yield  # pragma: no cover - abort raises

        if handler is None:
            return None
        if handler.response_streaming and not handler.request_streaming:
            return grpc.unary_stream_rpc_method_handler(refuse_stream, handler.request_deserializer,
                                                        handler.response_serializer)
        return grpc.unary_unary_rpc_method_handler(refuse, handler.request_deserializer, handler.response_serializer)


def _acting_as(handler: Any, name: str) -> Any:
    """The same handler, run as `name` for the audit trail (unary and server-streaming methods)."""
    from wf.engine.control import acting_as

    if handler is None:
        return None
    if handler.unary_unary is not None:
        inner = handler.unary_unary

        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            with acting_as(name):
                return inner(request, context)

        return grpc.unary_unary_rpc_method_handler(unary, handler.request_deserializer, handler.response_serializer)
    if handler.unary_stream is not None:
        stream = handler.unary_stream

        def streaming(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            with acting_as(name):
                yield from stream(request, context)

        return grpc.unary_stream_rpc_method_handler(streaming, handler.request_deserializer,
                                                    handler.response_serializer)
    return handler


def call_authority(context: grpc.ServicerContext) -> str | None:
    """The :authority (HTTP/2's Host) of a call. grpcio has no public accessor for it: it is read
    from the call details grpcio keeps on the context, here only (None if that ever changes)."""
    host = getattr(getattr(getattr(context, "_rpc_event", None), "call_details", None), "host", None)
    if isinstance(host, bytes):
        return host.decode("latin-1")
    return host if isinstance(host, str) else None


class HostInterceptor(grpc.ServerInterceptor):
    """The HTTP door's Host rule (wf.server.auth.HostPolicy: DNS rebinding protection) on each
    call's :authority, checked before the token: PERMISSION_DENIED, as HTTP answers 403."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.port: int | None = None  # the bound gRPC port, set once the server listens
        self._verdicts: dict[str, str | None] = {}  # authority -> refusal message (None: allowed)

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None or self.policy.any_host:
            return handler
        return _checked_first(handler, self._check)

    def _check(self, context: grpc.ServicerContext) -> None:
        from wf.server.auth import check_request

        authority = call_authority(context)
        if authority is None:
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          "the call's :authority could not be read (an unexpected grpcio version); "
                          "start wf serve with --allow-host '*' to accept any host")
            return  # (abort raises)
        try:
            message = self._verdicts[authority]  # a channel sends the same authority on every call
        except KeyError:
            refusal = check_request(self.policy, "GET", {"host": authority}, self.port)
            message = refusal.message if refusal is not None else None
            if len(self._verdicts) >= 256:
                self._verdicts.clear()
            self._verdicts[authority] = message
        if message is not None:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, message)


def _checked_first(handler: Any, check: Callable[[grpc.ServicerContext], None]) -> Any:
    """The same handler, with check(context) (which may abort the call) run before it."""
    if handler.unary_unary is not None:
        inner = handler.unary_unary

        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            check(context)
            return inner(request, context)

        return grpc.unary_unary_rpc_method_handler(unary, handler.request_deserializer, handler.response_serializer)
    if handler.unary_stream is not None:
        stream = handler.unary_stream

        def streaming(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            check(context)
            yield from stream(request, context)

        return grpc.unary_stream_rpc_method_handler(streaming, handler.request_deserializer,
                                                    handler.response_serializer)
    return handler  # the service has no client- or bidi-streaming methods


class _HandlerCollector:
    """Takes what the generated add_..._to_server registers, keeping only its generic handler."""

    def __init__(self) -> None:
        self.handlers: list[Any] = []

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self.handlers.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: Any) -> None:
        pass


def _generic_handlers(servicer: Any) -> list[Any]:
    """The service's methods as generic handlers only: grpcio leaves a call's :authority empty for
    its pre-registered methods, and the Host rule needs it."""
    collector = _HandlerCollector()
    service_grpc.add_TaskHubSidecarServiceServicer_to_server(servicer, collector)
    return collector.handlers


class GrpcServer:
    """The gRPC door of `wf serve`: a hub for the app's workers and the service, in threads."""

    def __init__(self, db: str | os.PathLike, *, app_id: str, host: str, port: int, token: str | None,
                 durability: str | None = None, max_workers: int = 256, tokens: Any = None,
                 allow_hosts: tuple[str, ...] = ()) -> None:
        from wf.server.auth import HostPolicy, TokenTable

        self.hub = Hub(db, app_id, durability=durability)
        self.servicer = Servicer(db, self.hub, app_id, durability=durability)
        table = tokens if tokens is not None else TokenTable(single=token)
        hosts = HostInterceptor(HostPolicy(host, allow_hosts))
        interceptors: list[grpc.ServerInterceptor] = [hosts]
        if table.required:
            interceptors.append(TokenInterceptor(tokens=table, on_denied=self._denied))
        from wf.server.grpc_access_log import AccessLogInterceptor

        interceptors.insert(0, AccessLogInterceptor())  # first: calls refused for their host or token are logged too
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="wf-grpc"),
            interceptors=interceptors,
            options=[("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE),
                     ("grpc.so_reuseport", 0)])
        self.server.add_generic_rpc_handlers(_generic_handlers(self.servicer))
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            self.port = self.server.add_insecure_port(address)
        except RuntimeError as exc:
            raise WfError(f"gRPC could not listen on {address}: {exc}") from None
        if self.port == 0:
            raise WfError(f"gRPC could not listen on {address}: the port is in use or not allowed")
        hosts.port = self.port


    def _denied(self, identity: Any, operation: str) -> None:
        """A call beyond its token's role leaves an audit record (never fails the refusal)."""
        from wf.engine import control

        try:
            backend = self.servicer._backend()
            control.record_audit(backend.store(), app_id=backend.app_id, operation=operation, outcome="denied",
                                 actor=identity.name, detail=f"role {identity.role}; gRPC")
        except Exception:  # noqa: BLE001 - the refusal stands whether or not it could be recorded
            log.warning("wf serve: could not record a denied gRPC call", exc_info=True)
    def start(self) -> None:
        self.hub.start()
        self.server.start()

    def stop(self, grace: float = 5.0) -> None:
        self.server.stop(grace).wait(grace + 1)
        self.hub.stop()
        self.servicer.close()
