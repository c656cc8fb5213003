"""The authoring API a workflow sees: its context, tasks, when_all / when_any and RetryPolicy.

Names and signatures follow Dapr's Python workflow SDK. A task is a promise the workflow yields;
the executor (executor.py) completes tasks as it applies history events. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wf.engine.executor import Execution


def registered_name(fn_or_name: Callable[..., Any] | str) -> str:
    """The name a workflow or activity is registered under: the string itself, or the function's."""
    if isinstance(fn_or_name, str):
        return fn_or_name
    return str(getattr(fn_or_name, "_wf_name", None) or getattr(fn_or_name, "_dapr_alternate_name", None)
               or getattr(fn_or_name, "__name__", fn_or_name))


def _scope(propagation: Any) -> int | None:
    """A PropagationScope (or its number) as stored with the scheduled work; NONE is no propagation."""
    if propagation is None:
        return None
    return int(getattr(propagation, "value", propagation)) or None


class Task:
    """A unit of work a workflow can yield; complete once, with a result or an exception."""

    def __init__(self) -> None:
        self._complete = False
        self._result: Any = None
        self._exception: BaseException | None = None
        self._parents: list[CompositeTask] = []

    @property
    def is_complete(self) -> bool:
        return self._complete

    @property
    def is_failed(self) -> bool:
        return self._exception is not None

    def get_result(self) -> Any:
        if not self._complete:
            raise ValueError("the task has not completed")
        if self._exception is not None:
            raise self._exception
        return self._result

    def get_exception(self) -> BaseException | None:
        return self._exception

    def _set_result(self, value: Any) -> None:
        if self._complete:
            return
        self._complete, self._result = True, value
        for parent in self._parents:
            parent._on_child_complete(self)

    def _set_exception(self, exc: BaseException) -> None:
        if self._complete:
            return
        self._complete, self._exception = True, exc
        for parent in self._parents:
            parent._on_child_complete(self)


class CompletableTask(Task):
    """An activity, timer, child workflow or external event: completed by one history event."""


class TimerTask(CompletableTask):
    def __init__(self, fire_at: datetime) -> None:
        super().__init__()
        self.fire_at = fire_at


