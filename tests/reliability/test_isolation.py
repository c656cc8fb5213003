"""One bad workflow never stops the engine (issue 9, items 1-4 and 7), in real `wf worker` processes.

Workflow code runs with no write transaction open: a workflow computing for seconds, or looping for
ever, leaves every other command and every other instance free. Any error while advancing, encoding
or recording one instance fails that instance alone; BaseException from user code fails its
instance or its activity attempt; values that are not JSON fail what returned them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rel_testing import query, run_wf, start_worker, stop, wait_ready, wait_until, wf_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90), pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

APP = f"{Path(__file__).with_name('poison_app.py')}:wfr"


@pytest.fixture
def env(tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    return wf_env(str(tmp_path / "wf.db"), tmp_path, WF_TEST_MARKERS=str(markers), WF_STEP_WARN_SECONDS="1")


@pytest.fixture
def worker(env, tmp_path):
    procs: list[subprocess.Popen] = []
    log = tmp_path / "worker.log"

    def start() -> subprocess.Popen:
        p = start_worker(env, APP, log=log)
        procs.append(p)
        wait_ready(env["WF_DB"], p)
        return p

    start.log = log  # type: ignore[attr-defined]
    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def _run(env, name: str, input: object, iid: str, *extra: str) -> None:
    r = run_wf(env, "run", name, "-x", json.dumps(input), "-i", iid, "-q", *extra)
    assert r.returncode == 0, r.stderr


def _get(env, iid: str) -> dict:
    r = run_wf(env, "get", iid, "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _status(env, iid: str) -> str:
    return _get(env, iid)["runtime_status"]


def _ended(env, iid: str, timeout: float = 30) -> dict:
    return wait_until(lambda: (s := _get(env, iid))["runtime_status"] not in ("RUNNING", "PENDING") and s,
                      timeout, what=f"{iid} ended")


def _failure(state: dict) -> str:
    return json.dumps(state["failure_details"])


def _marker(env, name: str) -> Path:
    return Path(env["WF_TEST_MARKERS"], name)


def test_a_long_step_blocks_neither_commands_nor_other_instances(env, worker):
    worker()
    _run(env, "busy", 8, "busy-1")
    wait_until(lambda: _marker(env, "busy-busy-1.started").exists(), what="the long step started")
    # An unrelated command writes at once, and another instance runs to completion, while the
    # long step still computes (on bbd8428 both waited for it: it held the write lock).
    r = run_wf(env, "run", "quick", "-x", '"hi"', "-i", "quick-1", "--wait", "--timeout", "6s", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert not _marker(env, "busy-busy-1.finished").exists(), "the long step ended before the other instance"
    assert _status(env, "quick-1") == "COMPLETED"
    assert _ended(env, "busy-1")["runtime_status"] == "COMPLETED"


def test_an_endless_workflow_can_be_terminated_and_others_go_on(env, worker):
    p = worker()
    _run(env, "forever", None, "loop-1")
    wait_until(lambda: _marker(env, "forever-loop-1.started").exists(), what="the loop started")
    r = run_wf(env, "terminate", "loop-1", timeout=10)
    assert r.returncode == 0, r.stderr
    assert _status(env, "loop-1") == "TERMINATED"
    r = run_wf(env, "run", "quick", "-x", "1", "-i", "quick-2", "--wait", "--timeout", "20s")
    assert r.returncode == 0, r.stderr
    # the step that never ends is reported with its instance id
    wait_until(lambda: "loop-1" in worker.log.read_text() and "without yielding" in worker.log.read_text(),
               what="the long step logged")
    assert p.poll() is None
    assert _status(env, "loop-1") == "TERMINATED"
    assert stop(p) == 0


POISON = [
    ("deep_output", 3000, "not JSON"),
    ("deep_activity", 985, "nested too deeply"),
    ("surrogate_name", None, "surrogate"),
    ("retry_overflow", None, "OverflowError"),
]


def test_each_poison_instance_fails_alone_and_is_not_claimed_again(env, worker):
    p = worker()
    for name, arg, _ in POISON:
        _run(env, name, arg, f"p-{name}")
    for i in range(5):
        _run(env, "quick", i, f"ok-{i}")
    for name, _, text in POISON:
        state = _ended(env, f"p-{name}")
        assert state["runtime_status"] == "FAILED", state
        assert text in _failure(state), (name, state)
    for i in range(5):
        assert _ended(env, f"ok-{i}")["runtime_status"] == "COMPLETED"
    # nothing left to claim: no instance is ready, so none is picked up again and again
    rows = query(env["WF_DB"], "SELECT instance_id FROM instances WHERE ready_at IS NOT NULL")
    assert rows == []
    assert p.poll() is None
    r = run_wf(env, "run", "quick", "-x", "9", "-i", "ok-after", "--wait", "--timeout", "20s")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("how", ["exit", "SystemExit", "KeyboardInterrupt"])
def test_base_exception_in_workflow_code_fails_the_instance(env, worker, how):
    p = worker()
    _run(env, "exits", how, "x-1")
    state = _ended(env, "x-1")
    assert state["runtime_status"] == "FAILED"
    expected = {"exit": "SystemExit", "SystemExit": "SystemExit", "KeyboardInterrupt": "KeyboardInterrupt"}[how]
    assert expected in _failure(state)
    r = run_wf(env, "run", "quick", "-x", "1", "-i", "after", "--wait", "--timeout", "20s")
    assert r.returncode == 0, r.stderr
    assert p.poll() is None


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("how", ["exit", "KeyboardInterrupt"])
def test_base_exception_in_an_activity_fails_the_attempt_and_retries(env, worker, kind, how):
    p = worker()
    _run(env, "activity_exits", [kind, how], "a-1")
    state = _ended(env, "a-1")
    assert state["runtime_status"] == "COMPLETED", state
    assert json.loads(state["serialized_output"]) == 2
    # the async loop survived: another async activity runs on it
    _run(env, "activity_exits", ["async", how], "a-2")
    assert _ended(env, "a-2")["runtime_status"] == "COMPLETED"
    assert p.poll() is None


def test_a_dead_activity_loop_ends_the_worker_process(env, worker):
    p = worker()
    _run(env, "loop_killer", None, "k-1")
    code = p.wait(timeout=20)
    assert code != 0
    assert "died" in worker.log.read_text()


@pytest.mark.parametrize("what", ["workflow-nan", "activity-nan", "activity-object", "activity-deep"])
def test_a_value_that_is_not_json_fails_what_returned_it(env, worker, what):
    worker()
    _run(env, "not_json", what, "j-1")
    state = _ended(env, "j-1")
    assert state["runtime_status"] == "FAILED"
    assert "returned a value that is not JSON" in _failure(state)
    for (text,) in query(env["WF_DB"], "SELECT event FROM history UNION ALL SELECT IFNULL(output, '') FROM instances"):
        assert "NaN" not in text and "Infinity" not in text


def test_an_invalid_child_instance_id_fails_the_child_call(env, worker):
    worker()
    _run(env, "bad_child_id", "no spaces allowed!", "c-1")
    state = _ended(env, "c-1")
    assert state["runtime_status"] == "COMPLETED", state
    out = json.dumps(state)
    assert "invalid instance id" in out
    assert query(env["WF_DB"], "SELECT COUNT(*) FROM instances")[0][0] == 1  # no child was created


def test_replace_refuses_to_delete_a_running_child(env, worker):
    worker()
    _run(env, "parent_of_waiter", None, "par")
    wait_until(lambda: query(env["WF_DB"], "SELECT status FROM instances WHERE instance_id = 'par-1'") == [("RUNNING",)],
               what="the child runs")
    r = run_wf(env, "terminate", "par", "--no-recursive")
    assert r.returncode == 0, r.stderr
    r = run_wf(env, "run", "parent_of_waiter", "-i", "par", "--if-exists", "replace")
    assert r.returncode == 1
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "par-1" in r.stderr and "still running" in r.stderr
    assert _status(env, "par-1") == "RUNNING"  # the child is still there, still running
    assert _status(env, "par") == "TERMINATED"


def test_a_step_that_ends_after_a_terminate_is_dropped(env, worker):
    worker()
    _run(env, "busy", 3, "late-1")
    wait_until(lambda: _marker(env, "busy-late-1.started").exists(), what="the long step started")
    r = run_wf(env, "terminate", "late-1", timeout=10)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: _marker(env, "busy-late-1.finished").exists(), what="the long step ended")
    deadline = time.monotonic() + 1.5  # the worker's next turns see the step, and must drop it
    while time.monotonic() < deadline:
        assert _status(env, "late-1") == "TERMINATED"
        time.sleep(0.1)
    events = [json.loads(e)["type"] for (e,) in query(
        env["WF_DB"], "SELECT event FROM history h JOIN instances i USING (iid) WHERE i.instance_id = 'late-1' "
        "ORDER BY seq")]
    assert events[-1] == "ExecutionTerminated" and "TaskScheduled" not in events, events
    assert query(env["WF_DB"], "SELECT COUNT(*) FROM tasks")[0][0] == 0
