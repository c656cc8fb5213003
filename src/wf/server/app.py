"""The ASGI app of `wf serve` (FastAPI): Dapr's workflow HTTP API over the local engine.

Dapr's routes, under /v1.0 and /v1.0-beta1, component `dapr`:

    POST /workflows/dapr/{name}/start?instanceID=ID      body: the input JSON    202 {"instanceID"}
    GET  /workflows/dapr/{id}                            200 Dapr's workflow state (properties: JSON text)
    POST /workflows/dapr/{id}/raiseEvent/{event}         body: the event data    202
    POST /workflows/dapr/{id}/pause | resume              ?reason=               202
    POST /workflows/dapr/{id}/terminate                   body: the output (opt.) 202
    POST /workflows/dapr/{id}/purge                       ?force= ?recursive=    202 {"deletedInstanceCount"}

wf's extensions, under the same prefixes:

    GET  /workflows/dapr?status=&name=&createdAfter=&createdBefore=&limit=&continuationToken=
                                                         200 {"instances": [...], "continuationToken"}
                  ?countBy=status|name|app (with the same filters)   200 {"counts": {"RUNNING": 12, ...}}
                  ?order=newest|oldest|finished  ?allApps=true (every app; with countBy too)
    GET  /workflows/dapr/{id}/history                    200 {"instanceID", "events": [...]}
    GET  /workflows/dapr/{id}/pending                    200 {"instanceID", "pending": [...]}
    POST /workflows/dapr/purge   body: {"status", "name", "createdAfter", "createdBefore",
                                        "completedBefore" | "olderThan", "force", "dryRun"}
                                                         200 {"deletedInstanceCount"} / {"matchingInstanceCount"}
    GET  /v1.0/rates?minutes=N&allApps=                    200 {"minutes", "started": [...], "completed", "failed"}
                                   (per minute, index 0 = the last 60 s)
    GET  /v1.0/workers?allApps=                            200 {"workers": [...]}
    start also takes ?startTime= (RFC 3339 or a duration from now) and ?ifExists=return|error|replace;
    terminate ?recursive=false; every call ?appID= (default: the server's app id).

and GET /v1.0/metadata (engine, version, app id, extensions), GET /healthz, GET /openapi.json.

Errors are Dapr's {"errorCode", "message"}: 400 ERR_MALFORMED_REQUEST / ERR_INSTANCE_ID_INVALID,
401 ERR_UNAUTHORIZED, 404 ERR_INSTANCE_ID_NOT_FOUND, 409 ERR_INVALID_STATE (the operation cannot
apply in the instance's state) / ERR_INSTANCE_ID_ALREADY_EXISTS (start with ifExists=error),
403 ERR_FORBIDDEN_HOST / ERR_FORBIDDEN_ORIGIN and 415 ERR_UNSUPPORTED_MEDIA_TYPE (cross-site requests:
wf.server.auth), 413 ERR_REQUEST_TOO_LARGE, 500 ERR_INTERNAL (never with a traceback).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import asynccontextmanager
from enum import Enum
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from wf import __version__
from wf.backends.base import IF_EXISTS_CHOICES, Backend
from wf.backends.http import (
    EXT_APP_ID,
    EXT_AUDIT,
    EXT_BULK_OPERATIONS,
    EXT_BULK_PURGE,
    EXT_ALL_APPS,
    EXT_COUNT,
    EXT_LIST_ORDER,
    EXT_RATES,
    EXT_WORKERS,
    EXT_FETCH_PAYLOADS,
    EXT_HISTORY,
    EXT_IF_EXISTS,
    EXT_LIST,
    EXT_RETENTION,
    EXT_PENDING,
    EXT_RERUN,
    EXT_START_TIME,
    EXT_TERMINATE_OUTPUT,
    EXT_TERMINATE_RECURSIVE,
    P_APP_ID,
    P_COMPLETED_AT,
    P_CUSTOM_STATUS,
    P_ERROR_MESSAGE,
    P_ERROR_TYPE,
    P_INPUT,
    P_OUTPUT,
    P_PARENT,
    P_STACK_TRACE,
    TOKEN_HEADER,
    BULK_PATHS,
)
from wf.model import (
    INSTANCE_ID_RE,
    AlreadyExistsError,
    AuthError,
    InvalidArgumentError,
    InvalidStateError,
    LIST_ORDERS,
    MAX_RATE_MINUTES,
    ListFilter,
    NotFoundError,
    UnsupportedError,
    WfError,
    WorkflowState,
    WorkflowStatus,
    describe_ids,
    rfc3339,
)
from wf.server.auth import (
    METRICS_PATH,
    HostPolicy,
    Identity,
    TokenTable,
    allows,
    bearer_token,
    check_request,
    operation_of_request,
    required_role,
)
from wf.server.ui import is_ui_path

log = logging.getLogger("wf.server")

MAX_BODY = 4 * 1024 * 1024
MAX_LIST_PAGE = 1000
DEFAULT_LIST_PAGE = 100
MAX_APPS = 1024  # app ids whose backend stays made (a local one is a few objects over the shared store)
PREFIXES = ("/v1.0", "/v1.0-beta1")
COMPONENT = "dapr"
EXTENSIONS = (EXT_LIST, EXT_HISTORY, EXT_BULK_PURGE, EXT_START_TIME, EXT_IF_EXISTS, EXT_TERMINATE_OUTPUT,
              EXT_TERMINATE_RECURSIVE, EXT_APP_ID, EXT_FETCH_PAYLOADS, EXT_PENDING, EXT_RERUN,
              EXT_BULK_OPERATIONS, EXT_AUDIT, EXT_RETENTION, EXT_COUNT, EXT_WORKERS, EXT_LIST_ORDER, EXT_ALL_APPS,
              EXT_RATES)
MAX_AUDIT_PAGE = 10_000
RETENTION_BODY_KEYS = {"anyTerminal": "any_terminal", "completed": "completed", "failed": "failed",
                       "terminated": "terminated"}
APP_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,128}")
OPEN_PATHS = frozenset({"/healthz", "/v1.0/healthz", "/v1.0/healthz/outbound", "/openapi.json"})
MAX_BULK_IDS = 10_000  # instance ids in one bulk request
FILTER_KEYS = frozenset({"status", "name", "createdAfter", "createdBefore", "idPrefix"})
BULK_KEYS = {
    "terminate": frozenset({"output", "recursive", "reason"}),
    "suspend": frozenset({"reason"}),
    "resume": frozenset({"reason"}),
    "raise_event": frozenset({"eventName", "data"}),
}
BULK_COMMON_KEYS = FILTER_KEYS | {"instanceIDs", "dryRun", "opID", "selection"}
PURGE_KEYS = frozenset({"status", "name", "createdAfter", "createdBefore", "completedBefore", "olderThan",
                        "idPrefix", "force", "dryRun"})


class ApiError(Exception):
    """An error answered as Dapr's {"errorCode", "message"}."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _malformed(message: str) -> ApiError:
    return ApiError(400, "ERR_MALFORMED_REQUEST", message)


