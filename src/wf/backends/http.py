"""The HTTP engine: an httpx client of Dapr's workflow HTTP API, and of `wf serve`'s extensions.

Core calls (every engine that speaks Dapr's API):

    POST {base}/workflows/dapr/{name}/start?instanceID=ID   body: the input JSON   -> 202 {"instanceID"}
    GET  {base}/workflows/dapr/{id}                          -> 200 {"instanceID", "workflowName",
         "createdAt", "lastUpdatedAt", "runtimeStatus", "properties": {"dapr.workflow.input": JSON text, ...}}
    POST {base}/workflows/dapr/{id}/raiseEvent/{event}       body: the event data  -> 202
    POST {base}/workflows/dapr/{id}/pause | resume | terminate | purge            -> 202

with {base} = /v1.0, falling back to /v1.0-beta1 when /v1.0 has no such route (older sidecars).
Errors come back as {"errorCode", "message"} (404 ERR_INSTANCE_ID_NOT_FOUND, ...).

What the engine offers beyond that is learned once, lazily, from GET /v1.0/metadata: `wf serve`
adds a "wf" section listing its extensions (list, history, bulk purge, start time, if-exists,
terminate output, non-recursive terminate, app ids); a Dapr sidecar has none, so those calls raise
UnsupportedError saying the engine's HTTP API does not offer them.

Only idempotent reads are retried (a connection refused, a timeout, a 502/503/504), a few times
with a short backoff; a write is sent once. The token goes in the `dapr-api-token` header and
appears in no message.
"""

from __future__ import annotations

import builtins
import json
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import httpx

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
    AlreadyExistsError,
    AuditRecord,
    BulkResult,
    AuthError,
    ConnectionFailedError,
    FailureDetails,
    HistoryEvent,
    InvalidArgumentError,
    InvalidStateError,
    ListFilter,
    NotFoundError,
    RetentionPolicy,
    PendingItem,
    Rates,
    WorkerInfo,
    UnsupportedError,
    WfError,
    WorkflowState,
    WorkflowStatus,
    check_list_order,
    check_rate_minutes,
    rfc3339,
    validate_instance_id,
)

API_V1 = "/v1.0"
API_BETA = "/v1.0-beta1"
COMPONENT = "dapr"
TOKEN_HEADER = "dapr-api-token"

# Property keys of Dapr's GetWorkflowResponse (values are JSON text; "" means absent) ...
P_INPUT = "dapr.workflow.input"
P_OUTPUT = "dapr.workflow.output"
P_CUSTOM_STATUS = "dapr.workflow.custom_status"
P_ERROR_TYPE = "dapr.workflow.failure.error_type"
P_ERROR_MESSAGE = "dapr.workflow.failure.error_message"
# ... and the ones wf serve adds (a Dapr sidecar never sends them).
P_STACK_TRACE = "wf.failure.stack_trace"
P_APP_ID = "wf.app_id"
P_COMPLETED_AT = "wf.completed_at"
P_PARENT = "wf.parent_instance_id"

# Extension names in wf serve's metadata ("wf": {"extensions": [...]}).
EXT_LIST = "list"
EXT_HISTORY = "history"
EXT_BULK_PURGE = "bulkPurge"
EXT_START_TIME = "startTime"
EXT_IF_EXISTS = "ifExists"
EXT_TERMINATE_OUTPUT = "terminateOutput"
EXT_TERMINATE_RECURSIVE = "terminateRecursive"
EXT_APP_ID = "appID"
EXT_FETCH_PAYLOADS = "fetchPayloads"
EXT_PENDING = "pending"
EXT_RERUN = "rerun"
EXT_BULK_OPERATIONS = "bulkOperations"
EXT_AUDIT = "audit"
EXT_RETENTION = "retention"



def dapr_retention_hint(limits: dict[str, float | None] | None = None) -> str:
    """Where a Dapr sidecar keeps a retention policy (the Configuration resource, Dapr 1.17+), as
    one line of YAML (flow style) with the limits asked for, or examples."""
    def go(secs: float) -> str:  # Go's time.ParseDuration has no days
        h, rest = divmod(round(secs), 3600)
        m, s = divmod(rest, 60)
        return "".join(f"{n}{u}" for n, u in ((h, "h"), (m, "m"), (s, "s")) if n) or "0s"

    names = {"any_terminal": "anyTerminal", "completed": "completed", "failed": "failed", "terminated": "terminated"}
    given = {names[k]: go(v) for k, v in (limits or {}).items() if v is not None}
    fields = given or {"anyTerminal": "720h", "completed": "72h", "failed": "2160h"}
    policy = ", ".join(f'{k}: "{v}"' for k, v in fields.items())
    return ("a Dapr sidecar keeps its retention policy in the app's Configuration resource (Dapr 1.17+), not "
            "behind its HTTP API; put it there: apiVersion: dapr.io/v1alpha1, kind: Configuration, "
            f"spec: {{workflow: {{stateRetentionPolicy: {{{policy}}}}}}}")

