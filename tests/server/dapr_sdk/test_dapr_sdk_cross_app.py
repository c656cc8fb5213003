"""Cross-app calls on one store: two `wf serve` processes with different app ids (each the
'sidecar' of its own Dapr SDK worker, which registers its own workflows and activities) and an
in-process `wf worker --app` app. A workflow of one app calls activities and child workflows of
the others with `app_id=`; each runs on the target app's worker, and the results come back."""

from __future__ import annotations

import json
import subprocess

from conftest import HERE
from serve_support import WF_EXE, wf_env
from wf_testing import stop_process, wait_until


def test_cross_app_activities_and_children_run_on_the_target_apps_workers(grpc_serve, tmp_path):
    from dapr.ext.workflow import DaprWorkflowClient

    db = str(tmp_path / "shared.db")
    serve_a = grpc_serve(app_id="app-a", db=db)
    serve_b = grpc_serve(app_id="app-b", db=db)
    procs: list[subprocess.Popen] = []
    try:
        procs.append(serve_a.start_worker(tmp_path / "worker-a.log"))
        procs.append(serve_b.start_worker(tmp_path / "worker-b.log", app=HERE / "dapr_app_b.py"))
        with open(tmp_path / "worker-py.log", "wb") as fh:
            procs.append(subprocess.Popen([WF_EXE, "--db", db, "-a", "app-py", "worker", "--app",
                                           f"{HERE / 'wf_app_py.py'}:wfr"], env=wf_env(tmp_path), stdout=fh,
                                          stderr=subprocess.STDOUT))
        for log in ("worker-a.log", "worker-b.log"):
            wait_until(lambda log=log: b"ready" in (tmp_path / log).read_bytes(), 60, what=f"{log} to connect")

        client = DaprWorkflowClient(host="127.0.0.1", port=str(serve_a.grpc_port))
        iid = client.schedule_new_workflow("cross_app", input="hi", instance_id="cross-1")
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=90)
        assert state.runtime_status.name == "COMPLETED", (state.failure_details, _logs(tmp_path))
        assert json.loads(state.serialized_output) == ["HI!", "b_child(HI!)", 42, 11]
    finally:
        for p in procs:
            stop_process(p, 20)

    # each child lives in its target app, beside the parent of app-a, in the one store
    def listed(app: str) -> list[dict]:
        return json.loads(serve_a.wf("list", "-o", "json", app=app).stdout)

    assert [(i["instance_id"], i["runtime_status"]) for i in listed("app-a")] == [("cross-1", "COMPLETED")]
    [child_b] = listed("app-b")
    [child_py] = listed("app-py")
    assert (child_b["name"], child_b["runtime_status"]) == ("b_child", "COMPLETED")
    assert (child_py["name"], child_py["runtime_status"]) == ("py_child", "COMPLETED")
    history = [json.loads(line) for line in serve_a.wf("history", "cross-1", "-o", "jsonl", app="app-a")
               .stdout.splitlines()]
    completed = [e for e in history if e["event_type"] in ("TaskCompleted", "ChildWorkflowCompleted")]
    assert [json.loads(e["data"]) for e in completed] == ["HI!", "b_child(HI!)", 42, 11]


def _logs(tmp_path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in sorted(tmp_path.glob("*.log")))