def api_error_for(exc: BaseException) -> ApiError:
    """The HTTP answer to an exception raised by the engine."""
    if isinstance(exc, ApiError):
        return exc
    msg = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, NotFoundError):
        return ApiError(404, "ERR_INSTANCE_ID_NOT_FOUND", msg)
    if isinstance(exc, InvalidArgumentError):
        return ApiError(400, "ERR_INSTANCE_ID_INVALID" if "invalid instance id" in msg else "ERR_MALFORMED_REQUEST",
                        msg)
    if isinstance(exc, AlreadyExistsError):
        return ApiError(409, "ERR_INSTANCE_ID_ALREADY_EXISTS", msg)
    if isinstance(exc, InvalidStateError):
        return ApiError(409, "ERR_INVALID_STATE", msg)
    if isinstance(exc, UnsupportedError):
        return ApiError(501, "ERR_NOT_SUPPORTED", msg)
    if isinstance(exc, AuthError):
        return ApiError(401, "ERR_UNAUTHORIZED", msg)
    if isinstance(exc, WfError):
        return ApiError(500, getattr(exc, "code", "ERR_INTERNAL") or "ERR_INTERNAL", msg)
    log.error("wf serve: unexpected %s", type(exc).__name__, exc_info=exc)
    return ApiError(500, "ERR_INTERNAL", f"internal error ({type(exc).__name__}); see the server's log")


def _error_response(err: ApiError) -> JSONResponse:
    return JSONResponse({"errorCode": err.code, "message": err.message}, status_code=err.status)


# --------------------------------------------------------------------------------- JSON shapes


def state_to_dapr(state: WorkflowState) -> dict[str, Any]:
    """WorkflowState -> Dapr's GetWorkflowResponse JSON, with wf's extra properties."""
    props: dict[str, str] = {
        P_INPUT: state.serialized_input or "",
        P_CUSTOM_STATUS: state.serialized_custom_status or "",
    }
    if state.serialized_output is not None:
        props[P_OUTPUT] = state.serialized_output
    if state.failure_details is not None:
        props[P_ERROR_TYPE] = state.failure_details.error_type
        props[P_ERROR_MESSAGE] = state.failure_details.message
        if state.failure_details.stack_trace:
            props[P_STACK_TRACE] = state.failure_details.stack_trace
    props[P_APP_ID] = state.app_id
    if state.completed_at is not None:
        props[P_COMPLETED_AT] = rfc3339(state.completed_at) or ""
    if state.parent_instance_id:
        props[P_PARENT] = state.parent_instance_id
    return {
        "instanceID": state.instance_id,
        "workflowName": state.name,
        "createdAt": rfc3339(state.created_at),
        "lastUpdatedAt": rfc3339(state.last_updated_at),
        "runtimeStatus": state.runtime_status.name,
        "properties": props,
    }


# --------------------------------------------------------------------------------- parsing input


def _check_id(instance_id: str) -> str:
    if not INSTANCE_ID_RE.fullmatch(instance_id or ""):
        raise ApiError(400, "ERR_INSTANCE_ID_INVALID",
                       f"workflow instance ID {instance_id[:80]!r} is invalid: use 1 to 64 letters, digits, '-' or '_'")
    return instance_id


def _id_prefix(prefix: str | None) -> str | None:
    if not prefix:
        return None
    if not INSTANCE_ID_RE.fullmatch(prefix):
        raise _malformed(f"invalid idPrefix {prefix[:80]!r}: instance ids are letters, digits, '-' or '_'")
    return prefix


def _check_component(component: str) -> None:
    if component != COMPONENT:
        raise ApiError(400, "ERR_WORKFLOW_COMPONENT_NOT_FOUND",
                       f"workflow component {component[:80]!r} not found: use {COMPONENT!r}")


