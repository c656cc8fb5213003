"""WorkflowRuntime: the registry of workflows and activities, and the worker that runs them."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar, overload


F = TypeVar("F", bound=Callable[..., Any])


class WorkflowRuntime:
    """Registers workflows and activities and runs them on the local engine.

    `db=None` is resolved at start(): the --db of the `wf` command that loaded this module, else
    WF_DB, else the profile's, else the default path. The same goes for app_id (default "default").
    """

    def __init__(self, db: str | os.PathLike | None = None, *, app_id: str | None = None,
                 max_concurrent_activities: int | None = None, max_concurrent_workflows: int | None = None,
                 durability: str | None = None) -> None:
        self._db, self._app_id, self._durability = db, app_id, durability
        self.max_concurrent_activities = max_concurrent_activities
        self.max_concurrent_workflows = max_concurrent_workflows
        self.workflows: dict[str, Callable[..., Any]] = {}
        self.activities: dict[str, Callable[..., Any]] = {}
        self._worker: Any = None
        self._retention: Any = None

    # ------------------------------------------------------------------------------ registration

    def register_workflow(self, fn: Callable[..., Any], *, name: str | None = None) -> None:
        self._register(self.workflows, "workflow", fn, name)

    def register_activity(self, fn: Callable[..., Any], *, name: str | None = None) -> None:
        self._register(self.activities, "activity", fn, name)

    @staticmethod
    def _register(registry: dict[str, Callable[..., Any]], kind: str, fn: Callable[..., Any], name: str | None) -> None:
        if not callable(fn):
            raise TypeError(f"a {kind} must be a function, not {type(fn).__name__}")
        name = name or getattr(fn, "_wf_name", None) or fn.__name__
        if name in registry and registry[name] is not fn:
            raise ValueError(f"a {kind} named {name!r} is already registered")
        registry[name] = fn
        try:
            fn._wf_name = name  # type: ignore[attr-defined]  # lets call_activity(fn) find the name
        except AttributeError:  # a builtin or a bound method: callers then use the name string
            pass

    @overload
    def workflow(self, fn: F) -> F: ...
    @overload
    def workflow(self, fn: None = None, *, name: str | None = None) -> Callable[[F], F]: ...

    def workflow(self, fn: Any = None, *, name: str | None = None) -> Any:
        """@wfr.workflow or @wfr.workflow(name="...")."""
        return self._decorator(self.register_workflow, fn, name)

    @overload
    def activity(self, fn: F) -> F: ...
    @overload
    def activity(self, fn: None = None, *, name: str | None = None) -> Callable[[F], F]: ...

    def activity(self, fn: Any = None, *, name: str | None = None) -> Any:
        """@wfr.activity or @wfr.activity(name="...")."""
        return self._decorator(self.register_activity, fn, name)

    @staticmethod
    def _decorator(register: Callable[..., None], fn: Any, name: str | None) -> Any:
        def apply(f: F) -> F:
            register(f, name=name)
            return f

        return apply(fn) if fn is not None else apply

    # ------------------------------------------------------------------------------ running

    @property
    def db_path(self) -> str:
        from wf import settings

        return str(settings.resolve_db(self._db))

    @property
    def app_id(self) -> str:
        from wf import settings

        return settings.resolve_app_id(self._app_id)

    @property
    def is_running(self) -> bool:
        return self._worker is not None

    def start(self) -> None:
        if self._worker is not None:
            return
        from wf import settings
        from wf.engine.worker import Worker

        worker = Worker(self.db_path, self.app_id, self.workflows, self.activities,
                        max_concurrent_activities=self.max_concurrent_activities,
                        max_concurrent_workflows=self.max_concurrent_workflows,
                        durability=settings.resolve("durability", self._durability))
        worker.start()
        self._worker = worker
        from wf.engine.retention import RetentionRunner

        # Retention policies are applied by one process per store (a lease): maybe this one.
        self._retention = RetentionRunner(self.db_path, durability=settings.resolve("durability", self._durability)).start()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop taking work, let in-flight activities finish (up to `timeout` s), release leases."""
        worker, self._worker = self._worker, None
        runner, self._retention = self._retention, None
        if runner is not None:
            runner.stop()
        if worker is not None:
            worker.stop(grace=timeout)

    def __enter__(self) -> "WorkflowRuntime":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
