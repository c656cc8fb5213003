"""The global options of one `wf` run (--db, --url, --token, -a, --profile, --no-color, -q),
resolved lazily through wf.settings, and the backend and renderer they lead to.

No click here: wf.cli.fast runs the plainest reads without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wf.model import NotFoundError

if TYPE_CHECKING:
    from wf.backends.base import Backend
    from wf.cli.output import Renderer
    from wf.model import WorkflowState


@dataclass
class Globals:
    """The global options, resolved lazily through wf.settings (flag > env > profile > default)."""

    db: str | None = None
    url: str | None = None
    token: str | None = None
    app_id: str | None = None
    profile: str | None = None
    no_color: bool = False
    quiet: bool = False
    _profile_checked: bool = field(default=False, repr=False)
    _backend: Any = field(default=None, repr=False)
    _renderer: Any = field(default=None, repr=False)

    def setting(self, key: str) -> Any:
        from wf import settings

        if not self._profile_checked:  # an unknown profile is an error even where flags or env give every value
            settings.profile_values(self.profile)
            self._profile_checked = True
        return settings.resolve(key, getattr(self, key, None), profile=self.profile)

    def timeout_setting(self) -> float | None:
        from wf import settings

        return settings.resolve_seconds("timeout", profile=self.profile)

    def resolved_db(self):
        from wf import settings

        return settings.resolve_db(self.setting("db"))

    def resolved_app_id(self) -> str:
        return self.setting("app_id") or "default"

    def is_remote(self) -> bool:
        return bool(self.setting("url"))

    def where(self) -> str:
        """'in /var/lib/wf/prod.db' or 'at http://build-host:3500': the store an operation changes,
        named in confirmation prompts (credentials in a URL are left out)."""
        url = self.setting("url")
        if not url:
            return f"in {self.resolved_db()}"
        scheme, sep, rest = str(url).partition("://")
        host, slash, path = rest.partition("/")
        return f"at {scheme}{sep}{host.rpartition('@')[2]}{slash}{path}"

    def backend(self) -> "Backend":
        if self._backend is None:
            from wf import settings
            from wf.backends import open_backend

            url = self.setting("url")
            self._backend = open_backend(
                db=None if url else settings.resolve_db_file(self.setting("db")),
                url=url,
                token=self.setting("token"),
                app_id=self.resolved_app_id(),
                durability=self.setting("durability"),
                timeout=self.timeout_setting(),
            )
        return self._backend

    @property
    def out(self) -> "Renderer":
        if self._renderer is None:
            from wf.cli.output import Renderer

            self._renderer = Renderer(no_color=self.no_color, quiet=self.quiet)
        return self._renderer

    def close(self) -> None:
        if self._backend is not None:
            backend, self._backend = self._backend, None
            backend.close()


def require_state(g: Globals, instance_id: str, *, fetch_payloads: bool = True) -> WorkflowState:
    state = g.backend().get(instance_id, fetch_payloads=fetch_payloads)
    if state is None:
        raise not_found(g, instance_id)
    return state


def not_found(g: Globals, instance_id: str) -> NotFoundError:
    return NotFoundError(
        f"no workflow instance {instance_id!r} in app {g.resolved_app_id()!r}; 'wf list' shows the instances"
    )
