"""Workflow states and statuses between Dapr's Durable Task messages and wf's model; no I/O.

proto -> model: what a gRPC client (backends.grpc) reads from GetInstance.
model -> proto: what wf serve answers GetInstance and the waits with.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, cast

from wf.model import FailureDetails, WfError, WorkflowState, WorkflowStatus
from wf.protocol.stubs import orchestration
from wf.protocol.stubs import service

_PREFIX = "ORCHESTRATION_STATUS_"
_EPOCH = datetime.fromtimestamp(0, tz=timezone.utc)


def status_from_proto(value: int) -> WorkflowStatus:
    """An OrchestrationStatus number -> WorkflowStatus (same names, Dapr numbers them differently)."""
    try:
        name = orchestration.OrchestrationStatus.Name(cast(Any, value))  # typed stubs want their ValueType
    except ValueError:
        raise WfError(f"the engine reported an unknown runtime status {value}") from None
    return WorkflowStatus[name.removeprefix(_PREFIX)]


def status_to_proto(status: WorkflowStatus) -> int:
    return orchestration.OrchestrationStatus.Value(_PREFIX + status.name)


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


def _timestamp(when: datetime | None) -> Any:
    if when is None:
        return None
    from google.protobuf import timestamp_pb2

    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(when)
    return ts


def state_to_proto(state: WorkflowState, *, payloads: bool) -> Any:
    """WorkflowState -> orchestration.WorkflowState; payloads and failure only when asked for."""
    msg = orchestration.WorkflowState(
        instanceId=state.instance_id,
        name=state.name,
        workflowStatus=status_to_proto(state.runtime_status),  # type: ignore[arg-type]
        createdTimestamp=_timestamp(state.created_at),
        lastUpdatedTimestamp=_timestamp(state.last_updated_at),
        completedTimestamp=_timestamp(state.completed_at),
    )
    if state.parent_instance_id:
        msg.parentInstanceId.value = state.parent_instance_id
    if payloads:
        for field, value in (("input", state.serialized_input), ("output", state.serialized_output),
                             ("customStatus", state.serialized_custom_status)):
            if value is not None:
                getattr(msg, field).value = value
        if state.failure_details is not None:
            f = state.failure_details
            msg.failureDetails.errorType = f.error_type
            msg.failureDetails.errorMessage = f.message
            if f.stack_trace is not None:
                msg.failureDetails.stackTrace.value = f.stack_trace
    return msg


def instance_response(state: WorkflowState | None, *, payloads: bool) -> Any:
    """GetInstanceResponse: exists=false for an unknown instance, as daprd answers."""
    if state is None:
        return service.GetInstanceResponse(exists=False)
    return service.GetInstanceResponse(exists=True, workflowState=state_to_proto(state, payloads=payloads))
