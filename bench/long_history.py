"""3. Long history: one workflow of 10,000 sequential activities; time per step must stay flat."""

from __future__ import annotations

import sys

from common import Timer, fresh_db, report

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000

if __name__ == "__main__":
    import wf
    from apps import STEP_TIMES, sequence, wfr

    db = fresh_db()
    wfr._db = db
    client = wf.WorkflowClient(db)
    with wfr, Timer() as t:
        iid = client.schedule_new_workflow(sequence, input=N)
        client.wait_for_workflow_completion(iid, timeout_in_seconds=1200)
    first = (STEP_TIMES[999] - STEP_TIMES[0]) / 999 * 1000
    last = (STEP_TIMES[-1] - STEP_TIMES[-1000]) / 999 * 1000
    report("long_history", steps=N, seconds=round(t.elapsed, 2), first_1000_ms_per_step=round(first, 3),
           last_1000_ms_per_step=round(last, 3), last_over_first=round(last / first, 2))
