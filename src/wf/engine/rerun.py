"""Rerun a finished workflow from one of its events (Dapr's RerunWorkflowFromEvent), on the store.

The source instance is left untouched. A new instance gets the source's history up to the chosen
event: everything before it is replayed, not executed again, and the workflow runs on from there.
The chosen event must be one the workflow scheduled (an activity, a timer or a child workflow),
named by its event_id in `wf history`. As in Dapr (dapr/dapr's fork of a workflow history):

- the chosen activity runs again, with a new input if one is given; the chosen child workflow is
  started again (a new child, with a new input if given); the chosen timer fires at once;
- work scheduled before that event and not finished by then (an activity of a fan-out, a timer)
  is redone the same way; what happened after the event is dropped;
- only a finished instance can be rerun, and not a child workflow (rerun its parent);
- a timer takes no new input.
"""

from __future__ import annotations

import time
import uuid

from wf.engine import control, signals
from wf.engine import history as h
from wf.engine.history import Event
from wf.engine.store import TERMINAL, Store
from wf.model import (
    INSTANCE_ID_RE,
    AlreadyExistsError,
    InvalidArgumentError,
    InvalidStateError,
    NotFoundError,
    validate_instance_id,
)

_COMPLETIONS = {h.TASK_COMPLETED, h.TASK_FAILED, h.TIMER_FIRED, h.CHILD_WORKFLOW_COMPLETED, h.CHILD_WORKFLOW_FAILED}


@control._audited("rerun")
def rerun(store: Store, app_id: str, instance_id: str, event_id: int, *, new_instance_id: str | None = None,
          input: str | None = None, overwrite_input: bool = False) -> str:
    """Start the rerun; returns the new instance's id."""
    now = time.time()
    new_id = validate_instance_id(new_instance_id) if new_instance_id is not None else uuid.uuid4().hex
    if new_id == instance_id:
        raise InvalidArgumentError("the new instance id must differ from the instance rerun")
    with store.write():
        row = store.get_instance(app_id, instance_id)
        if row is None:
            raise NotFoundError(f"no workflow instance {instance_id!r} in app {app_id!r}")
        if row.status not in TERMINAL:
            raise InvalidStateError(f"instance {instance_id!r} is {row.status}: only a finished instance can be "
                                    "rerun; wait for it to finish or terminate it")
        if row.parent_iid is not None:
            raise InvalidStateError(f"instance {instance_id!r} is a child workflow; rerun its parent instead")
        events = [Event.from_json(text) for text in store.load_history(row.iid)]
        at = next((i for i, e in enumerate(events) if e.event_id == event_id and e.type in h.SCHEDULING_TYPES), None)
        if at is None:
            raise NotFoundError(f"instance {instance_id!r} has no activity, timer or child workflow with event id "
                                f"{event_id}; 'wf history {instance_id}' shows the event ids")
        target = events[at]
        if overwrite_input and target.type == h.TIMER_CREATED:
            raise InvalidArgumentError(f"event {event_id} is a timer, which takes no input; drop the input")
        kept = events[:at]
        finished = {e.task_id for e in kept if e.type in _COMPLETIONS}
        redo = [e for e in kept if e.type in h.SCHEDULING_TYPES and e.event_id not in finished]
        if overwrite_input:
            target.data = input
        redo.append(target)
        for e in redo:
            if e.type == h.CHILD_WORKFLOW_CREATED:  # a fresh child: the default id follows the new parent's
                e.extra = {**(e.extra or {}), "instance_id": _child_id(e.get("instance_id"), instance_id, new_id)}
        history = [*kept, target]

        iid = store.insert_instance(app_id=app_id, instance_id=new_id, name=row.name, status="RUNNING", now=now,
                                    input=row.input)
        if iid is None:
            raise AlreadyExistsError(f"instance {new_id!r} already exists; choose another --new-instance-id")
        store.append_history(iid, 0, [e.to_json() for e in history])
        for e in redo:
            _redo(store, app_id, iid, new_id, e, now)
        store.refresh_ready(iid)
        control._audit(store, app_id=app_id, operation="rerun", now=now, instance_id=instance_id, count=1,
                       selection=f"from event {event_id} as {new_id}")
    signals.work_added(store.key)
    signals.state_changed()
    return new_id


def _redo(store: Store, app_id: str, iid: int, instance_id: str, e: Event, now: float) -> None:
    """Execute again the work a scheduling event asked for, as the worker does for new ones."""
    if e.type == h.TASK_SCHEDULED:
        store.add_tasks([(app_id, iid, instance_id, e.event_id, e.name or "", e.data, now)])
    elif e.type == h.TIMER_CREATED:
        fired = Event(h.TIMER_FIRED, now, task_id=e.event_id, extra={"fire_at": now})
        store.add_message(iid, h.TIMER_FIRED, now, fired.to_json())
    else:
        child_id = e.get("instance_id")
        child = control.create_instance(store, app_id=app_id, instance_id=child_id, name=e.name or "", input=e.data,
                                        start_ts=now, now=now, parent_iid=iid, parent_task_id=e.event_id)
        if child is None:
            failed = Event(h.CHILD_WORKFLOW_FAILED, now, task_id=e.event_id, name=e.name, failure={
                "message": f"cannot start child workflow: instance {child_id!r} already exists",
                "error_type": "AlreadyExistsError", "stack_trace": None})
            store.add_message(iid, failed.type, now, failed.to_json())


def _child_id(old: str | None, old_parent: str, new_parent: str) -> str:
    """PARENT-N becomes NEWPARENT-N; a child id the workflow chose stays as it was."""
    if old and old.startswith(f"{old_parent}-"):
        candidate = new_parent + old[len(old_parent):]
        return candidate if INSTANCE_ID_RE.fullmatch(candidate) else uuid.uuid4().hex
    return old or uuid.uuid4().hex
