"""Who may call `wf serve`: the API token, and the Host, Origin and Content-Type rules that keep web
pages from driving it (cross-site requests, DNS rebinding).

Pure functions over a request's method and headers, with no web framework, so the HTTP door, the
gRPC door and the dashboard share them. A browser page can send a cross-site POST without asking
(a "simple request": text/plain, form bodies) and can rebind a DNS name it owns to 127.0.0.1; so
a request must name this server in Host, come from no page or from this server's own origin, and
carry a JSON body only as JSON (which a foreign page cannot send without a CORS preflight we never
grant). Requests without an Origin (curl, wf, SDKs) are not browsers' cross-site requests.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

ANY_HOST = "*"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: an HTTP status and Dapr's {"errorCode", "message"}."""

    status: int
    code: str
    message: str


def token_matches(given: bytes | str | None, expected: bytes | str) -> bool:
    """Constant-time comparison of an API token."""
    if given is None:
        return False
    g = given.encode("utf-8") if isinstance(given, str) else given
    e = expected.encode("utf-8") if isinstance(expected, str) else expected
    return hmac.compare_digest(g, e)


def split_authority(value: str) -> tuple[str, int | None]:
    """'Example.com:3500' -> ('example.com', 3500); '[::1]' -> ('::1', None). ValueError if malformed."""
    value = value.strip()
    if not value or any(c in value for c in "/?#@ \t\\"):
        raise ValueError(f"not a host: {value[:80]!r}")
    parts = urlsplit("//" + value)
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError(f"not a host: {value[:80]!r}")
    return host, parts.port  # .port raises ValueError for a port that is not 0-65535


def parse_allow_host(value: str) -> tuple[str, int | None]:
    """An --allow-host value: NAME (any port), NAME:PORT, or * (any Host at all)."""
    if value.strip() == ANY_HOST:
        return ANY_HOST, None
    return split_authority(value)


class HostPolicy:
    """The Host names this server answers to, and the origins whose pages may call it.

    By default: localhost, 127.0.0.1 and [::1], and the address it is bound to (unless a wildcard
    such as 0.0.0.0), each with the server's own port. --allow-host adds NAME (any port) or NAME:PORT;
    '*' accepts any Host (Origin is still checked).
    """

    def __init__(self, bound_host: str = "127.0.0.1", allow_hosts: Iterable[str] = ()) -> None:
        own = {h.lower() for h in LOOPBACK_NAMES}
        bound = bound_host.strip().strip("[]").lower()
        if bound not in WILDCARD_BINDS:
            own.add(bound)
        self.own_names = frozenset(own)
        extra = [parse_allow_host(h) for h in allow_hosts]
        self.any_host = any(h == ANY_HOST for h, _ in extra)
        self.allowed = frozenset((h, p) for h, p in extra if h != ANY_HOST)

    def _listed(self, host: str, port: int | None, server_port: int | None) -> bool:
        if host in self.own_names and (server_port is None or port == server_port
                                       or (port is None and server_port == 80)):
            return True
        return (host, None) in self.allowed or (host, port) in self.allowed

    def host_allowed(self, host_header: str | None, server_port: int | None) -> bool:
        if self.any_host:
            return True
        if not host_header:
            return False
        try:
            host, port = split_authority(host_header)
        except ValueError:
            return False
        return self._listed(host, port, server_port)

    def origin_allowed(self, origin: str, host_header: str | None, server_port: int | None) -> bool:
        """Same origin as the request (Origin names the Host it was sent to), or an allowed host's."""
        try:
            parts = urlsplit(origin.strip())
            if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path or parts.query:
                return False
            host, port = parts.hostname.rstrip("."), parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError:
            return False
        if host_header:
            try:
                req_host, req_port = split_authority(host_header)
            except ValueError:
                return False
            if (req_host, req_port or DEFAULT_PORTS[parts.scheme]) == (host, port) and (
                    self.any_host or self._listed(req_host, req_port, server_port)):
                return True
        return (host, None) in self.allowed or (host, port) in self.allowed


