"""History events of the local engine and their JSON form.

A history is the append-only list of Events of one execution of an instance. The same Event type
also travels through the inbox (new events not yet applied), so a message becomes history as it is.
Each event's JSON keeps only the fields that are set, which keeps the store small.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

from wf.model import FailureDetails, HistoryEvent, rfc3339, utc_from_ts

# Event types, with Dapr's (durabletask's) names.
EXECUTION_STARTED = "ExecutionStarted"
EXECUTION_COMPLETED = "ExecutionCompleted"
EXECUTION_FAILED = "ExecutionFailed"
EXECUTION_TERMINATED = "ExecutionTerminated"
EXECUTION_SUSPENDED = "ExecutionSuspended"
EXECUTION_RESUMED = "ExecutionResumed"
CONTINUE_AS_NEW = "ContinueAsNew"
TASK_SCHEDULED = "TaskScheduled"
TASK_COMPLETED = "TaskCompleted"
TASK_FAILED = "TaskFailed"
TIMER_CREATED = "TimerCreated"
TIMER_FIRED = "TimerFired"
EVENT_RAISED = "EventRaised"
CHILD_WORKFLOW_CREATED = "ChildWorkflowCreated"
CHILD_WORKFLOW_COMPLETED = "ChildWorkflowCompleted"
CHILD_WORKFLOW_FAILED = "ChildWorkflowFailed"
# Recorded for workflows replayed by workers outside the process (gRPC apps): the start of each
# turn (its timestamp is the workflow's clock on replay) and an event sent to another instance.
WORKFLOW_STARTED = "WorkflowStarted"
EVENT_SENT = "EventSent"

# Events a workflow schedules (they carry an event_id that completions refer to).
SCHEDULING_TYPES = frozenset({TASK_SCHEDULED, TIMER_CREATED, CHILD_WORKFLOW_CREATED})
ALL_TYPES = frozenset(
    {
        EXECUTION_STARTED,
        EXECUTION_COMPLETED,
        EXECUTION_FAILED,
        EXECUTION_TERMINATED,
        EXECUTION_SUSPENDED,
        EXECUTION_RESUMED,
        CONTINUE_AS_NEW,
        TASK_SCHEDULED,
        TASK_COMPLETED,
        TASK_FAILED,
        TIMER_CREATED,
        TIMER_FIRED,
        EVENT_RAISED,
        CHILD_WORKFLOW_CREATED,
        CHILD_WORKFLOW_COMPLETED,
        CHILD_WORKFLOW_FAILED,
        WORKFLOW_STARTED,
        EVENT_SENT,
    }
)



def _compact_encoder() -> Callable[[Any], str]:
    """The store's own JSON (events, failures, what a workflow waits for): compact, never NaN.
    Payloads inside are text, written by wf.payload. Every step encodes a few of these, so the C
    encoder is built once and reused (json's encode() builds one per call); its values are the
    engine's own dicts, so it skips the check for circular references."""
    encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
    try:
        from _json import encode_basestring_ascii, make_encoder
    except ImportError:  # pragma: no cover - a Python without the C accelerator
        return encoder.encode
    c_encode = make_encoder(None, encoder.default, encode_basestring_ascii, None, ":", ",", False, False, False)
    return lambda value: "".join(c_encode(value, 0))


encode_json = _compact_encoder()
_FIELDS = ("type", "ts", "event_id", "name", "task_id", "data", "failure", "extra")


@dataclass(slots=True)
class Event:
    type: str
    ts: float  # seconds since the epoch, UTC
    event_id: int = -1  # the sequence number of a scheduling event; -1 otherwise
    name: str | None = None  # activity, workflow, timer or external event name
    task_id: int | None = None  # on a completion: the event_id of what it completes
    data: str | None = None  # JSON text
    failure: dict[str, Any] | None = None  # FailureDetails.to_dict()
    extra: dict[str, Any] | None = None  # fire_at, instance_id of a child, reason, parent...

    def to_json(self) -> str:
        d: dict[str, Any] = {"type": self.type, "ts": self.ts}
        if self.event_id != -1:
            d["event_id"] = self.event_id
        if self.name is not None:
            d["name"] = self.name
        if self.task_id is not None:
            d["task_id"] = self.task_id
        if self.data is not None:
            d["data"] = self.data
        if self.failure is not None:
            d["failure"] = self.failure
        if self.extra is not None:
            d["extra"] = self.extra
        return encode_json(d)

    @classmethod
    def from_json(cls, text: str) -> "Event":
        d = json.loads(text)
        try:
            return cls(**d)
        except TypeError:  # a key this version does not know: keep the ones it does
            return cls(**{k: d[k] for k in _FIELDS if k in d})

    def get(self, key: str, default: Any = None) -> Any:
        return (self.extra or {}).get(key, default)

    def to_history_event(self) -> HistoryEvent:
        extra = dict(self.extra or {})
        if "fire_at" in extra:  # stored as epoch seconds; shown, like every time, in RFC 3339
            extra["fire_at"] = rfc3339(utc_from_ts(extra["fire_at"]))
        return HistoryEvent(
            event_id=self.event_id,
            event_type=self.type,
            timestamp=utc_from_ts(self.ts),
            name=self.name,
            task_scheduled_id=self.task_id,
            data=self.data,
            failure_details=FailureDetails.from_dict(self.failure),
            extra=extra,
        )
