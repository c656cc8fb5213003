"""Dapr's management types (dapr.ext.workflow.workflow_management): the history events the client's
get_workflow_history returns, pages of instance ids, and UNSET.

wf's CLI and HTTP API keep their own history shape (wf.model.HistoryEvent, event types named
ExecutionStarted, TaskScheduled, ...); the Python client answers in Dapr's shape.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timezone

from wf.model import FailureDetails, HistoryEvent


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


UNSET = _Unset()
"""An argument left out, where None means something (rerun's input: None clears it, UNSET keeps it)."""


@dataclass(frozen=True)
class WorkflowInstanceIdPage:
    """One page of instance ids; pass continuation_token back for the next page (None: the last)."""

    instance_ids: list[str]
    continuation_token: str | None


class WorkflowHistoryEventType(enum.Enum):
    """Dapr's event kinds; a value is the Durable Task field name. Anything else is UNKNOWN."""

    UNKNOWN = "unknown"
    EXECUTION_STARTED = "executionStarted"
    EXECUTION_COMPLETED = "executionCompleted"
    EXECUTION_TERMINATED = "executionTerminated"
    EXECUTION_SUSPENDED = "executionSuspended"
    EXECUTION_RESUMED = "executionResumed"
    EXECUTION_STALLED = "executionStalled"
    TASK_SCHEDULED = "taskScheduled"
    TASK_COMPLETED = "taskCompleted"
    TASK_FAILED = "taskFailed"
    CHILD_WORKFLOW_INSTANCE_CREATED = "childWorkflowInstanceCreated"
    CHILD_WORKFLOW_INSTANCE_COMPLETED = "childWorkflowInstanceCompleted"
    CHILD_WORKFLOW_INSTANCE_FAILED = "childWorkflowInstanceFailed"
    DETACHED_WORKFLOW_INSTANCE_CREATED = "detachedWorkflowInstanceCreated"
    TIMER_CREATED = "timerCreated"
    TIMER_FIRED = "timerFired"
    EVENT_SENT = "eventSent"
    EVENT_RAISED = "eventRaised"
    CONTINUE_AS_NEW = "continueAsNew"
    WORKFLOW_STARTED = "workflowStarted"
    WORKFLOW_COMPLETED = "workflowCompleted"

    @classmethod
    def _missing_(cls, value: object) -> "WorkflowHistoryEventType":
        return cls.UNKNOWN


# wf's event type names -> Dapr's kinds.
_KINDS = {
    "ExecutionStarted": WorkflowHistoryEventType.EXECUTION_STARTED,
    "ExecutionCompleted": WorkflowHistoryEventType.EXECUTION_COMPLETED,
    "ExecutionFailed": WorkflowHistoryEventType.EXECUTION_COMPLETED,
    "ExecutionTerminated": WorkflowHistoryEventType.EXECUTION_TERMINATED,
    "ExecutionSuspended": WorkflowHistoryEventType.EXECUTION_SUSPENDED,
    "ExecutionResumed": WorkflowHistoryEventType.EXECUTION_RESUMED,
    "ExecutionStalled": WorkflowHistoryEventType.EXECUTION_STALLED,
    "ContinueAsNew": WorkflowHistoryEventType.CONTINUE_AS_NEW,
    "TaskScheduled": WorkflowHistoryEventType.TASK_SCHEDULED,
    "TaskCompleted": WorkflowHistoryEventType.TASK_COMPLETED,
    "TaskFailed": WorkflowHistoryEventType.TASK_FAILED,
    "TimerCreated": WorkflowHistoryEventType.TIMER_CREATED,
    "TimerFired": WorkflowHistoryEventType.TIMER_FIRED,
    "EventRaised": WorkflowHistoryEventType.EVENT_RAISED,
    "EventSent": WorkflowHistoryEventType.EVENT_SENT,
    "ChildWorkflowCreated": WorkflowHistoryEventType.CHILD_WORKFLOW_INSTANCE_CREATED,
    "ChildWorkflowCompleted": WorkflowHistoryEventType.CHILD_WORKFLOW_INSTANCE_COMPLETED,
    "ChildWorkflowFailed": WorkflowHistoryEventType.CHILD_WORKFLOW_INSTANCE_FAILED,
    "WorkflowStarted": WorkflowHistoryEventType.WORKFLOW_STARTED,
    "WorkflowCompleted": WorkflowHistoryEventType.WORKFLOW_COMPLETED,
}
# The kinds that close out a scheduled task: only these carry task_scheduled_id in Dapr's shape.
_CLOSING = frozenset({
    WorkflowHistoryEventType.TASK_COMPLETED, WorkflowHistoryEventType.TASK_FAILED,
    WorkflowHistoryEventType.CHILD_WORKFLOW_INSTANCE_COMPLETED, WorkflowHistoryEventType.CHILD_WORKFLOW_INSTANCE_FAILED,
})
_RERUNNABLE = frozenset({
    WorkflowHistoryEventType.TASK_SCHEDULED, WorkflowHistoryEventType.TIMER_CREATED,
    WorkflowHistoryEventType.CHILD_WORKFLOW_INSTANCE_CREATED,
})


@dataclass(frozen=True)
class WorkflowHistoryEvent:
    """One event of an instance's history, as Dapr's client returns it (naive UTC timestamp)."""

    event_id: int
    timestamp: datetime
    event_type: WorkflowHistoryEventType
    name: str | None
    task_scheduled_id: int | None
    failure_details: FailureDetails | None

    @property
    def is_rerunnable(self) -> bool:
        """Whether rerun_workflow_from_event is expected to accept this event."""
        return self.event_type in _RERUNNABLE

    @classmethod
    def from_history_event(cls, e: HistoryEvent) -> "WorkflowHistoryEvent":
        kind = _KINDS.get(e.event_type, WorkflowHistoryEventType.UNKNOWN)
        ts = e.timestamp
        if ts.tzinfo is not None:
            ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
        return cls(event_id=e.event_id, timestamp=ts, event_type=kind, name=e.name or None,
                   task_scheduled_id=e.task_scheduled_id if kind in _CLOSING else None,
                   failure_details=e.failure_details)
