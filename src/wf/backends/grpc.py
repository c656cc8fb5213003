"""The gRPC engine: a client of Dapr's Durable Task service `TaskHubSidecarService`.

A Dapr sidecar (1.17+) serves it on its gRPC port (50001 by default), and so does `wf serve
--grpc-port`. `--url grpc://HOST:PORT` selects it (`grpcs://` for TLS, verified with the system's
trust store). Calls and what wf makes of them:

    StartInstance          run (-s start time: scheduledStartTimestamp; --if-exists: a look first)
    GetInstance            get, wait (polled), and each row of list
    ListInstanceIDs        list and bulk purge: ids in pages with a continuation token; the states
                           are then fetched with GetInstance, a bounded number at a time, and
                           filtered as they arrive (the service has no server-side filter)
    GetInstanceHistory     history
    RaiseEvent, SuspendInstance / ResumeInstance (reason), TerminateInstance (output, recursive)
    PurgeInstances         purge of one instance (force, recursive); bulk purge is one call per
                           instance, a bounded number in flight (Dapr refuses a purge filter)
    RerunWorkflowFromEvent rerun

The token travels as `dapr-api-token` metadata. Every call has a deadline (WF_TIMEOUT / the
profile's `timeout`). Reads are retried on UNAVAILABLE; writes are sent once. gRPC statuses and
Dapr's messages become wf's errors in `_error` (dapr/dapr's wfengine answers an unknown instance
with NOT_FOUND on history and rerun, with "no such instance exists" in an UNKNOWN status on
writes, and GetInstance with exists=false).
"""

from __future__ import annotations

import builtins
import itertools
import os
import ssl
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from wf.protocol.stubs import service as pb  # first: without the extra, StubsUnavailable names it
from wf.protocol.stubs import service_grpc  # isort: skip

import grpc  # noqa: E402
from google.protobuf import timestamp_pb2, wrappers_pb2  # noqa: E402

from wf import __version__
from wf.backends.base import (
    IF_EXISTS_CHOICES,
    Capabilities,
    bulk_each,
    check_rerun_args,
    emulate_if_exists,
    select_by_listing,
    wait_for_state,
)
from wf.model import (
    AuditRecord,
    BulkResult,
    AlreadyExistsError,
    AuthError,
    ConnectionFailedError,
    HistoryEvent,
    InvalidArgumentError,
    InvalidStateError,
    ListFilter,
    NotFoundError,
    PendingItem,
    RetentionPolicy,
    UnsupportedError,
    WfError,
    WorkerInfo,
    WorkflowState,
    check_list_order,
    check_rate_minutes,
    validate_instance_id,
)
from wf.protocol.history import event_from_proto
from wf.protocol.state import state_from_proto

TOKEN_METADATA = "dapr-api-token"
DEFAULT_PORTS = {"grpc": 50001, "grpcs": 443}
READ_ATTEMPTS = 3
LIST_PAGE = 1000  # ids per ListInstanceIDs call
LIST_CONCURRENCY = 32  # GetInstance calls in flight while listing
PURGE_CONCURRENCY = 32  # PurgeInstances calls in flight in a bulk purge
MAX_MESSAGE = 64 * 1024 * 1024  # a long history can exceed gRPC's 4 MiB default

_MISSING = ("no such instance exists", "not found", "does not exist")
_UNFINISHED = ("has not yet completed", "not in a terminal state", "is not completed")


