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


_SDK = "dapr.ext.workflow"
_PACKAGES = (("dapr", ""), ("dapr.ext", "/ext"), (_SDK, "/ext/workflow"), (f"{_SDK}._durabletask", "/ext/workflow/_durabletask"),
             (f"{_SDK}._durabletask.internal", "/ext/workflow/_durabletask/internal"))


def _skip_sdk_init() -> list[str]:
    """Stand-in package modules, so importing the generated modules runs neither ``dapr/__init__``
    (importlib.metadata) nor ``dapr.ext.workflow/__init__`` (the whole SDK: aiohttp, the Dapr
    clients): ~180 ms of a `wf list --url grpc://...` budget. Returns the names to drop again once
    the stubs are loaded: a later ``import dapr.ext.workflow`` then runs for real and finds the
    same stub modules."""
    import importlib.util
    import sys
    import types

    if _SDK in sys.modules:
        return []
    spec = importlib.util.find_spec("dapr")  # a top-level package: found without running it
    if spec is None or not spec.submodule_search_locations:
        return []
    root = list(spec.submodule_search_locations)[0]
    added = []
    for name, sub in _PACKAGES:
        if name not in sys.modules:
            shell = types.ModuleType(name)
            shell.__path__ = [root + sub]
            sys.modules[name] = shell
            added.append(name)
    return added


_shells: list[str] = []
try:
    _shells = _skip_sdk_init()
    from dapr.ext.workflow._durabletask.internal import (
        history_events_pb2 as history,
        orchestration_pb2 as orchestration,
        orchestrator_actions_pb2 as actions,
        orchestrator_service_pb2 as service,
        orchestrator_service_pb2_grpc as service_grpc,
    )
except ImportError as exc:  # grpcio, protobuf or dapr missing
    raise StubsUnavailable(EXTRA_HINT) from exc
finally:
    import sys as _sys

    for _name in _shells:
        _sys.modules.pop(_name, None)

__all__ = ["EXTRA_HINT", "StubsUnavailable", "actions", "history", "orchestration", "service", "service_grpc"]
