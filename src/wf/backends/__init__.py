"""Backends: one interface (base.Backend), two engines (local SQLite, remote HTTP).

open_backend picks the engine: a URL selects HTTP, otherwise the local store. Modules are
imported only when chosen, so a local command never imports httpx.
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
    if url:
        from wf.backends.http import HttpBackend

        return HttpBackend(url, token=settings.resolve("token", token), app_id=app_id,
                           timeout=float(settings.resolve("timeout", timeout) or 30.0))
    from wf.backends.local import LocalBackend

    return LocalBackend(settings.resolve_db_file(db), app_id=app_id, durability=settings.resolve("durability", durability))
