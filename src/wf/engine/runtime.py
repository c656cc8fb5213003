"""WorkflowRuntime: the registry of workflows and activities, and the worker that runs them."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])


class LoggerOptions:
    """Dapr's logger options (dapr.ext.workflow.logger.LoggerOptions): applied to the `wf` logger."""

    def __init__(self, log_level: str | int | None = None, log_handler: logging.Handler | None = None,
                 log_formatter: logging.Formatter | None = None) -> None:
        self.log_level = logging.INFO if log_level is None else log_level
        self.log_handler = log_handler if log_handler is not None else logging.StreamHandler()
        self.log_formatter = log_formatter if log_formatter is not None else logging.Formatter(
            fmt="%(asctime)s.%(msecs)03d %(name)s %(levelname)s: %(message)s", datefmt="%Y-%m-%d %H:%M:%S")


def alternate_name(name: str | None = None) -> Callable[[F], F]:
    """Dapr's decorator: register a workflow or activity under another name."""

    def wrapper(fn: F) -> F:
        existing = getattr(fn, "_dapr_alternate_name", None)
        if existing is not None:
            raise ValueError(f"Function {fn.__name__} already has an alternate name {existing}")
        fn._dapr_alternate_name = name or fn.__name__  # type: ignore[attr-defined]
        return fn

    return wrapper


