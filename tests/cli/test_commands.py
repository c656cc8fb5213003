"""Every command and flag through click's CliRunner, against the real local engine on a temp store."""

from __future__ import annotations

import json
import os
import signal
import threading
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from cli_testing import APP_SPEC, one_error_line, snapshot, timed_out_after, wait_until
from wf.model import WorkflowStatus


# ------------------------------------------------------------------------------------------- run


def test_run_prints_started_line_and_schedules_pending(wf, backend):
    r = wf("run", "doubler", "-i", "r1", "-x", "21")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "Started doubler as r1\n"
    state = backend.get("r1")
    assert state.runtime_status == WorkflowStatus.PENDING
    assert state.serialized_input == "21"


def test_run_quiet_prints_only_a_generated_id(wf, backend):
    r = wf("run", "doubler", "-q")
    assert r.exit_code == 0
    iid = r.stdout.strip()
    assert len(iid) == 32 and backend.get(iid).name == "doubler"


def test_run_input_from_file_and_stdin(wf, backend, tmp_path):
    f = tmp_path / "in.json"
    f.write_text('{"amount": 5}\n')
    assert wf("run", "doubler", "-i", "f", "-x", f"@{f}").exit_code == 0
    assert json.loads(backend.get("f").serialized_input) == {"amount": 5}
    assert wf("run", "doubler", "-i", "s", "-x", "-", input="[1, 2]").exit_code == 0
    assert json.loads(backend.get("s").serialized_input) == [1, 2]


def test_run_start_time_delays_the_start(wf, backend):
    assert wf("run", "doubler", "-i", "later", "-s", "1h").exit_code == 0
    assert backend.get("later").runtime_status == WorkflowStatus.PENDING
    assert wf("run", "doubler", "-i", "at", "-s", "2099-01-01T00:00:00Z").exit_code == 0


def test_run_if_exists(wf, backend):
    assert wf("run", "doubler", "-i", "dup", "-x", "1").exit_code == 0
    r = wf("run", "doubler", "-i", "dup", "-x", "2")  # default: return the id, start nothing
    assert r.exit_code == 0 and r.stdout == "Instance dup already exists (PENDING); started nothing new\n"
    r = wf("run", "doubler", "-i", "dup", "-x", "2", "-q")
    assert r.stdout == "dup\n" and "already exists" in r.stderr
    assert backend.get("dup").serialized_input == "1"
    r = wf("run", "doubler", "-i", "dup", "--if-exists", "error")
    assert r.exit_code == 1 and "already exists" in one_error_line(r.stderr)
    r = wf("run", "doubler", "-i", "dup", "--if-exists", "replace")  # still PENDING: refused
    assert r.exit_code == 1 and "terminate it first" in one_error_line(r.stderr)


def test_run_if_exists_replace_restarts_a_finished_instance(wf, finished, backend):
    finished("doubler", "1", "rep")
    assert wf("run", "doubler", "-i", "rep", "-x", "5", "--if-exists", "replace").exit_code == 0
    assert backend.get("rep").serialized_input == "5"


def test_run_wait_exit_codes(wf, runtime):
    r = wf("run", "doubler", "-x", "21", "--wait", "-o", "json")
    assert r.exit_code == 0, r.stderr
    state = json.loads(r.stdout)
    assert state["runtime_status"] == "COMPLETED" and state["serialized_output"] == "42"
    r = wf("run", "failing", "-x", '"bad"', "--wait")
    assert r.exit_code == 3
    assert "FAILED" in r.stdout and "bad" in r.stdout
    r = wf("run", "waiter", "-i", "w", "--timeout", "200ms")  # --timeout implies --wait
    assert r.exit_code == 124
    line = one_error_line(r.stderr.replace("Started waiter as w; waiting for it to finish...\n", ""))
    assert "waiting for w (still" in line and 0.2 <= timed_out_after(line) < 10, line


def test_run_wait_quiet_prints_the_id_only(wf, runtime):
    r = wf("run", "doubler", "-i", "qq", "-x", "1", "--wait", "-q")
    assert r.exit_code == 0 and r.stdout == "qq\n"


