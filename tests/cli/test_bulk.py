"""Bulk operations from the CLI: several ids or --all with the list filters, dry run, confirmation,
progress, summary and exit code; at 10,000 instances through the real `wf` beside a real worker."""

from __future__ import annotations

import json
import subprocess

import pytest
from cli_testing import WF_EXE, one_error_line, run_wf, snapshot, wait_until, wf_env
from wf_testing import seed_waiting

import wf as wflib
from wf.cli import output

N = 10_000


def counts(db: str) -> dict[str, int]:
    from wf.backends.local import LocalBackend

    b = LocalBackend(db)
    try:
        out: dict[str, int] = {}
        for s in b.list(None):
            out[s.runtime_status.name] = out.get(s.runtime_status.name, 0) + 1
        return out
    finally:
        b.close()


@pytest.fixture
def terminal(monkeypatch):
    monkeypatch.setattr(output, "is_terminal", lambda stream: True)


# ------------------------------------------------------------------------ 10,000 instances, real processes


def test_terminate_all_of_10000_beside_a_worker_that_keeps_working(db, worker_proc):
    seed_waiting(db, N, "waiter")
    worker_proc()
    assert run_wf(db, "run", "doubler", "-i", "before", "-x", "1", "--wait", "--timeout", "30s").returncode == 0
    bulk = subprocess.Popen([WF_EXE, "terminate", "--all", "-w", "waiter", "-r", "stuck since the outage"],
                            env=wf_env(db), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    during = run_wf(db, "run", "doubler", "-i", "during", "-x", "2", "--wait", "--timeout", "30s", "-o", "json")
    out, err = bulk.communicate(timeout=120)
    assert bulk.returncode == 0, err
    assert out == f"Terminated {N} instances (name waiter; app default)\n"
    assert err == ""  # no terminal: no question, no progress bar
    assert during.returncode == 0 and json.loads(during.stdout)["serialized_output"] == "4"
    assert counts(db) == {"TERMINATED": N, "COMPLETED": 2}
    hist = run_wf(db, "history", "seed-000042", "-o", "jsonl").stdout.splitlines()
    assert json.loads(hist[-1])["event_type"] == "ExecutionTerminated"
    # repeated: nothing applies any more (the default selection is the live instances)
    r = run_wf(db, "terminate", "--all", "-w", "waiter")
    assert r.returncode == 0 and r.stdout == "Nothing to terminate (name waiter; app default)\n"


def test_raise_event_to_all_10000_and_the_worker_completes_them(db, worker_proc):
    seed_waiting(db, N, "waiter")
    worker_proc()
    r = run_wf(db, "raise-event", "--all", "-w", "waiter", "-s", "RUNNING", "go", "-x", '{"approved": false}',
               timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"Raised go on {N} instances (status RUNNING, name waiter; app default)\n"
    wait_until(lambda: counts(db) == {"COMPLETED": N}, 120, "the worker to complete every instance")
    state = json.loads(run_wf(db, "get", "seed-009999", "-o", "json").stdout)
    assert json.loads(state["serialized_output"]) == {"got": {"approved": False}}


def test_suspend_and_resume_all_of_10000_and_what_does_not_apply_is_skipped(db):
    seed_waiting(db, N, "waiter")
    seed_waiting(db, 3, "other", prefix="other")
    r = run_wf(db, "suspend", "--all", "-w", "waiter", "-r", "maintenance", timeout=120)
    assert r.returncode == 0 and r.stdout == f"Suspended {N} instances (name waiter; app default)\n", r.stderr
    assert counts(db) == {"SUSPENDED": N, "RUNNING": 3}
    # -s names statuses the operation does not apply to: they are skipped, not failed (exit 0)
    r = run_wf(db, "suspend", "--all", "-s", "SUSPENDED,RUNNING", timeout=120)
    assert r.returncode == 0
    assert r.stdout == (f"Suspended 3 instances (status SUSPENDED|RUNNING; app default); skipped {N} "
                        f"(not applicable: SUSPENDED {N})\n")
    r = run_wf(db, "resume", "--all", "-m", "1h", timeout=120)
    assert r.returncode == 0 and r.stdout.startswith(f"Resumed {N + 3} instances (created after "), r.stdout
    assert counts(db) == {"RUNNING": N + 3}
    types = [json.loads(line)["event_type"] for line in run_wf(db, "history", "seed-000001", "-o", "jsonl").stdout.splitlines()]
    assert types == ["ExecutionStarted", "ExecutionSuspended", "ExecutionResumed"]


# ------------------------------------------------------------------------ summary, dry run, confirmation


def test_several_ids_summary_names_skipped_and_failed_and_exits_1(wf, running, finished, backend):
    running("r1")
    running("r2")
    finished("doubler", "1", "d1")
    r = wf("terminate", "r1", "d1", "nope", "r2", "-r", "cleanup")
    assert r.exit_code == 1
    assert r.stdout == ("Terminated 2 instances (ids r1, d1, nope, r2; app default); "
                        "skipped 1 (not applicable: COMPLETED 1); failed 1\n")
    assert r.stderr == "  failed nope: not found\n"
    assert backend.get("r1").runtime_status.name == "TERMINATED"
    assert backend.get("d1").runtime_status.name == "COMPLETED"


def test_dry_run_counts_without_a_terminal_and_lists_ids_at_one(wf, db, terminal):
    seed_waiting(db, 3, "waiter")
    before = snapshot(db)
    r = wf("terminate", "--all", "--dry-run")
    assert r.exit_code == 0
    assert r.stdout == ("seed-000000\nseed-000001\nseed-000002\n"
                        "Would terminate 3 instances (all; app default); dry run, nothing changed\n")
    assert snapshot(db) == before


def test_dry_run_off_a_terminal_prints_every_id_and_the_count(db):
    seed_waiting(db, 3, "waiter")
    r = run_wf(db, "suspend", "--all", "-w", "waiter", "--dry-run")
    assert r.returncode == 0
    assert r.stdout == ("seed-000000\nseed-000001\nseed-000002\n"
                        "Would suspend 3 instances (name waiter; app default); dry run, nothing changed\n")
    r = run_wf(db, "suspend", "--all", "-w", "waiter", "--dry-run", "-q")  # for scripts: the ids alone
    assert (r.returncode, r.stdout) == (0, "seed-000000\nseed-000001\nseed-000002\n")
    assert counts(db) == {"RUNNING": 3}


def test_a_terminal_asks_with_the_count_and_target_and_shows_progress(wf, db, terminal):
    seed_waiting(db, 4, "waiter")
    r = wf("suspend", "--all", "-w", "waiter", input="n\n")
    assert f"Suspend 4 instances (name waiter) of app default in {db}? [y/N]" in r.stderr
    assert r.exit_code == 1 and counts(db) == {"RUNNING": 4}  # declined: nothing changed
    r = wf("suspend", "--all", "-w", "waiter", input="y\n")
    assert r.exit_code == 0 and counts(db) == {"SUSPENDED": 4}
    assert "Suspending" in r.stderr and "Suspended 4 instances" in r.stdout
    r = wf("resume", "--all", "-y")
    assert r.exit_code == 0 and "[y/N]" not in r.stderr and counts(db) == {"RUNNING": 4}


def test_raise_event_forms(wf, running, backend):
    running("e1")
    running("e2")
    r = wf("raise-event", "e1", "e2", "go", "-x", '"both"')
    assert r.exit_code == 0 and r.stdout == "Raised go on 2 instances (ids e1, e2; app default)\n"
    assert backend.wait("e1", timeout=10).serialized_output == '{"got": "both"}'
    running("e3")
    r = wf("raise-event", "e3/go")
    assert r.exit_code == 0 and r.stdout == "Raised event go on e3\n"


@pytest.mark.parametrize("args", [
    ("terminate", "a1", "--all"),
    ("terminate", "-s", "RUNNING"),
    ("terminate",),
    ("suspend", "--all", "-s", "BOGUS"),
    ("resume", "--all", "-m", "1x"),
    ("terminate", "bad id!"),
    ("raise-event", "--all", "a1", "go"),
    ("raise-event", "a1/go", "a2/stop"),
    ("terminate", "--all", "--rps", "0"),
])
def test_bad_selections_are_usage_errors_that_change_nothing(wf, db, args):
    seed_waiting(db, 2, "waiter")
    before = snapshot(db)
    r = wf(*args)
    assert r.exit_code == 2, r.output
    one_error_line(r.stderr)
    assert snapshot(db) == before


# ------------------------------------------------------------------------ Python API


def test_python_api_bulk_operations_return_the_summary(db):
    ids = seed_waiting(db, 5, "waiter")
    seed_waiting(db, 2, "other", prefix="other")
    client = wflib.WorkflowClient(db)
    dry = client.terminate_workflows(name="waiter", dry_run=True)
    assert dry.dry_run and dry.instance_ids == ids and dry.selected == 5
    res = client.suspend_workflows(ids[:3], reason="hold")
    assert (res.done, res.skipped, res.failed) == (3, 0, 0)
    res = client.resume_workflows(name="waiter", status=["SUSPENDED", "RUNNING"])
    assert (res.done, res.skipped, res.skipped_by_status) == (3, 2, {"RUNNING": 2})
    res = client.raise_workflow_events("go", ["other-000000", "missing"], data={"x": 1})
    assert (res.done, res.failed, res.failures) == (1, 1, [("missing", "not found")])
    res = client.terminate_workflows(status="RUNNING", output={"why": "test"})
    assert (res.done, res.skipped, res.failed) == (7, 0, 0)
    assert client.get_workflow_state("seed-000000").serialized_output == '{"why": "test"}'
    with pytest.raises(wflib.InvalidArgumentError):
        client.terminate_workflows(["a"], name="waiter")
    client.close()


def test_the_selection_is_taken_at_the_start(db):
    seed_waiting(db, 3, "waiter")
    client = wflib.WorkflowClient(db)
    selected = client.backend.select("terminate", wflib.ListFilter(name="waiter"))
    seed_waiting(db, 1, "waiter", prefix="late")  # created after the selection
    result = client.backend.bulk("terminate", selected)
    assert result.done == 3
    assert client.get_workflow_state("late-000000").runtime_status == wflib.WorkflowStatus.RUNNING
    client.close()


def test_bulk_terminate_reaches_children_and_a_terminated_child_fails_its_live_parent(wf, runtime, backend):
    for parent in ("p1", "p2", "p3"):
        backend.start("parent", instance_id=parent, input="1")
    for child in ("p1-child", "p2-child", "p3-child"):
        wait_until(lambda c=child: (s := backend.get(c)) is not None and s.runtime_status.name == "RUNNING",
                   what=f"{child} running")
    r = wf("terminate", "p1", "p2-child")
    assert r.exit_code == 0 and r.stdout == "Terminated 2 instances (ids p1, p2-child; app default)\n"
    assert backend.get("p1-child").runtime_status.name == "TERMINATED"  # recursive by default
    p2 = backend.wait("p2", timeout=10)  # its child was terminated: the parent hears of a failed child
    assert p2.runtime_status.name == "FAILED" and "p2-child" in p2.failure_details.message
    r = wf("terminate", "--all", "-w", "parent", "--no-recursive")
    assert r.exit_code == 0 and backend.get("p3-child").runtime_status.name == "RUNNING"


def test_purge_takes_the_list_filters_beside_its_dapr_style_flags(wf, finished, backend):
    finished("doubler", "1", "pd1")
    finished("failing", '"x"', "pf1")
    finished("doubler", "2", "pd2")
    r = wf("purge", "--all", "-w", "doubler", "-m", "1h", "--dry-run")
    assert r.exit_code == 0 and r.stdout.startswith("pd2\npd1\nWould purge 2 instances (finished, name doubler, created after ")
    r = wf("purge", "--all-older-than", "0s", "-s", "FAILED", "-w", "failing")
    assert r.exit_code == 0 and backend.get("pf1") is None and backend.get("pd1") is not None
    r = wf("purge", "-w", "doubler")
    assert r.exit_code == 2 and "needs --all or --all-older-than" in r.stderr
    r = wf("purge", "--all", "-w", "doubler")
    assert r.exit_code == 0 and backend.get("pd1") is None and backend.get("pd2") is None
