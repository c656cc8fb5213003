"""Work items for workers outside the process (Dapr SDK apps over gRPC): claims and commits.

A Hub serves one app id. While a worker stream of that app is connected, its dispatcher thread
claims the app's ready instances and activity tasks under the hub's lease (a row in `workers`,
heartbeated like an in-process worker's, so the claims of a crashed `wf serve` are reaped by any
other worker), hands each to one connected stream, and remembers which. The worker replays the
workflow itself from the history it is sent and answers with what it decided (a Turn).

Every completion names its work item by a token. Completions are recorded by the dispatcher, in
the same batched transactions as its claims, and only while the token is out: a completion is
recorded once. A stream that closes gives its items back at once and they go to another stream
(at least once); a late completion for an item so re-assigned is refused (StaleWorkItemError).
A turn that raced a management operation (terminate, suspend, purge) is dropped, and the
instance's messages stay for its next turn.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial

from wf.engine import control, metrics, signals
from wf.engine import history as h
from wf.engine.history import Event
from wf.engine.store import HUB_KIND, STREAM_KIND, TERMINAL, InstanceRow, Store, TaskRow
from wf.model import FailureDetails, InvalidStateError

log = logging.getLogger("wf.workitems")

HEARTBEAT_INTERVAL = 1.0
POLL_INTERVAL = 0.005  # idle check of data_version: cheap, and keeps cross-process latency low
MAX_OUT_WORKFLOWS = 1000  # turns out at once, over all streams
MAX_OUT_ACTIVITIES = 1000
HISTORY_CACHE = 2000  # instances whose history the hub keeps decoded between their turns
NO_TIMER = 253402300799.0  # 9999-12-31T23:59:59Z: Dapr's "wait for ever" timer, which never fires


class StaleWorkItemError(InvalidStateError):
    """A completion for a work item that is not (or no longer) out: already completed, or given
    back when its stream closed and handed to another worker."""


@dataclass(slots=True)
class Turn:
    """What a worker decided in one turn of a workflow (built from its response by wf.protocol)."""

    events: list[Event] = field(default_factory=list)  # scheduled work, in the worker's order
    status: str | None = None  # COMPLETED, FAILED, TERMINATED or CONTINUED_AS_NEW; None: still running
    output: str | None = None  # the result, or the new input of continue-as-new
    failure: FailureDetails | None = None
    carryover: list[Event] = field(default_factory=list)  # continue-as-new: events kept for the next run
    custom_status: str | None = None
    custom_status_set: bool = False
    terminations: list[tuple[str, str | None, str | None, bool]] = field(default_factory=list)
    # (instance id, app id or None for this app, output, recursive)


@dataclass(slots=True)
class WorkflowItem:
    token: str
    iid: int
    app_id: str
    instance_id: str
    name: str
    version: int
    generation: int
    past: list[Event]
    new: list[Event]  # begins with a WorkflowStarted event: the turn's clock
    message_ids: list[int]
    stream: "WorkerStream | None" = None
    sent: float = 0.0  # perf_counter when handed out (metrics)


@dataclass(slots=True)
class ActivityItem:
    token: str
    app_id: str
    task: TaskRow
    stream: "WorkerStream | None" = None
    sent: float = 0.0  # perf_counter when handed out (metrics)

    @property
    def execution_id(self) -> str:
        """The call's taskExecutionId: the one its Dapr worker gave when scheduling it (Dapr keeps it
        across retries), else one derived from the task, so every delivery of it names the same."""
        t = self.task
        return t.execution_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"wf:{t.iid}/{t.instance_id}/{t.task_id}"))


Item = WorkflowItem | ActivityItem


class WorkerStream:
    """One connected worker's queue of work items (a GetWorkItems stream)."""

    def __init__(self, peer: str = "") -> None:
        self.id = uuid.uuid4().hex[:12]
        self.peer = peer  # the worker's address, as `wf workers` shows it
        self.queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self.out: set[str] = set()  # tokens of the items this stream holds
        self.closed = False

    def next(self, timeout: float) -> Item | None:
        """The next work item, or None after timeout (or when the hub stops)."""
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None


