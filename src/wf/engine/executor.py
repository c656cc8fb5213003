"""Pure replay: (workflow function, past events, new events) -> the step to commit. No I/O.

An Execution is the in-memory state of one execution of a workflow generator. `replay(past)`
re-runs the generator against its recorded history (checking that it schedules the same work);
`advance(new, now)` applies new events and returns a Step: the events to append to history
(accepted new events, then newly scheduled work, then the completion) and the instance's outcome.

A worker may keep an Execution between steps and call advance() again: the result is the same as
replaying from scratch, which is what makes a long history cost linear, not quadratic, time.
"""

from __future__ import annotations

import inspect
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from wf.engine import history as h
from wf.engine.context import (
    CompletableTask,
    CompositeTask,
    DaprWorkflowContext,
    RetryableTask,
    RetryPolicy,
    Task,
    TimerTask,
    _EventWithTimeoutTask,
)
from wf.engine.history import Event
from wf.model import FailureDetails, NonDeterminismError, TaskFailedError
from wf import payload

_EPOCH = datetime(1970, 1, 1)  # naive UTC, as Dapr's ctx.current_utc_datetime


class StalledError(Exception):
    """A replay meets a version or a patch this code cannot honour: the instance stalls (Dapr's
    STALLED), keeping its history and inbox, until a worker that can run it starts."""


@dataclass
class Step:
    """What one call to advance() decided."""

    events: list[Event] = field(default_factory=list)  # to append to history, in order
    status: str | None = None  # COMPLETED, FAILED, CONTINUED_AS_NEW or STALLED; None while running
    output: str | None = None
    failure: FailureDetails | None = None
    custom_status: str | None = None
    custom_status_changed: bool = False
    new_input: str | None = None  # continue-as-new
    carryover: list[Event] = field(default_factory=list)  # continue-as-new: events for the next run


def not_json_detail(exc: BaseException) -> str:
    """Why a value could not be written as JSON, in words a workflow author reads."""
    text = str(exc) or type(exc).__name__
    return f"it is nested too deeply ({text})" if "recursion" in text or isinstance(exc, RecursionError) else text


def failure_of(exc: BaseException, *, with_trace: bool = True) -> FailureDetails:
    if isinstance(exc, TaskFailedError):
        # A failure that propagates keeps the original error's type and trace.
        return FailureDetails(str(exc), exc.details.error_type, exc.details.stack_trace)
    trace = "".join(traceback.format_exception(exc)) if with_trace else None
    return FailureDetails(str(exc) or type(exc).__name__, type(exc).__name__, trace)


def child_instance_id(parent: str, generation: int, action_id: int) -> str:
    """Deterministic and unique per parent execution, within the 64-character id rule."""
    candidate = f"{parent}-{action_id}" if generation == 0 else f"{parent}-{generation}-{action_id}"
    if len(candidate) <= 64:
        return candidate
    return uuid.uuid5(uuid.NAMESPACE_URL, f"wf:{parent}:{generation}:{action_id}").hex


