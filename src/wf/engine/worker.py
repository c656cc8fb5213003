"""A worker: claims work under leases, runs the executor and activities, commits in batches.

One dispatcher thread owns the worker's SQLite connection. Each turn of its loop is one short
write transaction that records what finished since the last turn (activity results and workflow
steps), claims the workflows that are ready, reads their new events, and claims activity tasks
for the pool: many steps per commit. No user code runs inside it. The dispatcher then advances
the claimed workflows with no transaction open (a watchdog, stepthreads.py, replaces a dispatcher
held by a long step), and their steps are recorded by the next turn, each only if its instance did not change meanwhile (its version and owner are
checked: a terminate, suspend or purge that landed while the step ran wins, and the step is
dropped or redone). Workflows stay in memory (an LRU of Executions) while this worker owns them,
so a step costs the new events, not a replay.

Faults stay with their instance: an error while advancing, encoding or recording one instance
fails that instance (FAILED, the error in its failure details) and the rest of the turn commits.
Store faults (busy, disk full, damaged) stop the turn instead; the dispatcher backs off and retries.

Leases are per worker: a heartbeat row in `workers`. A worker whose heartbeat is older than the
lease, or whose process is provably gone (same host, same pid namespace, same boot), is reaped by
any other worker: its instances and unfinished tasks become claimable again (activities run at
least once; a completion is recorded once, because only the current holder of a task may finish it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import socket
import threading
import time
import traceback
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from wf import payload, settings
from wf.engine import control, metrics, propagation, signals
from wf.engine import history as h
from wf.engine.context import WorkflowActivityContext
from wf.engine.executor import Execution, Step, execute, failed_step, failure_of, not_json_detail
from wf.engine.history import Event
from wf.engine.stepthreads import Deposed, StepWatch, Watchdog
from wf.engine.store import InstanceRow, Store, TaskRow, is_store_fault
from wf.model import FailureDetails, InvalidArgumentError, validate_instance_id

log = logging.getLogger("wf.worker")

HEARTBEAT_INTERVAL = 1.0
DEFAULT_LEASE_SECONDS = 15.0
DEFAULT_STEP_WARN_SECONDS = 10.0
POLL_INTERVAL = 0.005  # idle check of data_version: cheap, and keeps cross-process latency low
CACHE_SIZE = 10_000
STEP_TAKEOVER = 0.5  # a step holding the dispatcher this long: a new dispatcher thread takes over
BACKOFF_MAX = 2.0  # seconds between turns while the store fails (disk full, locked, damaged)
LOG_EVERY = 60.0  # a repeating error is logged once, then at most this often


@dataclass(slots=True)
class _Done:
    """An activity that finished in the pool, waiting to be committed."""

    task: TaskRow
    data: str | None
    failure: FailureDetails | None
    ts: float


@dataclass(slots=True)
class _Rows:
    """What one step writes, encoded on the step thread (so an encoding error stays with its instance)."""

    history: list[tuple[int, int, str]] = field(default_factory=list)
    consumed: list[int] = field(default_factory=list)
    tasks: list[tuple[str, int, str, int, str, str | None, float]] = field(default_factory=list)
    messages: list[tuple[int, str, float, str]] = field(default_factory=list)
    children: list[Event] = field(default_factory=list)


@dataclass(slots=True)
class _Work:
    """One claimed instance: what the claim read, then what its step thread computed."""

    row: InstanceRow
    messages: list[tuple[int, str]]
    past: list[str] | None  # its history, when no Execution is cached
    ex: Execution | None  # the cached Execution; the step thread owns it meanwhile
    step: Step | None = None
    rows: _Rows | None = None
    start_seq: int = 0
    waiting: str | None = None  # what the workflow now waits for (ex.blocked_on())
    idle: bool = False  # nothing processable (suspended, finished, not yet started)
    failed: bool = False  # its step could not be recorded: the instance was failed instead
    recorded: bool = False  # its step (or its failure) was written by the turn's transaction
    now: float = 0.0
    seconds: float = 0.0  # how long its step took (metrics)

    def describe(self) -> str:
        return f"{self.row.instance_id!r} ({self.row.name}, app {self.row.app_id})"

    def log_fields(self) -> dict[str, Any]:
        return {"instance_id": self.row.instance_id, "workflow": self.row.name, "app_id": self.row.app_id}


class _Throttle:
    """Log a repeating error once, then at most every LOG_EVERY seconds with a count."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[float, int]] = {}

    def __call__(self, key: str, now: float) -> int | None:
        """None: stay quiet; else how many were suppressed since the last time this key was logged."""
        last = self._seen.get(key)
        if last is not None and now - last[0] < LOG_EVERY:
            self._seen[key] = (last[0], last[1] + 1)
            return None
        self._seen[key] = (now, 0)
        return 0 if last is None else last[1]


