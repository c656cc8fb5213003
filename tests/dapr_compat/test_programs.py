"""Programs written in Dapr's style (tests/dapr_compat/programs), each run as a subprocess on a
fresh store, their printed output checked: what Dapr's examples exercise, on wf."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROGRAMS = Path(__file__).parent / "programs"


def env_for(db: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, WF_DB=str(db), PYTHONUNBUFFERED="1")
    env.pop("WF_APP_ID", None)
    env.update(extra)
    return env


def run(program: str, *args: str, db: Path, timeout: float = 120, **extra: str) -> list[str]:
    proc = subprocess.run([sys.executable, str(PROGRAMS / program), *args], env=env_for(db, **extra),
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.splitlines()


def start(program: str, *args: str, db: Path, **extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(PROGRAMS / program), *args], env=env_for(db, **extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 60) -> list[str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out + err
    return out.splitlines()


def test_basics_with_the_sync_client(tmp_path):
    out = run("basics.py", db=tmp_path / "wf.db")
    assert out[0] == "workflow got hello"
    for line in ("started: WorkflowStatus.RUNNING", "add 5 for basics-1", "flaky attempt 1", "flaky attempt 2",
                 "child run 1", "child run 2", "after pause: SUSPENDED", "after resume: RUNNING",
                 "result: \"hello 60 {'by': 'test'}\"", "history starts EXECUTION_STARTED ends EXECUTION_COMPLETED",
                 "after purge: None"):
        assert line in out, (line, out)
    assert out.count("flaky attempt 3") == 0 and out.count("child run 3") == 0


def test_basics_with_the_async_client(tmp_path):
    out = run("basics.py", "aio", db=tmp_path / "wf.db")
    for line in ("started: WorkflowStatus.RUNNING", "after pause: SUSPENDED", "after resume: RUNNING",
                 'result: "hi 60 async"', "after purge: None"):
        assert line in out, (line, out)
    ids = next(line for line in out if line.startswith("ids: "))
    assert "'basics-aio'" in ids  # paged one id at a time through iter_workflow_instance_ids


def test_chaining_and_fan_out_over_async_activities(tmp_path):
    out = run("chain_fanout.py", db=tmp_path / "wf.db")
    assert out[:3] == ["plus_one 41", "double 42", "chain: WorkflowStatus.COMPLETED [42, 84]"]
    assert sorted(line for line in out if line.startswith("square")) == sorted(f"square {i}" for i in range(1, 9))
    assert "summing [1, 4, 9, 16, 25, 36, 49, 64]" in out
    assert out[-1] == "fan: COMPLETED 204 concurrent=True"


def test_dataclass_approval_and_a_monitor_that_continues_as_new(tmp_path):
    out = run("approval_monitor.py", db=tmp_path / "wf.db")
    assert out == [
        'small: "auto-approved"',
        "approval needed: desk costs 2000",
        'big: "approved by Me for desk x2"',
        "check 1: healthy", "check 2: unhealthy", "check 3: healthy",
        "monitor: COMPLETED after 3 checks",
        'state input: {"attempt": 3, "healthy": false, "__durabletask_autoobject__": true}',
    ]


def test_an_approval_that_times_out(tmp_path):
    out = run("approval_monitor.py", "0.2", db=tmp_path / "wf.db")
    assert 'big: "cancelled"' in out or 'big: "approved by Me for desk x2"' in out  # the race is real
    assert 'small: "auto-approved"' in out


def test_pydantic_models(tmp_path):
    out = run("models.py", db=tmp_path / "wf.db")
    assert out == [
        "workflow: Request O-1 Acme 42.0",
        "activity: Request O-1",
        "workflow: activity result is a dict, approved=True",
        "client: O-1 approved=True note=auto",
        'client: input text {"order_id": "O-1", "customer": "Acme", "amount": 42.0}',
    ]


def test_history_propagation(tmp_path):
    out = run("propagation.py", db=tmp_path / "wf.db", WF_APP_ID="shop")
    assert out == [
        "account: acct-7",
        "missing: not found",
        "audit: LINEAGE ['shop/checkout', 'shop/pay'] check completed=True output={\"account\": \"acct-7\", \"ok\": true}",
        "plain: no history",
    ]


def test_versions_and_patches_across_restarts(tmp_path):
    db = tmp_path / "wf.db"
    # Two instances' first activities run at once: their lines may come in either order.
    assert sorted(run("versioning.py", "start", db=db)) == ["start: old code", "start: v1 started"]
    assert run("versioning.py", "v2only", db=db) == [
        "v2only: v2 started", "v2only: v2 finished", "v2only: new instance -> 2",
        "v2only: o-1 is STALLED (VersionNotRegistered)",  # its version is not registered here
        "v2only: p-1 is STALLED (PatchMismatch)",  # this code no longer checks a patch its history holds
    ]
    both = run("versioning.py", "both", db=db)
    assert sorted(both[:2]) == ["both: took the patched branch", "both: v1 finished"]  # two instances at once
    assert both[2:] == [
        "both: o-1 COMPLETED 1", 'both: p-1 COMPLETED "patched"',
        'both: l-1 COMPLETED "late unpatched"',  # past the point where the patch was added: old path
    ]


@pytest.mark.parametrize("mode, front, middle, back", [
    ("ok", ["front: child returned 101", 'front: COMPLETED "front done"'],
     ["middle: called", "middle: activity returned 100"], ["back: called with 1"]),
    ("activity fails", ["front: child returned 0", 'front: COMPLETED "front done"'],
     ["middle: called", "middle: activity failed: back fails"], ["back: called with 1", "back: called with 1"]),
    ("workflow fails", ["front: child failed: ValueError", 'front: COMPLETED "front done"'],
     ["middle: called", "middle: called"], []),
])
def test_three_apps_on_one_store(tmp_path, mode, front, middle, back):
    db, stop = tmp_path / "wf.db", tmp_path / "stop"
    flags = {"activity fails": {"FAIL_BACK": "1"}, "workflow fails": {"FAIL_MIDDLE": "1"}}.get(mode, {})
    servers = [start("multiapp.py", role, db=db, STOP_FILE=str(stop), **flags) for role in ("back", "middle")]
    try:
        assert run("multiapp.py", "front", db=db, **flags) == front
    finally:
        stop.touch()
    back_out, middle_out = (finish(p) for p in servers)
    assert middle_out == middle
    assert [line.split(" from ")[0] for line in back_out] == back


def test_two_workers_of_one_app_claim_only_what_they_registered(tmp_path):
    db, stop = tmp_path / "wf.db", tmp_path / "stop"
    workers = [start("split_workers.py", role, db=db, STOP_FILE=str(stop)) for role in ("alpha", "beta")]
    try:
        out = run("split_workers.py", "client", db=db)
    finally:
        stop.touch()
    alpha_out, beta_out = (finish(p) for p in workers)
    alpha_pid, beta_pid = int(alpha_out[0].split()[-1]), int(beta_out[0].split()[-1])
    assert len(out) == 20
    for line in out:
        name, status, output = line.split(" ", 2)
        assert status == "COMPLETED", line
        pid, (kind, step_pid, _) = json.loads(output)
        if name == "alpha_flow":  # alpha's workflow ran on alpha, the beta_step it called on beta
            assert (pid, kind, step_pid) == (alpha_pid, "beta", beta_pid)
        else:
            assert (pid, kind, step_pid) == (beta_pid, "alpha", alpha_pid)


def test_an_instance_no_live_worker_registers_waits_and_wf_get_shows_it(tmp_path):
    db = tmp_path / "wf.db"
    wf_exe = Path(sys.executable).parent / "wf"
    env = env_for(db)
    started = subprocess.run([str(wf_exe), "run", "alpha_flow", "-i", "lonely", "-x", "1"], env=env,
                             capture_output=True, text=True, timeout=30)
    assert started.returncode == 0, started.stderr
    stop = tmp_path / "stop"
    beta = start("split_workers.py", "beta", db=db, STOP_FILE=str(stop))
    try:
        assert "beta ready" in beta.stdout.readline()
        time.sleep(0.5)  # beta is up and claiming: it must leave alpha_flow alone
        got = subprocess.run([str(wf_exe), "get", "lonely", "-o", "json"], env=env, capture_output=True, text=True,
                             timeout=30)
        assert json.loads(got.stdout)["runtime_status"] == "PENDING"
        card = subprocess.run([str(wf_exe), "get", "lonely"], env=env, capture_output=True, text=True, timeout=30)
        assert "no live worker of app 'default' registers workflow 'alpha_flow'" in " ".join(card.stdout.split())
    finally:
        stop.touch()
    finish(beta)