class Execution:
    def __init__(self, fn: Callable[..., Any], instance_id: str, name: str) -> None:
        self.fn, self.instance_id, self.name = fn, instance_id, name
        self.ctx = DaprWorkflowContext(self)
        self.is_replaying = True
        self._now = 0.0
        self._seq = 0
        self.generation = 0
        self._pending: dict[int, Event] = {}  # scheduled by the code, not yet in history
        self._tasks: dict[int, Task] = {}  # awaiting the completion of this event id
        self._retry_timers: dict[int, RetryableTask] = {}
        self._waiters: dict[str, deque[CompletableTask]] = {}
        self._buffered: dict[str, deque[Event]] = {}
        self._gen: Any = None
        self._awaiting: Task | None = None
        self._started = False
        self._custom_status: str | None = None
        self._custom_changed = False
        self._continue: tuple[str | None, bool] | None = None
        self.done: Step | None = None  # set when the execution has ended
        self.history_len = 0
        self.version: str | None = None  # the version of a versioned workflow this execution runs
        self._started_event: Event | None = None
        self._history_patches: set[str] = set()  # patches recorded in history (set before replay)
        self._applied_patches: dict[str, bool] = {}
        self._new_patches: list[str] = []  # patched this step: recorded with the step's events
        self.propagation_loader: Callable[[], Any] | None = None  # reads what a caller propagated
        self._propagated: Any = None

    # ---------------------------------------------------------------------- what the context calls

    @property
    def current_utc_datetime(self) -> datetime:
        return _EPOCH + timedelta(seconds=self._now)

    def attempt_of(self, event_id: int) -> int | None:
        """Which attempt the pending task scheduled as event_id is (2 and up: a retry policy ran it
        again); None when no task waits on that event id."""
        task = self._tasks.get(event_id)
        return None if task is None else getattr(task, "attempts", 1)

    def _schedule(self, event: Event, task: Task) -> Task:
        self._seq += 1
        event.event_id = self._seq
        self._pending[self._seq] = event
        self._tasks[self._seq] = task
        return task

    def call_activity(self, name: str, input: Any, retry_policy: RetryPolicy | None, app_id: str | None = None,
                      propagation: int | None = None) -> Task:
        data = payload.encode(input)
        routing = _routing(app_id, propagation)
        task: CompletableTask = (
            RetryableTask(retry_policy, h.TASK_SCHEDULED, name, data, self._now, extra=routing)
            if retry_policy else CompletableTask()
        )
        return self._schedule(Event(h.TASK_SCHEDULED, self._now, name=name, data=data, extra=routing), task)

    def call_child_workflow(self, name: str, input: Any, instance_id: str | None,
                            retry_policy: RetryPolicy | None, app_id: str | None = None,
                            propagation: int | None = None) -> Task:
        data = payload.encode(input)
        routing = _routing(app_id, propagation)
        task: CompletableTask = (
            RetryableTask(retry_policy, h.CHILD_WORKFLOW_CREATED, name, data, self._now, instance_id, extra=routing)
            if retry_policy else CompletableTask()
        )
        return self._schedule(self._child_event(name, data, instance_id, routing), task)

    def _child_event(self, name: str, data: str | None, instance_id: str | None,
                     routing: dict[str, Any] | None = None) -> Event:
        child_id = instance_id or child_instance_id(self.instance_id, self.generation, self._seq + 1)
        return Event(h.CHILD_WORKFLOW_CREATED, self._now, name=name, data=data,
                     extra={"instance_id": child_id, **(routing or {})})

    @property
    def propagated(self) -> Any:
        """The PropagatedHistory a caller handed this workflow (read once, when first asked)."""
        if self.propagation_loader is not None:
            self._propagated, self.propagation_loader = self.propagation_loader(), None
        return self._propagated

    def is_patched(self, name: str) -> bool:
        """Dapr's patching: a patch recorded in history holds; one met while replaying old history
        does not; one met for the first time holds from now on (and is recorded)."""
        if name in self._applied_patches:
            return self._applied_patches[name]
        if name in self._history_patches:
            patched = True
        elif self.is_replaying:
            patched = False
        else:
            patched = True
            self._new_patches.append(name)
            self._history_patches.add(name)
        self._applied_patches[name] = patched
        return patched

    def record_version(self, version: str) -> None:
        """A versioned workflow chose its version at the start: it is kept in the start event."""
        self.version = version
        if self._started_event is not None:
            self._started_event.extra = {**(self._started_event.extra or {}), "version": version}

    def create_timer(self, fire_at: datetime | timedelta) -> TimerTask:
        if isinstance(fire_at, timedelta):
            at = self._now + fire_at.total_seconds()
        else:
            if fire_at.tzinfo is None:
                fire_at = fire_at.replace(tzinfo=timezone.utc)
            at = fire_at.timestamp()
        task = TimerTask(_EPOCH + timedelta(seconds=at))
        self._schedule(Event(h.TIMER_CREATED, self._now, extra={"fire_at": at}), task)
        return task

    def wait_for_external_event(self, name: str, timeout: datetime | timedelta | float | None) -> Task:
        key = name.lower()
        event_task = CompletableTask()
        buffered = self._buffered.get(key)
        if buffered:
            event_task._set_result(payload.decode(buffered.popleft().data))
        else:
            self._waiters.setdefault(key, deque()).append(event_task)
            event_task.waiting_for = (name, self._now)  # type: ignore[attr-defined]  # for blocked_on()
        if timeout is None or event_task.is_complete:
            return event_task
        if isinstance(timeout, datetime):  # Dapr takes a deadline too
            timer = self.create_timer(timeout)
        else:
            seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
            timer = self.create_timer(timedelta(seconds=seconds))

        def stop_waiting() -> None:
            waiters = self._waiters.get(key)
            if waiters and event_task in waiters:
                waiters.remove(event_task)

        return _EventWithTimeoutTask(event_task, timer, name, stop_waiting)

    def request_continue_as_new(self, new_input: Any, save_events: bool) -> None:
        self._continue = (payload.encode(new_input), save_events)

    def set_custom_status(self, value: Any) -> None:
        self._custom_status = payload.encode(value)
        self._custom_changed = True

    def blocked_on(self) -> str | None:
        """What the workflow now waits for, as compact JSON for the store (None: nothing), so
        `wf get` can say it without the workflow's code: {"events": [[name, since]], "tasks":
        [[event_id, attempt]] (activities, timers, children), "retries": [[timer_id, attempts]],
        "buffered": [[name, count, first_ts]] (events that arrived with no one waiting)}."""
        if self.done is not None:
            return None
        awaiting = self._awaiting
        if (type(awaiting) is CompletableTask and not awaiting._complete and not self._buffered
                and self._tasks.get(self._seq) is awaiting):
            # The common case, one activity or child awaited (the last thing scheduled), in the
            # same JSON as below without building it.
            return f'{{"tasks":[[{self._seq},1]]}}'
        ids = {id(t): seq for seq, t in self._tasks.items()}
        retry_ids = {id(t): seq for seq, t in self._retry_timers.items()}
        events: list[list[Any]] = []
        tasks: list[list[int]] = []
        retries: list[list[int]] = []
        stack: list[Task] = [self._awaiting] if self._awaiting is not None else []
        seen: set[int] = set()
        while stack:
            t = stack.pop()
            if t.is_complete or id(t) in seen:
                continue
            seen.add(id(t))
            if isinstance(t, CompositeTask):
                stack.extend(reversed(t._tasks))
            elif hasattr(t, "waiting_for"):
                events.append(list(t.waiting_for))
            elif id(t) in ids:
                tasks.append([ids[id(t)], getattr(t, "attempts", 1)])
            elif id(t) in retry_ids:
                retries.append([retry_ids[id(t)], getattr(t, "attempts", 1)])
        buffered = [[q[0].name, len(q), q[0].ts] for q in self._buffered.values() if q]
        out = {k: v for k, v in (("events", events), ("tasks", tasks), ("retries", retries),
                                 ("buffered", buffered)) if v}
        return h.encode_json(out) if out else None

    # ---------------------------------------------------------------------- running the generator

    def _run(self) -> None:
        """Resume the generator for as long as the task it awaits is complete."""
        while self._gen is not None and self.done is None:
            awaited = self._awaiting
            if awaited is not None and not awaited.is_complete:
                return
            try:
                if awaited is None:
                    nxt = next(self._gen)
                elif awaited.is_failed:
                    nxt = self._gen.throw(awaited.get_exception())
                else:
                    nxt = self._gen.send(awaited.get_result())
            except StopIteration as stop:
                self._finish(stop.value)
                return
            except BaseException as exc:  # the workflow failed (sys.exit() too): its error becomes the instance's
                self._fail(failure_of(exc))
                return
            if self._continue is not None:
                self._finish(None)
                return
            if not isinstance(nxt, Task):
                self._fail(FailureDetails(
                    f"workflow yielded {type(nxt).__name__}, not a task: yield ctx.call_activity(...), "
                    "ctx.create_timer(...), ctx.wait_for_external_event(...) or when_all/when_any",
                    "TypeError"))
                return
            self._awaiting = nxt

    def _finish(self, value: Any) -> None:
        if self._continue is not None:
            new_input, save = self._continue
            carry = [e for q in self._buffered.values() for e in q] if save else []
            carry.sort(key=lambda e: e.ts)
            self.done = Step(status="CONTINUED_AS_NEW", new_input=new_input, carryover=carry)
            return
        try:
            output = payload.encode(value)
            if output is not None:
                output.encode()  # a lone surrogate cannot be stored
        except Exception as exc:  # PayloadError (NaN, an object, too deep), UnicodeEncodeError, ...
            self._fail(FailureDetails(f"workflow {self.name!r} returned a value that is not JSON: "
                                      f"{not_json_detail(exc)}", type(exc).__name__))
            return
        self.done = Step(status="COMPLETED", output=output)

    def _fail(self, failure: FailureDetails) -> None:
        self.done = Step(status="FAILED", failure=failure)

    # ---------------------------------------------------------------------- applying events

    def _on_started(self, e: Event) -> bool:
        if self._started:
            return False
        self._started = True
        self.generation = int(e.get("generation", 0))
        self.version, self._started_event = e.get("version"), e
        try:
            result = payload.call_with_input(self.fn, self.ctx, payload.decode(e.data))
        except StalledError as exc:
            self.done = Step(status="STALLED", failure=FailureDetails(str(exc), "VersionNotRegistered"))
            return True
        except BaseException as exc:  # sys.exit() too: the instance fails
            self._fail(failure_of(exc))
            return True
        if inspect.isgenerator(result):
            self._gen = result
            self._run()
        else:
            self._finish(result)
        return True

    def _on_scheduled(self, e: Event) -> bool:
        """A scheduling event from history: the code must have scheduled the same thing."""
        action = self._pending.pop(e.event_id, None)
        if action is None or action.type != e.type or action.name != e.name:
            recorded = f"{e.type} {e.name!r}" if e.name else e.type
            if action is None:
                now = "nothing"
            else:
                now = f"{action.type} {action.name!r}" if action.name else action.type
            raise NonDeterminismError(
                f"non-deterministic workflow {self.name!r}: history has {recorded} at event {e.event_id}, "
                f"but the workflow now schedules {now} there"
            )
        if e.type == h.CHILD_WORKFLOW_CREATED:
            task = self._tasks.get(e.event_id)
            if isinstance(task, RetryableTask):
                task.instance_id = e.get("instance_id")
        return True

    def _on_task_completed(self, e: Event) -> bool:
        task = self._tasks.pop(e.task_id, None) if e.task_id is not None else None
        if task is None:
            return False  # a duplicate or stale completion: recorded once, so ignore it
        task._set_result(payload.decode(e.data))
        return True

    def _on_task_failed(self, e: Event) -> bool:
        task = self._tasks.pop(e.task_id, None) if e.task_id is not None else None
        if task is None:
            return False
        details = FailureDetails.from_dict(e.failure) or FailureDetails("failed", "Error")
        if isinstance(task, RetryableTask):
            delay = task.next_delay(self._now)
            if delay is not None:
                timer = TimerTask(_EPOCH + timedelta(seconds=self._now + delay))
                self._schedule(Event(h.TIMER_CREATED, self._now, extra={"fire_at": self._now + delay,
                                                                          "retry": True}), timer)
                self._retry_timers[self._seq] = task
                return True
        what = "activity" if e.type == h.TASK_FAILED else "child workflow"
        task._set_exception(TaskFailedError(f"{what} {task_name(task, e)} failed: {details.message}", details))
        return True

    def _on_timer_fired(self, e: Event) -> bool:
        task = self._tasks.pop(e.task_id, None) if e.task_id is not None else None
        if task is None:
            return False
        retry = self._retry_timers.pop(e.task_id, None)  # type: ignore[arg-type]
        if retry is not None:
            retry.attempts += 1
            if retry.kind == h.TASK_SCHEDULED:
                event = Event(h.TASK_SCHEDULED, self._now, name=retry.name, data=retry.input, extra=retry.extra)
            else:
                event = self._child_event(retry.name, retry.input, None, retry.extra)
                if retry.instance_id:
                    event.extra = {**(event.extra or {}),
                                   "instance_id": f"{retry.instance_id}-r{retry.attempts}"[-64:]}
            self._schedule(event, retry)
            return True
        task._set_result(None)
        return True

    def _on_event_raised(self, e: Event) -> bool:
        key = (e.name or "").lower()
        waiters = self._waiters.get(key)
        if waiters:
            waiters.popleft()._set_result(payload.decode(e.data))
        else:
            self._buffered.setdefault(key, deque()).append(e)
        return True

    def _on_terminated(self, e: Event) -> bool:
        self.done = Step(status="TERMINATED", output=e.data)
        return True

    def _on_noop(self, e: Event) -> bool:
        return True

    _HANDLERS: dict[str, Callable[["Execution", Event], bool]] = {
        h.EXECUTION_STARTED: _on_started,
        h.TASK_SCHEDULED: _on_scheduled,
        h.TIMER_CREATED: _on_scheduled,
        h.CHILD_WORKFLOW_CREATED: _on_scheduled,
        h.TASK_COMPLETED: _on_task_completed,
        h.CHILD_WORKFLOW_COMPLETED: _on_task_completed,
        h.TASK_FAILED: _on_task_failed,
        h.CHILD_WORKFLOW_FAILED: _on_task_failed,
        h.TIMER_FIRED: _on_timer_fired,
        h.EVENT_RAISED: _on_event_raised,
        h.EXECUTION_TERMINATED: _on_terminated,
        h.EXECUTION_SUSPENDED: _on_noop,
        h.EXECUTION_RESUMED: _on_noop,
        h.EXECUTION_COMPLETED: _on_noop,
        h.CONTINUE_AS_NEW: _on_noop,
    }

    def _apply(self, e: Event) -> bool:
        if e.type not in h.SCHEDULING_TYPES:
            self._now = max(self._now, e.ts)
        handler = self._HANDLERS.get(e.type)
        if handler is None:
            return False
        accepted = handler(self, e)
        if accepted and e.type not in h.SCHEDULING_TYPES and self.done is None:
            self._run()
        return accepted

    # ---------------------------------------------------------------------- the two entry points

    def replay(self, past: list[Event]) -> None:
        """Re-run the generator over recorded history. Raises NonDeterminismError on a mismatch."""
        self.is_replaying = True
        for e in past:  # is_patched answers from every patch the history holds, before the code runs
            self._history_patches.update(e.get("patches", ()))
        for e in past:
            if self.done is not None and self.done.status == "STALLED":
                break  # a version this worker lacks: the rest of the history cannot replay
            self._apply(e)
        self.history_len += len(past)

    def advance(self, new: list[Event], now: float) -> Step:
        """Apply new events; return what to append and how the instance now stands."""
        self.is_replaying = False
        step_events: list[Event] = []
        leftover: list[Event] = []
        for i, e in enumerate(new):
            if self.done is not None:
                leftover = [x for x in new[i:] if x.type == h.EVENT_RAISED]
                break
            if self._apply(e):
                step_events.append(e)
        for event_id in sorted(self._pending):
            event = self._pending[event_id]
            event.ts = now
            step_events.append(event)
        self._pending.clear()
        self._check_patches()
        step = self.done if self.done is not None else Step()
        if step.status == "STALLED":  # nothing of this turn is kept: it runs again once unstalled
            self._new_patches.clear()
            step.events = []
            return step
        if self._new_patches and step_events:
            first = step_events[0]
            first.extra = {**(first.extra or {}), "patches": list(self._new_patches)}
            self._new_patches.clear()
        if step.status in ("COMPLETED", "FAILED"):
            step_events.append(Event(h.EXECUTION_COMPLETED, now, data=step.output,
                                     failure=step.failure.to_dict() if step.failure else None,
                                     extra={"status": step.status}))
        if step.status == "CONTINUED_AS_NEW":
            step.carryover = step.carryover + leftover
        step.events = step_events
        step.custom_status, step.custom_status_changed = self._custom_status, self._custom_changed
        self._custom_changed = False
        self.history_len += len(step_events)
        return step


    def _check_patches(self) -> None:
        """A patch the history holds that this code never asked about: the code changed under a
        running instance in a way it cannot replay, so the instance stalls (Dapr's rule)."""
        if self.done is not None and self.done.status in ("STALLED", "TERMINATED"):
            return
        missing = sorted(self._history_patches - set(self._applied_patches))
        if missing:
            self.done = Step(status="STALLED", failure=FailureDetails(
                f"workflow {self.name!r}: history holds patch {missing[0]!r}, which this code no longer checks "
                "with ctx.is_patched()", "PatchMismatch"))


