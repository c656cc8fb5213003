"""One log line per HTTP request of `wf serve`: method, path, query, status and time in ms.

Never a token: no header is logged (the token travels in dapr-api-token), and the value of any
query parameter whose name looks secret (token, key, secret, password, auth, signature) is
replaced by ***. wf serve takes no token from the query, but a client may still put one there.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

log = logging.getLogger("wf.serve.access")

_SECRET_NAME = re.compile(r"token|key|secret|passw|auth|sig", re.IGNORECASE)
MAX_SHOWN = 1000  # characters of a path or query in a log line

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


def shown(text: str) -> str:
    """Printable and bounded: a path with a newline in it cannot forge a second log line."""
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."


def redacted_query(raw: bytes) -> str:
    """The query string with the values of secret-looking parameters replaced by ***."""
    if not raw:
        return ""
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True, errors="replace")
    return urlencode([(k, "***" if _SECRET_NAME.search(k) else v) for k, v in pairs], safe="*/:,")


class AccessLogMiddleware:
    """The outermost ASGI middleware, so requests the guard refuses (401, 403, 413) are logged too."""

    def __init__(self, app: Callable[[Scope, Any, Any], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope.get("type") != "http" or not log.isEnabledFor(logging.WARNING):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # the answer when the app fails before it starts one

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = int(message.get("status", 500))
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            ms = round((time.perf_counter() - start) * 1000, 1)
            method, path = str(scope.get("method", "?")), shown(str(scope.get("path", "")))
            query = shown(redacted_query(scope.get("query_string") or b""))
            client = (scope.get("client") or ("", 0))[0]
            log.log(logging.WARNING if status >= 500 else logging.INFO, "%s %s%s %d %.1fms", method, path,
                    f"?{query}" if query else "", status, ms,
                    extra={"method": method, "path": path, "query": query, "status": status, "duration_ms": ms,
                           "client": client})
