"""Backends: one interface (base.Backend), three engines (local SQLite, remote HTTP, remote gRPC).

open_backend picks the engine: an http(s):// URL selects HTTP, grpc(s):// gRPC, otherwise the local
store. Modules are imported only when chosen, so a local command never imports httpx or grpc.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wf.backends.base import Backend


def open_backend(
    *,
    db: str | os.PathLike | None = None,
    url: str | None = None,
    token: str | None = None,
    app_id: str | None = None,
    durability: str | None = None,
    timeout: float | None = None,
) -> "Backend":
    """Resolve settings (explicit, override, environment, profile, default) and open the engine."""
    from wf import settings

    app_id = settings.resolve_app_id(app_id)
    url = settings.resolve("url", url)
    if url and url.strip().lower().startswith(("grpc://", "grpcs://")):
        return _grpc_backend(url, token=settings.resolve("token", token), app_id=app_id,
                             timeout=float(settings.resolve("timeout", timeout) or 30.0))
    if url:
        from wf.backends.http import HttpBackend

        return HttpBackend(url, token=settings.resolve("token", token), app_id=app_id,
                           timeout=timeout or settings.resolve_seconds("timeout") or 30.0)
    from wf.backends.local import LocalBackend

    return LocalBackend(settings.resolve_db_file(db), app_id=app_id, durability=settings.resolve("durability", durability))


def _grpc_backend(url: str, **kwargs) -> "Backend":
    """The gRPC engine, or one line naming the extra to install when grpcio / the stubs are missing."""
    try:
        from wf.backends.grpc import GrpcBackend
    except ImportError as exc:  # wf.protocol.stubs.StubsUnavailable: its message names the extra
        from wf.model import UnsupportedError

        raise UnsupportedError(f"{url.strip().split(':', 1)[0]} URLs: {exc}") from None
    return GrpcBackend.from_url(url, **kwargs)
