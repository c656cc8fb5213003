"""The real `wf` executable against a real `wf worker` process on a temp store."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest


from cli_testing import WF_EXE, run_wf, timed_out_after, wait_until, wf_env, worker_log


def status(db: str, iid: str) -> str | None:
    r = run_wf(db, "get", iid, "-o", "json")
    return json.loads(r.stdout)["runtime_status"] if r.returncode == 0 else None


def history_types(db: str, iid: str) -> list[str]:
    r = run_wf(db, "history", iid, "-o", "jsonl")
    return [json.loads(line)["event_type"] for line in r.stdout.splitlines()]


def test_version_and_help():
    r = subprocess.run([WF_EXE, "--version"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "wf 0.1.0"
    r = subprocess.run([WF_EXE, "-h"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "raise-event" in r.stdout and "Exit codes" in r.stdout


def test_run_wait_against_a_worker_process(db, worker_proc):
    worker_proc()
    r = run_wf(db, "run", "doubler", "-i", "s-ok", "-x", "21", "--wait", "--timeout", "20s", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["serialized_output"] == "42"
    r = run_wf(db, "run", "failing", "-x", '"nope"', "--wait", "--timeout", "20s", "-q")
    assert r.returncode == 3 and len(r.stdout.strip()) == 32


def test_approval_style_flow_event_wait_list_purge(db, worker_proc):
    worker_proc()
    assert run_wf(db, "run", "waiter", "-i", "s-ev", "-q").stdout == "s-ev\n"
    wait_until(lambda: status(db, "s-ev") == "RUNNING", 20, "s-ev running")
    r = run_wf(db, "raise-event", "s-ev/go", "-x", '{"approved": true}')
    assert r.returncode == 0 and r.stdout == "Raised event go on s-ev\n"
    r = run_wf(db, "wait", "s-ev", "--timeout", "20s", "-o", "json")
    assert r.returncode == 0
    assert json.loads(json.loads(r.stdout)["serialized_output"]) == {"got": {"approved": True}}
    assert "EventRaised" in history_types(db, "s-ev")
    rows = [json.loads(line) for line in run_wf(db, "list", "-o", "jsonl").stdout.splitlines()]
    assert [(d["instance_id"], d["runtime_status"]) for d in rows] == [("s-ev", "COMPLETED")]
    r = run_wf(db, "purge", "--all")  # no terminal (cron): no question asked
    assert r.returncode == 0 and r.stdout.startswith("Purged 1 instance ")
    assert run_wf(db, "list", "-o", "ids").stdout == ""


def test_suspend_resume_terminate_and_wait_codes(db, worker_proc):
    worker_proc()
    run_wf(db, "run", "waiter", "-i", "s-ctl")
    wait_until(lambda: status(db, "s-ctl") == "RUNNING", 20, "s-ctl running")
    assert run_wf(db, "suspend", "s-ctl", "-r", "hold").returncode == 0
    wait_until(lambda: status(db, "s-ctl") == "SUSPENDED", 20, "s-ctl suspended")
    r = run_wf(db, "wait", "s-ctl", "--timeout", "300ms")
    assert r.returncode == 124 and r.stderr.startswith("Error: timed out after ") and "SUSPENDED" in r.stderr
    assert 0.3 <= timed_out_after(r.stderr) < 10, r.stderr
    assert run_wf(db, "resume", "s-ctl").returncode == 0
    wait_until(lambda: status(db, "s-ctl") == "RUNNING", 20, "s-ctl resumed")
    assert run_wf(db, "terminate", "s-ctl", "--output", '"bye"').returncode == 0
    r = run_wf(db, "wait", "s-ctl", "--timeout", "20s", "-q")
    assert r.returncode == 4
    types = history_types(db, "s-ctl")
    assert "ExecutionSuspended" in types and "ExecutionResumed" in types and "ExecutionTerminated" in types


def test_history_says_when_an_event_raised_while_suspended_arrived(db, worker_proc):
    """Events are listed as recorded; one raised while suspended is recorded after the resume, so
    the table gains an ARRIVED column for it (ELAPSED: when recorded, no earlier than the resume)."""
    worker_proc()
    run_wf(db, "run", "waiter", "-i", "s-late")
    wait_until(lambda: status(db, "s-late") == "RUNNING", 20, "s-late running")
    assert run_wf(db, "suspend", "s-late").returncode == 0
    wait_until(lambda: status(db, "s-late") == "SUSPENDED", 20, "s-late suspended")
    assert run_wf(db, "raise-event", "s-late", "go", "-x", '"late"').returncode == 0
    assert "EventRaised" not in history_types(db, "s-late")  # buffered while suspended
    assert run_wf(db, "resume", "s-late").returncode == 0
    assert run_wf(db, "wait", "s-late", "--timeout", "20s", "-q").returncode == 0
    events = [json.loads(line) for line in run_wf(db, "history", "s-late", "-o", "jsonl").stdout.splitlines()]
    types = [e["event_type"] for e in events]
    raised, resumed = types.index("EventRaised"), types.index("ExecutionResumed")
    assert raised > resumed and events[raised]["timestamp"] < events[resumed]["timestamp"]
    lines = run_wf(db, "history", "s-late").stdout.splitlines()
    header, rows = lines[0], {line.split()[0]: line for line in lines[1:]}
    at, elapsed_at = header.index("ARRIVED"), header.index("ELAPSED")
    cell = lambda line, pos: line[pos:].split("  ")[0].strip()  # noqa: E731
    assert cell(rows["EventRaised"], at) != "" and cell(rows["ExecutionResumed"], at) == ""
    assert cell(rows["EventRaised"], elapsed_at) == cell(rows["ExecutionResumed"], elapsed_at)
    run_wf(db, "run", "doubler", "-i", "s-plain", "-x", "2", "--wait", "--timeout", "20s")
    assert "ARRIVED" not in run_wf(db, "history", "s-plain").stdout.splitlines()[0]


def test_terminate_no_recursive_against_worker(db, worker_proc):
    worker_proc()
    run_wf(db, "run", "parent", "-i", "s-par")
    wait_until(lambda: status(db, "s-par-child") == "RUNNING", 20, "child running")
    assert run_wf(db, "terminate", "s-par", "--no-recursive").returncode == 0
    assert run_wf(db, "wait", "s-par", "--timeout", "20s", "-q").returncode == 4
    assert status(db, "s-par-child") == "RUNNING"
    assert run_wf(db, "purge", "s-par").stdout == "Purged s-par\n"  # its live child is left to run
    assert status(db, "s-par") is None and status(db, "s-par-child") == "RUNNING"
    r = run_wf(db, "purge", "s-par-child")
    assert r.returncode == 1 and r.stderr.startswith("Error: ") and "terminate it first" in r.stderr
    assert status(db, "s-par-child") == "RUNNING"
    assert run_wf(db, "purge", "s-par-child", "--force").returncode == 0
    assert status(db, "s-par-child") is None


def test_worker_drains_on_sigterm(db, worker_proc):
    p = worker_proc()
    run_wf(db, "run", "sleepy", "-i", "s-nap", "-x", "0.5")
    wait_until(lambda: "TaskScheduled" in history_types(db, "s-nap"), 20, "activity scheduled")
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=20)
    err = worker_log(p)
    assert p.returncode == 0, err
    assert "draining" in err and "wf worker: stopped" in err and "Traceback" not in err
    # The activity in flight finished and its result was committed: the next worker completes the
    # workflow from it.
    worker_proc()
    r = run_wf(db, "wait", "s-nap", "--timeout", "20s", "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["serialized_output"] == "0.5"


def test_worker_second_signal_exits_at_once(db, worker_proc):
    p = worker_proc()
    run_wf(db, "run", "sleepy", "-i", "s-long", "-x", "60")
    wait_until(lambda: "TaskScheduled" in history_types(db, "s-long"), 20, "activity scheduled")
    p.send_signal(signal.SIGINT)
    wait_until(lambda: p.poll() is not None or _stderr_has(p, "draining"), 10, "draining message")
    p.send_signal(signal.SIGINT)
    p.wait(timeout=10)
    assert p.returncode == 128 + signal.SIGINT
    assert status(db, "s-long") == "RUNNING"  # abandoned; another worker retries it after the lease


def _stderr_has(p: subprocess.Popen, text: str) -> bool:
    return text in worker_log(p)


def test_usage_error_in_subprocess(db):
    r = run_wf(db, "list", "-s", "DONE")
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "Error: unknown status 'DONE'; expected one of RUNNING, COMPLETED, CONTINUED_AS_NEW, FAILED, CANCELED, "
        "TERMINATED, PENDING, SUSPENDED, STALLED"]
    r = run_wf(db, "purge", "--all", "--all-older-than", "3d")
    assert r.returncode == 2 and "conflict" in r.stderr and len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("args", [("list", "-o", "ids"), ("list", "-o", "jsonl"), ("list", "-o", "json"),
                                  ("list",), ("list", "-o", "wide"), ("list", "-o", "yaml")])
def test_closed_pipe_ends_quietly_with_141(db, backend, args):
    """`wf list | head -1`: the reader leaves after one line; wf stops at once, says nothing, and exits
    141 (as a process SIGPIPE ended), never 1. The output is far larger than a pipe's buffer."""
    for i in range(2500):
        backend.start("doubler", instance_id=f"pipe-{i:05d}-" + "x" * 50)
    backend.close()
    cmd = f"'{WF_EXE}' {' '.join(args)} --limit 100000 | head -1; echo \"wf exited ${{PIPESTATUS[0]}}\" >&2"
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=60, env=wf_env(db))
    assert len(r.stdout.splitlines()) == 1
    assert r.stderr == "wf exited 141\n", r.stderr