def is_json_type(content_type: str | None) -> bool:
    """application/json or any application/...+json, with or without parameters."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _has_body(headers: Mapping[str, str]) -> bool:
    if "transfer-encoding" in headers:
        return True
    length = headers.get("content-length", "").strip()
    return bool(length) and length != "0"


def check_request(policy: HostPolicy, method: str, headers: Mapping[str, str],
                  server_port: int | None) -> Refusal | None:
    """The Host, Origin and Content-Type rules; headers keyed by lower-case name. None: go on."""
    host = headers.get("host")
    if not policy.host_allowed(host, server_port):
        shown = (host or "")[:100]
        hint = split_authority(host)[0] if host and _parses(host) else "NAME"
        return Refusal(403, "ERR_FORBIDDEN_HOST",
                       f"Host {shown!r} is not one this server answers to (DNS rebinding protection); "
                       f"start wf serve with --allow-host {hint} to allow it")
    origin = headers.get("origin")
    if origin is not None and not policy.origin_allowed(origin, host, server_port):
        return Refusal(403, "ERR_FORBIDDEN_ORIGIN",
                       f"cross-site request from origin {origin[:100]!r} refused: only pages of this "
                       "server may call it (or add the page's host with --allow-host)")
    if method.upper() not in SAFE_METHODS and _has_body(headers) and not is_json_type(headers.get("content-type")):
        given = (headers.get("content-type") or "none")[:100]
        return Refusal(415, "ERR_UNSUPPORTED_MEDIA_TYPE",
                       f"a request body must be sent as Content-Type: application/json (got {given})")
    return None


def _parses(value: str) -> bool:
    try:
        split_authority(value)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------- roles (issue #14)
#
# Named tokens with a role, from a TOML file that holds only their SHA-256 hashes:
#
#     [tokens.ci-reader]
#     role = "read"
#     sha256 = "9f86d0..."
#
# read < operate < admin. The single --token / WF_API_TOKEN is an admin token named "api-token".
# The HTTP door maps a request to an operation (required_role_for_request); the gRPC door maps its
# RPCs to the same operation names; both ask allows(role, OPERATION_ROLES[operation]).

ROLES = ("read", "operate", "admin")
SINGLE_TOKEN_NAME = "api-token"

# operation -> the least role that may do it (names as in the audit trail)
OPERATION_ROLES: dict[str, str] = {
    "get": "read", "list": "read", "history": "read", "count": "read", "metadata": "read", "pending": "read",
    "metrics": "read",
    "retention-show": "read", "workers": "read", "rates": "read",
    "start": "operate", "raise-event": "operate", "suspend": "operate", "resume": "operate",
    "terminate": "operate", "rerun": "operate",
    "purge": "admin", "bulk-purge": "admin", "bulk-terminate": "admin", "bulk-suspend": "admin",
    "bulk-resume": "admin", "bulk-raise-event": "admin", "retention-set": "admin", "retention-clear": "admin",
    "audit": "admin",
    "work": "operate",  # a worker app's stream of work items and their completions (gRPC)
}

# The gRPC door's methods (TaskHubSidecarService) -> the same operations.
GRPC_OPERATIONS: dict[str, str] = {
    "Hello": "metadata", "GetInstance": "get", "WaitForInstanceStart": "get", "WaitForInstanceCompletion": "get",
    "ListInstanceIDs": "list", "GetInstanceHistory": "history", "StartInstance": "start",
    "RaiseEvent": "raise-event", "SuspendInstance": "suspend", "ResumeInstance": "resume",
    "TerminateInstance": "terminate", "RerunWorkflowFromEvent": "rerun", "PurgeInstances": "purge",
    "GetWorkItems": "work", "CompleteOrchestratorTask": "work", "CompleteWorkflowTask": "work",
    "CompleteActivityTask": "work", "AbandonTaskOrchestratorWorkItem": "work",
    "AbandonTaskActivityWorkItem": "work",
}


def allows(role: str, required: str) -> bool:
    return ROLES.index(role) >= ROLES.index(required)


def token_hash(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Identity:
    name: str
    role: str


class TokenTable:
    """Who a token is: the single admin token and/or the named tokens of a tokens file."""

    def __init__(self, single: str | None = None, named: Mapping[str, tuple[str, str]] | None = None) -> None:
        self.single = single
        self.named = dict(named or {})  # name -> (role, sha256 hex)

    @property
    def required(self) -> bool:
        return bool(self.single or self.named)

    def identify(self, given: str | bytes | None) -> Identity | None:
        """The token's name and role, or None for a missing or unknown token (constant-time compares)."""
        if given is None:
            return None
        text = given.decode("utf-8", "replace") if isinstance(given, bytes) else given
        found = None
        if self.single is not None and token_matches(text, self.single):
            found = Identity(SINGLE_TOKEN_NAME, "admin")
        digest = token_hash(text)
        for name, (role, expected) in self.named.items():
            if hmac.compare_digest(digest, expected) and found is None:
                found = Identity(name, role)
        return found


