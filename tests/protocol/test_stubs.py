"""The Durable Task stubs come from the pinned Dapr package, through one import."""

import subprocess
import sys

from wf.protocol import stubs


def test_stubs_expose_the_sidecar_service_and_its_messages():
    assert hasattr(stubs.service_grpc, "TaskHubSidecarServiceServicer")
    assert hasattr(stubs.service_grpc, "TaskHubSidecarServiceStub")
    assert stubs.service.CreateInstanceRequest(instanceId="a").instanceId == "a"
    assert stubs.history.HistoryEvent(eventId=3).eventId == 3
    assert hasattr(stubs.actions, "WorkflowAction")
    assert hasattr(stubs.orchestration, "TaskFailureDetails")


def test_missing_dapr_package_is_one_clear_error():
    # A meta-path finder that hides the dapr package stands in for an install without the extra.
    code = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'dapr' or name.startswith('dapr.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "try:\n"
        "    import wf.protocol.stubs\n"
        "except ImportError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "StubsUnavailable the gRPC engine needs the 'dapr' extra: pip install 'wf[dapr]'"


def test_the_stubs_load_without_the_sdk_and_the_sdk_still_imports_after():
    # Importing the stubs must not run dapr.ext.workflow's __init__ (the whole SDK, ~150 ms of a
    # `wf list --url grpc://` budget); a later import of the SDK then works and shares the modules.
    code = (
        "import sys\n"
        "import wf.protocol.stubs as s\n"
        "print('aiohttp' in sys.modules, 'dapr.ext.workflow' in sys.modules)\n"
        "import dapr.ext.workflow as w\n"
        "from dapr.ext.workflow._durabletask.internal import orchestrator_service_pb2 as o\n"
        "print(o is s.service, hasattr(w, 'DaprWorkflowClient'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "True", "True"]
