"""The dashboard of `wf serve`: one page and its assets, shipped in the package, served at `/`.

The page is static (no data in it) and talks to the same API as every other client, from the same
origin, with the token kept in the tab's sessionStorage and sent as the `dapr-api-token` header. So
the page and its assets need no token, while every call it makes does; the Host and Origin checks
of `wf.server.auth` apply to the page as to the API. A strict Content-Security-Policy allows only
this server's own scripts, styles and connections.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

ASSET_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "timeline.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def is_ui_path(path: str) -> bool:
    """The page and its assets: answered without a token (they hold no data)."""
    return path == "/" or path.startswith("/ui/")


def add_routes(app: Any) -> None:
    """Serve the page at / and its assets at /ui/NAME; read once, at start-up."""
    from fastapi import Response

    folder = files(__name__)
    assets = {name: folder.joinpath(name).read_bytes() for name in ASSET_TYPES}

    def answer(name: str) -> Response:
        return Response(assets[name], media_type=ASSET_TYPES[name], headers=HEADERS)

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return answer("index.html")

    @app.get("/ui/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if name not in assets or name == "index.html":
            from wf.server.app import ApiError

            raise ApiError(404, "ERR_ROUTE_NOT_FOUND", f"no dashboard asset {name[:60]!r}")
        return answer(name)
