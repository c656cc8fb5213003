"""Helpers and fixtures of the CLI tests (fixtures re-exported by conftest.py; the isolated
environment comes from tests/conftest.py, for every suite): a temp store, a CliRunner helper, an in-process runtime with the workflows of tests/cli/apps.py, and
real `wf` subprocesses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from wf_testing import SCRUBBED_ENV, stop_process

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps.py"
APP_SPEC = f"{APPS}:wfr"
WF_EXE = shutil.which("wf", path=os.path.dirname(sys.executable)) or shutil.which("wf")



def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll predicate against a deadline (no bare sleeps in tests)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.01)


@pytest.fixture
def db(tmp_path) -> str:
    return str(tmp_path / "cli.db")


class Invoker:
    """wf(...) runs the click tree in-process against the temp store and returns click's Result."""

    def __init__(self, db: str):
        self.db = db
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, env: dict | None = None, db: bool = True):
        from wf.cli.app import cli
        from wf import settings

        argv = (["--db", self.db] if db else []) + [str(a) for a in args]
        try:
            return self.runner.invoke(cli, argv, input=input, env=env, prog_name="wf", catch_exceptions=False)
        finally:
            settings.clear_overrides()


@pytest.fixture
def wf(db) -> Invoker:
    return Invoker(db)


@pytest.fixture
def backend(db):
    from wf.backends.local import LocalBackend

    b = LocalBackend(db)
    yield b
    b.close()


@pytest.fixture
def runtime(db):
    """The apps.py workflows running in this process on the temp store."""
    import importlib.util

    import wf as wflib

    spec = importlib.util.spec_from_file_location("wf_cli_test_apps", APPS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rt = wflib.WorkflowRuntime(db=db)
    for name, fn in module.wfr.workflows.items():
        rt.register_workflow(fn, name=name)
    for name, fn in module.wfr.activities.items():
        rt.register_activity(fn, name=name)
    rt.start()
    yield rt
    rt.shutdown()


@pytest.fixture
def finished(backend, runtime):
    """Make instances reach a given end: finished("doubler", "21", "d1") -> its WorkflowState."""

    def make(name: str, payload: str | None, instance_id: str):
        backend.start(name, input=payload, instance_id=instance_id)
        return backend.wait(instance_id, timeout=10)

    return make


def snapshot(db: str) -> list[tuple]:
    """Everything a command could change, to check that a refused one changed nothing."""
    from wf.backends.local import LocalBackend

    if not os.path.exists(db):
        return []
    b = LocalBackend(db)
    try:
        rows = []
        for s in b.list(None, fetch_payloads=True):
            rows.append((s.instance_id, s.runtime_status.name, s.serialized_output, s.last_updated_at,
                         len(b.history(s.instance_id))))
        return sorted(rows)
    finally:
        b.close()


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("Error: "), lines[0]
    assert "Traceback" not in stderr
    return lines[0]


# ----------------------------------------------------------------------------- real subprocesses


def wf_env(db: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["WF_DB"] = db
    env.update(extra)
    return env


def run_wf(db: str, *args: str, timeout: float = 30, input: str | None = None, **env: str):
    assert WF_EXE, "the wf console script is not installed in the venv"
    return subprocess.run([WF_EXE, *args], capture_output=True, text=True, timeout=timeout, input=input,
                          env=wf_env(db, **env))


@pytest.fixture
def worker_proc(db):
    """Start `wf worker --app tests/cli/apps.py:wfr` on the temp store; stopped (SIGTERM) at teardown.
    Its output goes to files beside the store (read them with worker_log): a pipe nobody reads
    would block a worker that logs more than the pipe holds."""
    procs: list[subprocess.Popen] = []
    files: list[Any] = []

    def start(*extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = Path(db).with_name(f"worker-{len(procs)}.log")
        out = open(log.with_suffix(".out"), "w")  # noqa: SIM115 - closed at teardown
        err = open(log, "w")  # noqa: SIM115 - closed at teardown
        files.extend((out, err))
        p = subprocess.Popen([WF_EXE, *extra, "worker", "--app", APP_SPEC], env=wf_env(db, **(env or {})),
                             stdout=out, stderr=err, text=True)
        p.log_path = log  # type: ignore[attr-defined]
        procs.append(p)
        return p

    yield start
    for p in procs:
        stop_process(p)
    for f in files:
        f.close()


def worker_log(p: subprocess.Popen) -> str:
    """What a worker_proc worker has written on stderr so far."""
    return p.log_path.read_text(encoding="utf-8")  # type: ignore[attr-defined]


@pytest.fixture
def running(backend, runtime):
    """Start a waiting instance and return once a worker has picked it up (status RUNNING)."""
    from wf.model import WorkflowStatus

    def make(instance_id: str, name: str = "waiter"):
        backend.start(name, instance_id=instance_id)
        return wait_until(lambda: (s := backend.get(instance_id)).runtime_status == WorkflowStatus.RUNNING and s,
                          what=f"{instance_id} running")

    return make


def timed_out_after(message: str) -> float:
    """The seconds a 'timed out after 1m2s / 300ms ...' message reports (the real time waited)."""
    import re

    from wf.durations import parse_duration

    m = re.search(r"timed out after (\S+) waiting", message)
    assert m, f"no 'timed out after ... waiting' in {message!r}"
    return parse_duration(m.group(1)).total_seconds()
