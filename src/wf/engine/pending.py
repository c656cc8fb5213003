"""What a live instance waits for: the "Waiting for" of `wf get` and the `pending` of its JSON.

Two sources. `for_instance` reads the local store: what the worker recorded the workflow awaits
after its last step (Execution.blocked_on: external events by name, scheduled work by event id,
retries), joined with the history (names, fire times), the activity tasks (which worker runs
one), the children's rows and the events not yet applied. `from_history` works from a history
alone (a remote engine's): a wait for an external event is not an event there, so it shows only
the scheduled work that has not completed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from wf.engine import history as h
from wf.engine.history import Event
from wf.engine.store import TERMINAL, InstanceRow, LiveWorkerRow, Store
from wf.model import HistoryEvent, PendingItem, WorkerInfo, utc_from_ts

_FAILURES = (h.TASK_FAILED, h.CHILD_WORKFLOW_FAILED)
_COMPLETIONS = (h.TASK_COMPLETED, h.TASK_FAILED, h.TIMER_FIRED, h.CHILD_WORKFLOW_COMPLETED, h.CHILD_WORKFLOW_FAILED)


def lease_seconds() -> float:
    """How old a heartbeat may be for its worker to count as live (the workers' lease)."""
    try:
        value = float(os.environ.get("WF_LEASE_SECONDS", "15"))
    except ValueError:
        return 15.0
    return value if value > 0 else 15.0


def for_instance(store: Store, row: InstanceRow, now: float) -> list[PendingItem]:
    if row.status in TERMINAL:
        return []
    rows = store.pending_rows(row.iid)
    events = [Event.from_json(text) for text in rows.history]
    items: list[PendingItem] = []
    if row.status == "SUSPENDED":
        items.append(_suspended(events, row))
    for kind, visible_at, _ in rows.inbox:
        if kind == h.EXECUTION_STARTED:
            items.append(PendingItem("start", start_at=utc_from_ts(visible_at)))
    waiting = json.loads(rows.waiting) if rows.waiting else None
    if waiting is not None:
        items.extend(_recorded(store, row, events, rows.tasks, waiting))
    elif row.status != "PENDING" and not any(kind == h.EXECUTION_STARTED for kind, _, _ in rows.inbox):
        # No record yet (a step in flight, or a store written by an older wf): what history shows.
        items.extend(_from_events(events, _tasks_by_id(rows.tasks), _child_statuses(store, row, events)))
    items.extend(_unconsumed(waiting, rows.inbox))
    if row.status in ("RUNNING", "PENDING") and not store.live_workers(row.app_id, now - lease_seconds()):
        command = f"`wf{'' if row.app_id == 'default' else ' -a ' + row.app_id} worker --app MODULE:ATTR`"
        if store.has_grpc_door(row.app_id, now - lease_seconds()):  # a wf serve awaits Dapr SDK workers
            how = f"start the app's Dapr workflow runtime (it connects to wf serve's gRPC port) or {command}"
        else:
            how = f"start one with {command}"
        items.append(PendingItem("no_worker", message=f"no live worker of app {row.app_id!r}: {how}"))
    elif row.status in ("RUNNING", "PENDING"):
        registered = store.registered_by_live_workers(row.app_id, now - lease_seconds())
        if registered is not None and row.name not in registered[0]:  # routing by name: nobody claims it
            items.append(PendingItem("no_worker", message=(
                f"no live worker of app {row.app_id!r} registers workflow {row.name!r}")))
    return items



def worker_info(row: LiveWorkerRow) -> WorkerInfo:
    workflows = getattr(row, "workflows", None)
    activities = getattr(row, "activities", None)
    return WorkerInfo(row.worker_id, row.app_id, row.host, row.pid, utc_from_ts(row.started_at),
                      utc_from_ts(row.heartbeat), row.in_flight,
                      json.loads(workflows) if workflows else None, json.loads(activities) if activities else None)


def from_history(history: Sequence[HistoryEvent]) -> list[PendingItem]:
    """Pending work read from a history alone: scheduled, not yet completed."""
    events = [Event(e.event_type, e.timestamp.timestamp(), e.event_id, e.name, e.task_scheduled_id, e.data,
                    e.failure_details.to_dict() if e.failure_details else None, _epoch_extra(e.extra))
              for e in history]
    if any(e.type in (h.EXECUTION_COMPLETED, h.EXECUTION_TERMINATED) for e in events):
        return []
    items: list[PendingItem] = []
    suspended = [e for e in events if e.type in (h.EXECUTION_SUSPENDED, h.EXECUTION_RESUMED)]
    if suspended and suspended[-1].type == h.EXECUTION_SUSPENDED:
        items.append(PendingItem("suspended", since=utc_from_ts(suspended[-1].ts), reason=_reason(suspended[-1])))
    return items + _from_events(events, {}, {})


# ------------------------------------------------------------------------------------------ helpers


def _epoch_extra(extra: dict[str, Any] | None) -> dict[str, Any] | None:
    if not extra or not isinstance(extra.get("fire_at"), str):
        return extra
    from datetime import datetime

    out = dict(extra)
    out["fire_at"] = datetime.fromisoformat(out["fire_at"].replace("Z", "+00:00")).timestamp()
    return out


def _reason(e: Event) -> str | None:
    if e.data is None:
        return None
    try:
        value = json.loads(e.data)
    except ValueError:
        return e.data
    return value if isinstance(value, str) else json.dumps(value)


def _suspended(events: list[Event], row: InstanceRow) -> PendingItem:
    last = next((e for e in reversed(events) if e.type == h.EXECUTION_SUSPENDED), None)
    if last is None:  # suspended before it started: no history yet
        return PendingItem("suspended", since=utc_from_ts(row.updated_at))
    return PendingItem("suspended", since=utc_from_ts(last.ts), reason=_reason(last))


def _tasks_by_id(tasks: list[tuple[int, str, float, str | None]]) -> dict[int, tuple[int, str, float, str | None]]:
    return {t[0]: t for t in tasks}


def _child_statuses(store: Store, row: InstanceRow, events: list[Event]) -> dict[str, str]:
    ids = [e.get("instance_id") for e in events if e.type == h.CHILD_WORKFLOW_CREATED and e.get("instance_id")]
    return store.instance_statuses(row.app_id, ids) if ids else {}


_FOR_EVER = 253402300799.0  # a Dapr worker's wait without a timeout is a timer of 9999-12-31T23:59:59Z


def _item_for(e: Event, attempt: int, task: tuple[int, str, float, str | None] | None,
              children: dict[str, str]) -> PendingItem:
    if e.type == h.TIMER_CREATED:
        origin = e.get("origin")
        awaited = origin.get("externalEvent") if isinstance(origin, dict) else None
        if isinstance(awaited, dict) and float(e.get("fire_at", 0)) >= _FOR_EVER:
            # a Dapr SDK worker's wait_for_external_event: its timer says which event it waits for
            return PendingItem("event", name=awaited.get("name"), since=utc_from_ts(e.ts))
        return PendingItem("timer", fire_at=utc_from_ts(float(e.get("fire_at", e.ts))))
    if e.type == h.CHILD_WORKFLOW_CREATED:
        child = e.get("instance_id")
        return PendingItem("child", name=e.name, instance_id=child, status=children.get(child))
    owner = task[3] if task is not None else None
    return PendingItem("activity", name=e.name, attempt=attempt, since=utc_from_ts(e.ts), worker=owner)


def _recorded(store: Store, row: InstanceRow, events: list[Event], tasks: list[tuple[int, str, float, str | None]],
              waiting: dict[str, Any]) -> list[PendingItem]:
    scheduled = {e.event_id: e for e in events if e.type in h.SCHEDULING_TYPES}
    by_id = _tasks_by_id(tasks)
    children = _child_statuses(store, row, events) if any(
        scheduled.get(eid) is not None and scheduled[eid].type == h.CHILD_WORKFLOW_CREATED
        for eid, _ in waiting.get("tasks", [])) else {}
    items = [PendingItem("event", name=name, since=utc_from_ts(since)) for name, since in waiting.get("events", [])]
    for eid, attempt in waiting.get("tasks", []):
        e = scheduled.get(eid)
        if e is not None:
            items.append(_item_for(e, attempt, by_id.get(eid), children))
    for timer_id, attempts in waiting.get("retries", []):
        failure, timer = None, None
        for e in events:  # the failure recorded just before the retry's timer is the attempt that failed
            if e.type in _FAILURES:
                failure = e
            elif e.event_id == timer_id and e.type == h.TIMER_CREATED:
                timer = e
                break
        kind = "child" if failure is not None and failure.type == h.CHILD_WORKFLOW_FAILED else "activity"
        items.append(PendingItem(
            kind, name=failure.name if failure is not None else None, attempt=attempts,
            next_retry_at=utc_from_ts(float(timer.get("fire_at", timer.ts))) if timer is not None else None,
            error=(failure.failure or {}).get("message") if failure is not None else None))
    return items


def _from_events(events: list[Event], tasks: dict[int, tuple[int, str, float, str | None]],
                 children: dict[str, str]) -> list[PendingItem]:
    open_: dict[int, Event] = {}
    attempts: dict[str, int] = {}
    for e in events:
        if e.type in h.SCHEDULING_TYPES:
            open_[e.event_id] = e
            if e.type == h.TASK_SCHEDULED and e.name:
                attempts[e.name] = attempts.get(e.name, 0) + 1
        elif e.type in _COMPLETIONS and e.task_id is not None:
            open_.pop(e.task_id, None)
    return [_item_for(e, attempts.get(e.name or "", 1) if e.type == h.TASK_SCHEDULED else 1, tasks.get(eid), children)
            for eid, e in sorted(open_.items())]


def _unconsumed(waiting: dict[str, Any] | None, inbox: list[tuple[str, float, str]]) -> list[PendingItem]:
    """Events that arrived and no wait took: buffered by the workflow, or not yet applied."""
    found: dict[str, list[Any]] = {}  # lower name -> [name, count, first ts]
    for name, count, ts in (waiting or {}).get("buffered", []):
        found[name.lower()] = [name, count, ts]
    for kind, _, text in inbox:
        if kind != h.EVENT_RAISED:
            continue
        e = Event.from_json(text)
        entry = found.setdefault((e.name or "").lower(), [e.name, 0, e.ts])
        entry[1] += 1
        entry[2] = min(entry[2], e.ts)
    return [PendingItem("unconsumed_event", name=name, count=count, since=utc_from_ts(ts))
            for name, count, ts in found.values()]