class _NonJson(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NonJson(name)


async def _json_text(request: Request, what: str) -> str | None:
    """The request body as JSON text (None when empty); 400 unless it is UTF-8 JSON."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise _malformed(f"{what} is not UTF-8 text") from None
    try:
        json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise _malformed(f"{what} is nested too deeply") from None
    except _NonJson as exc:
        raise _malformed(f"{what} is not valid JSON: {exc} is not a JSON value") from None
    except ValueError as exc:
        raise _malformed(f"{what} is not valid JSON: {exc}") from None
    return text


def _bool(value: str | None, name: str, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    v = value.strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise _malformed(f"invalid {name} {value[:40]!r}: expected true or false")


def _time(value: str | None, name: str, parse: Callable[[str], Any]) -> Any:
    if value is None or value == "":
        return None
    try:
        return parse(value)
    except InvalidArgumentError as exc:
        raise _malformed(f"invalid {name}: {exc}") from None


def _timestamp(value: str | None, name: str) -> Any:
    from wf.durations import parse_timestamp

    return _time(value, name, parse_timestamp)


def _statuses(values: list[str] | str | None) -> tuple[WorkflowStatus, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _malformed("status must be a status name or a list of them")
    out: list[WorkflowStatus] = []
    for value in values:
        for part in value.split(","):
            if part.strip():
                try:
                    status = WorkflowStatus.parse(part)
                except InvalidArgumentError as exc:
                    raise _malformed(str(exc)) from None
                if status not in out:
                    out.append(status)
    return tuple(out) or None


def _limit(value: str | None) -> int:
    return _int(value, "limit", DEFAULT_LIST_PAGE, 1, MAX_LIST_PAGE)


def _int(value: str | None, name: str, default: int, lo: int, hi: int) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise _malformed(f"invalid {name} {value[:40]!r}: expected a number from {lo} to {hi}") from None
    if not lo <= n <= hi:
        raise _malformed(f"invalid {name} {n}: expected a number from {lo} to {hi}")
    return n


# --------------------------------------------------------------------------------- middleware


class _BodyTooLarge(Exception):
    pass


class GuardMiddleware:
    """Pure ASGI: Host, Origin and Content-Type (wf.server.auth), the API token (constant-time
    compare) and the request body size cap."""

    def __init__(self, app: Any, *, token: str | None, max_body: int, hosts: HostPolicy | None = None,
                 tokens: TokenTable | None = None, on_denied: Callable[..., Any] | None = None) -> None:
        self.app = app
        self.tokens = tokens or TokenTable(single=token)
        self.max_body = max_body
        self.hosts = hosts or HostPolicy()
        self.on_denied = on_denied  # (scope, identity, operation) -> awaitable: the audit record of a 403

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if scope.get("path") not in OPEN_PATHS:
            named = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers.items()}
            server = scope.get("server")
            refusal = check_request(self.hosts, scope.get("method", ""), named, server[1] if server else None)
            if refusal is not None:
                await _send_json(send, refusal.status, refusal.code, refusal.message)
                return
        identity = None
        if self.tokens.required and scope.get("path") not in OPEN_PATHS and not is_ui_path(scope.get("path", "")):
            given: bytes | str | None = headers.get(TOKEN_HEADER.encode())
            if given is None and scope.get("path") == METRICS_PATH:  # a Prometheus scrape's bearer token
                given = bearer_token(headers.get(b"authorization"))
            identity = self.tokens.identify(given)
            if identity is None:
                how = " (or as Authorization: Bearer)" if scope.get("path") == METRICS_PATH else ""
                await _send_json(send, 401, "ERR_UNAUTHORIZED",
                                 f"missing or wrong API token: send it in the dapr-api-token header{how}")
                return
            operation = operation_of_request(scope.get("method", ""), scope.get("path", ""))
            needed = required_role(operation)
            if not allows(identity.role, needed):
                if self.on_denied is not None:
                    await self.on_denied(scope, identity, operation)
                await _send_json(send, 403, "ERR_PERMISSION_DENIED",
                                 f"token {identity.name!r} has role {identity.role}: {operation} needs {needed}")
                return
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_large = int(length) > self.max_body
            except ValueError:
                await _send_json(send, 400, "ERR_MALFORMED_REQUEST", "invalid Content-Length")
                return
            if too_large:
                await _send_json(send, 413, "ERR_REQUEST_TOO_LARGE",
                                 f"the request body is larger than {self.max_body} bytes")
                return
        received = 0
        started = False

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
            await send(message)

        from wf.engine.control import acting_as

        scope["wf.identity"] = identity  # who is asking (GET /v1.0/metadata tells the dashboard its role)
        try:
            with acting_as(self.actor_of(scope, identity)):
                await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _send_json(send, 413, "ERR_REQUEST_TOO_LARGE",
                                 f"the request body is larger than {self.max_body} bytes")


    @staticmethod
    def actor_of(scope: dict, identity: Identity | None) -> str:
        """Who the audit trail names for this request: the token's name, else the client's address."""
        if identity is not None:
            return identity.name
        client = scope.get("client") or ("?", 0)
        return f"anonymous@{client[0]}"


async def _send_json(send: Callable, status: int, code: str, message: str) -> None:
    body = json.dumps({"errorCode": code, "message": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------------- the app


class Backends:
    """One backend per app id, made on first use by the factory; the least recently used are closed
    beyond max_apps (every ?appID= a client invents must not hold resources for the server's life),
    the rest at shutdown, and then the factory (when it has a close())."""

    def __init__(self, factory: Callable[[str], Backend], default_app_id: str, max_apps: int = MAX_APPS) -> None:
        self.factory = factory
        self.default_app_id = default_app_id
        self.max_apps = max_apps
        self._by_app: OrderedDict[str, Backend] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, app_id: str | None) -> Backend:
        app_id = app_id or self.default_app_id
        if not APP_ID_RE.fullmatch(app_id):
            raise _malformed(f"invalid appID {app_id[:80]!r}: use letters, digits, '.', '-' or '_'")
        evicted: list[Backend] = []
        with self._lock:
            backend = self._by_app.get(app_id)
            if backend is None:
                backend = self.factory(app_id)
                self._by_app[app_id] = backend
                while len(self._by_app) > self.max_apps:
                    evicted.append(self._by_app.popitem(last=False)[1])
            else:
                self._by_app.move_to_end(app_id)
        self._close_all(evicted)  # a call still using one finishes: a local backend borrows the shared store
        return backend

    def close(self) -> None:
        with self._lock:
            backends, self._by_app = list(self._by_app.values()), OrderedDict()
        self._close_all(backends)
        close = getattr(self.factory, "close", None)
        if close is not None:
            close()

    @staticmethod
    def _close_all(backends: list[Backend]) -> None:
        for backend in backends:
            try:
                backend.close()
            except Exception:  # noqa: BLE001 - closing the others matters more
                log.warning("wf serve: closing a backend failed", exc_info=True)


class SharedStoreFactory:
    """Local backends for every app id over ONE Store (one SQLite connection, opened on first use):
    app ids are rows of the same file, so a thousand of them cost no more descriptors than one."""

    def __init__(self, db: str | os.PathLike, durability: str | None = None) -> None:
        self.db, self.durability = db, durability
        self._store: Any = None
        self._lock = threading.Lock()

    def __call__(self, app_id: str) -> Backend:
        from wf.backends.local import LocalBackend
        from wf.engine.store import Store

        with self._lock:
            if self._store is None:
                self._store = Store(self.db, durability=self.durability)
            return LocalBackend(self.db, app_id=app_id, durability=self.durability, store=self._store)

    def close(self) -> None:
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()


async def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking engine call in the thread pool; any exception becomes an ApiError."""
    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except ApiError:
        raise
    except Exception as exc:  # noqa: BLE001 - answered as JSON, never as a traceback
        raise api_error_for(exc) from None


def create_app(backend_factory: Callable[[str], Backend] | str | os.PathLike | None = None, *,
               app_id: str = "default", token: str | None = None, max_body: int = MAX_BODY,
               runtime: Any = None, db: str | os.PathLike | None = None,
               durability: str | None = None, host: str = "127.0.0.1",
               allow_hosts: tuple[str, ...] = (), tokens: TokenTable | None = None, ui: bool = True,
               metrics: bool = False) -> FastAPI:
    """The ASGI app. backend_factory: a function app_id -> Backend, or the path of a SQLite store
    (also accepted as db=). runtime: a WorkflowRuntime started with the app and shut down with it
    (`wf serve --app`). token: required in the dapr-api-token header of every call but /healthz.
    host, allow_hosts: the bound address and the extra Host names to answer (wf.server.auth.HostPolicy).
    ui: serve the dashboard (wf.server.ui) at /. metrics: serve Prometheus metrics at /metrics (turns
    the engine's metrics on for this process; `wf serve` does)."""
    hosts = HostPolicy(host, allow_hosts)
    if backend_factory is None:
        if db is None:
            from wf import settings

            db = settings.resolve_db(None)
        backend_factory = db
    factory = backend_factory if callable(backend_factory) else SharedStoreFactory(backend_factory, durability)
    if not APP_ID_RE.fullmatch(app_id or ""):
        raise InvalidArgumentError(f"invalid app id {app_id!r}: use letters, digits, '.', '-' or '_'")
    backends = Backends(factory, app_id)

    store_path = None if callable(backend_factory) else backend_factory
    exposition = None
    if metrics:
        from wf.engine.metrics import Exposition

        exposition = Exposition(store_path, durability)  # before the runtime starts: its worker records

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from wf.engine.retention import RetentionRunner

        # Retention policies are applied by one process per store (a lease): this one, or a worker.
        runner = RetentionRunner(store_path, durability=durability).start() if store_path is not None else None
        if runtime is not None:
            await run_in_threadpool(runtime.start)
        try:
            yield
        finally:
            if runtime is not None:
                await run_in_threadpool(runtime.shutdown)
            if runner is not None:
                await run_in_threadpool(runner.stop)
            if exposition is not None:
                exposition.close()
            backends.close()

    app = FastAPI(
        title="wf serve",
        version=__version__,
        description=(
            "Dapr's workflow HTTP API over wf's local engine, plus listing, history and bulk purge. "
            "Send the token in the `dapr-api-token` header. Errors are `{\"errorCode\", \"message\"}`."),
        lifespan=lifespan,
        docs_url=None,  # Swagger UI loads its assets from a CDN: blank offline. /openapi.json stays.
        redoc_url=None,
    )
    app.state.backends = backends

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:3]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return _error_response(_malformed("; ".join(parts) or "malformed request"))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            err = ApiError(404, "ERR_ROUTE_NOT_FOUND", f"no route {request.method} {request.url.path}")
        elif exc.status_code == 405:
            err = ApiError(405, "ERR_METHOD_NOT_ALLOWED", f"{request.method} is not allowed on {request.url.path}")
        else:
            err = ApiError(exc.status_code, "ERR_MALFORMED_REQUEST", str(exc.detail))
        return _error_response(err)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _error_response(api_error_for(exc))

    _add_workflow_routes(app, backends)
    if ui:
        from wf.server import ui as dashboard

        dashboard.add_routes(app)

    @app.get("/v1.0/workers", tags=["workers"], summary="The live workers of an app, or of every app (wf extension)")
    async def workers(appID: str | None = Query(None), allApps: str | None = Query(None)) -> dict[str, Any]:
        backend = await _run(backends.get, appID)
        rows = await _run(backend.workers, all_apps=_bool(allApps, "allApps"))
        return {"workers": [w.to_dict() for w in rows]}

    @app.get("/v1.0/rates", tags=["workers"],
             summary="Instances started, completed and failed per minute, the last minute first (wf extension)")
    async def rates(minutes: str | None = Query(None, description=f"1-{MAX_RATE_MINUTES}, default 15"),
                    appID: str | None = Query(None), allApps: str | None = Query(None)) -> dict[str, Any]:
        n = _int(minutes, "minutes", 15, 1, MAX_RATE_MINUTES)
        backend = await _run(backends.get, appID)
        result = await _run(backend.rates, n, all_apps=_bool(allApps, "allApps"))
        return result.to_dict()

    @app.get("/v1.0/metadata", tags=["metadata"], summary="The engine, its version, app id and extensions")
    async def metadata(request: Request) -> dict[str, Any]:
        identity: Identity | None = request.scope.get("wf.identity")
        backend = await _run(backends.get, None)
        live = len(await _run(backend.workers))
        return {
            "id": app_id,
            "runtimeVersion": f"wf-{__version__}",
            "enabledFeatures": [],
            "components": [{"name": COMPONENT, "type": "workflow.wf", "version": "v1", "capabilities": []}],
            "workflows": {"connectedWorkers": live},  # live workers of the app in the store, any process
            "extended": {"engine": "wf"},
            "wf": {
                "engine": "wf",
                "version": __version__,
                "appID": app_id,
                "extensions": list(EXTENSIONS),
                "maxBodyBytes": max_body,
                "workersInProcess": runtime is not None,
                # The caller's token: its role decides what the dashboard offers (no tokens: admin).
                "role": identity.role if identity is not None else "admin",
                "tokenName": identity.name if identity is not None else None,
            },
        }

    _add_audit_and_retention_routes(app, backends)

    if exposition is not None:
        @app.get(METRICS_PATH, tags=["metrics"], summary="Prometheus metrics: the store's gauges and this "
                 "server's counters (token: read role, as dapr-api-token or Authorization: Bearer)")
        async def prometheus_metrics(request: Request) -> Response:
            assert exposition is not None
            body, content_type = await _run(exposition.render, request.headers.get("accept"))
            return Response(body, media_type=content_type)

    @app.get("/healthz", tags=["health"], summary="Liveness (no token needed)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "engine": "wf", "version": __version__}

    @app.get("/v1.0/healthz", tags=["health"], summary="Dapr's health check (204)", status_code=204)
    async def dapr_healthz() -> Response:
        return Response(status_code=204)

    @app.get("/v1.0/healthz/outbound", tags=["health"], status_code=204,
             summary="Dapr's outbound health check (204), which Dapr SDK clients probe before their first call")
    async def dapr_healthz_outbound() -> Response:
        return Response(status_code=204)

    async def on_denied(scope: dict, identity: Identity, operation: str) -> None:
        """A request beyond its token's role leaves an audit record (never fails the 403)."""
        from urllib.parse import parse_qs

        from wf.engine import control

        query = parse_qs((scope.get("query_string") or b"").decode("latin-1"))
        app_ids = query.get("appID") or [None]
        path = scope.get("path", "")
        target = path.rsplit("/workflows/dapr/", 1)[-1].split("/")[0] if "/workflows/dapr/" in path else None

        def record() -> None:
            backend = backends.get(app_ids[0])
            store = getattr(backend, "store", None)
            if store is None:
                return
            control.record_audit(store(), app_id=backend.app_id, operation=operation.replace("bulk-", ""),
                                 instance_id=target if target and INSTANCE_ID_RE.fullmatch(target) else None,
                                 outcome="denied", actor=identity.name,
                                 detail=f"role {identity.role}; {scope.get('method')} {path[:200]}")

        try:
            await run_in_threadpool(record)
        except Exception:  # noqa: BLE001 - the refusal stands whether or not it could be recorded
            log.warning("wf serve: could not record a denied request", exc_info=True)

    table = tokens if tokens is not None else TokenTable(single=token)
    app.add_middleware(GuardMiddleware, token=token, max_body=max_body, hosts=hosts, tokens=table,
                       on_denied=on_denied)
    from wf.server.access_log import AccessLogMiddleware

    app.add_middleware(AccessLogMiddleware)  # added last, so outermost: refused requests are logged too
    return app


def _add_workflow_routes(app: FastAPI, backends: Backends) -> None:
    from wf.durations import parse_time_ago, parse_time_ahead

    raw_body = {"requestBody": {"content": {"application/json": {"schema": {}}}, "required": False}}

    for prefix in PREFIXES:
        base = f"{prefix}/workflows/{{component}}"
        in_schema = prefix == PREFIXES[0]
        tags: list[str | Enum] = ["workflows"]

        @app.post(f"{base}/{{name}}/start", status_code=202, tags=tags, include_in_schema=in_schema,
                  summary="Start an instance (body: the input JSON)", openapi_extra=raw_body)
        async def start(request: Request, component: str, name: str,
                        instanceID: str | None = Query(None, description="1-64 letters, digits, - and _"),
                        startTime: str | None = Query(None, description="RFC 3339, or a duration from now"),
                        ifExists: str | None = Query(None, description="return (default) | error | replace"),
                        appID: str | None = Query(None)) -> JSONResponse:
            _check_component(component)
            if instanceID is not None:
                _check_id(instanceID)
            if ifExists is not None and ifExists not in IF_EXISTS_CHOICES:
                raise _malformed(f"invalid ifExists {ifExists[:40]!r}: expected one of {', '.join(IF_EXISTS_CHOICES)}")
            start_at = _time(startTime, "startTime", parse_time_ahead)
            if not name.strip():
                raise ApiError(400, "ERR_WORKFLOW_NAME_MISSING", "workflow name is missing")
            payload = await _json_text(request, "the input")
            backend = await _run(backends.get, appID)
            iid = await _run(backend.start, name, input=payload, instance_id=instanceID, start_at=start_at,
                             if_exists=ifExists or "return")
            return JSONResponse({"instanceID": iid}, status_code=202)

        @app.get(base, tags=tags, include_in_schema=in_schema, summary="List instances, newest first (wf extension)")
        async def list_instances(component: str,
                                 status: list[str] | None = Query(None, description="repeatable or comma separated"),
                                 name: str | None = Query(None),
                                 createdAfter: str | None = Query(None, description="RFC 3339"),
                                 createdBefore: str | None = Query(None, description="RFC 3339"),
                                 completedBefore: str | None = Query(None, description="RFC 3339"),
                                 idPrefix: str | None = Query(None, description="instance ids starting with this"),
                                 limit: str | None = Query(None, description=f"page size, 1-{MAX_LIST_PAGE}"),
                                 continuationToken: str | None = Query(None),
                                 fetchPayloads: str | None = Query(None),
                                 countBy: str | None = Query(None, description="status | name | app: counts, "
                                                             "not instances (wf extension)"),
                                 order: str | None = Query(None, description="newest (default) | oldest | "
                                                           "finished (finished ones, the latest finish first)"),
                                 allApps: str | None = Query(None, description="true: every app of the store"),
                                 appID: str | None = Query(None)) -> dict[str, Any]:
            _check_component(component)
            if order is not None and order not in LIST_ORDERS:
                raise _malformed(f"invalid order {order[:40]!r}: expected {', '.join(LIST_ORDERS)}")
            all_apps = _bool(allApps, "allApps")
            if countBy is not None and countBy not in ("status", "name", "app"):
                raise _malformed(f"invalid countBy {countBy[:40]!r}: expected status, name or app")
            flt = ListFilter(statuses=_statuses(status), name=name or None,
                             created_after=_timestamp(createdAfter, "createdAfter"),
                             created_before=_timestamp(createdBefore, "createdBefore"),
                             completed_before=_timestamp(completedBefore, "completedBefore"),
                             id_prefix=_id_prefix(idPrefix))
            backend = await _run(backends.get, appID)
            if countBy is not None:
                return {"counts": await _run(backend.count_by, flt, countBy, all_apps=all_apps)}
            page = _limit(limit)
            payloads = _bool(fetchPayloads, "fetchPayloads")
            states, token = await _run(_list_page, backend, flt, page, continuationToken, payloads, order or "newest",
                                       all_apps)
            return {"instances": [state_to_dapr(s) for s in states], "continuationToken": token}

        @app.post(f"{base}/purge", tags=tags, include_in_schema=in_schema,
                  summary="Bulk purge of finished instances (wf extension)", openapi_extra=raw_body)
        async def purge_many(request: Request, component: str, appID: str | None = Query(None)) -> dict[str, Any]:
            _check_component(component)
            text = await _json_text(request, "the purge filter")
            body = json.loads(text) if text else {}
            if not isinstance(body, dict):
                raise _malformed("the purge filter must be a JSON object")
            unknown = sorted(set(body) - PURGE_KEYS)
            if unknown:
                raise _malformed(f"unknown purge filter keys {', '.join(unknown)}; expected {', '.join(sorted(PURGE_KEYS))}")
            for key in ("name", "createdAfter", "createdBefore", "completedBefore", "olderThan", "idPrefix"):
                if body.get(key) is not None and not isinstance(body[key], str):
                    raise _malformed(f"{key} must be a string")
            for key in ("force", "dryRun"):
                if body.get(key) is not None and not isinstance(body[key], bool):
                    raise _malformed(f"{key} must be true or false")
            if body.get("completedBefore") and body.get("olderThan"):
                raise _malformed("give completedBefore or olderThan, not both")
            completed_before = _timestamp(body.get("completedBefore"), "completedBefore")
            if body.get("olderThan"):
                completed_before = _time(body["olderThan"], "olderThan", parse_time_ago)
            flt = ListFilter(statuses=_statuses(body.get("status")), name=body.get("name") or None,
                             created_after=_timestamp(body.get("createdAfter"), "createdAfter"),
                             created_before=_timestamp(body.get("createdBefore"), "createdBefore"),
                             completed_before=completed_before, id_prefix=_id_prefix(body.get("idPrefix")))
            force, dry_run = bool(body.get("force")), bool(body.get("dryRun"))
            if flt.statuses and not force:
                live = [s.name for s in flt.statuses if not s.is_terminal]
                if live:
                    raise _malformed(f"{', '.join(live)} is not a finished status; set force to purge live instances")
            backend = await _run(backends.get, appID)
            n = await _run(backend.purge_many, flt, force=force, dry_run=dry_run)
            if dry_run:
                return {"dryRun": True, "matchingInstanceCount": n}
            return {"deletedInstanceCount": n}

        for operation, path in BULK_PATHS.items():
            _add_bulk_route(app, backends, base, operation, path, in_schema, raw_body)

        @app.get(f"{base}/{{instance_id}}", tags=tags, include_in_schema=in_schema, summary="Get an instance")
        async def get(component: str, instance_id: str, fetchPayloads: str | None = Query(None),
                      appID: str | None = Query(None)) -> dict[str, Any]:
            _check_component(component)
            _check_id(instance_id)
            payloads = _bool(fetchPayloads, "fetchPayloads", default=True)
            backend = await _run(backends.get, appID)
            state = await _run(backend.get, instance_id, fetch_payloads=payloads)
            if state is None:
                raise ApiError(404, "ERR_INSTANCE_ID_NOT_FOUND",
                               f"unable to find workflow with the provided instance ID: {instance_id}")
            return state_to_dapr(state)

        @app.get(f"{base}/{{instance_id}}/history", tags=tags, include_in_schema=in_schema,
                 summary="An instance's event history (wf extension)")
        async def history(component: str, instance_id: str, appID: str | None = Query(None)) -> dict[str, Any]:
            _check_component(component)
            _check_id(instance_id)
            backend = await _run(backends.get, appID)
            events = await _run(backend.history, instance_id)
            return {"instanceID": instance_id, "events": [e.to_dict() for e in events]}

        @app.get(f"{base}/{{instance_id}}/pending", tags=tags, include_in_schema=in_schema,
                 summary="What a live instance waits for (wf extension)")
        async def pending(component: str, instance_id: str, appID: str | None = Query(None)) -> dict[str, Any]:
            _check_component(component)
            _check_id(instance_id)
            backend = await _run(backends.get, appID)
            items = await _run(backend.pending, instance_id)
            return {"instanceID": instance_id, "pending": [i.to_dict() for i in items or []]}

        @app.post(f"{base}/{{instance_id}}/raiseEvent/{{event_name}}", status_code=202, tags=tags,
                  include_in_schema=in_schema, summary="Raise an event (body: the data JSON)", openapi_extra=raw_body)
        async def raise_event(request: Request, component: str, instance_id: str, event_name: str,
                              appID: str | None = Query(None)) -> Response:
            _check_component(component)
            _check_id(instance_id)
            if not event_name.strip():
                raise ApiError(400, "ERR_WORKFLOW_EVENT_NAME_MISSING", "missing workflow event name")
            data = await _json_text(request, "the event data")
            backend = await _run(backends.get, appID)
            await _run(backend.raise_event, instance_id, event_name, data)
            return Response(status_code=202)

        @app.post(f"{base}/{{instance_id}}/pause", status_code=202, tags=tags, include_in_schema=in_schema,
                  summary="Suspend an instance")
        async def pause(component: str, instance_id: str, reason: str | None = Query(None),
                        appID: str | None = Query(None)) -> Response:
            _check_component(component)
            _check_id(instance_id)
            backend = await _run(backends.get, appID)
            await _run(backend.suspend, instance_id, reason or None)
            return Response(status_code=202)

        @app.post(f"{base}/{{instance_id}}/resume", status_code=202, tags=tags, include_in_schema=in_schema,
                  summary="Resume a suspended instance")
        async def resume(component: str, instance_id: str, reason: str | None = Query(None),
                         appID: str | None = Query(None)) -> Response:
            _check_component(component)
            _check_id(instance_id)
            backend = await _run(backends.get, appID)
            await _run(backend.resume, instance_id, reason or None)
            return Response(status_code=202)

        @app.post(f"{base}/{{instance_id}}/terminate", status_code=202, tags=tags, include_in_schema=in_schema,
                  summary="Terminate an instance (body, optional: the output JSON)", openapi_extra=raw_body)
        async def terminate(request: Request, component: str, instance_id: str,
                            recursive: str | None = Query(None), reason: str | None = Query(None),
                            appID: str | None = Query(None)) -> Response:
            _check_component(component)
            _check_id(instance_id)
            rec = _bool(recursive, "recursive", default=True)
            output = await _json_text(request, "the output")
            backend = await _run(backends.get, appID)
            await _run(backend.terminate, instance_id, output, rec, reason=reason or None)
            return Response(status_code=202)

        @app.post(f"{base}/{{instance_id}}/rerun", status_code=202, tags=tags, include_in_schema=in_schema,
                  summary="Rerun a finished instance from one of its events, as a new instance (wf extension; "
                          "body, optional: the new input of that event)", openapi_extra=raw_body)
        async def rerun(request: Request, component: str, instance_id: str,
                        eventID: str = Query(..., description="the event_id of an activity, timer or child workflow"),
                        newInstanceID: str | None = Query(None), appID: str | None = Query(None)) -> JSONResponse:
            _check_component(component)
            _check_id(instance_id)
            if newInstanceID is not None:
                _check_id(newInstanceID)
            if not eventID.isdigit():
                raise _malformed(f"invalid eventID {eventID[:40]!r}: expected a non-negative integer")
            body = await _json_text(request, "the input")
            backend = await _run(backends.get, appID)
            new_id = await _run(backend.rerun, instance_id, int(eventID), new_instance_id=newInstanceID, input=body,
                                overwrite_input=body is not None)
            return JSONResponse({"instanceID": new_id}, status_code=202)

        @app.post(f"{base}/{{instance_id}}/purge", status_code=202, tags=tags, include_in_schema=in_schema,
                  summary="Purge a finished instance and its children")
        async def purge(component: str, instance_id: str, force: str | None = Query(None),
                        recursive: str | None = Query(None), appID: str | None = Query(None)) -> JSONResponse:
            _check_component(component)
            _check_id(instance_id)
            frc, rec = _bool(force, "force"), _bool(recursive, "recursive", default=True)
            backend = await _run(backends.get, appID)
            n = await _run(backend.purge, instance_id, recursive=rec, force=frc)
            return JSONResponse({"deletedInstanceCount": n}, status_code=202)


def _add_bulk_route(app: FastAPI, backends: Backends, base: str, operation: str, path: str, in_schema: bool,
                    raw_body: dict[str, Any]) -> None:
    words = operation.replace("_", " ")

    @app.post(f"{base}/{path}", tags=["bulk"], include_in_schema=in_schema, openapi_extra=raw_body,
              summary=f"Bulk {words}: instance ids or a filter, in batches; dryRun lists the selection (wf extension)",
              name=f"bulk_{operation}{'' if in_schema else '_beta'}")
    async def bulk(request: Request, component: str, appID: str | None = Query(None)) -> dict[str, Any]:
        _check_component(component)
        text = await _json_text(request, f"the {words} request")
        body = json.loads(text) if text else {}
        if not isinstance(body, dict):
            raise _malformed(f"the {words} request must be a JSON object")
        allowed = BULK_COMMON_KEYS | BULK_KEYS[operation]
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise _malformed(f"unknown keys {', '.join(unknown)}; expected {', '.join(sorted(allowed))}")
        for key in ("name", "createdAfter", "createdBefore", "idPrefix", "reason", "eventName", "opID", "selection"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise _malformed(f"{key} must be a string")
        for key in ("dryRun", "recursive"):
            if body.get(key) is not None and not isinstance(body[key], bool):
                raise _malformed(f"{key} must be true or false")
        ids = body.get("instanceIDs")
        if ids is not None:
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise _malformed("instanceIDs must be a list of instance ids")
            if len(ids) > MAX_BULK_IDS:
                raise _malformed(f"at most {MAX_BULK_IDS} instanceIDs per request; send them in batches")
            if FILTER_KEYS & set(body):
                raise _malformed("give instanceIDs or a filter (status, name, createdAfter, createdBefore), not both")
            for iid in ids:
                _check_id(iid)
        op_id = body.get("opID")
        if op_id is not None and not INSTANCE_ID_RE.fullmatch(op_id):
            raise _malformed("opID must be 1 to 64 letters, digits, '-' or '_'")
        params: dict[str, Any] = {}
        if operation == "raise_event":
            if not (body.get("eventName") or "").strip() and not body.get("dryRun"):
                raise ApiError(400, "ERR_WORKFLOW_EVENT_NAME_MISSING", "missing eventName")
            params["event_name"] = body.get("eventName")
            params["data"] = json.dumps(body["data"]) if body.get("data") is not None else None
        if operation == "terminate":
            params["output"] = json.dumps(body["output"]) if body.get("output") is not None else None
            params["recursive"] = body.get("recursive", True)
        if body.get("reason"):
            params["reason"] = body["reason"]
        flt = ListFilter(statuses=_statuses(body.get("status")), name=body.get("name") or None,
                         created_after=_timestamp(body.get("createdAfter"), "createdAfter"),
                         created_before=_timestamp(body.get("createdBefore"), "createdBefore"),
                         id_prefix=_id_prefix(body.get("idPrefix")))
        backend = await _run(backends.get, appID)
        if ids is None:
            ids = await _run(backend.select, operation, flt)
            selection = flt.describe()
        else:
            ids = list(dict.fromkeys(ids))
            selection = body.get("selection") or describe_ids(ids)
        if body.get("dryRun"):
            return {"dryRun": True, "matchingInstanceCount": len(ids), "instanceIDs": ids}
        from wf.engine.control import current_actor

        # The batches of one client operation share an audit record; the actor keeps ids apart.
        scoped = f"{current_actor()}:{op_id}" if op_id else None
        result = await _run(backend.bulk, operation, ids, selection=selection[:500], op_id=scoped, **params)
        return result.to_dict()


def _add_audit_and_retention_routes(app: FastAPI, backends: Backends) -> None:
    from wf.model import AUDIT_OPERATIONS, RetentionPolicy

    @app.get("/v1.0/audit", tags=["audit"], summary="The audit trail of management operations, newest first (wf extension)")
    async def audit(since: str | None = Query(None, description="RFC 3339"), operation: str | None = Query(None),
                    instanceID: str | None = Query(None), limit: str | None = Query(None, description="1-10000"),
                    appID: str | None = Query(None)) -> dict[str, Any]:
        if operation is not None and operation not in AUDIT_OPERATIONS:
            raise _malformed(f"unknown operation {operation[:40]!r}; expected one of {', '.join(AUDIT_OPERATIONS)}")
        if instanceID is not None:
            _check_id(instanceID)
        n = 1000
        if limit:
            try:
                n = int(limit)
            except ValueError:
                n = 0
            if not 1 <= n <= MAX_AUDIT_PAGE:
                raise _malformed(f"invalid limit {limit[:40]!r}: expected a number from 1 to {MAX_AUDIT_PAGE}")
        since_at = _timestamp(since, "since")
        backend = await _run(backends.get, appID)
        records = await _run(backend.audit, since=since_at, operation=operation, instance_id=instanceID, limit=n)
        return {"records": [r.to_dict() for r in records]}

    def policy_body(policy: RetentionPolicy) -> dict[str, Any]:
        return {**policy.to_dict(), "set": policy.is_set}

    @app.get("/v1.0/retention", tags=["retention"], summary="The app's retention policy and its last run (wf extension)")
    async def get_retention(appID: str | None = Query(None)) -> dict[str, Any]:
        backend = await _run(backends.get, appID)
        return policy_body(await _run(backend.retention))

    @app.put("/v1.0/retention", tags=["retention"], openapi_extra={"requestBody": {"content": {"application/json": {"schema": {}}}}},
             summary="Replace the app's retention policy: anyTerminal, completed, failed, terminated; audit (wf extension)")
    async def put_retention(request: Request, appID: str | None = Query(None)) -> dict[str, Any]:
        from wf.durations import parse_duration

        text = await _json_text(request, "the retention policy")
        body = json.loads(text) if text else {}
        if not isinstance(body, dict) or not body:
            raise _malformed("the retention policy must be a JSON object with anyTerminal, completed, failed, "
                             "terminated and/or audit (Go durations)")
        unknown = sorted(set(body) - set(RETENTION_BODY_KEYS) - {"audit"})
        if unknown:
            raise _malformed(f"unknown keys {', '.join(unknown)}; expected anyTerminal, completed, failed, terminated, audit")
        secs: dict[str, float] = {}
        for key, value in body.items():
            if value is None:
                continue
            if not isinstance(value, str):
                raise _malformed(f"{key} must be a duration string, e.g. \"720h\"")
            seconds = _time(value, key, parse_duration).total_seconds()
            if seconds <= 0:
                raise _malformed(f"invalid {key}: expected a duration > 0")
            secs[key] = seconds
        backend = await _run(backends.get, appID)
        limits = {RETENTION_BODY_KEYS[k]: v for k, v in secs.items() if k in RETENTION_BODY_KEYS}
        if limits:
            await _run(backend.set_retention, **limits)
        if "audit" in secs:
            await _run(backend.set_audit_retention, secs["audit"])
        return policy_body(await _run(backend.retention))

    @app.delete("/v1.0/retention", tags=["retention"], summary="Remove the app's retention policy (wf extension)")
    async def delete_retention(appID: str | None = Query(None)) -> dict[str, Any]:
        backend = await _run(backends.get, appID)
        return {"removed": await _run(backend.clear_retention)}


def _list_page(backend: Backend, flt: ListFilter, limit: int, cursor: str | None, payloads: bool,
               order: str = "newest", all_apps: bool = False) -> tuple[list[WorkflowState], str | None]:
    """One page in the order asked, and the token of the next, from a backend that pages."""
    page = getattr(backend, "list_page", None)
    if page is not None:
        return page(flt, limit=limit, cursor=cursor, fetch_payloads=payloads, order=order, all_apps=all_apps)
    if cursor:
        raise _malformed("this server's engine does not page; list without continuationToken")
    return list(backend.list(flt, limit=limit, fetch_payloads=payloads, order=order, all_apps=all_apps)), None
