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
