"""Crash: a real `wf worker` process SIGKILLed at random moments, again and again, while ~200
workflows with activities, timers and external events run. After restarts every instance completes
with the right output, no completion is recorded twice, nothing is stuck, and the file is sound.

The seed is printed; rerun a failure with WF_CRASH_SEED=<seed>.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from collections import Counter

import pytest

import wf
from crash_app import expected_order
from rel_testing import completions_twice, query, start_worker, stop, wait_ready, wf_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(170),
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

N_WORKFLOWS = 200
KILLS = 25


def test_sigkill_at_random_moments_loses_nothing(tmp_path, capsys):
    seed = int(os.environ.get("WF_CRASH_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    db = str(tmp_path / "crash.db")
    runs = tmp_path / "runs.log"
    log = tmp_path / "workers.log"
    env = wf_env(db, tmp_path, WF_TEST_RUNS=str(runs))
    client = wf.WorkflowClient(db=db)

    ids = [f"o-{i:03d}" for i in range(N_WORKFLOWS)]
    ks = {iid: rng.randrange(1000) for iid in ids}
    batch = N_WORKFLOWS // KILLS
    started: list[str] = []
    unraised: list[str] = []  # started, event not raised yet

    def raise_go(iid: str) -> None:
        client.raise_workflow_event(iid, "go", data={"k": ks[iid]})

    kills = died_alone = 0
    t0 = time.monotonic()
    for cycle in range(KILLS):
        p = start_worker(env, log=log)
        # Work arrives while the worker lives: new instances (a third get their event before they
        # wait for it), and the events of instances started in earlier cycles.
        for iid in ids[cycle * batch:(cycle + 1) * batch]:
            client.schedule_new_workflow("order", input=int(iid[2:]), instance_id=iid)
            started.append(iid)
            if rng.random() < 1 / 3:
                raise_go(iid)
            else:
                unraised.append(iid)
        rng.shuffle(unraised)
        for _ in range(min(len(unraised), rng.randrange(batch // 2, batch + 3))):
            raise_go(unraised.pop())
        # The scenario is about when the kill lands: during start-up, mid-activity, mid-commit...
        time.sleep(rng.uniform(0.05, 0.9))
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            kills += 1
        else:
            died_alone += 1
        p.wait(timeout=10)
    assert died_alone == 0, f"{died_alone} workers exited on their own: {log.read_text()[-3000:]}"

    # Restart for good: the events still owed, then every instance must finish.
    done_before = sum(1 for s in client.list_workflows(status="COMPLETED"))
    final = start_worker(env, log=log)
    try:
        wait_ready(db, final)
        for iid in unraised:
            raise_go(iid)
        unraised.clear()
        wrong, stuck = [], []
        deadline = time.monotonic() + 90
        for iid in ids:
            try:
                st = client.wait_for_workflow_completion(iid, timeout_in_seconds=max(1.0, deadline - time.monotonic()))
            except TimeoutError:
                stuck.append((iid, client.get_workflow_state(iid, fetch_payloads=False).runtime_status.name))
                continue
            if st.runtime_status != wf.WorkflowStatus.COMPLETED or st.serialized_output is None:
                wrong.append((iid, st.runtime_status.name, st.failure_details))
            elif __import__("json").loads(st.serialized_output) != expected_order(int(iid[2:]), ks[iid]):
                wrong.append((iid, st.serialized_output))
        assert not stuck, f"{len(stuck)} of {N_WORKFLOWS} instances stuck after {kills} kills (seed {seed}): {stuck[:10]}"
        assert not wrong, f"{len(wrong)} of {N_WORKFLOWS} instances ended wrong after {kills} kills (seed {seed}): {wrong[:5]}"
    finally:
        code = stop(final)
    assert code == 0, f"final worker exited {code}: {log.read_text()[-3000:]}"

    # No completion recorded twice; each instance consumed exactly one 'go'.
    doubles, event_counts = {}, Counter()
    completions = 0
    for iid in ids:
        hist = client.get_history(iid)
        twice = completions_twice(hist)
        if twice:
            doubles[iid] = twice
        event_counts[sum(1 for e in hist if e.event_type == "EventRaised")] += 1
        completions += sum(1 for e in hist if e.event_type == "TaskCompleted")
        types = [e.event_type for e in hist]
        assert types.count("ExecutionStarted") == 1 and types[-1] == "ExecutionCompleted", (iid, types)
        assert types.count("TaskScheduled") == 5 and types.count("TaskCompleted") == 5, (iid, types)
        assert types.count("TimerCreated") == 1 and types.count("TimerFired") == 1, (iid, types)
    assert not doubles, f"completions recorded twice (task_scheduled_id: count), seed {seed}: {doubles}"
    assert event_counts == Counter({1: N_WORKFLOWS}), f"EventRaised per instance: {event_counts}"

    # Nothing stuck or held: no leftover tasks, messages, owners or worker leases; the file is sound.
    assert query(db, "SELECT COUNT(*) FROM tasks")[0][0] == 0
    assert query(db, "SELECT COUNT(*) FROM inbox")[0][0] == 0
    assert query(db, "SELECT COUNT(*) FROM instances WHERE owner IS NOT NULL OR ready_at IS NOT NULL")[0][0] == 0
    assert query(db, "SELECT COUNT(*) FROM workers")[0][0] == 0
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    logged = log.read_text()
    assert "Traceback" not in logged and "database is locked" not in logged, logged[-3000:]

    # Activities run at least once: runs >= completions; the difference is the work a kill cut short.
    activity_runs = Counter(line.split()[1] for line in runs.read_text().splitlines())
    reruns = sum(n - 1 for n in activity_runs.values())
    assert sum(activity_runs.values()) >= completions == 5 * N_WORKFLOWS
    with capsys.disabled():
        print(f"\ncrash: seed {seed}: {kills} SIGKILLs survived, {N_WORKFLOWS}/{N_WORKFLOWS} workflows completed "
              f"correctly ({done_before} before the last restart), {completions} activity completions recorded once each "
              f"({sum(activity_runs.values())} runs, {reruns} re-run after a kill), "
              f"{time.monotonic() - t0:.1f}s")