# The bulk endpoints of wf serve: POST /v1.0/workflows/dapr/{path}.
BULK_PATHS = {"terminate": "terminate", "suspend": "suspend", "resume": "resume", "raise_event": "raiseEvent"}
BULK_REQUEST = 500  # instance ids per bulk request to wf serve
SIDECAR_CONCURRENCY = 8  # requests in flight when a sidecar takes one call per instance
EXT_COUNT = "count"
EXT_WORKERS = "workers"
EXT_LIST_ORDER = "listOrder"  # list ?order=oldest|finished
EXT_ALL_APPS = "allApps"  # list and countBy ?allApps=true
EXT_RATES = "rates"  # GET /v1.0/rates

NOT_FOUND_CODE = "ERR_INSTANCE_ID_NOT_FOUND"
RETRY_STATUSES = frozenset({502, 503, 504})
READ_ATTEMPTS = 3
LIST_PAGE = 500
_FRACTION = re.compile(r"(\.\d{6})\d+")


class _RouteMissing(Exception):
    """The engine has no such route under this API version (404 without an instance error code)."""


def parse_time(text: Any) -> datetime | None:
    """RFC 3339 as protojson writes it (up to nanoseconds, `Z`) -> an aware UTC datetime."""
    if not text or not isinstance(text, str):
        return None
    s = _FRACTION.sub(r"\1", text.strip())
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def _text(value: Any) -> str | None:
    """A property value: JSON text, where "" (what Dapr sends for 'none') means None."""
    return value if isinstance(value, str) and value != "" else None


def state_from_dapr(d: dict[str, Any], *, app_id: str, fetch_payloads: bool = True) -> WorkflowState:
    """Dapr's GetWorkflowResponse JSON (plus wf serve's extra properties) -> WorkflowState."""
    props = d.get("properties") or {}
    if not isinstance(props, dict):
        props = {}
    status_text = str(d.get("runtimeStatus") or "")
    try:
        status = WorkflowStatus.parse(status_text)
    except InvalidArgumentError:
        raise WfError(f"the engine reported an unknown runtime status {status_text!r} for "
                      f"{d.get('instanceID')!r}") from None
    created = parse_time(d.get("createdAt")) or datetime.fromtimestamp(0, tz=timezone.utc)
    updated = parse_time(d.get("lastUpdatedAt")) or created
    failure = None
    error_type, error_message = _text(props.get(P_ERROR_TYPE)), _text(props.get(P_ERROR_MESSAGE))
    if error_type or error_message:
        failure = FailureDetails(error_message or "", error_type or "Error", _text(props.get(P_STACK_TRACE)))
    return WorkflowState(
        instance_id=str(d.get("instanceID") or ""),
        name=str(d.get("workflowName") or ""),
        runtime_status=status,
        created_at=created,
        last_updated_at=updated,
        serialized_input=_text(props.get(P_INPUT)) if fetch_payloads else None,
        serialized_output=_text(props.get(P_OUTPUT)) if fetch_payloads else None,
        serialized_custom_status=_text(props.get(P_CUSTOM_STATUS)),
        failure_details=failure,
        app_id=_text(props.get(P_APP_ID)) or app_id,
        completed_at=parse_time(props.get(P_COMPLETED_AT)),
        parent_instance_id=_text(props.get(P_PARENT)),
    )


def history_event_from_dict(d: dict[str, Any]) -> HistoryEvent:
    """HistoryEvent.to_dict() (what wf serve sends) -> HistoryEvent."""
    return HistoryEvent(
        event_id=int(d.get("event_id", -1)),
        event_type=str(d.get("event_type") or ""),
        timestamp=parse_time(d.get("timestamp")) or datetime.fromtimestamp(0, tz=timezone.utc),
        name=d.get("name"),
        task_scheduled_id=d.get("task_scheduled_id"),
        data=d.get("data"),
        failure_details=FailureDetails.from_dict(d.get("failure_details")),
        extra=dict(d.get("extra") or {}),
    )