def parse_url(url: str) -> tuple[str, bool]:
    """grpc://HOST[:PORT] or grpcs://... -> ("HOST:PORT", tls). Port 50001 (Dapr's) by default."""
    parts = urllib.parse.urlsplit((url or "").strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    if scheme not in DEFAULT_PORTS or not parts.hostname or port == -1 or parts.path not in ("", "/") \
            or parts.query or parts.username or parts.password:
        raise InvalidArgumentError(
            f"invalid URL {redact(url)!r}: expected grpc://HOST:PORT (grpcs:// for TLS), e.g. grpc://127.0.0.1:50001")
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"  # IPv6
    return f"{host}:{port or DEFAULT_PORTS[scheme]}", scheme == "grpcs"


def redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url or "")
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    try:
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
    except ValueError:
        pass
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def system_root_certificates() -> bytes | None:
    """The system trust store as PEM (grpc would otherwise use its own bundled roots).
    SSL_CERT_FILE is honoured, as OpenSSL does."""
    paths = ssl.get_default_verify_paths()
    for path in (os.environ.get("SSL_CERT_FILE"), paths.cafile, paths.openssl_cafile):
        if path and os.path.isfile(path):
            with open(path, "rb") as fh:
                return fh.read()
    return None


@dataclass
class BulkOutcome:
    """What a bulk operation did: purged (instances deleted, children included), skipped (gone
    already, or not finished), failed, and the first reasons of the failures."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    reasons: list[str] = field(default_factory=list)


Failures = list[str]  # ids whose state could not be read during a listing, with the reason ("id: reason")


class GrpcBackend:
    """A Backend over gRPC: a Dapr sidecar's gRPC port or `wf serve --grpc-port`."""

    def __init__(self, target: str, *, tls: bool = False, token: str | None = None, app_id: str = "default",
                 timeout: float = 30.0, display_url: str | None = None,
                 channel: grpc.Channel | None = None) -> None:
        if timeout is None or timeout <= 0:
            raise InvalidArgumentError(f"invalid timeout {timeout!r}: expected seconds > 0")
        self.target = target
        self.tls = tls
        self.display_url = display_url or f"{'grpcs' if tls else 'grpc'}://{target}"
        self.app_id = app_id or "default"
        self.timeout = float(timeout)
        self._metadata = ((TOKEN_METADATA, token),) if token else ()
        self._channel = channel
        self._stub: Any = None
        self.last_outcome: BulkOutcome | None = None  # of the last purge_many
        self._selected: tuple[tuple[ListFilter, bool], list[str]] | None = None  # the last count's selection

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> "GrpcBackend":
        target, tls = parse_url(url)
        return cls(target, tls=tls, display_url=redact(url.strip()).rstrip("/"), **kwargs)

    @classmethod
    def from_host_port(cls, host: str = "127.0.0.1", port: int = 50001, **kwargs: Any) -> "GrpcBackend":
        """DaprWorkflowClient(host=, port=)'s address."""
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return cls(f"{host}:{int(port)}", **kwargs)

    def __repr__(self) -> str:  # never shows the token
        return f"GrpcBackend({self.display_url!r}, app_id={self.app_id!r})"

    # ------------------------------------------------------------------------------ plumbing

    @property
    def stub(self) -> Any:
        if self._stub is None:
            if self._channel is None:
                options = [("grpc.primary_user_agent", f"wf/{__version__}"),
                           ("grpc.max_receive_message_length", MAX_MESSAGE),
                           ("grpc.max_send_message_length", MAX_MESSAGE)]
                if self.tls:
                    creds = grpc.ssl_channel_credentials(root_certificates=system_root_certificates())
                    self._channel = grpc.secure_channel(self.target, creds, options=options)
                else:
                    self._channel = grpc.insecure_channel(self.target, options=options)
            self._stub = service_grpc.TaskHubSidecarServiceStub(self._channel)
        return self._stub

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
            self._stub = None

    def capabilities(self) -> Capabilities:
        return Capabilities(engine="grpc")

    def _call(self, method: str, request: Any, *, read: bool, instance_id: str | None = None,
              what: str | None = None) -> Any:
        """One RPC with the deadline and the token; reads retried on UNAVAILABLE, writes sent once."""
        rpc = getattr(self.stub, method)
        attempts = READ_ATTEMPTS if read else 1
        delay = 0.1
        for attempt in range(1, attempts + 1):
            try:
                return rpc(request, timeout=self.timeout, metadata=self._metadata)
            except grpc.RpcError as exc:
                if read and attempt < attempts and exc.code() == grpc.StatusCode.UNAVAILABLE:
                    time.sleep(delay)
                    delay *= 3
                    continue
                raise self._error(exc, instance_id=instance_id, write=not read, what=what or method) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, exc: grpc.RpcError, *, instance_id: str | None, write: bool, what: str) -> WfError:
        """A gRPC status (and Dapr's words in it) -> the WfError the CLI reports."""
        code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
        message = " ".join(str(exc.details() if hasattr(exc, "details") else exc or "").split())
        lowered = message.lower()
        where = f"the engine at {self.display_url}"
        err: WfError
        if code == grpc.StatusCode.UNAVAILABLE:
            err = ConnectionFailedError(
                f"cannot reach {where} ({message or 'unavailable'}); is the Dapr sidecar or `wf serve --grpc-port` "
                "running there? Check --url / WF_URL")
        elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
            text = (f"{where} did not answer within {self.timeout:g}s (set WF_TIMEOUT or the profile's timeout "
                    "to wait longer)")
            if write:
                text += "; the operation may or may not have been applied: check with 'wf get'"
            err = ConnectionFailedError(text)
        elif code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            kind = "unauthenticated" if code == grpc.StatusCode.UNAUTHENTICATED else "permission denied"
            err = AuthError(f"{where} refused the request ({kind}: {message}): check the token "
                            "(--token, WF_API_TOKEN or DAPR_API_TOKEN)")
        elif code == grpc.StatusCode.UNIMPLEMENTED:
            err = UnsupportedError(f"{where} does not offer {what} over gRPC ({message or 'unimplemented'})")
        elif code == grpc.StatusCode.NOT_FOUND or (instance_id and any(m in lowered for m in _MISSING)):
            err = NotFoundError(f"no workflow instance {instance_id!r} in app {self.app_id!r}" if instance_id
                                else message or "not found")
            if instance_id and code == grpc.StatusCode.NOT_FOUND and "event" in lowered:
                err = NotFoundError(message)  # rerun: the instance exists, the event does not
        elif code == grpc.StatusCode.ALREADY_EXISTS:
            err = AlreadyExistsError(message or "already exists")
        elif any(m in lowered for m in _UNFINISHED):
            err = InvalidStateError(_unfinished(instance_id, message, what))
        elif code == grpc.StatusCode.FAILED_PRECONDITION:  # wf serve: the operation cannot apply in this state
            err = InvalidStateError(message)
        elif code == grpc.StatusCode.INVALID_ARGUMENT:
            # wf checks ids, JSON and numbers before sending, so what the engine still refuses is
            # mostly about the instance (rerun of a child, of a timer with input): exit 1 then.
            if "cannot" in lowered or "state" in lowered:
                err = InvalidStateError(message)
            else:
                err = InvalidArgumentError(f"{where} refused the request: {message}")
        else:
            err = WfError(f"{where} answered {code.name}: {message}")
        return err

    def _state(self, instance_id: str, *, fetch_payloads: bool) -> WorkflowState | None:
        response = self._call("GetInstance", pb.GetInstanceRequest(instanceId=instance_id,
                                                                   getInputsAndOutputs=fetch_payloads),
                              read=True, instance_id=instance_id)
        return self._from_response(instance_id, response, fetch_payloads)

    def _from_response(self, instance_id: str, response: Any, fetch_payloads: bool) -> WorkflowState | None:
        if not response.exists:
            return None
        state = state_from_proto(response.workflowState, app_id=self.app_id, fetch_payloads=fetch_payloads)
        if not state.instance_id:
            state.instance_id = instance_id
        return state

    # ------------------------------------------------------------------------------ Dapr's API

    def start(self, name: str, *, input: str | None = None, instance_id: str | None = None,
              start_at: datetime | None = None, if_exists: str = "return") -> str:
        if if_exists not in IF_EXISTS_CHOICES:
            raise InvalidArgumentError(f"unknown if_exists {if_exists!r}; expected one of {', '.join(IF_EXISTS_CHOICES)}")
        if not name:
            raise InvalidArgumentError("a workflow name is required")
        if instance_id is None:
            instance_id = uuid.uuid4().hex
        else:
            validate_instance_id(instance_id)
            existing = emulate_if_exists(self, instance_id, if_exists)
            if existing is not None:
                return existing
        request = pb.CreateInstanceRequest(instanceId=instance_id, name=name)
        if input is not None:
            request.input.CopyFrom(wrappers_pb2.StringValue(value=input))
        if start_at is not None:
            stamp = timestamp_pb2.Timestamp()
            stamp.FromDatetime(start_at)
            request.scheduledStartTimestamp.CopyFrom(stamp)
        try:
            response = self._call("StartInstance", request, read=False, what="starting a workflow")
        except AlreadyExistsError:
            if if_exists == "return":  # started by someone else since we looked
                return instance_id
            raise AlreadyExistsError(
                f"instance {instance_id!r} already exists; use if-exists 'return' or 'replace'") from None
        return response.instanceId or instance_id

    def get(self, instance_id: str, *, fetch_payloads: bool = True) -> WorkflowState | None:
        validate_instance_id(instance_id)
        return self._state(instance_id, fetch_payloads=fetch_payloads)

    def raise_event(self, instance_id: str, event_name: str, data: str | None = None) -> None:
        validate_instance_id(instance_id)
        if not event_name or not event_name.strip():
            raise InvalidArgumentError("an event name is required")
        request = pb.RaiseEventRequest(instanceId=instance_id, name=event_name)
        if data is not None:
            request.input.CopyFrom(wrappers_pb2.StringValue(value=data))
        self._call("RaiseEvent", request, read=False, instance_id=instance_id)

    def suspend(self, instance_id: str, reason: str | None = None) -> None:
        validate_instance_id(instance_id)
        request = pb.SuspendRequest(instanceId=instance_id)
        if reason:
            request.reason.CopyFrom(wrappers_pb2.StringValue(value=reason))
        self._call("SuspendInstance", request, read=False, instance_id=instance_id)

    def resume(self, instance_id: str, reason: str | None = None) -> None:
        validate_instance_id(instance_id)
        request = pb.ResumeRequest(instanceId=instance_id)
        if reason:
            request.reason.CopyFrom(wrappers_pb2.StringValue(value=reason))
        self._call("ResumeInstance", request, read=False, instance_id=instance_id)

    def select(self, operation: str, flt: ListFilter | None) -> list[str]:
        """A bulk operation's selection, from the listing (the service has no bulk calls)."""
        return select_by_listing(self, operation, flt)

    def bulk(self, operation: str, instance_ids: list[str], *, progress: Callable[[int], None] | None = None,
             selection: str | None = None, rps: float | None = None, **params: Any) -> BulkResult:
        """One call per instance, a few in flight, at most rps per second."""
        return bulk_each(self, operation, list(dict.fromkeys(instance_ids)), progress=progress, rps=rps, **params)

    def _no(self, what: str) -> UnsupportedError:
        return UnsupportedError(f"Dapr's gRPC workflow API has no {what}; against wf serve, use its HTTP address "
                                "(--url http://HOST:PORT)")

    def audit(self, *, since: datetime | None = None, operation: str | None = None, instance_id: str | None = None,
              limit: int | None = None) -> list[AuditRecord]:
        raise self._no("audit trail")

    def retention(self) -> RetentionPolicy:
        raise self._no("retention policy")

    def set_retention(self, *, any_terminal: float | None = None, completed: float | None = None,
                      failed: float | None = None, terminated: float | None = None) -> RetentionPolicy:
        raise self._no("retention policy")

    def clear_retention(self) -> bool:
        raise self._no("retention policy")

    def set_audit_retention(self, seconds: float) -> None:
        raise self._no("audit trail")

    def terminate(self, instance_id: str, output: str | None = None, recursive: bool = True, *,
                  reason: str | None = None) -> None:
        validate_instance_id(instance_id)
        request = pb.TerminateRequest(instanceId=instance_id, recursive=recursive)
        if output is not None:
            request.output.CopyFrom(wrappers_pb2.StringValue(value=output))
        self._call("TerminateInstance", request, read=False, instance_id=instance_id)

    def purge(self, instance_id: str, *, recursive: bool = True, force: bool = False) -> int:
        validate_instance_id(instance_id)
        request = pb.PurgeInstancesRequest(instanceId=instance_id, recursive=recursive, force=force)
        response = self._call("PurgeInstances", request, read=False, instance_id=instance_id)
        return int(response.deletedInstanceCount)

    def rerun(self, instance_id: str, event_id: int, *, new_instance_id: str | None = None,
              input: str | None = None, overwrite_input: bool = False) -> str:
        """A new instance replaying instance_id's history up to event event_id, then running on."""
        validate_instance_id(instance_id)
        check_rerun_args(instance_id, event_id, new_instance_id)
        request = pb.RerunWorkflowFromEventRequest(sourceInstanceID=instance_id, eventID=event_id,
                                                   overwriteInput=overwrite_input)
        if new_instance_id is not None:
            request.newInstanceID = new_instance_id
        if overwrite_input and input is not None:
            request.input.CopyFrom(wrappers_pb2.StringValue(value=input))
        response = self._call("RerunWorkflowFromEvent", request, read=False, instance_id=instance_id,
                              what="rerun")
        return response.newInstanceID

    # ------------------------------------------------------------------------------ reads

    def history(self, instance_id: str) -> list[HistoryEvent]:
        validate_instance_id(instance_id)
        response = self._call("GetInstanceHistory", pb.GetInstanceHistoryRequest(instanceId=instance_id),
                              read=True, instance_id=instance_id, what="history")
        return [event_from_proto(e) for e in response.events]

    def _ids(self, page_size: int = LIST_PAGE) -> Iterator[str]:
        """Every instance id, page by page (ListInstanceIDs with a continuation token)."""
        token: str | None = None
        while True:
            request = pb.ListInstanceIDsRequest(pageSize=page_size)
            if token:
                request.continuationToken = token
            try:
                page = self._call("ListInstanceIDs", request, read=True, what="listing")
            except UnsupportedError:
                raise UnsupportedError(
                    f"the engine at {self.display_url} has no ListInstanceIDs: a Dapr sidecar older than 1.17. "
                    "Upgrade Dapr to 1.17 or later to list over gRPC, or get instances by id (wf get ID)") from None
            yield from page.instanceIds
            token = page.continuationToken if page.HasField("continuationToken") else None
            if not token or not page.instanceIds:
                return

    def _states(self, flt: ListFilter | None, *, fetch_payloads: bool, window: int, failures: Failures,
                most: int | None = None) -> Iterator[WorkflowState]:
        """The state of each listed id, in the order listed, `window` GetInstance calls in flight;
        those that match flt are yielded as they arrive. An instance gone since it was listed is
        skipped; one whose state cannot be read goes to `failures` and the listing goes on. With
        `most`, no more than that many states are asked for (a limit without filters)."""
        pending: deque[tuple[str, Any]] = deque()
        ids = self._ids() if most is None else itertools.islice(self._ids(min(LIST_PAGE, most)), most)
        rpc = self.stub.GetInstance

        def submit() -> bool:
            iid = next(ids, None)
            if iid is None:
                return False
            request = pb.GetInstanceRequest(instanceId=iid, getInputsAndOutputs=fetch_payloads)
            pending.append((iid, rpc.future(request, timeout=self.timeout, metadata=self._metadata)))
            return True

        while len(pending) < window and submit():
            pass
        while pending:
            iid, future = pending.popleft()
            try:
                response = future.result()
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE:  # a read: retried like any other
                    try:
                        response = self._call("GetInstance", future_request(iid, fetch_payloads), read=True,
                                              instance_id=iid)
                    except WfError as retried:
                        failures.append(f"{iid}: {retried}")
                        response = None
                else:
                    error = self._error(exc, instance_id=iid, write=False, what="GetInstance")
                    if not isinstance(error, NotFoundError):
                        failures.append(f"{iid}: {error}")
                    response = None
            submit()
            if response is None:
                continue
            state = self._from_response(iid, response, fetch_payloads)
            if state is not None and matches(flt, state):
                yield state

    def list(self, flt: ListFilter | None = None, *, limit: int | None = None, fetch_payloads: bool = False,
             order: str = "newest", all_apps: bool = False) -> Iterator[WorkflowState]:
        """In the engine's order (Dapr lists ids by state-store key, not by age), filtered as the
        states arrive; stops fetching once `limit` matched. States that could not be read are
        reported in one error at the end, after every readable one was streamed. order "oldest"
        or "finished" reads every matching state first, to sort them (the API has no order);
        all_apps: a sidecar serves one app, its own."""
        check_list_order(order)
        if order != "newest":
            states = [s for s in self.list(flt, fetch_payloads=fetch_payloads)
                      if order == "oldest" or s.runtime_status.is_terminal]
            if order == "oldest":
                states.sort(key=lambda s: s.created_at)
            else:
                states.sort(key=lambda s: s.completed_at or s.last_updated_at, reverse=True)
            yield from states[:limit]
            return
        failures: Failures = []
        if limit is not None and limit <= 0:
            return
        most = None if limit is None or _filters(flt) else limit
        count = 0
        for state in self._states(flt, fetch_payloads=fetch_payloads, window=LIST_CONCURRENCY, failures=failures,
                                  most=most):
            yield state
            count += 1
            if limit is not None and count >= limit:
                return
        if failures:
            raise WfError(f"could not read {len(failures)} instance{'s' if len(failures) != 1 else ''} "
                          f"(first: {failures[0]})")

    def pending(self, instance_id: str) -> builtins.list[PendingItem] | None:
        """What the instance waits for, read from its history (GetInstanceHistory): activities,
        timers, child workflows, a Dapr worker's event waits, a suspension. None from a sidecar
        without GetInstanceHistory (older than Dapr 1.17)."""
        from wf.engine.pending import from_history

        try:
            return from_history(self.history(instance_id))
        except UnsupportedError:
            return None

    def wait(self, instance_id: str, *, until: str = "completion", timeout: float | None = None,
             fetch_payloads: bool = True) -> WorkflowState:
        """Poll GetInstance with backoff (50 ms growing to 1 s) until started / finished, or the timeout."""
        return wait_for_state(lambda: self.get(instance_id, fetch_payloads=fetch_payloads), instance_id,
                              self.app_id, until=until, timeout=timeout, pause=time.sleep,
                              first=0.05, factor=1.5, cap=1.0)

    # ------------------------------------------------------------------------------ bulk purge

    def _selection(self, flt: ListFilter, force: bool) -> builtins.list[str]:
        """The ids a bulk purge takes, all read before the first is purged: a purge while paging
        would shift the engine's pages (a state store's continuation token may be an offset), and
        instances created meanwhile are not touched. The last selection is kept for the purge that
        follows its count (the confirmation at a terminal)."""
        key = (flt, force)
        if self._selected is not None and self._selected[0] == key:
            return self._selected[1]
        failures: Failures = []
        ids = [s.instance_id for s in self._states(flt, fetch_payloads=False, window=LIST_CONCURRENCY,
                                                    failures=failures)
               if force or s.runtime_status.is_terminal]
        if failures:
            raise WfError(f"could not read {len(failures)} instance{'s' if len(failures) != 1 else ''} "
                          f"to select them (first: {failures[0]}); nothing was purged")
        self._selected = (key, ids)
        return ids

    def count(self, flt: ListFilter, *, force: bool = False) -> int:
        return len(self._selection(flt, force))

    def workers(self, *, all_apps: bool = False) -> builtins.list[WorkerInfo]:
        raise UnsupportedError("the gRPC workflow API does not list workers (Dapr has no such call); "
                               "`wf serve` over HTTP and the local engine do")

    def rates(self, minutes: int, *, all_apps: bool = False) -> None:
        """None: the gRPC API has no per-minute counts (`wf top` shows them as unknown)."""
        check_rate_minutes(minutes)
        return None

    def count_total(self, flt: ListFilter | None) -> int:
        return sum(self.count_by(flt, "status").values())

    def count_by(self, flt: ListFilter | None, by: str, *, all_apps: bool = False) -> dict[str, int]:
        """Counted while listing (the gRPC API has no count); by "app": this sidecar's app only."""
        counts: dict[str, int] = {}
        for state in self.list(flt):
            key = {"status": state.runtime_status.name, "name": state.name, "app": self.app_id}[by]
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def purge_many(self, flt: ListFilter, *, force: bool = False, dry_run: bool = False,
                   progress: Callable[[int], None] | None = None) -> int:
        """One PurgeInstances per selected instance, PURGE_CONCURRENCY in flight. Returns how many
        were deleted; self.last_outcome has the purged / skipped / failed counts."""
        outcome = self.last_outcome = BulkOutcome()
        if dry_run:
            outcome.done = self.count(flt, force=force)
            return outcome.done
        rpc = self.stub.PurgeInstances
        pending: deque[tuple[str, Any]] = deque()

        def settle(iid: str, future: Any) -> None:
            try:
                deleted = int(future.result().deletedInstanceCount)
            except grpc.RpcError as exc:
                err = self._error(exc, instance_id=iid, write=True, what="purge")
                if isinstance(err, (NotFoundError, InvalidStateError)):
                    outcome.skipped += 1  # purged with its parent already, or no longer finished
                else:
                    outcome.failed += 1
                    if len(outcome.reasons) < 3:
                        outcome.reasons.append(f"{iid}: {err}")
                if progress is not None:
                    progress(0)
                return
            outcome.done += deleted
            if progress is not None:
                progress(deleted)

        if self._selected is None and not _filters(flt):
            # Every finished instance (or every one, forced): the ids are the selection, and the
            # engine's own refusal to purge a live instance skips those, so no state is read first.
            selected = list(self._ids())
        else:
            selected, self._selected = self._selection(flt, force), None
        for iid in selected:
            request = pb.PurgeInstancesRequest(instanceId=iid, recursive=True, force=force)
            pending.append((iid, rpc.future(request, timeout=self.timeout, metadata=self._metadata)))
            if len(pending) >= PURGE_CONCURRENCY:
                settle(*pending.popleft())
        while pending:
            settle(*pending.popleft())
        return outcome.done


