"""Shell completion: committed scripts are current, commands and flags complete, ids come from the store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.shell_completion import ShellComplete, get_completion_class

from cli_testing import run_wf
from wf.cli.app import cli
from wf.cli.completion import SHELLS, completion_script

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("shell", SHELLS)
def test_committed_completion_scripts_are_current(shell):
    committed = (ROOT / "completions" / f"wf.{shell}").read_text()
    assert committed == completion_script(shell), (
        f"completions/wf.{shell} is stale: regenerate with `python -m wf.cli.completion`")


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_command_prints_the_script(wf, shell):
    r = wf("completion", shell, db=False)
    assert r.exit_code == 0 and r.stdout == completion_script(shell)
    assert "_WF_COMPLETE" in r.stdout


def complete(args: list[str], incomplete: str) -> list[str]:
    comp: ShellComplete = get_completion_class("bash")(cli, {}, "wf", "_WF_COMPLETE")
    return [c.value for c in comp.get_completions(args, incomplete)]


def test_commands_and_flags_complete():
    assert "raise-event" in complete([], "ra")
    assert set(complete([], "")) >= {"run", "get", "history", "list", "purge", "wait", "worker", "config", "completion"}
    assert "--filter-status" in complete(["list"], "--filter-s")
    assert complete(["list", "-o"], "js") == ["json", "jsonl"]
    assert complete(["run", "x", "--if-exists"], "") == ["return", "error", "replace"]
    assert complete(["ls", "-o"], "i") == ["ids"]  # the alias completes like list


def test_instance_ids_complete_from_the_local_store(db, backend):
    for iid in ("order-1", "order-2", "refund-1"):
        backend.start("doubler", instance_id=iid)
    for cmd in ("get", "history", "wait", "suspend", "terminate", "purge"):  # resume: only SUSPENDED ones
        assert sorted(complete(["--db", db, cmd], "order")) == ["order-1", "order-2"], cmd
    assert complete(["--db", db, "resume"], "order") == []
    assert complete(["--db", db, "get"], "zzz") == []


def test_id_completion_never_creates_a_store_or_fails(tmp_path):
    missing = tmp_path / "none.db"
    assert complete(["--db", str(missing), "get"], "") == []
    assert not missing.exists()
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 100)
    assert complete(["--db", str(bad), "get"], "") == []
    assert complete(["--url", "http://127.0.0.1:9", "get"], "") == []


def test_completion_through_the_real_executable(db, backend):
    backend.start("doubler", instance_id="sub-1")
    backend.close()
    r = run_wf(db, _WF_COMPLETE="bash_complete", COMP_WORDS="wf get su", COMP_CWORD="2")
    assert r.returncode == 0
    assert "plain,sub-1" in r.stdout.splitlines()
    assert os.path.getsize(db) > 0


# ------------------------------------------------- through the real `wf`, beside a real `wf worker`


def bash_complete(db: str, line: str, **env: str) -> list[str]:
    """What the real `wf` offers for the last word of `line` (bash's protocol: COMP_WORDS and
    COMP_CWORD), as values; its stderr must stay empty."""
    words = line.split(" ")
    r = run_wf(db, _WF_COMPLETE="bash_complete", COMP_WORDS=line, COMP_CWORD=str(len(words) - 1), **env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return [item.partition(",")[2] for item in r.stdout.splitlines() if item.startswith("plain,")]


@pytest.fixture
def store_with_a_worker(db, backend, worker_proc):
    """run1, run2 RUNNING (waiting for 'go'), sus SUSPENDED, done COMPLETED, term TERMINATED, all
    run by a real `wf worker` that recorded its registrations."""
    from cli_testing import wait_until

    worker_proc()
    wait_until(lambda: backend.workers() and backend.workers()[0].workflows, 30, "the worker to register")
    for iid in ("run1", "run2", "sus", "term"):
        backend.start("waiter", instance_id=iid)
    backend.start("doubler", input="2", instance_id="done")
    backend.wait("done", timeout=30)
    for iid in ("run1", "run2", "sus", "term"):
        wait_until(lambda i=iid: backend.get(i).runtime_status.name == "RUNNING", 30, f"{iid} running")
    backend.suspend("sus")
    backend.terminate("term")
    backend.close()


def test_ids_complete_only_where_the_command_applies(db, store_with_a_worker):
    assert sorted(bash_complete(db, "wf suspend ")) == ["run1", "run2"]
    assert bash_complete(db, "wf resume ") == ["sus"]
    assert sorted(bash_complete(db, "wf terminate ")) == ["run1", "run2", "sus"]
    assert sorted(bash_complete(db, "wf raise-event ")) == ["run1", "run2", "sus"]
    assert sorted(bash_complete(db, "wf get ")) == ["done", "run1", "run2", "sus", "term"]
    assert bash_complete(db, "wf suspend run1 r") == ["run2", "run1"]  # newest first
    assert bash_complete(db, "wf resume r") == []


def test_raise_event_completes_the_events_an_instance_waits_for(db, store_with_a_worker):
    assert bash_complete(db, "wf raise-event run1/") == ["run1/go"]
    assert bash_complete(db, "wf raise-event run1/x") == []
    assert "go" in bash_complete(db, "wf raise-event run1 ")


def test_workflow_names_come_from_the_worker_registry(db, store_with_a_worker):
    registered = bash_complete(db, "wf run ")
    assert {"doubler", "waiter", "failing", "parent", "sleepy"} <= set(registered)
    assert bash_complete(db, "wf run do") == ["doubler"]
    assert "waiter" in bash_complete(db, "wf ls -w ")


def test_status_names_complete_after_s(db):
    assert bash_complete(db, "wf ls -s SU") == ["SUSPENDED"]
    assert bash_complete(db, "wf ls -s RUNNING,F") == ["RUNNING,FAILED"]
    assert bash_complete(db, "wf count --filter-status c") == ["COMPLETED", "CONTINUED_AS_NEW", "CANCELED"]
    assert bash_complete(db, "wf purge --all --all-filter-status T") == ["TERMINATED"]
    assert bash_complete(db, "wf terminate --all -s P") == ["PENDING"]
    assert "RUNNING" not in bash_complete(db, "wf run x -s ")  # run's -s is a start time


def test_global_options_after_the_command_reach_completion(db, store_with_a_worker, tmp_path):
    other = str(tmp_path / "other.db")  # WF_DB names another store: the --db after the command wins
    assert bash_complete(other, f"wf resume --db {db} ") == ["sus"]
    assert bash_complete(other, "wf resume ") == []
    assert not os.path.exists(other)


def test_completion_is_silent_on_errors(db, store_with_a_worker, tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 100)
    assert bash_complete(str(bad), "wf suspend ") == []
    assert bash_complete(str(bad), "wf run ") == []
    assert bash_complete(db, "wf --profile nope suspend ") == []  # an unknown profile: nothing, no error
    assert bash_complete(db, "wf suspend ", WF_URL="http://127.0.0.1:9") == []  # remote: not asked


PROBE = r"""
import json, sys
from wf.cli.app import cli
try:
    cli.main([], prog_name="wf", complete_var="_WF_COMPLETE")
except SystemExit:
    pass
sys.stderr.write("\nMODULES " + json.dumps(sorted(sys.modules)) + "\n")
"""


@pytest.mark.parametrize("line", ["wf ", "wf li", "wf list -", "wf list -s ", "wf run x --if-exists "])
def test_completing_commands_flags_and_statuses_loads_no_engine(db, backend, line):
    import json
    import subprocess
    import sys

    from cli_testing import wf_env

    backend.start("doubler", instance_id="x1")
    backend.close()
    env = wf_env(db, _WF_COMPLETE="bash_complete", COMP_WORDS=line, COMP_CWORD=str(len(line.split(" ")) - 1))
    p = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=30, env=env)
    mods = json.loads([x for x in p.stderr.splitlines() if x.startswith("MODULES ")][-1][len("MODULES "):])
    assert p.stdout.strip(), p.stderr
    heavy = sorted(m for m in mods if m.startswith(("wf.engine", "wf.backends.local", "httpx", "rich", "grpc")))
    assert heavy == [], heavy