def _error_text(failure: FailureDetails) -> str:
    """A failure for a log line: its type and message on one line, at most about 500 characters."""
    text = " ".join(f"{failure.error_type}: {failure.message}".split())
    return text if len(text) <= 500 else f"{text[:480]} ...[{len(text) - 480} more characters]"


def log_failed_instance(logger: logging.Logger, instance_id: str, workflow: str, failure: FailureDetails | None,
                        status: str = "FAILED") -> None:
    """One line for an instance that ended FAILED (or STALLED): id, workflow name, error."""
    if failure is None or not logger.isEnabledFor(logging.WARNING):
        return
    error = _error_text(failure)
    what = "stalled (it waits for a worker that can run it)" if status == "STALLED" else "failed"
    logger.log(logging.WARNING if status == "STALLED" else logging.ERROR, "workflow %s (instance %s) %s: %s",
               workflow, instance_id, what, error,
               extra={"instance_id": instance_id, "workflow": workflow, "status": status, "error": error,
                      "stack_trace": failure.stack_trace})


def log_failed_attempt(logger: logging.Logger, instance_id: str, activity: str, attempt: int | None,
                       failure: FailureDetails) -> None:
    """One line for a failed activity attempt: instance id, activity name, attempt, error."""
    if not logger.isEnabledFor(logging.WARNING):
        return
    error = _error_text(failure)
    logger.warning("activity %s%s of instance %s failed: %s", activity,
                   f" (attempt {attempt})" if attempt is not None else "", instance_id, error,
                   extra={"instance_id": instance_id, "activity": activity, "attempt": attempt, "error": error,
                          "stack_trace": failure.stack_trace})


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
        self.submit_many([(fn, args)])

    def submit_many(self, items: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> None:
        """Queue calls; start as many threads as the queue has calls no idle thread will take."""
        put = self._queue.put
        for item in items:
            put(item)
        with self._lock:
            self._queued += len(items)
            more = min(self._queued - self._idle, self._size - self._threads)
            self._threads += max(0, more)
        for _ in range(more):
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
            try:
                item[0](*item[1])
            except BaseException:  # pragma: no cover - the callables catch everything themselves
                log.exception("unexpected error in an activity thread")

    def shutdown(self) -> None:
        """Idle threads exit; busy ones finish their activity (whose result is then dropped)."""
        for _ in range(self._threads):
            self._queue.put(None)


def _failure_json(step: Step) -> str | None:
    return None if step.failure is None else h.encode_json(step.failure.to_dict())


def _pid_alive(pid: int) -> bool:
    """Whether a process in this pid namespace still runs. A killed process its parent has not
    reaped yet (a zombie) answers signal 0, so on Linux its state in /proc decides."""
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


def process_identity() -> tuple[str | None, str | None]:
    """(pid namespace, boot id) of this process; None where the system does not say (no /proc).
    Two workers compare pids only when both are known and equal: a pid means nothing across
    containers (another pid namespace) or reboots."""
    try:
        ns: str | None = os.readlink("/proc/self/ns/pid")
    except OSError:
        ns = None
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            boot: str | None = fh.read().strip() or None
    except OSError:
        boot = None
    return ns, boot


def reap_dead_workers(store: Store, me: str, host: str, pid_ns: str | None, boot_id: str | None,
                      lease_seconds: float, now: float) -> None:
    """Inside write(): release the leases of dead workers: after the lease for any worker, and at
    once for one whose process is provably gone (same host, same pid namespace, same boot, no
    such pid). A worker elsewhere (a container with host networking) is judged by its heartbeat."""
    for w in store.workers():
        if w.worker_id == me:
            continue
        stale = w.heartbeat < now - lease_seconds
        comparable = (w.host == host and pid_ns is not None and boot_id is not None
                      and w.pid_ns == pid_ns and w.boot_id == boot_id)
        if stale or (comparable and not _pid_alive(w.pid)):
            if log.isEnabledFor(logging.WARNING):
                why = f"no heartbeat for {now - w.heartbeat:.0f}s" if stale else f"its process {w.pid} is gone"
                _log_takeover(store, w.worker_id, me, why)
            store.release_worker(w.worker_id, now)


TAKEOVER_LINES = 100  # instance lines per takeover; the rest are counted


def _log_takeover(store: Store, old: str, new: str, why: str) -> None:
    """One line per worker whose leases are taken over, and one per instance it held."""
    instances, tasks = store.held_by(old)
    log.warning("worker %s is gone (%s): worker %s takes over its leases (%d instances, %d activity tasks)",
                old, why, new, len(instances), tasks,
                extra={"old_owner": old, "new_owner": new, "instances": len(instances), "tasks": tasks})
    for instance_id, workflow in instances[:TAKEOVER_LINES]:
        log.info("lease takeover: instance %s (%s) from worker %s -> %s", instance_id, workflow, old, new,
                 extra={"instance_id": instance_id, "workflow": workflow, "old_owner": old, "new_owner": new})
    if len(instances) > TAKEOVER_LINES:
        log.info("lease takeover: %d more instances from worker %s -> %s", len(instances) - TAKEOVER_LINES, old, new,
                 extra={"old_owner": old, "new_owner": new})


def _engine_failure(what: str, exc: BaseException) -> FailureDetails:
    """The failure of an instance the engine could not advance or record."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, RecursionError) or "recursion depth" in detail or "nested too deeply" in detail:
        detail = f"a value is nested too deeply ({detail})"
    trace = "".join(traceback.format_exception(exc))
    return FailureDetails(f"{what}: {type(exc).__name__}: {detail}", type(exc).__name__, trace)


class Worker:
    def __init__(self, db_path: str | os.PathLike, app_id: str, workflows: dict[str, Callable[..., Any]],
                 activities: dict[str, Callable[..., Any]], *, max_concurrent_activities: int | None = None,
                 max_concurrent_workflows: int | None = None, durability: str | None = None,
                 cache_size: int = CACHE_SIZE, on_fatal: Callable[[BaseException], None] | None = None) -> None:
        self.db_path, self.app_id = db_path, app_id
        self.workflows, self.activities = workflows, activities
        # durabletask's default: activities mostly wait on I/O, and the pool starts threads lazily.
        self.max_activities = max_concurrent_activities or 100 * (os.cpu_count() or 1)
        self.max_workflows = max_concurrent_workflows or 256
        self.durability = durability
        self.lease_seconds = settings.env_seconds("WF_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)
        self.step_warn_seconds = settings.env_seconds("WF_STEP_WARN_SECONDS", DEFAULT_STEP_WARN_SECONDS)
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.pid_ns, self.boot_id = process_identity()
        self.worker_id = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self.on_fatal = on_fatal
        self.fatal: BaseException | None = None  # set when the dispatcher or the activity loop died
        self._cache: OrderedDict[int, tuple[Execution, int]] = OrderedDict()
        self.cache_size = cache_size  # 0: every step replays the history (Dapr's disable_stateful_history)
        self._to_release: list[int] = []
        self._done: queue.SimpleQueue[_Done] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._drain_deadline = 0.0
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        self._running: dict[int, TaskRow] = {}  # activities in flight, by task row id (what a drain waits for)
        self._notes: list[Callable[[], None]] = []  # log lines of this turn, written once it commits
        self._stepping: set[int] = set()  # iids claimed for a step that is not recorded yet
        self._todo: deque[_Work] = deque()  # claimed, step not run yet
        self._stepped: deque[_Work] = deque()  # step run, not recorded yet
        self._watch: StepWatch[_Work] = StepWatch(_Work.describe, self._take_over, warn_after=self.step_warn_seconds,
                                                  take_over_after=STEP_TAKEOVER, fields=_Work.log_fields)
        self._closed = threading.Event()
        self._throttle = _Throttle()
        self._last_heartbeat = 0.0
        self._next_due: float | None = None
        self._data_version = -1
        self._thread: threading.Thread | None = None
        self._pool: _ActivityThreads | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self.store: Store | None = None
        self._metrics = metrics.recorder  # None: metrics are off, and every hook below is skipped
        self._activity_began: dict[int, float] = {}  # task row id -> perf_counter at its start (metrics)
        self._registrations_changed = True  # recorded (and stalled instances retried) on the next turn
        self._async_fns: dict[Callable[..., Any], bool] = {}

    @property
    def activities_in_flight(self) -> int:
        return self._inflight

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
            self._heartbeat(time.time())
            self._reap(time.time())
        self._last_heartbeat = time.time()
        self._pool = _ActivityThreads(self.max_activities)
        signals.register_worker(self.store.key, self._wake)
        metrics.track(self)
        self._start_dispatcher()
        Watchdog(self._watch, self._closed).start()

    def _start_dispatcher(self) -> None:
        self._thread = threading.Thread(target=self._run, args=(self._watch.generation,), name="wf-worker",
                                        daemon=True)
        self._thread.start()

    def _take_over(self) -> None:
        """The watchdog deposed a dispatcher held by a long step: start the next one."""
        log.info("a workflow step holds the dispatcher; a new dispatcher thread goes on with the rest")
        self._start_dispatcher()

    def stop(self, grace: float = 30.0) -> None:
        """Stop claiming, let in-flight activities and steps finish for up to `grace` seconds,
        commit their results, and release every lease this worker holds."""
        if self._thread is None:
            return
        self._drain_deadline = time.time() + grace
        self._stop.set()
        self._wake.set()
        self._log_in_flight("draining", logging.INFO, grace)
        while True:  # the watchdog may have replaced the dispatcher meanwhile
            thread = self._thread
            thread.join()
            if self._thread is thread:
                break
        self._thread = None
        self._log_in_flight("stopped", logging.WARNING, grace)
        self._closed.set()
        if self._pool is not None:
            self._pool.shutdown()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self.store is not None:
            signals.unregister_worker(self.store.key, self._wake)
            self.store.close()
        metrics.untrack(self)

    def _log_in_flight(self, when: str, level: int, grace: float) -> None:
        """What a stopping worker has in flight: before the drain, and what the drain left behind
        (its leases were released: another worker runs it again)."""
        running = list(self._running.copy().values())  # activity threads change it meanwhile
        steps = len(self._stepping)
        if when == "stopped" and not running and not steps or not log.isEnabledFor(level):
            return
        names = ", ".join(f"{t.name} of {t.instance_id}" for t in running[:10]) + (", ..." if len(running) > 10 else "")
        if when == "draining":
            message = "worker %s draining (up to %gs): %d activities in flight%s, %d workflow steps"
            args: tuple[Any, ...] = (self.worker_id, grace, len(running), f" ({names})" if names else "", steps)
        else:
            message = ("worker %s stopped after the %gs drain with %d activities%s and %d workflow steps unfinished; "
                       "their leases are released and another worker runs them again")
            args = (self.worker_id, grace, len(running), f" ({names})" if names else "", steps)
        log.log(level, message, *args, extra={"worker_id": self.worker_id, "activities": len(running),
                                              "workflow_steps": steps,
                                              "instances": sorted({t.instance_id for t in running})})

    def _die(self, where: str, exc: BaseException) -> None:
        """The dispatcher or the activity loop ended unexpectedly: nothing would run any more."""
        if self.fatal is not None:
            return
        self.fatal = exc
        log.critical("wf worker: the %s died: %s: %s", where, type(exc).__name__, exc, exc_info=exc)
        if self.on_fatal is not None:
            self.on_fatal(exc)

    def _run(self, generation: int) -> None:
        try:
            self._dispatch(generation)
        except Deposed:
            return  # a new dispatcher took over while this thread ran a long step
        except BaseException as exc:
            self._die("dispatcher thread", exc)

    def _dispatch(self, generation: int) -> None:
        assert self.store is not None
        backoff = 0.0
        while True:
            stopping = self._stop.is_set()
            # Draining waits for activities and steps, except steps stuck past the warning bound.
            steps_left = len(self._stepping) - self._watch.stuck
            if stopping and ((self._inflight == 0 and steps_left <= 0) or time.time() >= self._drain_deadline):
                break
            try:
                busy = self._tick(generation, claim=not stopping)
                if not busy:
                    self._idle_wait()
                backoff = 0.0
            except Exception as exc:  # a store fault (busy, disk full, damaged): back off, keep the worker
                backoff = min(BACKOFF_MAX, max(0.05, backoff * 2))
                suppressed = self._throttle(f"turn:{type(exc).__name__}:{exc}", time.time())
                if suppressed is not None:
                    more = f" ({suppressed} more since)" if suppressed else ""
                    log.error("worker turn failed, retrying every %.2gs at most: %s%s", backoff, exc, more,
                              exc_info=not is_store_fault(exc))
                self._cache.clear()
                self._stop.wait(backoff)
        try:
            self._tick(generation, claim=False, advance=False)  # record the last results
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
        dues = [self.store.next_instance_due(self.app_id, self.worker_id, workflows, self._stepping)]
        if self._inflight < self.max_activities:
            dues.append(self.store.next_task_due(self.app_id, activities))
        known = [d for d in dues if d is not None]
        return min(known) if known else None

    def _heartbeat(self, now: float) -> None:
        assert self.store is not None
        self.store.heartbeat(self.worker_id, self.app_id, self.host, self.pid, now, self.pid_ns, self.boot_id)

    # ------------------------------------------------------------------------------ one turn

    def _tick(self, generation: int, *, claim: bool, advance: bool = True) -> bool:
        """One write transaction: record what finished, claim what is ready; then, with no
        transaction open, run the claimed workflows' steps (recorded by the next turn)."""
        assert self.store is not None
        store = self.store
        now = time.time()
        done = self._drain_done()
        stepped = []
        while self._stepped:
            stepped.append(self._stepped.popleft())
        for w in stepped:
            self._stepping.discard(w.row.iid)
        work: list[_Work] = []
        tasks: list[TaskRow] = []
        try:
            with store.write():
                if now - self._last_heartbeat >= HEARTBEAT_INTERVAL:
                    self._heartbeat(now)
                    self._reap(now)
                    self._last_heartbeat = now
                self._record_registrations(now)
                workflows, activities = self._names()
                if self._to_release:
                    store.release_instances(self.worker_id, self._to_release)
                    self._to_release.clear()
                self._record_done(now, done)
                if stepped:
                    self._record_steps(stepped, now)
                # Workflows advance while draining too: the results just recorded move them on.
                free = self.max_workflows - len(self._stepping)
                if advance and free > 0:
                    work = self._claim_work(now, free, workflows)
                if claim:
                    free = self.max_activities - self._inflight
                    if free > 0:
                        tasks = store.claim_tasks(self.app_id, self.worker_id, now, free, activities)
                self._next_due = None
        except BaseException:
            self._notes.clear()  # nothing of this turn happened
            for d in done:  # not committed: keep them for the next turn
                self._done.put(d)
            for w in (*stepped, *work):  # not recorded: redo them from the store
                self._cache.pop(w.row.iid, None)
            raise
        if self._notes:
            self._write_notes()
        with self._inflight_lock:
            self._inflight -= len(done)
        if self._metrics is not None and stepped:
            self._count_steps(stepped)
        self._data_version = store.data_version()
        if tasks:
            self._start_activities(tasks)
        self._stepping.update(w.row.iid for w in work)
        self._todo.extend(work)
        if advance:
            self._run_steps(generation)
        if stepped or done:
            signals.state_changed()
        if not (stepped or done or tasks or work):
            self._next_due = self._compute_next_due()
            return False
        return True

    def _write_notes(self) -> None:
        notes, self._notes = self._notes, []
        for note in notes:
            try:
                note()
            except Exception:  # pragma: no cover - a log line never stops the worker
                pass

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
                cached = self._cache.get(d.task.iid)
                attempt = cached[0].attempt_of(d.task.task_id) if cached is not None else None
                self._notes.append(partial(log_failed_attempt, log, d.task.instance_id, d.task.name, attempt,
                                           d.failure))
            messages.append((d.task.iid, event.type, now, event.to_json()))
        store.add_messages(messages)
        store.wake_many([m[0] for m in messages], now)

    def _reap(self, now: float) -> None:
        assert self.store is not None
        reap_dead_workers(self.store, self.worker_id, self.host, self.pid_ns, self.boot_id, self.lease_seconds, now)

    # ------------------------------------------------------------------------------ workflows

    def _claim_work(self, now: float, limit: int, names: list[str] | None) -> list[_Work]:
        """Claim ready instances and read what their steps need (inbox, and history unless cached)."""
        assert self.store is not None
        store = self.store
        rows = store.claim_instances(self.app_id, self.worker_id, now, limit, names, self._stepping)
        if not rows:
            return []
        inbox = store.visible_messages_many([r.iid for r in rows], now)
        work = []
        for row in rows:
            cached = self._cache.pop(row.iid, None)
            ex = cached[0] if cached is not None and cached[1] == row.version else None
            past = None if ex is not None else store.load_history(row.iid)
            work.append(_Work(row, inbox.get(row.iid, []), past, ex))
        return work

    def _run_steps(self, generation: int) -> None:
        """Run the claimed steps, the watchdog looking on (a deposed thread hands its step over
        and leaves; the next dispatcher runs the rest)."""
        todo, watch = self._todo, self._watch
        while todo:
            w = todo.popleft()
            watch.begin(w)
            began = time.perf_counter()
            self._advance(w)
            w.seconds = time.perf_counter() - began
            try:
                watch.end(generation)
            except Deposed:
                watch.left(w)
                self._stepped.append(w)
                self._wake.set()
                raise
            self._stepped.append(w)

    def _advance(self, w: _Work) -> None:
        """On a step thread, no transaction open: run the workflow's code for one instance and
        encode what to write. Any error fails this instance alone."""
        now = w.now = time.time()
        row = w.row
        w.start_seq = w.ex.history_len if w.ex is not None else len(w.past or ())
        try:
            events = [Event.from_json(text) for _, text in w.messages]
            if row.status not in ("RUNNING", "PENDING") or (
                row.status == "PENDING" and not any(e.type == h.EXECUTION_STARTED for e in events)
            ):
                w.idle = True  # nothing processable: a finished, suspended or early instance
                return
            fn = self.workflows.get(row.name)
            if fn is None:
                w.ex, w.step = None, failed_step(None, now, FailureDetails(
                    f"workflow {row.name!r} is not registered with this worker (app {self.app_id!r})",
                    "WorkflowNotRegistered"))
            elif w.ex is not None:
                w.step = w.ex.advance(events, now)
            else:
                past = [Event.from_json(text) for text in w.past or ()]
                store = self.store
                assert store is not None
                loader = (lambda r=row: propagation.received(store, r)) if row.parent_iid is not None else None
                w.ex, w.step = execute(fn, row.instance_id, row.name, past, events, now, loader)
            w.rows = self._rows_of(w, w.step, now)
            w.waiting = w.ex.blocked_on() if w.ex is not None and w.step.status is None else None
        except BaseException as exc:  # user code and the engine alike: fail this instance only
            self._note_instance_error(w, "could not advance", exc)
            w.ex, w.waiting = None, None
            w.step = failed_step(None, now, _engine_failure(f"workflow {row.name!r} failed", exc))
            try:
                w.rows = self._rows_of(w, w.step, now)
            except Exception:  # the error itself cannot be written: say so in plain words
                w.step = failed_step(None, now, FailureDetails(
                    "the engine could not advance this workflow; see the worker's log", "EngineError"))
                w.rows = self._rows_of(w, w.step, now)

    def _rows_of(self, w: _Work, step: Step, now: float) -> _Rows:
        row = w.row
        rows = _Rows(consumed=[mid for mid, _ in w.messages])
        rows.history = [(row.iid, w.start_seq + i, e.to_json()) for i, e in enumerate(step.events)]
        ended = step.status is not None
        for e in step.events:
            if e.type == h.TASK_SCHEDULED and not ended:
                name = e.name or ""
                name.encode()  # a lone surrogate cannot be stored: fail here, with this instance
                target = e.get("app_id") or row.app_id  # a cross-app call runs on that app's workers
                rows.tasks.append((target, row.iid, row.instance_id, e.event_id, name, e.data, now))
            elif e.type == h.TIMER_CREATED and not ended:
                fire_at = float(e.get("fire_at", now))
                fired = Event(h.TIMER_FIRED, fire_at, task_id=e.event_id, extra={"fire_at": fire_at})
                rows.messages.append((row.iid, h.TIMER_FIRED, fire_at, fired.to_json()))
            elif e.type == h.CHILD_WORKFLOW_CREATED:
                rows.children.append(e)
        if step.output is not None:
            step.output.encode()
        if step.custom_status is not None:
            step.custom_status.encode()
        return rows

    def _note_instance_error(self, w: _Work, what: str, exc: BaseException) -> None:
        suppressed = self._throttle(f"{what}:{type(exc).__name__}", time.time())
        if suppressed is not None:
            more = f" ({suppressed} similar errors since, not logged)" if suppressed else ""
            log.warning("workflow %s: %s, so it fails: %s: %s%s", w.describe(), what, type(exc).__name__,
                        exc, more)

    def _record_steps(self, stepped: list[_Work], now: float) -> None:
        """Record the steps computed since the last turn, each only if its instance is as it was
        claimed. All in one batch; if the batch fails, instance by instance, failing the culprits."""
        assert self.store is not None
        store = self.store
        current = store.instance_versions([w.row.iid for w in stepped])
        ok: list[_Work] = []
        for w in stepped:
            if w.step is None and not w.idle or current.get(w.row.iid) != (w.row.version, self.worker_id):
                self._cache.pop(w.row.iid, None)  # changed underneath (or gone): redo from the store
                continue
            ok.append(w)
        if not ok:
            return
        for w in ok:  # written below, or failed instead (a store fault aborts the whole turn)
            w.recorded = True
        try:
            with store.savepoint():
                self._write_steps(ok, now)
        except Exception as exc:
            if is_store_fault(exc):
                raise
            for w in ok:
                try:
                    with store.savepoint():
                        self._write_steps([w], now)
                except Exception as exc:
                    if is_store_fault(exc):
                        raise
                    self._note_instance_error(w, "could not record its step", exc)
                    self._fail_instance(w, _engine_failure(f"workflow {w.row.name!r}: its step could not be "
                                                           "recorded", exc), now)
        for w in ok:  # recorded: keep the execution for the next step
            if w.step is not None and w.step.status in ("FAILED", "STALLED") and not w.failed:
                self._notes.append(partial(log_failed_instance, log, w.row.instance_id, w.row.name, w.step.failure,
                                           w.step.status))
            if w.ex is None or w.failed:
                continue
            if w.idle:
                self._cache[w.row.iid] = (w.ex, w.row.version)  # refresh_ready leaves the version
            elif w.step is not None and w.step.status is None:
                self._cache[w.row.iid] = (w.ex, w.row.version + 1)  # update_running bumped it once
            else:
                continue
            self._cache.move_to_end(w.row.iid)
        while len(self._cache) > self.cache_size:
            old, _ = self._cache.popitem(last=False)
            self._to_release.append(old)

    def _count_steps(self, stepped: list[_Work]) -> None:
        """Metrics of the steps the last turn committed (and the time of every step that ran)."""
        m = self._metrics
        assert m is not None
        for w in stepped:
            if w.idle or w.step is None:
                continue
            row = w.row
            m.step(row.app_id, row.name, w.seconds)
            if w.recorded:
                m.step_recorded(row.app_id, row.name, first=row.status == "PENDING",
                                status="FAILED" if w.failed else w.step.status)

    def _write_steps(self, works: list[_Work], now: float) -> None:
        """Write the steps of several instances in a few batched statements, in dependency order."""
        assert self.store is not None
        store = self.store
        history: list[tuple[int, int, str]] = []
        consumed: list[int] = []
        tasks: list[tuple[str, int, str, int, str, str | None, float]] = []
        messages: list[tuple[int, str, float, str]] = []
        running: list[tuple[float, int, str | None, str | None, int]] = []
        ended: list[_Work] = []
        for w in works:
            if w.idle:
                store.refresh_ready(w.row.iid)
                continue
            assert w.step is not None and w.rows is not None
            if w.step.status == "STALLED":  # keeps its inbox and history; runs again once a worker can
                assert w.step.failure is not None
                store.stall_instance(w.row.iid, h.encode_json(w.step.failure.to_dict()), now)
                self._cache.pop(w.row.iid, None)
                continue
            history.extend(w.rows.history)
            consumed.extend(w.rows.consumed)
            tasks.extend(w.rows.tasks)
            messages.extend(w.rows.messages)
            if w.step.status is not None:
                ended.append(w)
            else:
                running.append((now, int(w.step.custom_status_changed), w.step.custom_status, w.waiting, w.row.iid))
        store.append_history_rows(history)
        store.delete_messages(consumed)
        store.add_tasks(tasks)
        store.add_messages(messages)
        for w in works:  # a child that cannot start answers its parent through the inbox
            for e in w.rows.children if w.rows is not None and not w.idle else ():
                self._start_child(w.row, e, now)
        store.update_running(running)  # after the inbox writes: ready_at is computed from the inbox
        finished = []
        for w in ended:  # after the rest: ending clears the inbox and tasks
            assert w.step is not None
            self._cache.pop(w.row.iid, None)
            if w.step.status == "CONTINUED_AS_NEW":
                self._continue_as_new(w.row, w.step, w.ex, now)
            else:
                finished.append((w.step.status, w.step.output, now, now, _failure_json(w.step),
                                 int(w.step.custom_status_changed), w.step.custom_status, w.row.iid))
                control.notify_parent(store, w.row, w.step.status or "FAILED", w.step.output, w.step.failure, now)
        store.finish_instances(finished)

    def _fail_instance(self, w: _Work, failure: FailureDetails, now: float) -> None:
        """End an instance as FAILED without its step (which could not be written). Should even
        that fail, the instance is marked FAILED with a plain message: never claimed again."""
        assert self.store is not None
        store = self.store
        w.failed = True
        self._cache.pop(w.row.iid, None)
        self._notes.append(partial(log_failed_instance, log, w.row.instance_id, w.row.name, failure))
        done = Event(h.EXECUTION_COMPLETED, now, failure=failure.to_dict(), extra={"status": "FAILED"})
        try:
            with store.savepoint():
                store.append_history_rows([(w.row.iid, w.start_seq, done.to_json())])
                store.finish_instances([("FAILED", None, now, now, h.encode_json(failure.to_dict()), 0, None,
                                         w.row.iid)])
                control.notify_parent(store, w.row, "FAILED", None, failure, now)
        except Exception as exc:
            if is_store_fault(exc):
                raise
            plain = FailureDetails("the engine could not record this workflow's step; see the worker's log",
                                   "EngineError")
            store.finish_instances([("FAILED", None, now, now, h.encode_json(plain.to_dict()), 0, None, w.row.iid)])

    def _start_child(self, row: InstanceRow, e: Event, now: float) -> None:
        assert self.store is not None
        child_id = e.get("instance_id")
        failure = None
        try:
            validate_instance_id(child_id)
        except InvalidArgumentError as exc:
            failure = FailureDetails(f"cannot start child workflow: invalid instance id: {exc}", "InvalidArgumentError")
        if failure is None:
            iid = control.create_instance(self.store, app_id=e.get("app_id") or row.app_id, instance_id=child_id,
                                          name=e.name or "",
                                          input=e.data, start_ts=now, now=now, parent_iid=row.iid,
                                          parent_task_id=e.event_id)
            if iid is None:
                failure = FailureDetails(f"cannot start child workflow: instance {child_id!r} already exists",
                                         "AlreadyExistsError")
        if failure is not None:
            failed = Event(h.CHILD_WORKFLOW_FAILED, now, task_id=e.event_id, name=e.name, failure=failure.to_dict())
            self.store.add_message(row.iid, failed.type, now, failed.to_json())

    def _continue_as_new(self, row: InstanceRow, step: Step, ex: Execution | None, now: float) -> None:
        assert self.store is not None
        generation = (ex.generation + 1) if ex is not None else 1
        control.restart_execution(self.store, row, now, generation, step.new_input, step.carryover,
                                  (step.custom_status,) if step.custom_status_changed else None)

    # ------------------------------------------------------------------------------ activities

    def _start_activities(self, tasks: list[TaskRow]) -> None:
        """Hand the claimed tasks to the activity threads (sync) or the event loop (async), the
        sync ones in one batch: one lock round and thread check per turn, not per task."""
        with self._inflight_lock:
            self._inflight += len(tasks)
        calls = []
        for t in tasks:
            call = self._start_activity(t)
            if call is not None:
                calls.append(call)
        if calls:
            assert self._pool is not None
            self._pool.submit_many(calls)

    def _start_activity(self, t: TaskRow) -> tuple[Callable[..., Any], tuple[Any, ...]] | None:
        """Start one task counted in flight; a sync activity is returned as the call to queue."""
        if self._metrics is not None:
            self._metrics.activity_started(self.app_id, t.name)
            self._activity_began[t.id] = time.perf_counter()
        self._running[t.id] = t
        fn = self.activities.get(t.name)
        if fn is None:
            failure = FailureDetails(f"activity {t.name!r} is not registered with this worker (app {self.app_id!r})",
                                     "ActivityNotRegistered")
            self._finish(t, None, failure)
            return None
        ctx = WorkflowActivityContext(t.instance_id, t.task_id, t.name, lambda: self._propagated_to(t))
        if self._is_async(fn):
            future = asyncio.run_coroutine_threadsafe(self._call_async(fn, ctx, t), self._event_loop())
            future.add_done_callback(lambda f: self._finish_future(t, f))
            return None
        return self._call_sync, (fn, ctx, t)

    def _is_async(self, fn: Callable[..., Any]) -> bool:
        """asyncio.iscoroutinefunction, asked once per activity function (it inspects the code)."""
        try:
            return self._async_fns[fn]
        except KeyError:
            flag = self._async_fns[fn] = asyncio.iscoroutinefunction(fn)
            return flag
        except TypeError:  # an unhashable callable
            return asyncio.iscoroutinefunction(fn)

    def _propagated_to(self, t: TaskRow) -> Any:
        """Read on the activity's thread, over its own connection."""
        store = Store(self.db_path, durability=self.durability)
        try:
            return propagation.for_task(store, t.iid, t.task_id)
        finally:
            store.close()

    async def _call_async(self, fn: Callable[..., Any], ctx: WorkflowActivityContext, t: TaskRow) -> None:
        # Every BaseException ends here: asyncio re-raises SystemExit and KeyboardInterrupt out of
        # the event loop, which would stop every async activity of this worker.
        try:
            value = await _call_activity(fn, ctx, t.input)
        except BaseException as exc:  # an activity's failure is data for the workflow
            self._finish(t, None, failure_of(exc))
            return
        self._finish_value(t, value)

    def _finish_future(self, t: TaskRow, f: "Future[Any]") -> None:
        if f.cancelled() or f.exception() is not None:  # the loop went away under the activity
            self._finish(t, None, FailureDetails(f"activity {t.name!r} was interrupted", "ActivityInterrupted"))

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
            if data is not None:
                data.encode()  # a lone surrogate cannot be stored
        except Exception as exc:  # PayloadError (NaN, an object, too deep), UnicodeEncodeError, ...
            self._finish(t, None, FailureDetails(f"activity {t.name!r} returned a value that is not JSON: "
                                                 f"{not_json_detail(exc)}", type(exc).__name__))
            return
        self._finish(t, data, None)

    def _finish(self, t: TaskRow, data: str | None, failure: FailureDetails | None) -> None:
        if self._metrics is not None:
            began = self._activity_began.pop(t.id, None)
            self._metrics.activity_finished(self.app_id, t.name, 0.0 if began is None else time.perf_counter() - began,
                                            failure is not None)
        self._running.pop(t.id, None)
        self._done.put(_Done(t, data, failure, time.time()))
        self._wake.set()

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._loop_thread = threading.Thread(target=self._run_loop, args=(self._loop,), name="wf-async",
                                                 daemon=True)
            self._loop_thread.start()
        return self._loop

    def _run_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            loop.run_forever()
        except BaseException as exc:
            self._die("asyncio loop of the activities", exc)
            return
        if not self._stop.is_set():
            self._die("asyncio loop of the activities", RuntimeError("the event loop stopped"))


def _call_activity(fn: Callable[..., Any], ctx: WorkflowActivityContext, input_json: str | None) -> Any:
    return payload.call_with_input(fn, ctx, payload.decode(input_json))