def future_request(instance_id: str, fetch_payloads: bool) -> Any:
    return pb.GetInstanceRequest(instanceId=instance_id, getInputsAndOutputs=fetch_payloads)


def _unfinished(instance_id: str | None, message: str, what: str) -> str:
    if not instance_id:
        return message
    hint = "terminate it first, or add --force" if what == "PurgeInstances" else "wait for it to finish"
    return f"instance {instance_id!r} has not finished ({message}); {hint}"


def _filters(flt: ListFilter | None) -> bool:
    return flt is not None and bool(flt.statuses or flt.name or flt.created_after or flt.created_before
                                    or flt.completed_before)


def matches(flt: ListFilter | None, state: WorkflowState) -> bool:
    """The list filters, applied on the client (the gRPC service lists ids only)."""
    if flt is None:
        return True
    if flt.statuses and state.runtime_status not in flt.statuses:
        return False
    if flt.name and state.name != flt.name:
        return False
    created = state.created_at.replace(tzinfo=timezone.utc)  # states carry naive UTC, as Dapr's
    if flt.created_after is not None and created < flt.created_after:
        return False
    if flt.created_before is not None and created >= flt.created_before:
        return False
    if flt.completed_before is not None and (
            state.completed_at is None or state.completed_at.replace(tzinfo=timezone.utc) >= flt.completed_before):
        return False
    return True
