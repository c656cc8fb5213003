"""2. Fan-out: one workflow with when_all over 1,000 activities, end to end."""

from __future__ import annotations

import sys

from common import Timer, fresh_db, report

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000

if __name__ == "__main__":
    import wf
    from apps import fan_out, wfr

    db = fresh_db()
    wfr._db = db
    client = wf.WorkflowClient(db)
    with wfr, Timer() as t:
        iid = client.schedule_new_workflow(fan_out, input=N)
        state = client.wait_for_workflow_completion(iid, timeout_in_seconds=600)
    assert state.serialized_output == str(sum(range(1, N + 1))), state
    report("fanout", activities=N, seconds=round(t.elapsed, 3), target_seconds=1.0)
