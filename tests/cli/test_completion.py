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
    for cmd in ("get", "history", "wait", "suspend", "resume", "terminate", "purge"):
        assert sorted(complete(["--db", db, cmd], "order")) == ["order-1", "order-2"], cmd
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