def redact_url(url: str) -> str:
    """The URL without user:password@ (never echoed in a message)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class HttpBackend:
    """A Backend over HTTP: a Dapr sidecar (`dapr run ... --dapr-http-port 3500`) or `wf serve`."""

    def __init__(self, url: str, *, token: str | None = None, app_id: str = "default", timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        url = (url or "").strip()
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidArgumentError(
                f"invalid URL {redact_url(url)!r}: expected http://HOST:PORT, e.g. http://127.0.0.1:3500")
        if timeout is None or timeout <= 0:
            raise InvalidArgumentError(f"invalid timeout {timeout!r}: expected seconds > 0")
        self.url = url.rstrip("/")
        self.display_url = redact_url(self.url)
        self.app_id = app_id or "default"
        self.timeout = float(timeout)
        self._token = token or None
        self._transport = transport
        self._client: httpx.Client | None = None
        self._prefix: str | None = None  # API_V1 or API_BETA once a route answered
        self._meta: dict[str, Any] | None = None

    def __repr__(self) -> str:  # never shows the token
        return f"HttpBackend({self.display_url!r}, app_id={self.app_id!r})"

    # ------------------------------------------------------------------------------ plumbing

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            headers = {"User-Agent": f"wf/{__version__}"}
            if self._token:
                headers[TOKEN_HEADER] = self._token
            self._client = httpx.Client(base_url=self.url, headers=headers, timeout=self.timeout,
                                        transport=self._transport, follow_redirects=False)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _send(self, method: str, path: str, *, params: dict[str, Any] | None = None,
              content: str | bytes | None = None, json_body: Any = None, read: bool = False) -> httpx.Response:
        """One request; reads are retried on transient failures, writes are sent once."""
        attempts = READ_ATTEMPTS if read else 1
        delay = 0.1
        started = time.monotonic()
        for attempt in range(1, attempts + 1):
            try:
                headers = {"Content-Type": "application/json"} if content is not None else None
                response = self.client.request(method, path, params=_clean(params), content=content,
                                               json=json_body, headers=headers)
            except httpx.TimeoutException as exc:
                if attempt < attempts:
                    time.sleep(delay)
                    delay *= 3
                    continue
                raise self._timeout_error(exc, write=not read, tries=attempt,
                                          elapsed=time.monotonic() - started) from None
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                if attempt < attempts:
                    time.sleep(delay)
                    delay *= 3
                    continue
                raise self._connect_error(exc) from None
            except httpx.InvalidURL as exc:
                raise InvalidArgumentError(f"invalid URL {self.display_url!r}: {exc}") from None
            except httpx.HTTPError as exc:
                raise ConnectionFailedError(f"request to the engine at {self.display_url} failed: "
                                            f"{type(exc).__name__}: {exc}") from None
            if read and response.status_code in RETRY_STATUSES and attempt < attempts:
                time.sleep(delay)
                delay *= 3
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _timeout_error(self, exc: Exception, *, write: bool, tries: int = 1,
                       elapsed: float | None = None) -> ConnectionFailedError:
        from wf.durations import format_duration

        spent = f"; {tries} tries over {format_duration(elapsed)}" if tries > 1 and elapsed is not None else ""
        msg = (f"the engine at {self.display_url} did not answer within {self.timeout:g}s{spent} "
               "(set WF_TIMEOUT or the profile's timeout to wait longer)")
        if write:
            msg += "; the operation may or may not have been applied: check with 'wf get'"
        return ConnectionFailedError(msg)

    def _connect_error(self, exc: Exception) -> ConnectionFailedError:
        detail = "connection refused" if isinstance(exc, httpx.ConnectError) else f"{type(exc).__name__}"
        return ConnectionFailedError(
            f"cannot reach the engine at {self.display_url} ({detail}); is `wf serve` or the Dapr sidecar "
            "running there? Check --url / WF_URL")

    def _wf_call(self, method: str, tail: str, *, read: bool = False, not_found_is_none: bool = False,
                 instance_id: str | None = None, **kwargs: Any) -> httpx.Response | None:
        """A call under /v1.0/workflows/dapr/..., falling back to /v1.0-beta1 for older sidecars."""
        prefixes = [self._prefix] if self._prefix else [API_V1, API_BETA]
        for prefix in prefixes:
            path = f"{prefix}/workflows/{COMPONENT}/{tail}" if tail else f"{prefix}/workflows/{COMPONENT}"
            response = self._send(method, path, read=read, **kwargs)
            try:
                missing = self._check(response, instance_id=instance_id, not_found_is_none=not_found_is_none)
            except _RouteMissing:
                continue
            self._prefix = prefix
            return None if missing else response
        raise UnsupportedError(
            f"the engine at {self.display_url} has no workflow HTTP API here (no route under {API_V1} or "
            f"{API_BETA}); is it a Dapr sidecar (1.10 or later) or `wf serve`?")

    def _check(self, response: httpx.Response, *, instance_id: str | None = None,
               not_found_is_none: bool = False) -> bool:
        """Raise the WfError that an error response means. Returns False on success, True when the
        instance does not exist and not_found_is_none asked for that instead of an error."""
        status = response.status_code
        if status < 400:
            return False
        code, message = _error_of(response)
        if status == 403 and code in ("ERR_FORBIDDEN_HOST", "ERR_FORBIDDEN_ORIGIN", "ERR_PERMISSION_DENIED"):  # wf serve's own words
            raise AuthError(f"the engine at {self.display_url} refused the request (403 forbidden): {message}")
        if status in (401, 403):
            raise AuthError(
                f"the engine at {self.display_url} refused the request ({status} "
                f"{'unauthorized' if status == 401 else 'forbidden'}): check the API token "
                "(--token, WF_API_TOKEN or DAPR_API_TOKEN)")
        if status == 404:
            if code == NOT_FOUND_CODE:
                if not_found_is_none:
                    return True
                raise self._not_found(instance_id, message)
            raise _RouteMissing()
        if code in ("ERR_GET_WORKFLOW", "ERR_RAISE_EVENT_WORKFLOW", "ERR_PAUSE_WORKFLOW", "ERR_RESUME_WORKFLOW",
                    "ERR_TERMINATE_WORKFLOW", "ERR_PURGE_WORKFLOW") and _says_missing(message):
            # Older sidecars answer a missing instance with a 500 and words, not a 404.
            if not_found_is_none:
                return True
            raise self._not_found(instance_id, message)
        detail = f"{code}: {message}" if code else message
        if status == 409 or code in ("ERR_INVALID_STATE", "ERR_INSTANCE_ID_ALREADY_EXISTS") or (
                code == "ERR_START_WORKFLOW" and "already exists" in message.lower()):
            err: WfError
            if code == "ERR_INVALID_STATE":
                err = InvalidStateError(message)
            elif code in ("ERR_INSTANCE_ID_ALREADY_EXISTS", "ERR_START_WORKFLOW"):
                err = AlreadyExistsError(message)
            else:
                err = InvalidStateError(detail)
        elif code == "ERR_NOT_SUPPORTED" or status == 501:
            err = UnsupportedError(message)
        elif status == 413:
            err = InvalidArgumentError(f"the engine at {self.display_url} refused the request as too large"
                                       f"{': ' + message if message else ''}")
        elif status == 400:
            err = InvalidArgumentError(f"the engine refused the request ({detail})")
        elif status in RETRY_STATUSES:  # a proxy before an engine that is down or restarting
            err = ConnectionFailedError(f"the engine at {self.display_url} answered {status} ({detail})")
        else:
            err = WfError(f"the engine at {self.display_url} answered {status} ({detail})")
        if code:
            err.code = code
        raise err

    def _not_found(self, instance_id: str | None, message: str) -> NotFoundError:
        if instance_id:
            return NotFoundError(f"no workflow instance {instance_id!r} in app {self.app_id!r}")
        return NotFoundError(message or "not found")

    def _meta_section(self) -> dict[str, Any]:
        """wf serve's "wf" metadata section ({} for a Dapr sidecar), fetched once."""
        if self._meta is None:
            response = self._send("GET", f"{API_V1}/metadata", read=True)
            if response.status_code in (401, 403):
                self._check(response)
            data: Any = {}
            if response.status_code == 200:
                try:
                    data = response.json()
                except ValueError:
                    data = {}
            section = data.get("wf") if isinstance(data, dict) else None
            self._meta = section if isinstance(section, dict) else {}
        return self._meta

    def _has(self, extension: str) -> bool:
        extensions = self._meta_section().get("extensions") or []
        return extension in extensions

    def _require(self, extension: str, what: str) -> None:
        if not self._has(extension):
            raise UnsupportedError(
                f"the engine's HTTP API at {self.display_url} does not offer {what} (a Dapr sidecar offers "
                "start, get, raise-event, suspend, resume, terminate and purge of one instance); "
                "`wf serve` and the local engine do")

    def _app_params(self) -> dict[str, Any]:
        """appID=... for wf serve when the app is not the default (a sidecar serves its own app)."""
        if self.app_id != "default" and self._has(EXT_APP_ID):
            return {"appID": self.app_id}
        return {}

    def capabilities(self) -> Capabilities:
        meta = self._meta_section()
        if not meta:
            return Capabilities(engine="dapr", list=False, history=False, bulk_purge=False)
        return Capabilities(engine="wf-serve", list=self._has(EXT_LIST), history=self._has(EXT_HISTORY),
                            bulk_purge=self._has(EXT_BULK_PURGE))

    # ------------------------------------------------------------------------------ Dapr's API

    def start(self, name: str, *, input: str | None = None, instance_id: str | None = None,
              start_at: datetime | None = None, if_exists: str = "return") -> str:
        if if_exists not in IF_EXISTS_CHOICES:
            raise InvalidArgumentError(f"unknown if_exists {if_exists!r}; expected one of {', '.join(IF_EXISTS_CHOICES)}")
        if not name:
            raise InvalidArgumentError("a workflow name is required")
        if instance_id is not None:
            validate_instance_id(instance_id)
        params: dict[str, Any] = {"instanceID": instance_id, **self._app_params()}
        if start_at is not None:
            self._require(EXT_START_TIME, "a start time (Dapr's HTTP start API starts at once)")
            params["startTime"] = rfc3339(start_at)
        if instance_id is not None:
            if self._has(EXT_IF_EXISTS):
                params["ifExists"] = if_exists
            else:
                existing = emulate_if_exists(self, instance_id, if_exists)
                if existing is not None:
                    return existing
        response = self._wf_call("POST", f"{_seg(name)}/start", params=params,
                                 content=input if input is not None else b"")
        assert response is not None
        try:
            body = response.json()
        except ValueError:
            body = {}
        iid = body.get("instanceID") if isinstance(body, dict) else None
        if not iid:
            if instance_id:
                return instance_id
            raise WfError(f"the engine at {self.display_url} started {name!r} but returned no instanceID")
        return str(iid)

    def get(self, instance_id: str, *, fetch_payloads: bool = True) -> WorkflowState | None:
        validate_instance_id(instance_id)
        params = dict(self._app_params())
        if not fetch_payloads and self._meta is not None and self._has(EXT_FETCH_PAYLOADS):
            params["fetchPayloads"] = "false"
        response = self._wf_call("GET", _seg(instance_id), params=params, read=True, not_found_is_none=True,
                                 instance_id=instance_id)
        if response is None:
            return None
        data = self._json(response)
        if not isinstance(data, dict):
            raise WfError(f"the engine at {self.display_url} sent an unexpected workflow state")
        return state_from_dapr(data, app_id=self.app_id, fetch_payloads=fetch_payloads)

    def raise_event(self, instance_id: str, event_name: str, data: str | None = None) -> None:
        validate_instance_id(instance_id)
        if not event_name or not event_name.strip():
            raise InvalidArgumentError("an event name is required")
        self._wf_call("POST", f"{_seg(instance_id)}/raiseEvent/{_seg(event_name)}", params=self._app_params(),
                      content=data if data is not None else b"", instance_id=instance_id)

    def suspend(self, instance_id: str, reason: str | None = None) -> None:
        validate_instance_id(instance_id)
        self._wf_call("POST", f"{_seg(instance_id)}/pause", params={"reason": reason, **self._app_params()},
                      instance_id=instance_id)

    def resume(self, instance_id: str, reason: str | None = None) -> None:
        validate_instance_id(instance_id)
        self._wf_call("POST", f"{_seg(instance_id)}/resume", params={"reason": reason, **self._app_params()},
                      instance_id=instance_id)

    def terminate(self, instance_id: str, output: str | None = None, recursive: bool = True, *,
                  reason: str | None = None) -> None:
        validate_instance_id(instance_id)
        params: dict[str, Any] = dict(self._app_params())
        if reason and self._has(EXT_BULK_OPERATIONS):  # wf serve records it in its audit trail
            params["reason"] = reason
        content: str | None = None
        if output is not None:
            # Dapr reads a terminate body as its own request message, not as the output.
            self._require(EXT_TERMINATE_OUTPUT, "a terminate output (drop --output)")
            content = output
        if not recursive:
            self._require(EXT_TERMINATE_RECURSIVE, "a non-recursive terminate (Dapr terminates the children too)")
            params["recursive"] = "false"
        self._wf_call("POST", f"{_seg(instance_id)}/terminate", params=params, content=content,
                      instance_id=instance_id)

    def purge(self, instance_id: str, *, recursive: bool = True, force: bool = False) -> int:
        validate_instance_id(instance_id)
        params: dict[str, Any] = dict(self._app_params())
        if force:
            params["force"] = "true"
        if not recursive:
            params["recursive"] = "false"
        response = self._wf_call("POST", f"{_seg(instance_id)}/purge", params=params, instance_id=instance_id)
        assert response is not None
        body = self._json(response, default={})
        count = body.get("deletedInstanceCount") if isinstance(body, dict) else None
        return int(count) if isinstance(count, int) else 1

    # ------------------------------------------------------------------------------ wf serve's extensions

    def rerun(self, instance_id: str, event_id: int, *, new_instance_id: str | None = None,
              input: str | None = None, overwrite_input: bool = False) -> str:
        """POST .../{id}/rerun?eventID=N[&newInstanceID=] (body, optional: the new input)."""
        validate_instance_id(instance_id)
        check_rerun_args(instance_id, event_id, new_instance_id)
        self._require(EXT_RERUN, "rerun (a Dapr sidecar reruns over gRPC: --url grpc://HOST:50001)")
        params = {"eventID": event_id, "newInstanceID": new_instance_id, **self._app_params()}
        content = (input if input is not None else "null") if overwrite_input else None
        # No instance_id: a 404 may be about the event, and the engine's message says which.
        response = self._wf_call("POST", f"{_seg(instance_id)}/rerun", params=params, content=content)
        assert response is not None
        body = self._json(response, default={})
        new_id = body.get("instanceID") if isinstance(body, dict) else None
        if not new_id:
            raise WfError(f"the engine at {self.display_url} reran {instance_id!r} but returned no instanceID")
        return str(new_id)

    def list(self, flt: ListFilter | None = None, *, limit: int | None = None, fetch_payloads: bool = False,
             order: str = "newest", all_apps: bool = False) -> Iterator[WorkflowState]:
        check_list_order(order)
        self._require(EXT_LIST, "listing")
        params = {**_filter_params(flt), **self._scope_params(all_apps)}
        if order != "newest":
            self._require(EXT_LIST_ORDER, f"listing {order} first")
            params["order"] = order
        if fetch_payloads:
            params["fetchPayloads"] = "true"
        return self._pages(params, limit, fetch_payloads)

    def _pages(self, params: dict[str, Any], limit: int | None, fetch_payloads: bool) -> Iterator[WorkflowState]:
        remaining = limit
        token: str | None = None
        while remaining is None or remaining > 0:
            page = LIST_PAGE if remaining is None else min(LIST_PAGE, remaining)
            response = self._wf_call("GET", "", params={**params, "limit": page, "continuationToken": token},
                                     read=True)
            assert response is not None
            body = self._json(response, default={})
            items = body.get("instances") or [] if isinstance(body, dict) else []
            for item in items:
                yield state_from_dapr(item, app_id=self.app_id, fetch_payloads=fetch_payloads)
            if remaining is not None:
                remaining -= len(items)
            token = body.get("continuationToken") if isinstance(body, dict) else None
            if not token or not items:
                return

    def history(self, instance_id: str) -> builtins.list[HistoryEvent]:
        validate_instance_id(instance_id)
        self._require(EXT_HISTORY, "history")
        response = self._wf_call("GET", f"{_seg(instance_id)}/history", params=self._app_params(), read=True,
                                 instance_id=instance_id)
        assert response is not None
        body = self._json(response, default={})
        events = body.get("events") or [] if isinstance(body, dict) else []
        return [history_event_from_dict(e) for e in events if isinstance(e, dict)]

    def pending(self, instance_id: str) -> builtins.list[PendingItem] | None:
        """wf serve's GET .../{id}/pending; None from a Dapr sidecar, whose API cannot say."""
        validate_instance_id(instance_id)
        if not self._has(EXT_PENDING):
            return None
        response = self._wf_call("GET", f"{_seg(instance_id)}/pending", params=self._app_params(), read=True,
                                 instance_id=instance_id)
        assert response is not None
        body = self._json(response, default={})
        items = body.get("pending") if isinstance(body, dict) else None
        if not isinstance(items, list):
            return None
        return [PendingItem.from_dict(d) for d in items if isinstance(d, dict) and isinstance(d.get("kind"), str)]

    def purge_many(self, flt: ListFilter, *, force: bool = False, dry_run: bool = False,
                   progress: Callable[[int], None] | None = None) -> int:
        self._require(EXT_BULK_PURGE, "bulk purge")
        body = {**_filter_body(flt), "force": force, "dryRun": dry_run}
        response = self._wf_call("POST", "purge", params=self._app_params(), json_body=body)
        assert response is not None
        data = self._json(response, default={})
        key = "matchingInstanceCount" if dry_run else "deletedInstanceCount"
        n = int(data.get(key, 0)) if isinstance(data, dict) else 0
        if progress is not None and not dry_run and n:
            progress(n)
        return n

    def count(self, flt: ListFilter, *, force: bool = False) -> int:
        return self.purge_many(flt, force=force, dry_run=True)

    def select(self, operation: str, flt: ListFilter | None) -> builtins.list[str]:
        """wf serve's dry run of the bulk operation (a sidecar cannot list: UnsupportedError)."""
        path = _bulk_path(operation)
        if not self._has(EXT_BULK_OPERATIONS):
            self._require(EXT_LIST, "bulk operations by filter (name the instance ids instead)")
        if self._has(EXT_BULK_OPERATIONS):
            response = self._wf_call("POST", path, params=self._app_params(),
                                     json_body={**_filter_body(flt), "dryRun": True})
            assert response is not None
            data = self._json(response, default={})
            ids = data.get("instanceIDs") if isinstance(data, dict) else None
            return [str(i) for i in ids] if isinstance(ids, list) else []
        return select_by_listing(self, operation, flt)  # an older wf serve

    def bulk(self, operation: str, instance_ids: builtins.list[str], *, progress: Callable[[int], None] | None = None,
             selection: str | None = None, rps: float | None = None, **params: Any) -> BulkResult:
        """wf serve: one request per batch of ids. A Dapr sidecar: one call per instance, a few in
        flight at once, at most rps per second."""
        path = _bulk_path(operation)
        ids: builtins.list[str] = builtins.list(dict.fromkeys(instance_ids))
        for iid in ids:
            validate_instance_id(iid)
        if operation == "raise_event" and not (params.get("event_name") or "").strip():
            raise InvalidArgumentError("an event name is required")
        if rps is not None and rps <= 0:
            raise InvalidArgumentError(f"invalid rps {rps!r}: expected requests per second > 0")
        if ids and self._has(EXT_BULK_OPERATIONS):
            return self._bulk_requests(operation, path, ids, progress, selection, params)
        if operation == "terminate":
            if params.get("output") is not None:
                self._require(EXT_TERMINATE_OUTPUT, "a terminate output (drop --output)")
            if params.get("recursive") is False:
                self._require(EXT_TERMINATE_RECURSIVE, "a non-recursive terminate (Dapr terminates the children too)")
        return bulk_each(self, operation, ids, progress=progress, rps=rps, concurrency=SIDECAR_CONCURRENCY, **params)

    def _bulk_requests(self, operation: str, path: str, ids: builtins.list[str], progress: Callable[[int], None] | None,
                       selection: str | None, params: dict[str, Any]) -> BulkResult:
        import uuid

        total = BulkResult(operation, selected=len(ids))
        body: dict[str, Any] = {"opID": uuid.uuid4().hex, "selection": selection}
        for key, name in (("output", "output"), ("recursive", "recursive"), ("reason", "reason"),
                          ("event_name", "eventName"), ("data", "data")):
            value = params.get(key)
            if value is not None:
                body[name] = json.loads(value) if key in ("output", "data") else value
        for start in range(0, len(ids), BULK_REQUEST):
            chunk = ids[start : start + BULK_REQUEST]
            try:
                response = self._wf_call("POST", path, params=self._app_params(),
                                         json_body={**body, "instanceIDs": chunk})
            except ConnectionFailedError as exc:  # the server is gone: the rest cannot be done either
                for iid in ids[start:]:
                    total.fail(iid, str(exc))
                break
            assert response is not None
            data = self._json(response, default={})
            total.merge(BulkResult.from_dict(data if isinstance(data, dict) else {}))
            if progress is not None:
                progress(len(chunk))
        return total
    def workers(self, *, all_apps: bool = False) -> builtins.list[WorkerInfo]:
        """wf serve's GET /v1.0/workers."""
        self._require(EXT_WORKERS, "the list of workers")
        params = {"allApps": "true"} if all_apps else self._app_params()
        response = self._send("GET", f"{API_V1}/workers", params=params, read=True)
        self._check(response)
        body = self._json(response, default={})
        items = body.get("workers") if isinstance(body, dict) else None
        return [WorkerInfo.from_dict(d) for d in items or [] if isinstance(d, dict)]

    def _scope_params(self, all_apps: bool) -> dict[str, Any]:
        if not all_apps:
            return self._app_params()
        self._require(EXT_ALL_APPS, "reading every app at once")
        return {"allApps": "true"}

    def rates(self, minutes: int, *, all_apps: bool = False) -> Rates | None:
        """wf serve's GET /v1.0/rates; None from an engine without it (a Dapr sidecar)."""
        check_rate_minutes(minutes)
        if not self._has(EXT_RATES):
            return None
        response = self._send("GET", f"{API_V1}/rates", params={"minutes": minutes, **self._scope_params(all_apps)},
                              read=True)
        self._check(response)
        body = self._json(response, default={})
        return Rates.from_dict(body if isinstance(body, dict) else {})

    def count_total(self, flt: ListFilter | None) -> int:
        return sum(self.count_by(flt, "status").values())

    def count_by(self, flt: ListFilter | None, by: str, *, all_apps: bool = False) -> dict[str, int]:
        """wf serve's GET /workflows/dapr?countBy=status|name|app."""
        self._require(EXT_COUNT, "counting")
        params = {**_filter_params(flt), **self._scope_params(all_apps and by != "app"), "countBy": by}
        response = self._wf_call("GET", "", params=params, read=True)
        assert response is not None
        body = self._json(response, default={})
        counts = body.get("counts") if isinstance(body, dict) else None
        if not isinstance(counts, dict):
            return {}
        return {str(k): int(v) for k, v in counts.items() if isinstance(v, int)}

    def audit(self, *, since: datetime | None = None, operation: str | None = None, instance_id: str | None = None,
              limit: int | None = None) -> builtins.list[AuditRecord]:
        self._require(EXT_AUDIT, "the audit trail")
        params = {"since": rfc3339(since) if since else None, "operation": operation, "instanceID": instance_id,
                  "limit": limit, **self._app_params()}
        response = self._send("GET", f"{API_V1}/audit", params=params, read=True)
        self._check(response)
        body = self._json(response, default={})
        records = body.get("records") if isinstance(body, dict) else None
        return [AuditRecord.from_dict(r) for r in records or [] if isinstance(r, dict)]

    def _retention_call(self, method: str, body: Any = None, limits: dict[str, float | None] | None = None) -> Any:
        if not self._has(EXT_RETENTION):
            if self._meta_section():
                raise UnsupportedError(f"the engine at {self.display_url} does not offer retention policies")
            raise UnsupportedError(dapr_retention_hint(limits))
        response = self._send(method, f"{API_V1}/retention", params=self._app_params(), json_body=body,
                              read=method == "GET")
        self._check(response)
        return self._json(response, default={})

    def retention(self) -> RetentionPolicy:
        data = self._retention_call("GET")
        return RetentionPolicy.from_dict(data if isinstance(data, dict) else {})

    def set_retention(self, *, any_terminal: float | None = None, completed: float | None = None,
                      failed: float | None = None, terminated: float | None = None) -> RetentionPolicy:
        from wf.durations import format_duration

        limits = {"anyTerminal": any_terminal, "completed": completed, "failed": failed, "terminated": terminated}
        body = {k: format_duration(v) for k, v in limits.items() if v is not None}
        data = self._retention_call("PUT", body, {"any_terminal": any_terminal, "completed": completed,
                                                  "failed": failed, "terminated": terminated})
        return RetentionPolicy.from_dict(data if isinstance(data, dict) else {})

    def clear_retention(self) -> bool:
        data = self._retention_call("DELETE")
        return bool(data.get("removed")) if isinstance(data, dict) else False

    def set_audit_retention(self, seconds: float) -> None:
        from wf.durations import format_duration

        self._retention_call("PUT", {"audit": format_duration(seconds)})

    def wait(self, instance_id: str, *, until: str = "completion", timeout: float | None = None,
             fetch_payloads: bool = True) -> WorkflowState:
        """Poll GET with backoff (50 ms growing to 1 s) until started / finished, or the timeout."""
        return wait_for_state(lambda: self.get(instance_id, fetch_payloads=fetch_payloads), instance_id,
                              self.app_id, until=until, timeout=timeout, pause=time.sleep,
                              first=0.05, factor=1.5, cap=1.0, transient=(ConnectionFailedError,))

    # ------------------------------------------------------------------------------ helpers

    def _json(self, response: httpx.Response, default: Any = None) -> Any:
        if not response.content:
            return default
        try:
            return response.json()
        except ValueError:
            if default is not None:
                return default
            raise WfError(f"the engine at {self.display_url} sent a response that is not JSON") from None


