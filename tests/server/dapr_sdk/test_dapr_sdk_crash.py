"""Worker crash: a Dapr SDK worker is SIGKILLed mid-run while a second one is connected. Every
workflow completes, with each activity's result recorded once (activities run at least once)."""

from __future__ import annotations

import json
import signal
from collections import Counter

import pytest
from wf_testing import wait_until

N = 12


@pytest.mark.slow
def test_sigkill_of_one_worker_hands_its_work_to_the_other(grpc_serve, tmp_path):
    from dapr.ext.workflow import DaprWorkflowClient

    serve = grpc_serve()
    attempts = tmp_path / "attempts.txt"
    attempts.touch()
    env = {"ATTEMPTS_FILE": str(attempts), "SLOW_SECONDS": "0.4"}
    victim = serve.start_worker(tmp_path / "victim.log", **env)
    survivor = serve.start_worker(tmp_path / "survivor.log", **env)
    try:
        for log in ("victim.log", "survivor.log"):
            wait_until(lambda log=log: b"ready" in (tmp_path / log).read_bytes(), 60, what=f"{log} to connect")
        client = DaprWorkflowClient(host="127.0.0.1", port=str(serve.grpc_port))
        ids = [client.schedule_new_workflow("slow_chaining", input=i * 10, instance_id=f"crash-{i}")
               for i in range(N)]

        def victim_runs() -> int:
            return sum(1 for line in attempts.read_text().splitlines() if line.endswith(f":{victim.pid}"))

        wait_until(lambda: victim_runs() >= 3, 60, what="the victim to be running activities")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)

        for i, iid in enumerate(ids):
            state = client.wait_for_workflow_completion(iid, timeout_in_seconds=120)
            assert state.runtime_status.name == "COMPLETED", (iid, state.failure_details)
            assert state.serialized_output == str(i * 10 + 3)
    finally:
        for p in (victim, survivor):
            if p.poll() is None:
                p.kill()
                p.wait()
    lines = [line.rsplit(":", 2) for line in attempts.read_text().splitlines()]  # task, execution id, pid
    runs = Counter(task for task, _, _ in lines)
    execution_ids = {task: {x for t, x, _ in lines if t == task} for task in runs}
    assert all(len(ids) == 1 and "" not in ids for ids in execution_ids.values())  # the same on re-delivery
    assert len(runs) == 3 * N  # every activity ran, some twice (those the victim died running)
    rerun = sum(runs.values()) - len(runs)
    print(f"crash: {rerun} activities re-run after the kill")
    assert rerun >= 1  # the victim died holding work, which the survivor ran again
    for iid in ids:
        events = [json.loads(line) for line in serve.wf("history", iid, "-o", "jsonl").stdout.splitlines()]
        scheduled = [e["event_id"] for e in events if e["event_type"] == "TaskScheduled"]
        completed = [e["task_scheduled_id"] for e in events if e["event_type"] == "TaskCompleted"]
        assert sorted(scheduled) == sorted(completed) == [1, 2, 3], (iid, events)  # each recorded once