def test_run_wait_terminated_exits_4(wf, backend, runtime):
    def terminate_later():
        wait_until(lambda: backend.get("t4") is not None, what="t4 to exist")
        backend.terminate("t4", '"stop"')

    t = threading.Thread(target=terminate_later)
    t.start()
    r = wf("run", "waiter", "-i", "t4", "--wait", "--timeout", "10s")
    t.join()
    assert r.exit_code == 4
    assert "TERMINATED" in r.stdout


def test_run_app_runs_in_process_and_shuts_down(wf, backend):
    r = wf("run", "doubler", "-i", "inproc", "-x", "4", "--app", APP_SPEC, "-o", "json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["serialized_output"] == "8"
    assert backend.get("inproc").runtime_status == WorkflowStatus.COMPLETED
    r = wf("run", "failing", "--app", APP_SPEC, "-q")
    assert r.exit_code == 3


def test_run_app_by_module_name(wf, backend, monkeypatch):
    monkeypatch.chdir(os.path.dirname(APP_SPEC.split(":")[0]))
    r = wf("run", "doubler", "-i", "bymod", "-x", "2", "--app", "apps:wfr", "-q")
    assert r.exit_code == 0, r.stderr
    assert backend.get("bymod").serialized_output == "4"


def test_run_app_with_app_id_uses_that_app(wf, db):
    from wf.backends.local import LocalBackend

    r = wf("-a", "billing", "run", "doubler", "-i", "b1", "-x", "1", "--app", APP_SPEC, "-q")
    assert r.exit_code == 0, r.stderr
    assert LocalBackend(db, app_id="billing").get("b1").serialized_output == "2"
    assert LocalBackend(db).get("b1") is None


# ------------------------------------------------------------------------------------------- get


def test_get_short_card_and_show_flags(wf, finished):
    finished("doubler", "21", "g1")
    r = wf("get", "g1")
    assert r.exit_code == 0
    assert "ID:            g1" in r.stdout and "Status:        COMPLETED" in r.stdout
    assert "Custom status: doubling" in r.stdout
    assert "Input" not in r.stdout and "Output" not in r.stdout
    r = wf("get", "g1", "--show-input", "--show-output")
    assert "Input:" in r.stdout and "21" in r.stdout and "Output:" in r.stdout and "42" in r.stdout


def test_get_wide_json_yaml(wf, finished):
    finished("failing", '"nope"', "g2")
    wide = wf("get", "g2", "-o", "wide").stdout
    assert "App ID:" in wide and "Failure:" in wide and "ValueError" in wide and "Completed:" in wide
    data = json.loads(wf("get", "g2", "-o", "json").stdout)
    assert list(data) == ["instance_id", "name", "app_id", "runtime_status", "created_at", "last_updated_at",
                          "completed_at", "parent_instance_id", "serialized_input", "serialized_output",
                          "serialized_custom_status", "failure_details", "pending"]
    assert data["pending"] == []  # a finished instance waits for nothing
    assert data["runtime_status"] == "FAILED" and data["created_at"].endswith("Z")
    assert data["failure_details"]["error_type"] == "ValueError"
    assert yaml.safe_load(wf("get", "g2", "-o", "yaml").stdout) == data


def test_get_unknown_instance(wf, backend):
    r = wf("get", "ghost")
    assert r.exit_code == 1
    assert one_error_line(r.stderr) == "Error: no workflow instance 'ghost' in app 'default'; 'wf list' shows the instances"
    assert r.stdout == ""


# --------------------------------------------------------------------------------------- history


def test_history_formats(wf, finished):
    finished("doubler", "3", "h1")
    r = wf("history", "h1")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["TYPE", "NAME", "EVENTID", "ELAPSED", "DETAILS"]
    types = [line.split()[0] for line in lines[1:]]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionCompleted" and "TaskScheduled" in types
    assert wf("history", "h1", "-o", "wide").stdout.splitlines()[0].split()[0] == "TIMESTAMP"
    events = json.loads(wf("history", "h1", "-o", "json").stdout)
    assert events[0]["event_type"] == "ExecutionStarted"
    assert {"event_id", "event_type", "timestamp", "name", "task_scheduled_id", "data", "failure_details"} <= set(events[0])
    jsonl = [json.loads(line) for line in wf("history", "h1", "-o", "jsonl").stdout.splitlines()]
    assert jsonl == events
    assert yaml.safe_load(wf("history", "h1", "-o", "yaml").stdout) == events


def test_history_unknown_instance(wf):
    r = wf("history", "ghost")
    assert r.exit_code == 1 and "no workflow instance 'ghost'" in one_error_line(r.stderr)


# ------------------------------------------------------------------------------------------ list


@pytest.fixture
def three(wf, finished, backend):
    finished("doubler", "1", "l-done")
    finished("failing", '"x"', "l-fail")
    backend.start("waiter", instance_id="l-wait")
    wait_until(lambda: backend.get("l-wait").runtime_status == WorkflowStatus.RUNNING, what="l-wait running")
    return ["l-wait", "l-fail", "l-done"]


def test_list_short_plain_columns_newest_first(wf, three):
    r = wf("list")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ID", "STATUS", "CUSTOM", "STATUS", "AGE"]
    assert [line.split()[1] for line in lines[1:]] == three


def test_ls_alias_and_wide(wf, three):
    assert wf("ls").stdout == wf("list").stdout
    header = wf("ls", "-o", "wide").stdout.splitlines()[0]
    assert "CREATED" in header and "LAST UPDATE" in header and "FAILURE MESSAGE" in header
    assert "activity 'explode' failed" in wf("ls", "-o", "wide").stdout


def test_list_filters(wf, three):
    assert wf("list", "-o", "ids", "-s", "FAILED").stdout == "l-fail\n"
    assert wf("list", "-o", "ids", "-s", "failed", "-s", "completed").stdout.split() == ["l-fail", "l-done"]
    assert wf("list", "-o", "ids", "-s", "FAILED,COMPLETED").stdout.split() == ["l-fail", "l-done"]
    assert wf("list", "-o", "ids", "-w", "waiter").stdout == "l-wait\n"
    assert wf("list", "-o", "ids", "--limit", "2").stdout.split() == three[:2]
    assert wf("list", "-o", "ids", "-m", "1h").stdout.split() == three
    assert wf("list", "-o", "ids", "-m", "2000-01-01").stdout.split() == three
    future = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%d")
    r = wf("list", "-o", "ids", "-m", future)
    assert r.exit_code == 0 and r.stdout == ""


def test_list_json_jsonl_yaml(wf, three):
    arr = json.loads(wf("list", "-o", "json").stdout)
    assert [d["instance_id"] for d in arr] == three
    assert arr[1]["runtime_status"] == "FAILED"
    rows = [json.loads(line) for line in wf("list", "-o", "jsonl").stdout.splitlines()]
    assert rows == arr
    assert yaml.safe_load(wf("list", "-o", "yaml").stdout) == arr


def test_list_empty(wf):
    r = wf("list")
    assert r.exit_code == 0 and r.stdout == "" and "No workflow instances found." in r.stderr
    assert wf("list", "-o", "json").stdout == "[]\n"
    assert wf("list", "-o", "jsonl").stdout == ""
    assert yaml.safe_load(wf("list", "-o", "yaml").stdout) == []


def test_list_app_id_scopes(wf, backend, db):
    from wf.backends.local import LocalBackend

    backend.start("doubler", instance_id="mine")
    LocalBackend(db, app_id="other").start("doubler", instance_id="theirs")
    assert wf("list", "-o", "ids").stdout == "mine\n"
    assert wf("-a", "other", "list", "-o", "ids").stdout == "theirs\n"
    assert wf("list", "-o", "ids", env={"WF_APP_ID": "other"}).stdout == "theirs\n"


# ----------------------------------------------------------------------- raise-event and control


def test_raise_event_both_spellings(wf, backend, runtime):
    backend.start("waiter", instance_id="e1")
    r = wf("raise-event", "e1/go", "-x", '{"approved": true}')
    assert r.exit_code == 0 and r.stdout == "Raised event go on e1\n"
    state = backend.wait("e1", timeout=10)
    assert json.loads(state.serialized_output) == {"got": {"approved": True}}
    backend.start("waiter", instance_id="e2")
    assert wf("raise-event", "e2", "GO").exit_code == 0  # names match case-insensitively
    assert json.loads(backend.wait("e2", timeout=10).serialized_output) == {"got": None}


def test_raise_event_errors(wf, backend, finished):
    finished("doubler", "1", "done")
    before = snapshot(backend.path)
    r = wf("raise-event", "e1")
    assert r.exit_code == 2 and "ID/EVENT" in one_error_line(r.stderr)
    r = wf("raise-event", "ghost/go")
    assert r.exit_code == 1 and "no workflow instance 'ghost'" in one_error_line(r.stderr)
    r = wf("raise-event", "done/go")
    assert r.exit_code == 1 and "no longer accepts events" in one_error_line(r.stderr)
    r = wf("raise-event", "done/go", "-x", "{bad")
    assert r.exit_code == 2 and "event data is not valid JSON" in one_error_line(r.stderr)
    r = wf("raise-event", "bad id!/go")
    assert r.exit_code == 2 and "invalid instance id" in one_error_line(r.stderr)
    assert snapshot(backend.path) == before


def test_suspend_resume_terminate(wf, backend, runtime):
    backend.start("waiter", instance_id="c1")
    wait_until(lambda: backend.get("c1").runtime_status == WorkflowStatus.RUNNING, what="c1 running")
    r = wf("suspend", "c1", "-r", "maintenance")
    assert r.exit_code == 0 and r.stdout == "Suspended c1\n"
    wait_until(lambda: backend.get("c1").runtime_status == WorkflowStatus.SUSPENDED, what="c1 suspended")
    assert wf("suspend", "c1").exit_code == 0  # a no-op, so scripts can retry
    history = wf("history", "c1", "-o", "json").stdout
    assert "ExecutionSuspended" in history and "maintenance" in history
    r = wf("resume", "c1", "--reason", "back")
    assert r.exit_code == 0 and r.stdout == "Resumed c1\n"
    wait_until(lambda: backend.get("c1").runtime_status == WorkflowStatus.RUNNING, what="c1 resumed")
    r = wf("terminate", "c1", "--output", '{"why": "test"}')
    assert r.exit_code == 0 and r.stdout == "Terminated c1\n"
    state = wait_until(lambda: (s := backend.get("c1")).runtime_status == WorkflowStatus.TERMINATED and s,
                       what="c1 terminated")
    assert json.loads(state.serialized_output) == {"why": "test"}
    assert wf("terminate", "c1").exit_code == 0  # no-op
    r = wf("suspend", "c1")
    assert r.exit_code == 1 and "cannot suspend" in one_error_line(r.stderr)


def test_terminate_recursive_and_not(wf, backend, runtime):
    backend.start("parent", instance_id="p1")
    backend.start("parent", instance_id="p2")
    for child in ("p1-child", "p2-child"):
        wait_until(lambda child=child: (s := backend.get(child)) is not None and s.runtime_status == WorkflowStatus.RUNNING,
                   what=f"{child} running")
    assert wf("terminate", "p1").exit_code == 0
    wait_until(lambda: backend.get("p1-child").runtime_status == WorkflowStatus.TERMINATED, what="child terminated")
    assert wf("terminate", "p2", "--no-recursive").exit_code == 0
    wait_until(lambda: backend.get("p2").runtime_status == WorkflowStatus.TERMINATED, what="p2 terminated")
    assert backend.get("p2-child").runtime_status == WorkflowStatus.RUNNING


def test_control_unknown_and_bad_ids(wf, backend):
    for cmd in ("suspend", "resume", "terminate", "wait"):
        r = wf(cmd, "ghost")
        assert r.exit_code == 1, cmd
        assert "no workflow instance 'ghost'" in one_error_line(r.stderr)
        r = wf(cmd, "x" * 65)
        assert r.exit_code == 2 and "invalid instance id" in one_error_line(r.stderr)
    r = wf("terminate", "ghost", "--output", "{oops")
    assert r.exit_code == 2 and "output is not valid JSON" in one_error_line(r.stderr)


# ------------------------------------------------------------------------------------------ wait


def test_wait_exit_codes_and_formats(wf, finished, backend):
    finished("doubler", "2", "w-ok")
    finished("failing", '"f"', "w-fail")
    r = wf("wait", "w-ok")
    assert r.exit_code == 0 and "COMPLETED" in r.stdout and "Output:" in r.stdout
    assert json.loads(wf("wait", "w-ok", "-o", "json").stdout)["serialized_output"] == "4"
    assert yaml.safe_load(wf("wait", "w-ok", "-o", "yaml").stdout)["runtime_status"] == "COMPLETED"
    r = wf("wait", "w-fail", "-q")
    assert r.exit_code == 3 and r.stdout == ""
    backend.start("waiter", instance_id="w-term")
    backend.terminate("w-term")
    assert wf("wait", "w-term", "--timeout", "10s", "-q").exit_code == 4


def test_wait_timeout_exits_124(wf, backend):
    backend.start("waiter", instance_id="slow")
    r = wf("wait", "slow", "--timeout", "50ms")
    assert r.exit_code == 124
    line = one_error_line(r.stderr)
    assert line.startswith("Error: timed out after ") and 0.05 <= timed_out_after(line) < 10, line
    assert line.endswith(" waiting for slow (still PENDING); 'wf wait slow' waits again"), line
    r = wf("wait", "slow", "--timeout", "soon")
    assert r.exit_code == 2 and "invalid duration 'soon'" in one_error_line(r.stderr)


# ----------------------------------------------------------------------------------------- purge


def test_purge_ids(wf, finished, backend, running):
    finished("doubler", "1", "pa")
    finished("doubler", "1", "pb")
    running("live")
    r = wf("purge", "pa", "pb")
    assert r.exit_code == 0 and r.stdout == "Purged pa\nPurged pb\n"
    assert backend.get("pa") is None and backend.get("pb") is None
    r = wf("purge", "live")
    assert r.exit_code == 1 and backend.get("live") is not None
    one_error_line(r.stderr)
    r = wf("purge", "live", "--dry-run", "--force")
    assert r.exit_code == 0 and "Would purge live (RUNNING)" in r.stdout and backend.get("live") is not None
    assert wf("purge", "live", "--force").exit_code == 0 and backend.get("live") is None


def test_purge_ids_reports_each_failure_and_continues(wf, finished, backend):
    finished("doubler", "1", "keep-going")
    r = wf("purge", "ghost", "keep-going")
    assert r.exit_code == 1
    assert "Purged keep-going" in r.stdout
    assert "no workflow instance 'ghost'" in one_error_line(r.stderr)


def test_purge_with_children(wf, backend, runtime):
    backend.start("parent", instance_id="pp")
    wait_until(lambda: backend.get("pp-child") is not None, what="child exists")
    backend.terminate("pp")
    wait_until(lambda: backend.get("pp-child").runtime_status == WorkflowStatus.TERMINATED, what="child terminated")
    r = wf("purge", "pp")
    assert r.exit_code == 0 and r.stdout == "Purged pp (with 1 child instance)\n"
    assert backend.get("pp-child") is None


def test_purge_all_and_dry_run(wf, finished, backend, running):
    finished("doubler", "1", "a1")
    finished("failing", '"x"', "a2")
    running("a3")
    before = snapshot(backend.path)
    r = wf("purge", "--all", "--dry-run")
    assert r.exit_code == 0 and r.stdout.startswith("a2\na1\nWould purge 2 instances (finished; app default)")
    assert snapshot(backend.path) == before
    r = wf("purge", "--all", "--all-filter-status", "FAILED")
    assert r.exit_code == 0 and r.stdout.startswith("Purged 1 instance ")
    assert backend.get("a2") is None and backend.get("a1") is not None
    r = wf("purge", "--all")  # no terminal: proceeds without asking
    assert r.exit_code == 0 and r.stdout.startswith("Purged 1 instance ")
    assert [s.instance_id for s in backend.list()] == ["a3"]
    r = wf("purge", "--all", "--force", "-y")
    assert r.exit_code == 0 and backend.get("a3") is None


def test_purge_all_older_than(wf, finished, backend):
    finished("doubler", "1", "old")
    r = wf("purge", "--all-older-than", "1h")
    assert r.exit_code == 0 and r.stdout.startswith("Purged 0 instances")
    assert backend.get("old") is not None
    r = wf("purge", "--all-older-than", "0")  # finished before now
    assert r.exit_code == 0 and r.stdout.startswith("Purged 1 instance ")
    assert backend.get("old") is None


def test_purge_usage_errors_change_nothing(wf, finished, backend):
    finished("doubler", "1", "u1")
    before = snapshot(backend.path)
    cases = [
        (("purge",), "name instance ids"),
        (("purge", "--all", "--all-older-than", "3d"), "--all and --all-older-than conflict"),
        (("purge", "u1", "--all"), "not both"),
        (("purge", "--all-filter-status", "FAILED"), "needs --all"),
        (("purge", "--all", "--all-filter-status", "RUNNING"), "not a finished status; add --force"),
        (("purge", "--all", "--all-filter-status", "DONE"), "unknown status 'DONE'"),
        (("purge", "--all-older-than", "3 days"), "invalid age '3 days'"),
        (("purge", "u1", "bad/id"), "invalid instance id"),
    ]
    for args, message in cases:
        r = wf(*args)
        assert r.exit_code == 2, (args, r.stderr)
        assert message in one_error_line(r.stderr), args
    assert snapshot(backend.path) == before


# ---------------------------------------------------------------------------------------- worker


def test_worker_runs_until_sigint_then_drains(wf, backend):
    backend.start("doubler", instance_id="wk", input="5")

    def stop_when_done():
        wait_until(lambda: backend.get("wk").runtime_status == WorkflowStatus.COMPLETED, what="wk completed")
        os.kill(os.getpid(), signal.SIGINT)

    t = threading.Thread(target=stop_when_done)
    t.start()
    r = wf("worker", "--app", APP_SPEC)
    t.join()
    assert r.exit_code == 0, r.stderr
    assert "wf worker: running" in r.stderr and "draining" in r.stderr and "wf worker: stopped" in r.stderr
    assert backend.get("wk").serialized_output == "10"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


@pytest.mark.parametrize("spec, code, message", [
    ("nosuchmodule_xyz:wfr", 2, "no module named 'nosuchmodule_xyz'"),
    ("/nonexistent/app.py:wfr", 2, "no such file"),
    (APP_SPEC.replace(":wfr", ":nope"), 2, "has no attribute 'nope'"),
    (APP_SPEC.replace(":wfr", ":double"), 2, "not a wf.WorkflowRuntime"),
    (":wfr", 2, "expected MODULE:ATTR"),
])
def test_worker_and_run_bad_app(wf, spec, code, message):
    for args in (("worker", "--app", spec), ("run", "doubler", "--app", spec)):
        r = wf(*args)
        assert r.exit_code == code, (args, r.stderr)
        assert message in one_error_line(r.stderr)


def test_app_that_raises_on_import(wf, tmp_path):
    bad = tmp_path / "broken.py"
    bad.write_text("raise RuntimeError('kaput')\n")
    r = wf("worker", "--app", f"{bad}:wfr")
    assert r.exit_code == 1
    assert "failed to import: RuntimeError: kaput" in one_error_line(r.stderr)


def test_app_default_attribute_is_the_only_runtime(wf, backend):
    r = wf("run", "doubler", "-x", "3", "--app", APP_SPEC.split(":")[0], "-q")
    assert r.exit_code == 0, r.stderr


def test_run_app_unknown_workflow_name(wf, backend):
    r = wf("run", "nosuch", "--app", APP_SPEC)
    assert r.exit_code == 2 and "has no workflow named 'nosuch'" in one_error_line(r.stderr)
    assert list(backend.list()) == []


def test_app_refuses_url(wf):
    r = wf("--url", "http://127.0.0.1:9", "worker", "--app", APP_SPEC)
    assert r.exit_code == 2 and "cannot be combined with --url" in one_error_line(r.stderr)


def test_app_file_named_like_a_stdlib_module_shadows_nothing(wf, backend, tmp_path):
    import queue
    import shutil

    shutil.copy(APP_SPEC.split(":")[0], tmp_path / "queue.py")
    r = wf("run", "doubler", "-i", "shadow", "-x", "2", "--app", f"{tmp_path / 'queue.py'}:wfr", "-q")
    assert r.exit_code == 0, r.stderr
    assert backend.get("shadow").serialized_output == "4"
    import sys

    assert sys.modules["queue"] is queue
