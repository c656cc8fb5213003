"""A worker: claims work under leases, runs the executor and activities, commits in batches.

One dispatcher thread owns the worker's SQLite connection. Each turn of its loop is one write
transaction that records finished activities, advances every ready workflow it may claim, and
claims activity tasks for the pool: many steps per commit. Workflows stay in memory (an LRU of
Executions) while this worker owns them, so a step costs the new events, not a replay.

Leases are per worker: a heartbeat row in `workers`. A worker whose heartbeat is older than the
lease, or whose process is gone from this host, is reaped by any other worker: its instances and
unfinished tasks become claimable again (activities run at least once; a completion is recorded
once, because only the current holder of a task may finish it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from wf.engine import control, propagation, signals
from wf.engine import history as h
from wf.engine.context import WorkflowActivityContext
from wf.engine.executor import Execution, Step, execute, failed_step, failure_of
from wf.engine.history import Event
from wf.engine.store import InstanceRow, Store, TaskRow
from wf.model import FailureDetails
from wf import payload

log = logging.getLogger("wf.worker")

HEARTBEAT_INTERVAL = 1.0
LEASE_SECONDS = float(os.environ.get("WF_LEASE_SECONDS", "15"))
POLL_INTERVAL = 0.005  # idle check of data_version: cheap, and keeps cross-process latency low
CACHE_SIZE = 10_000


@dataclass(slots=True)
class _Done:
    """An activity that finished in the pool, waiting to be committed."""

    task: TaskRow
    data: str | None
    failure: FailureDetails | None
    ts: float


@dataclass
class _Batch:
    """Writes of one turn that share a statement: flushed with executemany, in dependency order."""

    history: list[tuple[int, int, str]] = field(default_factory=list)
    consumed: list[int] = field(default_factory=list)
    tasks: list[tuple[str, int, str, int, str, str | None, float]] = field(default_factory=list)
    messages: list[tuple[int, str, float, str]] = field(default_factory=list)
    running: list[tuple[float, int, str | None, str | None, int]] = field(default_factory=list)
    ended: list[tuple[InstanceRow, Step, Execution | None]] = field(default_factory=list)
    finished: list[tuple[Any, ...]] = field(default_factory=list)

    def flush(self, store: Store) -> None:
        store.append_history_rows(self.history)
        store.delete_messages(self.consumed)
        store.add_tasks(self.tasks)
        store.add_messages(self.messages)
        store.update_running(self.running)  # last: ready_at is computed from the inbox as it now is
        for rows in (self.history, self.consumed, self.tasks, self.messages, self.running):
            rows.clear()


class _ActivityThreads:
    """Daemon threads that run activities, started as work arrives, up to `size`.

    Not concurrent.futures: its threads are joined when the interpreter exits, so one stuck
    activity would hold a process long after shutdown(timeout=) gave its task back."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._queue: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        self._queued = 0

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self._queue.put((fn, args))
        with self._lock:
            self._queued += 1
            if self._queued > self._idle and self._threads < self._size:
                self._threads += 1
                threading.Thread(target=self._run, name="wf-activity", daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            item = self._queue.get()
            with self._lock:
                self._idle -= 1
                if item is None:
                    return
                self._queued -= 1
            item[0](*item[1])

    def shutdown(self) -> None:
        """Idle threads exit; busy ones finish their activity (whose result is then dropped)."""
        for _ in range(self._threads):
            self._queue.put(None)


def _failure_json(step: Step) -> str | None:
    return None if step.failure is None else h.encode_json(step.failure.to_dict())


def _pid_alive(pid: int) -> bool:
    """Whether a process on this host still runs. A killed process its parent has not reaped
    yet (a zombie) answers signal 0, so on Linux its state in /proc decides."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        pass  # no /proc here: fall back to signal 0
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Worker:
    def __init__(self, db_path: str | os.PathLike, app_id: str, workflows: dict[str, Callable[..., Any]],
                 activities: dict[str, Callable[..., Any]], *, max_concurrent_activities: int | None = None,
                 max_concurrent_workflows: int | None = None, durability: str | None = None,
                 cache_size: int = CACHE_SIZE) -> None:
        self.db_path, self.app_id = db_path, app_id
        self.workflows, self.activities = workflows, activities
        # durabletask's default: activities mostly wait on I/O, and the pool starts threads lazily.
        self.max_activities = max_concurrent_activities or 100 * (os.cpu_count() or 1)
        self.max_workflows = max_concurrent_workflows or 256
        self.durability = durability
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.worker_id = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self._cache: OrderedDict[int, tuple[Execution, int]] = OrderedDict()
        self.cache_size = cache_size  # 0: every step replays the history (Dapr's disable_stateful_history)
        self._to_release: list[int] = []
        self._done: queue.SimpleQueue[_Done] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._drain_deadline = 0.0
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        self._last_heartbeat = 0.0
        self._next_due: float | None = None
        self._data_version = -1
        self._thread: threading.Thread | None = None
        self._pool: _ActivityThreads | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self.store: Store | None = None
        self._registrations_changed = True  # recorded (and stalled instances retried) on the next turn

    @property
    def is_ready(self) -> bool:
        """Started and claiming (wait_for_worker_ready)."""
        return self._thread is not None and self._thread.is_alive() and not self._registrations_changed

    def registrations_changed(self) -> None:
        """The runtime registered something after start: record it and claim accordingly."""
        self._registrations_changed = True
        self._wake.set()

    def _names(self) -> tuple[list[str], list[str]]:
        """Routing by name: the workflows and activities this worker claims (the registry may grow)."""
        return list(self.workflows), list(self.activities)

    def _record_registrations(self, now: float) -> None:
        assert self.store is not None
        if self._registrations_changed:
            self._registrations_changed = False
            workflows, activities = self._names()
            self.store.record_registrations(self.worker_id, workflows, activities)
            self.store.unstall(self.app_id, workflows, now)

    # ------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.store = Store(self.db_path, durability=self.durability)
        with self.store.write():
            self.store.heartbeat(self.worker_id, self.app_id, self.host, self.pid, time.time())
            self._reap(time.time())
        self._last_heartbeat = time.time()
        self._pool = _ActivityThreads(self.max_activities)
        signals.register_worker(self.store.key, self._wake)
        self._thread = threading.Thread(target=self._run, name="wf-worker", daemon=True)
        self._thread.start()

    def stop(self, grace: float = 30.0) -> None:
        """Stop claiming, let in-flight activities finish for up to `grace` seconds, commit their
        results, and release every lease this worker holds."""
        if self._thread is None:
            return
        self._drain_deadline = time.time() + grace
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self._thread = None
        if self._pool is not None:
            self._pool.shutdown()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self.store is not None:
            signals.unregister_worker(self.store.key, self._wake)
            self.store.close()

    def _run(self) -> None:
        assert self.store is not None
        while True:
            stopping = self._stop.is_set()
            if stopping and (self._inflight == 0 or time.time() >= self._drain_deadline):
                break
            try:
                busy = self._tick(claim=not stopping)
            except Exception as exc:  # keep the worker alive through a transient store error
                log.exception("worker step failed: %s", exc)
                self._cache.clear()
                time.sleep(0.05)
                continue
            if not busy:
                self._idle_wait()
        try:
            self._tick(claim=False)  # record the last results and advance their workflows
            with self.store.write():
                self.store.release_worker(self.worker_id, time.time())
        except Exception:  # pragma: no cover - the lease expires anyway
            log.exception("could not release leases")
        signals.state_changed()

    def _idle_wait(self) -> None:
        """Sleep until woken in-process, another process commits something due, or a timer is due."""
        assert self.store is not None
        while not self._stop.is_set():
            now = time.time()
            if now - self._last_heartbeat >= HEARTBEAT_INTERVAL:
                return
            due = self._next_due
            if due is not None and due <= now:
                return
            timeout = POLL_INTERVAL if due is None else min(POLL_INTERVAL, due - now)
            if self._wake.wait(timeout):
                self._wake.clear()
                return
            version = self.store.data_version()
            if version != self._data_version:
                self._data_version = version
                self._next_due = self._compute_next_due()

    def _compute_next_due(self) -> float | None:
        assert self.store is not None
        workflows, activities = self._names()
        dues = [self.store.next_instance_due(self.app_id, self.worker_id, workflows)]
        if self._inflight < self.max_activities:
            dues.append(self.store.next_task_due(self.app_id, activities))
        known = [d for d in dues if d is not None]
        return min(known) if known else None

    # ------------------------------------------------------------------------------ one turn

    def _tick(self, *, claim: bool) -> bool:
        assert self.store is not None
        store = self.store
        now = time.time()
        done = self._drain_done()
        claimed: list[InstanceRow] = []
        tasks: list[TaskRow] = []
        try:
            with store.write():
                if now - self._last_heartbeat >= HEARTBEAT_INTERVAL:
                    store.heartbeat(self.worker_id, self.app_id, self.host, self.pid, now)
                    self._reap(now)
                    self._last_heartbeat = now
                self._record_registrations(now)
                workflows, activities = self._names()
                if self._to_release:
                    store.release_instances(self.worker_id, self._to_release)
                    self._to_release.clear()
                self._record_done(now, done)
                # Workflows advance while draining too: the results just recorded move them on.
                claimed = store.claim_instances(self.app_id, self.worker_id, now, self.max_workflows, workflows)
                if claimed:
                    self._advance_all(claimed, now)
                if claim:
                    free = self.max_activities - self._inflight
                    if free > 0:
                        tasks = store.claim_tasks(self.app_id, self.worker_id, now, free, activities)
                self._next_due = None
        except BaseException:
            for d in done:  # not committed: keep them for the next turn
                self._done.put(d)
            for row in claimed:
                self._cache.pop(row.iid, None)
            raise
        with self._inflight_lock:
            self._inflight -= len(done)
        self._data_version = store.data_version()
        for t in tasks:
            self._start_activity(t)
        if claimed or done:
            signals.state_changed()
        if not (claimed or done or tasks):
            self._next_due = self._compute_next_due()
            return False
        return True

    def _drain_done(self) -> list[_Done]:
        out = []
        while True:
            try:
                out.append(self._done.get_nowait())
            except queue.Empty:
                return out

    def _record_done(self, now: float, done: list[_Done] | None = None) -> None:
        """Turn finished activities into inbox messages; a task no longer ours is dropped."""
        assert self.store is not None
        store = self.store
        done = self._drain_done() if done is None else done
        if not done:
            return
        ours = store.finish_tasks([d.task.id for d in done], self.worker_id)
        messages = []
        for d in done:
            if d.task.id not in ours:
                continue
            if d.failure is None:
                event = Event(h.TASK_COMPLETED, d.ts, task_id=d.task.task_id, name=d.task.name, data=d.data)
            else:
                event = Event(h.TASK_FAILED, d.ts, task_id=d.task.task_id, name=d.task.name,
                              failure=d.failure.to_dict())
            messages.append((d.task.iid, event.type, now, event.to_json()))
        store.add_messages(messages)
        store.wake_many([m[0] for m in messages], now)

    def _reap(self, now: float) -> None:
        """Release the leases of dead workers: at once for a vanished process on this host,
        after the lease for any other."""
        assert self.store is not None
        for w in self.store.workers():
            if w.worker_id == self.worker_id:
                continue
            gone = w.heartbeat < now - LEASE_SECONDS or (w.host == self.host and not _pid_alive(w.pid))
            if gone:
                log.info("taking over the leases of worker %s", w.worker_id)
                self.store.release_worker(w.worker_id, now)

    # ------------------------------------------------------------------------------ workflows

    def _advance_all(self, rows: list[InstanceRow], now: float) -> None:
        """Advance every claimed instance, then write the common changes in a few batched statements."""
        assert self.store is not None
        inbox = self.store.visible_messages_many([r.iid for r in rows], now)
        batch = _Batch()
        for row in rows:
            self._advance(row, inbox.get(row.iid, []), now, batch)
        batch.flush(self.store)
        for row, step, ex in batch.ended:  # after the flush: ending clears the inbox and tasks
            self._cache.pop(row.iid, None)
            if step.status == "CONTINUED_AS_NEW":
                self._continue_as_new(row, step, ex, now)
            else:
                batch.finished.append((step.status, step.output, now, now, _failure_json(step),
                                       int(step.custom_status_changed), step.custom_status, row.iid))
                if row.parent_iid is not None:
                    control.notify_parent(self.store, row, step.status or "FAILED", step.output, step.failure, now)
        self.store.finish_instances(batch.finished)
        batch.finished.clear()

    def _advance(self, row: InstanceRow, messages: list[tuple[int, str]], now: float, batch: "_Batch") -> None:
        assert self.store is not None
        store = self.store
        events = [Event.from_json(text) for _, text in messages]
        if row.status not in ("RUNNING", "PENDING") or (
            row.status == "PENDING" and not any(e.type == h.EXECUTION_STARTED for e in events)
        ):
            store.refresh_ready(row.iid)  # nothing processable: a finished, suspended or early instance
            return
        fn = self.workflows.get(row.name)
        cached = self._cache.get(row.iid)
        ex: Execution | None = None
        if fn is None:
            start_seq = store.history_length(row.iid)
            step = failed_step(None, now, FailureDetails(
                f"workflow {row.name!r} is not registered with this worker (app {self.app_id!r})",
                "WorkflowNotRegistered"))
        elif cached is not None and cached[1] == row.version:
            ex = cached[0]
            self._cache.move_to_end(row.iid)
            start_seq = ex.history_len
            step = ex.advance(events, now)
        else:
            past = [Event.from_json(text) for text in store.load_history(row.iid)]
            loader = (lambda r=row: propagation.received(store, r)) if row.parent_iid is not None else None
            ex, step = execute(fn, row.instance_id, row.name, past, events, now, loader)
            start_seq = len(past)
        if step.status == "STALLED":  # keeps its inbox and history; runs again once a worker can
            assert step.failure is not None
            store.stall_instance(row.iid, h.encode_json(step.failure.to_dict()), now)
            self._cache.pop(row.iid, None)
            return
        batch.history.extend((row.iid, start_seq + i, e.to_json()) for i, e in enumerate(step.events))
        batch.consumed.extend(mid for mid, _ in messages)
        ended = step.status is not None
        for e in step.events:
            if e.type == h.TASK_SCHEDULED and not ended:
                target = e.get("app_id") or row.app_id  # a cross-app call runs on that app's workers
                batch.tasks.append((target, row.iid, row.instance_id, e.event_id, e.name or "", e.data, now))
            elif e.type == h.TIMER_CREATED and not ended:
                fire_at = float(e.get("fire_at", now))
                fired = Event(h.TIMER_FIRED, fire_at, task_id=e.event_id, extra={"fire_at": fire_at})
                batch.messages.append((row.iid, h.TIMER_FIRED, fire_at, fired.to_json()))
            elif e.type == h.CHILD_WORKFLOW_CREATED:
                self._start_child(row, e, now)
        if ended:
            batch.ended.append((row, step, ex))
            return
        waiting = ex.blocked_on() if ex is not None else None
        batch.running.append((now, int(step.custom_status_changed), step.custom_status, waiting, row.iid))
        if ex is not None:
            self._cache[row.iid] = (ex, row.version + 1)
            self._cache.move_to_end(row.iid)
            while len(self._cache) > self.cache_size:
                old, _ = self._cache.popitem(last=False)
                self._to_release.append(old)

    def _start_child(self, row: InstanceRow, e: Event, now: float) -> None:
        assert self.store is not None
        child_id = e.get("instance_id")
        iid = control.create_instance(self.store, app_id=e.get("app_id") or row.app_id, instance_id=child_id,
                                      name=e.name or "",
                                      input=e.data, start_ts=now, now=now, parent_iid=row.iid,
                                      parent_task_id=e.event_id)
        if iid is None:
            failure = FailureDetails(f"cannot start child workflow: instance {child_id!r} already exists",
                                     "AlreadyExistsError")
            failed = Event(h.CHILD_WORKFLOW_FAILED, now, task_id=e.event_id, name=e.name, failure=failure.to_dict())
            self.store.add_message(row.iid, failed.type, now, failed.to_json())

    def _continue_as_new(self, row: InstanceRow, step: Step, ex: Execution | None, now: float) -> None:
        """Start the next execution: a fresh history, the new input, and the events carried over."""
        assert self.store is not None
        store = self.store
        generation = (ex.generation + 1) if ex is not None else 1
        store.delete_tasks(row.iid)
        store.clear_history(row.iid)
        store.delete_inbox(row.iid, keep_kind=h.EVENT_RAISED)
        started = Event(h.EXECUTION_STARTED, now, name=row.name, data=step.new_input, extra={"generation": generation})
        store.add_message(row.iid, h.EXECUTION_STARTED, now, started.to_json())
        store.add_messages((row.iid, e.type, now, e.to_json()) for e in step.carryover)
        fields: dict[str, Any] = {"custom_status": step.custom_status} if step.custom_status_changed else {}
        store.update_instance(row.iid, status="RUNNING", input=step.new_input, output=None, updated_at=now,
                              waiting=None, bump_version=True, **fields)
        store.refresh_ready(row.iid)

    # ------------------------------------------------------------------------------ activities

    def _start_activity(self, t: TaskRow) -> None:
        with self._inflight_lock:
            self._inflight += 1
        fn = self.activities.get(t.name)
        if fn is None:
            failure = FailureDetails(f"activity {t.name!r} is not registered with this worker (app {self.app_id!r})",
                                     "ActivityNotRegistered")
            self._finish(t, None, failure)
            return
        ctx = WorkflowActivityContext(t.instance_id, t.task_id, t.name, lambda: self._propagated_to(t))
        if asyncio.iscoroutinefunction(fn):
            future = asyncio.run_coroutine_threadsafe(self._call_async(fn, ctx, t), self._event_loop())
            future.add_done_callback(lambda f: self._finish_future(t, f))
        else:
            assert self._pool is not None
            self._pool.submit(self._call_sync, fn, ctx, t)

    def _propagated_to(self, t: TaskRow) -> Any:
        """Read on the activity's thread, over its own connection."""
        store = Store(self.db_path, durability=self.durability)
        try:
            return propagation.for_task(store, t.iid, t.task_id)
        finally:
            store.close()

    async def _call_async(self, fn: Callable[..., Any], ctx: WorkflowActivityContext, t: TaskRow) -> Any:
        return await _call_activity(fn, ctx, t.input)

    def _finish_future(self, t: TaskRow, f: "Future[Any]") -> None:
        exc = f.exception()
        if exc is not None:
            self._finish(t, None, failure_of(exc))
            return
        self._finish_value(t, f.result())

    def _call_sync(self, fn: Callable[..., Any], ctx: WorkflowActivityContext, t: TaskRow) -> None:
        try:
            value = _call_activity(fn, ctx, t.input)
        except BaseException as exc:  # an activity's failure is data for the workflow
            self._finish(t, None, failure_of(exc))
            return
        self._finish_value(t, value)

    def _finish_value(self, t: TaskRow, value: Any) -> None:
        try:
            data = payload.encode(value)
        except (TypeError, ValueError) as exc:
            self._finish(t, None, FailureDetails(f"activity {t.name!r} returned a value that is not JSON: {exc}",
                                                 "TypeError"))
            return
        self._finish(t, data, None)

    def _finish(self, t: TaskRow, data: str | None, failure: FailureDetails | None) -> None:
        self._done.put(_Done(t, data, failure, time.time()))
        self._wake.set()

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._loop_thread = threading.Thread(target=self._loop.run_forever, name="wf-async", daemon=True)
            self._loop_thread.start()
        return self._loop


def _call_activity(fn: Callable[..., Any], ctx: WorkflowActivityContext, input_json: str | None) -> Any:
    return payload.call_with_input(fn, ctx, payload.decode(input_json))
