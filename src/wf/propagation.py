"""History propagation (Dapr 1.19): a workflow hands its history to an activity or child workflow
it calls with `propagation=PropagationScope.OWN_HISTORY` (its own events) or `LINEAGE` (its own
events after those its own caller propagated to it). The receiver reads it with
`ctx.get_propagated_history()`.

wf keeps no copy: the history is read from the caller's record in the store, cut at the event
that scheduled the receiver. Events are wf's HistoryEvent (Dapr hands protobuf HistoryEvents);
ActivityResult.error and ChildWorkflowResult.error are FailureDetails.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from wf.model import FailureDetails, HistoryEvent


class PropagationScope(enum.Enum):
    NONE = 0
    OWN_HISTORY = 1
    LINEAGE = 2


class PropagationNotFoundError(Exception):
    """A query of a propagated history found no match."""


@dataclass(frozen=True)
class ActivityResult:
    """One activity call seen in a propagated history; input and output are JSON text."""

    name: str
    started: bool
    completed: bool
    failed: bool
    input: str | None
    output: str | None
    error: FailureDetails | None


@dataclass(frozen=True)
class ChildWorkflowResult:
    name: str
    started: bool
    completed: bool
    failed: bool
    output: str | None
    error: FailureDetails | None


def _closing(events: list[HistoryEvent], scheduled_id: int, completed: str, failed: str) -> tuple[
        bool, bool, str | None, FailureDetails | None]:
    done = fail = False
    output: str | None = None
    error: FailureDetails | None = None
    for e in events:
        if e.task_scheduled_id != scheduled_id:
            continue
        if e.event_type == completed:
            done, output = True, e.data
        elif e.event_type == failed:
            fail, error = True, e.failure_details
    return done, fail, output, error


@dataclass(frozen=True)
class WorkflowResult:
    """One workflow's part of a propagated history."""

    instance_id: str
    app_id: str
    name: str
    _events: list[HistoryEvent] = field(repr=False)

    def get_activities_by_name(self, name: str) -> list[ActivityResult]:
        out = []
        for e in self._events:
            if e.event_type == "TaskScheduled" and e.name == name:
                done, fail, output, error = _closing(self._events, e.event_id, "TaskCompleted", "TaskFailed")
                out.append(ActivityResult(name, True, done, fail, e.data, output, error))
        return out

    def get_last_activity_by_name(self, name: str) -> ActivityResult:
        found = self.get_activities_by_name(name)
        if not found:
            raise PropagationNotFoundError(f"no activity named {name!r} in propagated history for workflow "
                                           f"{self.name!r}")
        return found[-1]

    def get_child_workflows_by_name(self, name: str) -> list[ChildWorkflowResult]:
        out = []
        for e in self._events:
            if e.event_type == "ChildWorkflowCreated" and e.name == name:
                done, fail, output, error = _closing(self._events, e.event_id, "ChildWorkflowCompleted",
                                                     "ChildWorkflowFailed")
                out.append(ChildWorkflowResult(name, True, done, fail, output, error))
        return out

    def get_last_child_workflow_by_name(self, name: str) -> ChildWorkflowResult:
        found = self.get_child_workflows_by_name(name)
        if not found:
            raise PropagationNotFoundError(f"no child workflow named {name!r} in propagated history for workflow "
                                           f"{self.name!r}")
        return found[-1]


@dataclass(frozen=True)
class _Chunk:
    app_id: str
    instance_id: str
    workflow_name: str
    start: int
    count: int


class PropagatedHistory:
    """The chain of workflows' histories a caller propagated, oldest ancestor first."""

    def __init__(self, events: list[HistoryEvent], scope: PropagationScope, chunks: list[_Chunk]) -> None:
        self.events = events
        self.scope = scope
        self._chunks = chunks

    @classmethod
    def of(cls, scope: PropagationScope, parts: list[tuple[str, str, str, list[HistoryEvent]]]) -> "PropagatedHistory":
        """From (app_id, instance_id, workflow name, events) parts, oldest first."""
        events: list[HistoryEvent] = []
        chunks: list[_Chunk] = []
        for app_id, instance_id, name, part in parts:
            chunks.append(_Chunk(app_id, instance_id, name, len(events), len(part)))
            events.extend(part)
        return cls(events, scope, chunks)

    def parts(self) -> list[tuple[str, str, str, list[HistoryEvent]]]:
        return [(c.app_id, c.instance_id, c.workflow_name, self._events_of(c)) for c in self._chunks]

    def _events_of(self, chunk: _Chunk) -> list[HistoryEvent]:
        return self.events[chunk.start:chunk.start + chunk.count]

    def get_app_ids(self) -> list[str]:
        return list(dict.fromkeys(c.app_id for c in self._chunks))

    def get_events_by_app_id(self, app_id: str) -> list[HistoryEvent]:
        return [e for c in self._chunks if c.app_id == app_id for e in self._events_of(c)]

    def get_events_by_instance_id(self, instance_id: str) -> list[HistoryEvent]:
        return [e for c in self._chunks if c.instance_id == instance_id for e in self._events_of(c)]

    def get_events_by_workflow_name(self, workflow_name: str) -> list[HistoryEvent]:
        return [e for c in self._chunks if c.workflow_name == workflow_name for e in self._events_of(c)]

    def _result(self, c: _Chunk) -> WorkflowResult:
        return WorkflowResult(c.instance_id, c.app_id, c.workflow_name, self._events_of(c))

    def get_workflows(self) -> list[WorkflowResult]:
        return [self._result(c) for c in self._chunks]

    def get_workflows_by_name(self, name: str) -> list[WorkflowResult]:
        return [self._result(c) for c in self._chunks if c.workflow_name == name]

    def get_last_workflow_by_name(self, name: str) -> WorkflowResult:
        found = self.get_workflows_by_name(name)
        if not found:
            raise PropagationNotFoundError(f"no workflow named {name!r} in propagated history")
        return found[-1]
