"""`wf serve`: the local engine behind Dapr's workflow HTTP API, plus wf's extensions.

Needs the `server` extra (FastAPI on uvicorn); nothing else in wf imports this package, so the CLI
and the library stay free of those dependencies until `wf serve` runs.
"""

from __future__ import annotations

from typing import Any


def create_app(*args: Any, **kwargs: Any) -> Any:
    """See wf.server.app.create_app."""
    from wf.server.app import create_app as _create_app

    return _create_app(*args, **kwargs)


__all__ = ["create_app"]