def _bulk_path(operation: str) -> str:
    try:
        return BULK_PATHS[operation]
    except KeyError:
        raise InvalidArgumentError(f"unknown bulk operation {operation!r}; expected one of "
                                   f"{', '.join(BULK_PATHS)}") from None


def _seg(text: str) -> str:
    """One URL path segment. A '/' cannot cross Dapr's routes (servers decode %2F before routing);
    '.' and '..' are sent as %2E and %2E%2E, else the client resolves them away as dot segments."""
    if "/" in text:
        raise InvalidArgumentError(f"{text!r} contains '/', which Dapr's HTTP API cannot carry in a name")
    if text in (".", ".."):
        return "%2E" * len(text)
    return urllib.parse.quote(text, safe="")


def _clean(params: dict[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    return {k: v for k, v in params.items() if v is not None}


def _filter_params(flt: ListFilter | None) -> dict[str, Any]:
    if flt is None:
        return {}
    out: dict[str, Any] = {}
    if flt.statuses:
        out["status"] = [s.name for s in flt.statuses]
    if flt.name:
        out["name"] = flt.name
    if flt.created_after is not None:
        out["createdAfter"] = rfc3339(flt.created_after)
    if flt.created_before is not None:
        out["createdBefore"] = rfc3339(flt.created_before)
    if flt.completed_before is not None:
        out["completedBefore"] = rfc3339(flt.completed_before)
    return out


def _filter_body(flt: ListFilter | None) -> dict[str, Any]:
    return _filter_params(flt)


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """(errorCode, message) of an error response: Dapr's JSON shape, or whatever text came back."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = body.get("errorCode") or body.get("error_code") or ""
        message = body.get("message") or body.get("detail") or ""
        return str(code), " ".join(str(message).split())
    text = " ".join(response.text.split())[:300] if response.content else ""
    return "", text or response.reason_phrase


def _says_missing(message: str) -> bool:
    m = message.lower()
    return "no such instance" in m or "not found" in m or "does not exist" in m
