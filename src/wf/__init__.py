"""wf: durable workflows with Dapr's Python workflow API, on a bundled SQLite engine or over HTTP.

A Dapr workflow module ports by changing its import: `import dapr.ext.workflow as wf` becomes
`import wf`. Names are re-exported lazily so that `import wf` (and the CLI's start-up) stays cheap.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: `import wf` (every `wf` run) stays free of the typing module
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "WorkflowRuntime": "wf.engine.runtime",
    "DaprWorkflowContext": "wf.engine.context",
    "WorkflowActivityContext": "wf.engine.context",
    "RetryPolicy": "wf.engine.context",
    "Task": "wf.engine.context",
    "when_all": "wf.engine.context",
    "when_any": "wf.engine.context",
    "WorkflowClient": "wf.client",
    "DaprWorkflowClient": "wf.client",
    "WorkflowState": "wf.model",
    "WorkflowStatus": "wf.model",
    "HistoryEvent": "wf.model",
    "FailureDetails": "wf.model",
    "ListFilter": "wf.model",
    "BulkResult": "wf.model",
    "AuditRecord": "wf.model",
    "RetentionPolicy": "wf.model",
    "WfError": "wf.model",
    "NotFoundError": "wf.model",
    "InvalidStateError": "wf.model",
    "AlreadyExistsError": "wf.model",
    "InvalidArgumentError": "wf.model",
    "StoreError": "wf.model",
    "UnsupportedError": "wf.model",
    "WorkflowFailedError": "wf.model",
    "NonDeterminismError": "wf.model",
    "TaskFailedError": "wf.model",
    "PayloadError": "wf.payload",
    "alternate_name": "wf.engine.runtime",
    "LoggerOptions": "wf.engine.runtime",
    "UNSET": "wf.management",
    "WorkflowHistoryEvent": "wf.management",
    "WorkflowHistoryEventType": "wf.management",
    "WorkflowInstanceIdPage": "wf.management",
    "PropagationScope": "wf.propagation",
    "PropagatedHistory": "wf.propagation",
    "PropagationNotFoundError": "wf.propagation",
    "WorkflowResult": "wf.propagation",
    "ActivityResult": "wf.propagation",
    "ChildWorkflowResult": "wf.propagation",
}

__all__ = sorted(_EXPORTS) + ["__version__"]  # noqa: PLE0605 - the lazy export table is the one list


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'wf' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
