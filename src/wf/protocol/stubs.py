"""The one place that imports Dapr's generated Durable Task stubs.

Dapr 1.19 ships the Durable Task protocol (``TaskHubSidecarService`` and its messages) inside its
SDK under a private module path. Everything in wf that speaks gRPC imports the stubs from here, so
a move of that path in a later Dapr release is mended in one line, and a missing extra gives one
clear error instead of an ImportError deep inside a command.

``service``: the service's request and response messages (``orchestrator_service_pb2``);
``history``: ``HistoryEvent`` and its kinds; ``orchestration``: shared messages (states,
``TaskFailureDetails``, ``OrchestrationStatus``); ``actions``: ``WorkflowAction`` and its
kinds; ``service_grpc``: ``TaskHubSidecarServiceStub`` / ``Servicer`` /
``add_TaskHubSidecarServiceServicer_to_server``.
"""

from __future__ import annotations

EXTRA_HINT = "the gRPC engine needs the 'dapr' extra: pip install 'wf[dapr]'"


class StubsUnavailable(ImportError):
    """grpcio, protobuf or the Dapr package is not installed."""


try:
    from dapr.ext.workflow._durabletask.internal import (
        history_events_pb2 as history,
        orchestration_pb2 as orchestration,
        orchestrator_actions_pb2 as actions,
        orchestrator_service_pb2 as service,
        orchestrator_service_pb2_grpc as service_grpc,
    )
except ImportError as exc:  # grpcio, protobuf or dapr missing
    raise StubsUnavailable(EXTRA_HINT) from exc

__all__ = ["EXTRA_HINT", "StubsUnavailable", "actions", "history", "orchestration", "service", "service_grpc"]
