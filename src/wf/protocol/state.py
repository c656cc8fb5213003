"""Workflow states and statuses between Dapr's Durable Task messages and wf's model; no I/O.

proto -> model: what a gRPC client (backends.grpc) reads from GetInstance.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from wf.model import FailureDetails, WfError, WorkflowState, WorkflowStatus
from wf.protocol.stubs import orchestration

_PREFIX = "ORCHESTRATION_STATUS_"
_EPOCH = datetime.fromtimestamp(0, tz=timezone.utc)


def status_from_proto(value: int) -> WorkflowStatus:
    """An OrchestrationStatus number -> WorkflowStatus (same names, Dapr numbers them differently)."""
    try:
        name = orchestration.OrchestrationStatus.Name(value)
    except ValueError:
        raise WfError(f"the engine reported an unknown runtime status {value}") from None
    return WorkflowStatus[name.removeprefix(_PREFIX)]


def status_to_proto(status: WorkflowStatus) -> int:
    return orchestration.OrchestrationStatus.Value(_PREFIX + status.value)


def time_from_proto(ts: Any) -> datetime | None:
    """A google.protobuf.Timestamp -> an aware UTC datetime; None when unset (all zero)."""
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return None
    return ts.ToDatetime(tzinfo=timezone.utc)


def text_from_proto(message: Any, field: str) -> str | None:
    """A StringValue field -> its text, None when the field is absent (Dapr's 'no payload')."""
    if not message.HasField(field):
        return None
    return getattr(message, field).value


def failure_from_proto(details: Any) -> FailureDetails | None:
    """TaskFailureDetails -> FailureDetails; None when it carries no error (type and message empty)."""
    if details is None or (not details.errorType and not details.errorMessage):
        return None
    return FailureDetails(details.errorMessage, details.errorType or "Error", text_from_proto(details, "stackTrace"))


def state_from_proto(state: Any, *, app_id: str, fetch_payloads: bool = True) -> WorkflowState:
    """orchestration.WorkflowState (GetInstanceResponse.workflowState) -> WorkflowState.

    A sidecar sends inputs, outputs, custom status and failure details only when asked
    (getInputsAndOutputs); the custom status is kept whenever it is there, as the HTTP engine does."""
    created = time_from_proto(state.createdTimestamp) or _EPOCH
    status = status_from_proto(state.workflowStatus)
    completed = time_from_proto(state.completedTimestamp)
    updated = time_from_proto(state.lastUpdatedTimestamp) or created
    if completed is None and status.is_terminal:
        completed = updated  # Dapr does not fill completedTimestamp; the last update is when it ended
    return WorkflowState(
        instance_id=state.instanceId,
        name=state.name,
        runtime_status=status,
        created_at=created,
        last_updated_at=updated,
        serialized_input=text_from_proto(state, "input") if fetch_payloads else None,
        serialized_output=text_from_proto(state, "output") if fetch_payloads else None,
        serialized_custom_status=text_from_proto(state, "customStatus"),
        failure_details=failure_from_proto(state.failureDetails) if state.HasField("failureDetails") else None,
        app_id=app_id,
        completed_at=completed,
        parent_instance_id=text_from_proto(state, "parentInstanceId") or None,
    )