class VersionedWorkflow:
    """The versions of one workflow name. A new instance runs the latest version, and the version
    it started on is kept in its history; a replay whose version this worker lacks stalls."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.versions: dict[str, Callable[..., Any]] = {}
        self.latest: str | None = None

    def __call__(self, ctx: Any, input: Any = None) -> Any:
        from wf import payload
        from wf.engine.executor import StalledError

        ex = ctx._ex
        version = ex.version
        if version is None:
            if self.latest is None:
                raise StalledError(f"workflow {self.name!r} has no version registered as the latest")
            version = self.latest
            ex.record_version(version)
        fn = self.versions.get(version)
        if fn is None:
            raise StalledError(f"version {version!r} of workflow {self.name!r} is not registered with this worker")
        return payload.call_with_input(fn, ctx, input)


class WorkflowRuntime:
    """Registers workflows and activities and runs them on the local engine.

    `db=None` is resolved at start(): the --db of the `wf` command that loaded this module, else
    WF_DB, else the profile's, else the default path. The same goes for app_id (default "default").
    """

    def __init__(self, db: str | os.PathLike | None = None, *, app_id: str | None = None,
                 max_concurrent_activities: int | None = None, max_concurrent_workflows: int | None = None,
                 durability: str | None = None, host: str | None = None, port: str | None = None,
                 logger_options: Any = None, interceptors: Any = None,
                 maximum_concurrent_activity_work_items: int | None = None,
                 maximum_concurrent_orchestration_work_items: int | None = None,
                 maximum_thread_pool_workers: int | None = None, worker_ready_timeout: float | None = None,
                 max_grpc_message_length: int | None = None, disable_stateful_history: bool = False,
                 history_cache_ttl: float | None = None, history_cache_max_instances: int | None = None,
                 history_cache_max_bytes: int | None = None) -> None:
        """Dapr's arguments: the maximum_concurrent_* limits and maximum_thread_pool_workers bound
        this worker as wf's own do; logger_options sets the level and handler of the `wf` logger;
        host, port, interceptors, worker_ready_timeout, max_grpc_message_length and the history
        cache settings are accepted and have no effect (the runtime works on the store, not on a
        sidecar's stream); disable_stateful_history=True replays every step from the history
        instead of keeping running workflows in memory (code changed in a running process is then
        seen at the next step, as in Dapr)."""
        self._db, self._app_id, self._durability = db, app_id, durability
        activities = max_concurrent_activities or maximum_concurrent_activity_work_items
        if maximum_thread_pool_workers:
            activities = min(activities or maximum_thread_pool_workers, maximum_thread_pool_workers)
        self.max_concurrent_activities = activities
        self.max_concurrent_workflows = max_concurrent_workflows or maximum_concurrent_orchestration_work_items
        self._replay_every_step = disable_stateful_history
        if logger_options is not None:
            _apply_logger_options(logger_options)
        self.workflows: dict[str, Callable[..., Any]] = {}
        self.activities: dict[str, Callable[..., Any]] = {}
        self._worker: Any = None
        self._retention: Any = None

    # ------------------------------------------------------------------------------ registration

    def register_workflow(self, fn: Callable[..., Any], *, name: str | None = None) -> None:
        self._register(self.workflows, "workflow", fn, name)

    def register_activity(self, fn: Callable[..., Any], *, name: str | None = None) -> None:
        self._register(self.activities, "activity", fn, name)

    def register_versioned_workflow(self, fn: Callable[..., Any], *, name: str, version_name: str | None = None,
                                    is_latest: bool) -> None:
        """Register one version of workflow `name` (version_name defaults to the function's name);
        new instances run the version registered with is_latest=True."""
        if not callable(fn):
            raise TypeError(f"a workflow must be a function, not {type(fn).__name__}")
        versioned = self.workflows.get(name)
        if versioned is None:
            versioned = self.workflows[name] = VersionedWorkflow(name)
        if not isinstance(versioned, VersionedWorkflow):
            raise ValueError(f"a workflow named {name!r} is already registered without versions")
        version = version_name or fn.__name__
        if versioned.versions.get(version, fn) is not fn:
            raise ValueError(f"version {version!r} of workflow {name!r} is already registered")
        versioned.versions[version] = fn
        if is_latest:
            versioned.latest = version
        fn._wf_name = name  # type: ignore[attr-defined]
        self._registered()

    def versioned_workflow(self, fn: Any = None, *, name: str, version_name: str | None = None,
                           is_latest: bool) -> Any:
        """@wfr.versioned_workflow(name="order", is_latest=True)."""
        def apply(f: F) -> F:
            self.register_versioned_workflow(f, name=name, version_name=version_name, is_latest=is_latest)
            return f

        return apply(fn) if fn is not None else apply

    def _registered(self) -> None:
        """Registrations changed: a running worker records them and retries what they unstall."""
        if self._worker is not None:
            self._worker.registrations_changed()

    def _register(self, registry: dict[str, Callable[..., Any]], kind: str, fn: Callable[..., Any],
                  name: str | None) -> None:
        if not callable(fn):
            raise TypeError(f"a {kind} must be a function, not {type(fn).__name__}")
        name = name or getattr(fn, "_wf_name", None) or getattr(fn, "_dapr_alternate_name", None) or fn.__name__
        if name in registry and registry[name] is not fn:
            raise ValueError(f"a {kind} named {name!r} is already registered")
        registry[name] = fn
        try:
            fn._wf_name = name  # type: ignore[attr-defined]  # lets call_activity(fn) find the name
        except AttributeError:  # a builtin or a bound method: callers then use the name string
            pass
        self._registered()

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

    @property
    def fatal_error(self) -> BaseException | None:
        """Set when the worker's dispatcher or activity loop died: nothing runs any more, and a
        process that hosts only this runtime (`wf worker`) should exit so a supervisor restarts it."""
        return None if self._worker is None else self._worker.fatal

    def start(self) -> None:
        if self._worker is not None:
            return
        from wf import settings
        from wf.engine.worker import Worker

        worker = Worker(self.db_path, self.app_id, self.workflows, self.activities,
                        max_concurrent_activities=self.max_concurrent_activities,
                        max_concurrent_workflows=self.max_concurrent_workflows,
                        durability=settings.resolve("durability", self._durability),
                        **({"cache_size": 0} if self._replay_every_step else {}))  # type: ignore[arg-type]
        worker.start()
        self._worker = worker
        from wf.engine.retention import RetentionRunner

        # Retention policies are applied by one process per store (a lease): maybe this one.
        self._retention = RetentionRunner(self.db_path, durability=settings.resolve("durability", self._durability)).start()

    def wait_for_worker_ready(self, timeout: float = 30.0) -> bool:
        """True once start() has the worker claiming work; False if it is not running by `timeout`."""
        deadline = time.monotonic() + timeout
        while self._worker is None or not self._worker.is_ready:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

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


def _apply_logger_options(options: Any) -> None:
    """Dapr's LoggerOptions (log_level, log_handler, log_formatter) applied to the `wf` logger."""
    logger = logging.getLogger("wf")
    level = getattr(options, "log_level", None)
    if level is not None:
        logger.setLevel(level)
    handler = getattr(options, "log_handler", None)
    if handler is not None and handler not in logger.handlers:
        formatter = getattr(options, "log_formatter", None)
        if formatter is not None:
            handler.setFormatter(formatter)
        logger.addHandler(handler)