@dataclass(slots=True)
class _Op:
    """A write for the dispatcher's next transaction; `done` is resolved after the commit."""

    apply: Callable[[Store, float], None]
    done: Future | None = None


class Hub:
    def __init__(self, db_path: str | os.PathLike, app_id: str, *, durability: str | None = None,
                 max_out_workflows: int = MAX_OUT_WORKFLOWS, max_out_activities: int = MAX_OUT_ACTIVITIES) -> None:
        self.db_path, self.app_id, self.durability = db_path, app_id, durability
        self.max_out_workflows, self.max_out_activities = max_out_workflows, max_out_activities
        from wf import settings
        from wf.engine.worker import DEFAULT_LEASE_SECONDS, process_identity

        self.host, self.pid = socket.gethostname(), os.getpid()
        self.pid_ns, self.boot_id = process_identity()
        self.lease_seconds = settings.env_seconds("WF_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)
        self.worker_id = f"{self.host}:{self.pid}:grpc-{uuid.uuid4().hex[:8]}"
        self._tokens = itertools.count(1)
        self._lock = threading.Lock()
        self._streams: list[WorkerStream] = []
        self._out: dict[str, Item] = {}
        self._out_workflows = 0
        self._out_activities = 0
        self._ops: queue.SimpleQueue[_Op] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_heartbeat = 0.0
        self._data_version = -1
        self._next_due: float | None = None
        self._watchers: dict[tuple[str, str], set[threading.Event]] = {}
        self._changed: list[tuple[str, str]] = []  # instances whose status this turn changed
        self._notes: list[Callable[[], None]] = []  # log lines of this turn, written once it commits
        # iid -> (length, events): the history as this hub last recorded it, so the next turn reads
        # no rows and decodes no JSON (used only while the stored length still matches)
        self._histories: OrderedDict[int, tuple[int, list[Event]]] = OrderedDict()
        self._remembered: list[int] = []  # iids whose history this transaction recorded
        self.store: Store | None = None
        self._metrics = metrics.recorder  # None: metrics are off

    # ------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.store = Store(self.db_path, durability=self.durability)
        now = time.time()
        with self.store.write():
            self._heartbeat(self.store, now)
            self._reap(now)
        self._last_heartbeat = now
        signals.register_worker(self.store.key, self._wake)
        self._thread = threading.Thread(target=self._run, name="wf-grpc-hub", daemon=True)
        self._thread.start()
        metrics.track(self)

    def stop(self) -> None:
        """Close every stream and give back everything the hub holds."""
        if self._thread is None:
            return
        with self._lock:
            streams, self._streams = self._streams, []
            out = len(self._out)
        log.info("gRPC hub of app %s stopping: %d worker streams connected, %d work items out (given back for "
                 "the next worker)", self.app_id, len(streams), out,
                 extra={"app_id": self.app_id, "streams": len(streams), "work_items": out})
        for s in streams:
            s.closed = True
            s.queue.put(None)
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self._thread = None
        assert self.store is not None
        try:
            with self.store.write():
                for s in streams:
                    self.store.release_worker(self._stream_row(s), time.time())
                self.store.release_worker(self.worker_id, time.time())
        except Exception:  # pragma: no cover - the lease expires anyway
            log.exception("could not release the gRPC hub's leases")
        signals.unregister_worker(self.store.key, self._wake)
        self.store.close()
        metrics.untrack(self)

    @property
    def connected(self) -> int:
        return len(self._streams)

    @property
    def activities_in_flight(self) -> int:
        return self._out_activities

    # ------------------------------------------------------------------------------ streams

    def connect(self, peer: str = "") -> WorkerStream:
        stream = WorkerStream(peer)
        with self._lock:
            self._streams.append(stream)
        self._submit(lambda store, now: self._stream_heartbeat(store, now, stream))  # listed at once
        return stream

    def disconnect(self, stream: WorkerStream) -> None:
        """The stream closed: give back what it held, for another stream to take."""
        with self._lock:
            if stream.closed and stream not in self._streams:
                return
            stream.closed = True
            if stream in self._streams:
                self._streams.remove(stream)
            items = [self._pop(token) for token in list(stream.out)]
        given_back = [i for i in items if i is not None]
        if given_back:
            log.info("a worker stream closed holding %d work items: handing them to another", len(given_back))
            self._submit(lambda store, now: self._give_back(store, now, given_back))
        self._submit(lambda store, now: store.release_worker(self._stream_row(stream), now))

    def _pop(self, token: str) -> Item | None:
        """Take a work item off the books (caller holds _lock)."""
        item = self._out.pop(token, None)
        if item is None:
            return None
        if item.stream is not None:
            item.stream.out.discard(token)
        if isinstance(item, WorkflowItem):
            self._out_workflows -= 1
        else:
            self._out_activities -= 1
        return item

    # ------------------------------------------------------------------------------ watches

    def watch(self, app_id: str, instance_id: str) -> threading.Event:
        """An event set whenever a turn this hub records starts or ends the instance (waiters of
        WaitForInstance* wake for their own instance, not for every commit)."""
        event = threading.Event()
        with self._lock:
            self._watchers.setdefault((app_id, instance_id), set()).add(event)
        return event

    def unwatch(self, app_id: str, instance_id: str, event: threading.Event) -> None:
        with self._lock:
            events = self._watchers.get((app_id, instance_id))
            if events is not None:
                events.discard(event)
                if not events:
                    del self._watchers[(app_id, instance_id)]

    def notify(self, keys: list[tuple[str, str]]) -> None:
        with self._lock:
            events = [e for key in keys for e in self._watchers.get(key, ())]
        for e in events:
            e.set()

    # ------------------------------------------------------------------------------ completions

    def complete_workflow(self, token: str, instance_id: str, turn: Turn, timeout: float = 60.0) -> None:
        """Record a worker's turn. StaleWorkItemError if the token is not out (or names another instance)."""
        item = self._take(token, instance_id, WorkflowItem)
        assert isinstance(item, WorkflowItem)
        self._wait(self._submit(lambda store, now: self._record_turn(store, now, item, turn), future=True), timeout)

    def complete_activity(self, token: str, instance_id: str, task_id: int, data: str | None,
                          failure: FailureDetails | None, timeout: float = 60.0) -> None:
        item = self._take(token, instance_id, ActivityItem, task_id)
        assert isinstance(item, ActivityItem)
        self._wait(self._submit(lambda store, now: self._record_activity(store, now, item, data, failure),
                                future=True), timeout)

    def abandon(self, token: str) -> None:
        """The worker gave a work item up (it could not run it): hand it out again."""
        with self._lock:
            item = self._pop(token)
        if item is not None:
            self._submit(lambda store, now: self._give_back(store, now, [item]))

    def _take(self, token: str, instance_id: str, kind: type, task_id: int | None = None) -> Item:
        with self._lock:
            item = self._out.get(token)
            if item is not None and isinstance(item, kind):
                if isinstance(item, WorkflowItem):
                    matches = item.instance_id == instance_id
                else:
                    matches = item.task.instance_id == instance_id and item.task.task_id == task_id
                if matches:
                    self._pop(token)
                    return item
        if kind is WorkflowItem:
            raise StaleWorkItemError(f"unknown instance ID: {instance_id}")
        raise StaleWorkItemError(f"unknown instance ID/task ID combo: {instance_id}/{task_id}")

    def _submit(self, apply: Callable[[Store, float], None], *, future: bool = False) -> Future | None:
        done: Future | None = Future() if future else None
        self._ops.put(_Op(apply, done))
        self._wake.set()
        return done

    @staticmethod
    def _wait(done: Future | None, timeout: float) -> None:
        assert done is not None
        done.result(timeout)

    # ------------------------------------------------------------------------------ the dispatcher

    def _run(self) -> None:
        assert self.store is not None
        while not self._stop.is_set():
            try:
                busy = self._turn()
            except Exception as exc:  # keep dispatching through a transient store error
                log.exception("gRPC work-item dispatch failed: %s", exc)
                time.sleep(0.05)
                continue
            if not busy:
                self._idle_wait()
        self._fail_pending(RuntimeError("wf serve is stopping"))

    def _fail_pending(self, exc: BaseException) -> None:
        while True:
            try:
                op = self._ops.get_nowait()
            except queue.Empty:
                return
            if op.done is not None and not op.done.done():
                op.done.set_exception(exc)

    def _idle_wait(self) -> None:
        assert self.store is not None
        while not self._stop.is_set():
            now = time.time()
            if now - self._last_heartbeat >= HEARTBEAT_INTERVAL:
                return
            due = self._next_due if self._streams else None
            if due is not None and due <= now:
                return
            timeout = POLL_INTERVAL if due is None else max(0.0, min(POLL_INTERVAL, due - now))
            if self._wake.wait(timeout):
                self._wake.clear()
                return
            if self._streams:
                version = self.store.data_version()
                if version != self._data_version:
                    self._data_version = version
                    return

    def _turn(self) -> bool:
        """One transaction: record completions and give-backs, claim work for the streams."""
        assert self.store is not None
        store = self.store
        ops: list[_Op] = []
        while True:
            try:
                ops.append(self._ops.get_nowait())
            except queue.Empty:
                break
        now = time.time()
        with self._lock:
            streams = bool(self._streams)
            free_workflows = self.max_out_workflows - self._out_workflows
            free_activities = self.max_out_activities - self._out_activities
        items: list[Item] = []
        errors: dict[int, BaseException] = {}
        try:
            with store.write():
                if now - self._last_heartbeat >= HEARTBEAT_INTERVAL:
                    self._heartbeat(store, now)
                    self._reap(now)
                    self._last_heartbeat = now
                for n, op in enumerate(ops):
                    noted = len(self._notes)
                    remembered = len(self._remembered)
                    try:
                        with store.savepoint():
                            op.apply(store, now)
                    except Exception as exc:  # this op fails alone; the others commit
                        del self._notes[noted:]
                        log.warning("gRPC work item: %s", exc, exc_info=not isinstance(exc, InvalidStateError))
                        errors[n] = exc
                        for iid in self._remembered[remembered:]:  # what it recorded was rolled back
                            self._histories.pop(iid, None)
                if streams:
                    if free_workflows > 0:
                        items.extend(self._claim_workflows(store, now, free_workflows))
                    if free_activities > 0:
                        items.extend(self._claim_activities(store, now, free_activities))
        except BaseException as exc:
            self._notes.clear()
            self._histories.clear()  # the transaction was rolled back
            for op in ops:
                if op.done is not None:
                    op.done.set_exception(exc)
            raise
        finally:
            self._remembered.clear()
        if self._notes:
            notes, self._notes = self._notes, []
            for note in notes:
                note()
        for n, op in enumerate(ops):
            if op.done is not None:
                if n in errors:
                    op.done.set_exception(errors[n])
                else:
                    op.done.set_result(None)
        self._data_version = store.data_version()
        if ops:
            signals.work_added(store.key)  # results may move on instances of in-process workers
            signals.state_changed()
            changed, self._changed = self._changed, []
            self.notify(changed)
        leftover = self._dispatch(items)
        if leftover:  # every stream closed meanwhile
            self._submit(lambda s, t: self._give_back(s, t, leftover))
        if not (ops or items):
            self._next_due = self._compute_next_due() if streams else None
            return False
        return True

    def _compute_next_due(self) -> float | None:
        assert self.store is not None
        dues = [self.store.next_free_instance_due(self.app_id), self.store.next_task_due(self.app_id)]
        present = [d for d in dues if d is not None]
        return min(present) if present else None

    def _heartbeat(self, store: Store, now: float) -> None:
        """The hub's lease row, and a row per connected stream (what `wf workers` lists)."""
        store.heartbeat(self.worker_id, self.app_id, self.host, self.pid, now, self.pid_ns, self.boot_id, HUB_KIND)
        with self._lock:
            streams = [s for s in self._streams if not s.closed]
        for s in streams:
            self._stream_heartbeat(store, now, s)

    def _stream_row(self, stream: WorkerStream) -> str:
        return f"{self.worker_id}/{stream.id}"

    def _stream_heartbeat(self, store: Store, now: float, stream: WorkerStream) -> None:
        if not stream.closed:  # the worker's pid is not known: 0; its address stands for the host
            store.heartbeat(self._stream_row(stream), self.app_id, stream.peer or "?", 0, now, kind=STREAM_KIND)

    def _reap(self, now: float) -> None:
        """Release the leases of dead workers (as an in-process worker does)."""
        from wf.engine.worker import reap_dead_workers

        assert self.store is not None
        reap_dead_workers(self.store, self.worker_id, self.host, self.pid_ns, self.boot_id, self.lease_seconds, now)

    def _token(self, kind: str) -> str:
        return f"{kind}-{self.worker_id.rsplit('-', 1)[-1]}-{next(self._tokens)}"

    def _claim_workflows(self, store: Store, now: float, limit: int) -> list[Item]:
        rows = store.claim_free_instances(self.app_id, self.worker_id, now, limit)
        if not rows:
            return []
        inbox = store.visible_messages_many([r.iid for r in rows], now)
        items: list[Item] = []
        for row in rows:
            messages = inbox.get(row.iid, [])
            events = [Event.from_json(text) for _, text in messages]
            started = any(e.type == h.EXECUTION_STARTED for e in events)
            if row.status not in ("RUNNING", "PENDING") or not events or (row.status == "PENDING" and not started):
                store.refresh_ready(row.iid)  # nothing to do: a finished, suspended or early instance
                store.release_instances(self.worker_id, [row.iid])
                continue
            past = self._history(store, row.iid)
            generation = next((int(e.get("generation", 0)) for e in (*past, *events)
                               if e.type == h.EXECUTION_STARTED), 0)
            clock = Event(h.WORKFLOW_STARTED, now)
            items.append(WorkflowItem(self._token("w"), row.iid, row.app_id, row.instance_id, row.name, row.version,
                                      generation, past, [clock, *events], [mid for mid, _ in messages]))
        return items

    def _history(self, store: Store, iid: int) -> list[Event]:
        cached = self._histories.get(iid)
        if cached is not None and cached[0] == store.history_length(iid):
            return cached[1]
        return [Event.from_json(text) for text in store.load_history(iid)]

    def _remember_history(self, iid: int, events: list[Event] | None) -> None:
        if events is None:
            self._histories.pop(iid, None)
            return
        self._histories[iid] = (len(events), events)
        self._histories.move_to_end(iid)
        self._remembered.append(iid)
        if len(self._histories) > HISTORY_CACHE:
            self._histories.popitem(last=False)

    def _claim_activities(self, store: Store, now: float, limit: int) -> list[Item]:
        return [ActivityItem(self._token("a"), self.app_id, t)
                for t in store.claim_tasks(self.app_id, self.worker_id, now, limit)]

    def _dispatch(self, items: list[Item]) -> list[Item]:
        """Hand each item to the stream holding the fewest; returns those no stream could take."""
        with self._lock:
            open_streams = [s for s in self._streams if not s.closed]
            if not open_streams:
                return items
            for item in items:
                stream = min(open_streams, key=lambda s: len(s.out))
                item.stream = stream
                stream.out.add(item.token)
                self._out[item.token] = item
                if isinstance(item, WorkflowItem):
                    self._out_workflows += 1
                else:
                    self._out_activities += 1
                stream.queue.put(item)
        if self._metrics is not None:
            self._count_sent(items)
        return []

    def _count_sent(self, items: list[Item]) -> None:
        m = self._metrics
        assert m is not None
        now = time.perf_counter()
        for item in items:
            item.sent = now
            if isinstance(item, WorkflowItem):
                m.work_items.labels(item.app_id, "workflow").inc()
            else:
                m.work_items.labels(item.app_id, "activity").inc()
                m.activity_started(item.app_id, item.task.name)

    # ------------------------------------------------------------------------------ writes

    def _give_back(self, store: Store, now: float, items: list[Item]) -> None:
        for item in items:
            if isinstance(item, WorkflowItem):
                store.release_instances(self.worker_id, [item.iid])
                store.refresh_ready(item.iid)
            else:
                store.release_tasks(self.worker_id, [item.task.id], now)

    def _record_activity(self, store: Store, now: float, item: ActivityItem, data: str | None,
                         failure: FailureDetails | None) -> None:
        t = item.task
        if self._metrics is not None:
            self._metrics.activity_finished(item.app_id, t.name, time.perf_counter() - item.sent, failure is not None)
        if not store.finish_tasks([t.id], self.worker_id):
            return  # terminated or purged meanwhile: the result has nowhere to go
        extra = {"task_execution_id": item.execution_id}
        if failure is None:
            event = Event(h.TASK_COMPLETED, now, task_id=t.task_id, name=t.name, data=data, extra=extra)
        else:
            event = Event(h.TASK_FAILED, now, task_id=t.task_id, name=t.name, failure=failure.to_dict(), extra=extra)
            from wf.engine.worker import log_failed_attempt  # the same line as in-process workers write

            self._notes.append(partial(log_failed_attempt, log, t.instance_id, t.name, None, failure))
        store.add_message(t.iid, event.type, now, event.to_json())
        store.wake(t.iid, now)

    def _record_turn(self, store: Store, now: float, item: WorkflowItem, turn: Turn) -> None:
        if self._metrics is not None:
            self._metrics.step(item.app_id, item.name, time.perf_counter() - item.sent)
        row = store.get_instance_by_iid(item.iid)
        if row is None:
            return  # purged meanwhile
        if (row.owner != self.worker_id or row.version != item.version or row.status not in ("RUNNING", "PENDING")
                or store.history_length(item.iid) != len(item.past)):
            # terminated, suspended or otherwise changed while the turn was out: drop the turn;
            # its messages are still in the inbox for the next one
            self._remember_history(item.iid, None)
            store.release_instances(self.worker_id, [item.iid])
            store.refresh_ready(item.iid)
            return
        ended = turn.status is not None
        events = [*item.new, *turn.events]
        if turn.status in ("COMPLETED", "FAILED", "TERMINATED"):
            events.append(Event(h.EXECUTION_COMPLETED, now, data=turn.output,
                                failure=turn.failure.to_dict() if turn.failure else None,
                                extra={"status": turn.status}))
        store.append_history(item.iid, len(item.past), [e.to_json() for e in events])
        # (forgotten at the end, and on continue-as-new, whose next run starts a new history)
        self._remember_history(item.iid, None if ended else [*item.past, *events])
        store.delete_messages(item.message_ids)
        for e in turn.events:
            self._schedule(store, now, row, e, ended)
        for instance_id, app_id, output, recursive in turn.terminations:
            self._terminate(store, now, app_id or row.app_id, instance_id, output, recursive)
        custom_set = int(turn.custom_status_set)
        if row.status == "PENDING" or (ended and turn.status != "CONTINUED_AS_NEW"):
            self._changed.append((row.app_id, row.instance_id))
        if turn.status == "CONTINUED_AS_NEW":
            self._continue_as_new(store, now, row, item.generation + 1, turn)
        elif ended:
            failure = h.encode_json(turn.failure.to_dict()) if turn.failure else None
            store.finish_instances([(turn.status, turn.output, now, now, failure, custom_set, turn.custom_status,
                                     row.iid)])
            if turn.status == "FAILED":
                from wf.engine.worker import log_failed_instance

                self._notes.append(partial(log_failed_instance, log, row.instance_id, row.name, turn.failure))
            control.notify_parent(store, row, turn.status or "FAILED", turn.output, turn.failure, now)
        else:
            store.update_running([(now, custom_set, turn.custom_status, None, row.iid)])  # waits: from history
        store.release_instances(self.worker_id, [row.iid])
        if self._metrics is not None:
            self._metrics.step_recorded(row.app_id, row.name, first=row.status == "PENDING", status=turn.status)

    def _schedule(self, store: Store, now: float, row: InstanceRow, e: Event, ended: bool) -> None:
        target_app = e.get("app_id") or row.app_id
        if e.type == h.TASK_SCHEDULED and not ended:
            store.add_tasks([(target_app, row.iid, row.instance_id, e.event_id, e.name or "", e.data, now,
                              e.get("task_execution_id"))])
        elif e.type == h.TIMER_CREATED and not ended:
            fire_at = float(e.get("fire_at", now))
            if fire_at < NO_TIMER:
                fired = Event(h.TIMER_FIRED, fire_at, task_id=e.event_id, extra=dict(e.extra or {}))
                store.add_message(row.iid, h.TIMER_FIRED, fire_at, fired.to_json())
        elif e.type == h.CHILD_WORKFLOW_CREATED:
            child_id = e.get("instance_id") or ""

            def create() -> int | None:
                return control.create_instance(store, app_id=target_app, instance_id=child_id, name=e.name or "",
                                               input=e.data, start_ts=now, now=now, parent_iid=row.iid,
                                               parent_task_id=e.event_id)

            iid = create()
            if iid is None:  # Dapr reuses the id of a finished instance (a retried child keeps its id)
                old = store.get_instance(target_app, child_id, payloads=False)
                if old is not None and old.status in TERMINAL:
                    store.delete_instances([old.iid, *store.descendants([old.iid])])
                    iid = create()
            if iid is None:
                failure = FailureDetails(f"cannot start child workflow: instance {child_id!r} already exists",
                                         "AlreadyExistsError")
                failed = Event(h.CHILD_WORKFLOW_FAILED, now, task_id=e.event_id, name=e.name, failure=failure.to_dict())
                store.add_message(row.iid, failed.type, now, failed.to_json())
        elif e.type == h.EVENT_SENT:
            target = store.get_instance(target_app, e.get("instance_id") or "", payloads=False)
            if target is not None and target.status not in TERMINAL:
                raised = Event(h.EVENT_RAISED, now, name=e.name, data=e.data)
                store.add_message(target.iid, h.EVENT_RAISED, now, raised.to_json())
                store.wake(target.iid, now)

    def _terminate(self, store: Store, now: float, app_id: str, instance_id: str, output: str | None,
                   recursive: bool) -> None:
        target = store.get_instance(app_id, instance_id, payloads=False)
        if target is None or target.status in TERMINAL:
            return
        control.terminate_rows(store, [target], output, now, recursive)

    def _continue_as_new(self, store: Store, now: float, row: InstanceRow, generation: int, turn: Turn) -> None:
        control.restart_execution(store, row, now, generation, turn.output, turn.carryover,
                                  (turn.custom_status,) if turn.custom_status_set else None)