TOKEN_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def load_tokens(path: str) -> dict[str, tuple[str, str]]:
    """name -> (role, sha256) from a tokens file; InvalidArgumentError names what is wrong."""
    import tomllib

    from wf.model import InvalidArgumentError

    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read tokens file {path!r}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgumentError(f"tokens file {path!r} is not valid TOML: {exc}") from None
    table = doc.get("tokens", {})
    if not isinstance(table, dict):
        raise InvalidArgumentError(f"tokens file {path!r}: [tokens] must be a table")
    out: dict[str, tuple[str, str]] = {}
    for name, entry in table.items():
        if not TOKEN_NAME_RE.fullmatch(name) or not isinstance(entry, dict):
            raise InvalidArgumentError(f"tokens file {path!r}: bad entry {name!r}")
        role, digest = entry.get("role"), entry.get("sha256")
        if role not in ROLES:
            raise InvalidArgumentError(f"tokens file {path!r}: token {name!r} has role {role!r}; expected one of "
                                       f"{', '.join(ROLES)}")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise InvalidArgumentError(f"tokens file {path!r}: token {name!r} needs sha256 = 64 hex digits")
        out[name] = (role, digest)
    return out


def add_token(path: str, name: str, role: str) -> str:
    """Create an entry (the file is made 0600 if new) and return the token, which is stored nowhere."""
    import os
    import secrets

    import tomli_w

    from wf.model import InvalidArgumentError

    if not TOKEN_NAME_RE.fullmatch(name):
        raise InvalidArgumentError(f"invalid token name {name!r}: use 1 to 64 letters, digits, '.', '-' or '_'")
    if role not in ROLES:
        raise InvalidArgumentError(f"invalid role {role!r}; expected one of {', '.join(ROLES)}")
    entries = load_tokens(path) if os.path.exists(path) else {}
    if name in entries:
        raise InvalidArgumentError(f"tokens file {path!r} already has a token named {name!r}")
    token = secrets.token_urlsafe(32)
    entries[name] = (role, token_hash(token))
    doc = {"tokens": {n: {"role": r, "sha256": h} for n, (r, h) in entries.items()}}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        tomli_w.dump(doc, fh)
    os.replace(path + ".tmp", path)
    return token


_WF = re.compile(r"^/v1\.0(?:-beta1)?/workflows/[^/]+(?P<rest>(?:/[^/]*)*)$")
_BULK = {"purge": "bulk-purge", "terminate": "bulk-terminate", "suspend": "bulk-suspend", "resume": "bulk-resume",
         "raiseEvent": "bulk-raise-event"}
_ONE = {"pause": "suspend", "resume": "resume", "terminate": "terminate", "purge": "purge", "start": "start",
        "history": "history", "pending": "pending", "rerun": "rerun"}


def operation_of_request(method: str, path: str) -> str:
    """The operation an HTTP request asks for (names of OPERATION_ROLES); 'admin' for anything else."""
    method = method.upper()
    if path in ("/v1.0/metadata",):
        return "metadata"
    if path == METRICS_PATH:
        return "metrics"
    if path == "/v1.0/audit":
        return "audit"
    if path in ("/v1.0/workers", "/v1.0/rates"):  # what `wf workers` and `wf top` read
        return path.rsplit("/", 1)[1]
    if path == "/v1.0/retention":
        return "retention-show" if method == "GET" else ("retention-clear" if method == "DELETE" else "retention-set")
    m = _WF.match(path)
    if m is None:
        return "admin"
    parts = [p for p in m.group("rest").split("/") if p]
    if not parts:
        return "list" if method == "GET" else "admin"
    if len(parts) == 1:
        if method == "GET":
            return "get"
        return _BULK.get(parts[0], "admin")
    if len(parts) >= 2 and parts[1] == "raiseEvent":
        return "raise-event"
    return _ONE.get(parts[1], "admin") if len(parts) == 2 else "admin"


def required_role(operation: str) -> str:
    return OPERATION_ROLES.get(operation, "admin")


METRICS_PATH = "/metrics"


def bearer_token(authorization: str | bytes | None) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header (what Prometheus sends from a scrape
    config's `authorization` block); None for anything else."""
    if authorization is None:
        return None
    text = authorization.decode("latin-1") if isinstance(authorization, bytes) else authorization
    scheme, _, token = text.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
