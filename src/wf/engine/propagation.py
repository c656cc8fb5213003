"""Reading a propagated history from the store: the caller's events up to the one that scheduled
the receiver, after (for LINEAGE) what the caller itself received. See wf/propagation.py."""

from __future__ import annotations

from wf.engine import history as h
from wf.engine.history import Event
from wf.engine.store import InstanceRow, Store
from wf.propagation import PropagatedHistory, PropagationScope


def _scheduling(events: list[Event], event_id: int) -> int | None:
    for i, e in enumerate(events):
        if e.event_id == event_id and e.type in h.SCHEDULING_TYPES:
            return i
    return None


def collect(store: Store, caller: InstanceRow, event_id: int) -> PropagatedHistory | None:
    """What the work `caller` scheduled as event `event_id` receives; None without propagation."""
    events = [Event.from_json(text) for text in store.load_history(caller.iid)]
    at = _scheduling(events, event_id)
    if at is None or not events[at].get("propagation"):
        return None
    scope = PropagationScope(int(events[at].get("propagation")))
    parts = []
    if scope is PropagationScope.LINEAGE:
        inherited = received(store, caller)
        if inherited is not None:
            parts.extend(inherited.parts())
    parts.append((caller.app_id, caller.instance_id, caller.name, [e.to_history_event() for e in events[:at + 1]]))
    return PropagatedHistory.of(scope, parts)


def received(store: Store, child: InstanceRow) -> PropagatedHistory | None:
    """The history a child workflow's parent propagated to it, if any."""
    if child.parent_iid is None or child.parent_task_id is None:
        return None
    parent = store.get_instance_by_iid(child.parent_iid)
    return None if parent is None else collect(store, parent, child.parent_task_id)


def for_task(store: Store, iid: int, task_id: int) -> PropagatedHistory | None:
    """The history the workflow `iid` propagated to its activity `task_id`, if any."""
    caller = store.get_instance_by_iid(iid)
    return None if caller is None else collect(store, caller, task_id)