class RetryableTask(CompletableTask):
    """An activity or child workflow with a RetryPolicy: each failed attempt may schedule another."""

    def __init__(self, policy: "RetryPolicy", kind: str, name: str, input: str | None, started: float,
                 instance_id: str | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.policy, self.kind, self.name, self.input = policy, kind, name, input
        self.instance_id, self.extra = instance_id, extra
        self.started = started
        self.attempts = 1

    def next_delay(self, now: float) -> float | None:
        """Seconds until the next attempt, or None when the policy allows no more."""
        p = self.policy
        if self.attempts >= p.max_number_of_attempts:
            return None
        delay = p.first_retry_interval.total_seconds() * (p.backoff_coefficient ** (self.attempts - 1))
        if p.max_retry_interval is not None:
            delay = min(delay, p.max_retry_interval.total_seconds())
        if p.retry_timeout is not None and now + delay - self.started > p.retry_timeout.total_seconds():
            return None
        return delay


class CompositeTask(Task):
    def __init__(self, tasks: Iterable[Task]) -> None:
        super().__init__()
        self._tasks = list(tasks)
        for t in self._tasks:
            if not isinstance(t, Task):
                raise TypeError(f"expected tasks, got {type(t).__name__}")
            t._parents.append(self)
        for t in self._tasks:
            if t.is_complete:
                self._on_child_complete(t)

    def _on_child_complete(self, task: Task) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class WhenAllTask(CompositeTask):
    """Completes with every result, in order; fails as soon as one task fails."""

    def __init__(self, tasks: Iterable[Task]) -> None:
        self._done = 0
        super().__init__(tasks)
        if not self._tasks:
            self._set_result([])

    def _on_child_complete(self, task: Task) -> None:
        if self._complete:
            return
        if task.is_failed:
            self._set_exception(task.get_exception())  # type: ignore[arg-type]
            return
        self._done += 1
        if self._done == len(self._tasks):
            self._set_result([t.get_result() for t in self._tasks])


class WhenAnyTask(CompositeTask):
    """Completes with the first task to finish (its result is read with .get_result())."""

    def __init__(self, tasks: Iterable[Task]) -> None:
        super().__init__(tasks)

    def _on_child_complete(self, task: Task) -> None:
        if not self._complete:
            self._set_result(task)


class _EventWithTimeoutTask(CompositeTask):
    """wait_for_external_event(timeout=): the event's data, or TimeoutError when the timer wins."""

    def __init__(self, event: CompletableTask, timer: TimerTask, name: str, on_timeout: Callable[[], None]):
        self._event, self._timer, self._name, self._on_timeout = event, timer, name, on_timeout
        super().__init__([event, timer])

    def _on_child_complete(self, task: Task) -> None:
        if self._complete:
            return
        if task is self._event:
            self._set_result(task.get_result())
        else:
            self._on_timeout()
            self._set_exception(TimeoutError(f"timed out waiting for external event {self._name!r}"))


def when_all(tasks: Iterable[Task]) -> WhenAllTask:
    return WhenAllTask(tasks)


def when_any(tasks: Iterable[Task]) -> WhenAnyTask:
    return WhenAnyTask(tasks)


@dataclass
class RetryPolicy:
    first_retry_interval: timedelta
    max_number_of_attempts: int
    backoff_coefficient: float = 1.0
    max_retry_interval: timedelta | None = None
    retry_timeout: timedelta | None = None

    def __init__(self, *, first_retry_interval: timedelta, max_number_of_attempts: int,
                 backoff_coefficient: float | None = 1.0, max_retry_interval: timedelta | None = None,
                 retry_timeout: timedelta | None = None) -> None:
        if first_retry_interval.total_seconds() < 0:
            raise ValueError("first_retry_interval must be >= 0")
        if max_number_of_attempts < 1:
            raise ValueError("max_number_of_attempts must be >= 1")
        if backoff_coefficient is not None and backoff_coefficient < 1:
            raise ValueError("backoff_coefficient must be >= 1")
        self.first_retry_interval = first_retry_interval
        self.max_number_of_attempts = max_number_of_attempts
        self.backoff_coefficient = 1.0 if backoff_coefficient is None else backoff_coefficient
        self.max_retry_interval = max_retry_interval
        self.retry_timeout = retry_timeout

    @property
    def obj(self) -> "RetryPolicy":
        """Dapr's underlying durabletask policy; in wf the policy is its own."""
        return self


class DaprWorkflowContext:
    """What a workflow function receives as `ctx`. Every method is deterministic under replay."""

    def __init__(self, execution: "Execution") -> None:
        self._ex = execution

    @property
    def instance_id(self) -> str:
        return self._ex.instance_id

    @property
    def workflow_name(self) -> str:
        return self._ex.name

    @property
    def current_utc_datetime(self) -> datetime:
        return self._ex.current_utc_datetime

    @property
    def is_replaying(self) -> bool:
        return self._ex.is_replaying

    def call_activity(self, activity: Callable[..., Any] | str, *, input: Any = None,
                      retry_policy: RetryPolicy | None = None, app_id: str | None = None,
                      propagation: Any = None) -> Task:
        """Schedule an activity; app_id runs it on a worker of that app (same store);
        propagation (a PropagationScope) hands it this workflow's history."""
        return self._ex.call_activity(registered_name(activity), input, retry_policy, app_id, _scope(propagation))

    def call_child_workflow(self, workflow: Callable[..., Any] | str, *, input: Any = None,
                            instance_id: str | None = None, retry_policy: RetryPolicy | None = None,
                            app_id: str | None = None, propagation: Any = None) -> Task:
        return self._ex.call_child_workflow(registered_name(workflow), input, instance_id, retry_policy, app_id,
                                            _scope(propagation))

    def is_patched(self, patch_name: str) -> bool:
        """True on the new code path: for instances that reach this point from now on, and for
        those that already took it; False for an instance replaying history from before it."""
        return self._ex.is_patched(patch_name)

    def get_propagated_history(self) -> Any:
        """The history the caller propagated to this workflow (a PropagatedHistory), or None."""
        return self._ex.propagated

    def create_timer(self, fire_at: datetime | timedelta) -> Task:
        return self._ex.create_timer(fire_at)

    def wait_for_external_event(self, name: str, *, timeout: datetime | timedelta | float | None = None) -> Task:
        return self._ex.wait_for_external_event(name, timeout)

    def continue_as_new(self, new_input: Any = None, *, save_events: bool = False) -> None:
        self._ex.request_continue_as_new(new_input, save_events)

    def set_custom_status(self, custom_status: Any) -> None:
        self._ex.set_custom_status(custom_status)


class WorkflowActivityContext:
    """What an activity function receives as `ctx`."""

    def __init__(self, workflow_id: str, task_id: int, name: str = "",
                 propagated: Callable[[], Any] | None = None) -> None:
        self._workflow_id, self._task_id, self._name = workflow_id, task_id, name
        self._propagated = propagated

    def get_inner_context(self) -> "WorkflowActivityContext":
        """Dapr's inner durabletask context; in wf the context is its own."""
        return self

    def get_propagated_history(self) -> Any:
        """The history the calling workflow propagated (a PropagatedHistory), or None."""
        return self._propagated() if self._propagated is not None else None

    @property
    def workflow_id(self) -> str:
        return self._workflow_id

    @property
    def task_id(self) -> int:
        return self._task_id

    @property
    def activity_name(self) -> str:
        return self._name