def test_ctrl_c_exits_130_without_noise(db, backend):
    backend.start("doubler", instance_id="never-ends")  # no worker: wait waits
    backend.close()
    p = subprocess.Popen([WF_EXE, "wait", "never-ends", "--timeout", "60s"], env=wf_env(db),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # it is waiting once it has the store open
        wait_until(lambda: any(os.path.realpath(f"/proc/{p.pid}/fd/{fd}") == os.path.realpath(db)
                               for fd in os.listdir(f"/proc/{p.pid}/fd")), 20, "wf wait to open the store")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    finally:
        p.kill()
    assert p.returncode == 130, (p.returncode, err)
    assert out == "" and err == "", (out, err)


def test_run_app_in_subprocess(db):
    from cli_testing import APP_SPEC

    r = run_wf(db, "run", "doubler", "-x", "5", "--app", APP_SPEC, "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["serialized_output"] == "10"


def test_delayed_start_ls_and_history_against_worker(db, worker_proc):
    worker_proc()
    r = run_wf(db, "run", "doubler", "-i", "s-late", "-x", "4", "-s", "2s")  # room for a slow start-up under load
    assert r.returncode == 0
    assert status(db, "s-late") == "PENDING"
    r = run_wf(db, "wait", "s-late", "--timeout", "20s", "-q")
    assert r.returncode == 0
    ls = run_wf(db, "ls", "-o", "wide", "-w", "doubler", "-s", "COMPLETED").stdout.splitlines()
    assert ls[0].startswith("NAME") and "s-late" in ls[1]
    hist = run_wf(db, "history", "s-late").stdout
    assert "TaskCompleted" in hist and "ExecutionCompleted" in hist


def test_config_profiles_in_subprocess(db, tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    assert run_wf(db, "--profile", "ci", "config", "set", "app_id", "ci-app", **env).returncode == 0
    assert run_wf(db, "config", "use", "ci", **env).returncode == 0
    assert run_wf(db, "config", "get", "app_id", **env).stdout == "ci-app\n"
    run_wf(db, "run", "doubler", "-i", "in-ci", **env)
    assert run_wf(db, "list", "-o", "ids", **env).stdout == "in-ci\n"
    assert run_wf(db, "-a", "default", "list", "-o", "ids", **env).stdout == ""