def _routing(app_id: str | None, propagation: int | None) -> dict[str, Any] | None:
    """The extra of a scheduled activity or child: the app that runs it, the history it receives."""
    extra: dict[str, Any] = {}
    if app_id:
        extra["app_id"] = app_id
    if propagation:
        extra["propagation"] = propagation
    return extra or None


def task_name(task: Task, e: Event) -> str:
    name = getattr(task, "name", None) or e.name
    return repr(name) if name else f"#{e.task_id}"


def execute(fn: Callable[..., Any], instance_id: str, name: str, past: list[Event], new: list[Event],
            now: float, propagated: Callable[[], Any] | None = None) -> tuple[Execution, Step]:
    """The pure function: replay `past`, apply `new`, and return the execution and its step.
    A non-determinism error (or any replay failure) fails the instance with its message.
    `propagated` reads the history a caller propagated, if the workflow asks for it."""
    ex = Execution(fn, instance_id, name)
    ex.propagation_loader = propagated
    try:
        ex.replay(past)
    except NonDeterminismError as exc:
        return ex, failed_step(ex, now, FailureDetails(str(exc), "NonDeterminismError"))
    return ex, ex.advance(new, now)


def failed_step(ex: Execution | None, now: float, failure: FailureDetails) -> Step:
    """A step that fails the instance without running it (non-determinism, unknown workflow)."""
    step = Step(status="FAILED", failure=failure)
    step.events = [Event(h.EXECUTION_COMPLETED, now, failure=failure.to_dict(), extra={"status": "FAILED"})]
    if ex is not None:
        ex.done = step
    return step


