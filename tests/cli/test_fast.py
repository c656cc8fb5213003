"""wf.cli.fast: the plainest reads without click give exactly what click gives (output, errors,
exit code), and anything else is left to click."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from cli_testing import WF_EXE, run_wf, wait_until, wf_env

from wf.cli import fast

CLICK = "import sys; from wf.cli.app import cli; cli.main(sys.argv[1:], prog_name='wf')"


def through_click(db: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLICK, *args], capture_output=True, text=True, timeout=30,
                          env=wf_env(db))


@pytest.fixture
def store(db, backend, finished):
    finished("doubler", "21", "d1")
    backend.start("waiter", instance_id="w1")
    # The in-process runtime runs w1 meanwhile: let it reach its wait, so both reads see one history.
    wait_until(lambda: [e.event_type for e in backend.history("w1")] == ["ExecutionStarted"]
               and backend.get("w1").runtime_status.name == "RUNNING", what="w1 to wait for its event")
    backend.start("doubler", input="1", instance_id="later", start_at=__import__("datetime").datetime(2100, 1, 1))
    from wf.backends.local import LocalBackend

    other = LocalBackend(db, app_id="billing")
    other.start("doubler", input="2", instance_id="b1")
    other.close()
    return db


@pytest.mark.parametrize("args", [
    ("get", "d1"), ("get", "d1", "-o", "json"), ("get", "w1", "-o", "yaml"), ("get", "later", "--output=JSON"),
    ("history", "d1"), ("history", "d1", "-o", "jsonl"), ("history", "w1", "--output", "json"),
    ("count",), ("count", "-o", "json"), ("-a", "billing", "count"), ("--app-id=billing", "get", "b1", "-o", "json"),
    ("list", "--limit", "10"), ("ls", "--limit=2", "-o", "json"), ("list", "--limit", "3", "-o", "wide"),
    ("list", "-o", "ids", "--limit", "10"),
    # errors: the fast path gives up, click reports them as always
    ("get", "nope"), ("get", "bad id!"), ("history", "nope", "-o", "json"), ("get", "d1", "-o", "xml"),
    ("-a", "nobody", "get", "d1"), ("-a=billing", "get", "b1"), ("list", "--limit", "0"), ("count", "extra"), ("get",), ("get", "d1", "d2"),
])
def test_the_same_as_through_click(store, args):
    fast_run = run_wf(store, *args)
    click_run = through_click(store, *args)
    assert (fast_run.returncode, ages(fast_run.stdout), fast_run.stderr) == (
        click_run.returncode, ages(click_run.stdout), click_run.stderr)


def ages(text: str) -> str:
    """The output with its relative times ('3s', '1.2s ago') masked: the two runs are a moment apart."""
    return re.sub(r"\b\d+(\.\d+)?(ms|s|m|h|d)\b( ago)?", "<age>", text)


def test_a_missing_store_is_reported_by_click(tmp_path):
    r = run_wf(str(tmp_path / "none.db"), "get", "x1", "-o", "json")
    assert r.returncode == 1 and r.stderr.startswith("Error: ") and "Traceback" not in r.stderr
    assert not (tmp_path / "none.db").exists()


@pytest.mark.parametrize("args", [
    ["get"], ["get", "a", "-q"], ["-q", "get", "a"], ["get", "a", "--db", "x"], ["--profile", "p", "get", "a"],
    ["--url", "http://x", "get", "a"], ["get", "a", "--show-input"], ["get", "-h"], ["--help"], ["list"],
    ["list", "-s", "RUNNING", "--limit", "5"], ["list", "--limit", "100000"], ["list", "--limit", "-1"],
    ["count", "--by", "status"], ["count", "-s", "FAILED"], ["get", "a", "-ojson"], ["get", "a", "-o"],
    ["get", "--", "a"], ["history", "a", "--limit", "3"], ["--db", "a", "--db", "b", "get", "x"], ["run", "x"],
    ["get", "a\udcff"], ["-a=billing", "get", "x"],
])
def test_anything_else_is_left_to_click(args):
    assert fast.run(args) is None


def test_at_a_terminal_click_does_it(store, monkeypatch):
    from wf.cli import output

    monkeypatch.setenv("WF_DB", store)
    monkeypatch.setattr(output, "is_terminal", lambda stream: True)
    assert fast.run(["get", "d1", "-o", "json"]) is None


def test_over_a_remote_engine_click_does_it(store, monkeypatch):
    monkeypatch.setenv("WF_DB", store)
    monkeypatch.setenv("WF_URL", "http://127.0.0.1:9")
    assert fast.run(["get", "d1", "-o", "json"]) is None


def test_the_fast_reads_import_neither_click_nor_the_engine(store):
    probe = ("import sys, json\nsys.argv = ['wf', 'get', 'd1', '-o', 'json']\nimport os\n"
             "os._exit = lambda code: (sys.stdout.flush(), sys.stderr.write('\\nMODULES ' + json.dumps(sorted("
             "sys.modules)) + ' EXIT ' + str(code) + '\\n'), sys.exit(0))\nfrom wf.cli import main\nmain()")
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30,
                       env=wf_env(store))
    assert json.loads(p.stdout)["instance_id"] == "d1", p.stderr
    line = [x for x in p.stderr.splitlines() if x.startswith("MODULES ")][-1]
    modules = set(json.loads(line[len("MODULES "):line.index(" EXIT ")]))
    assert line.endswith(" EXIT 0")
    loaded = {m for m in modules if m.startswith(("click", "wf.engine.worker", "wf.engine.executor", "rich", "httpx"))}
    assert loaded == set()
    assert {"wf.cli.fast", "wf.cli.reads", "wf.cli.globals"} <= modules and "wf.cli.app" not in modules


def test_a_closed_reader_ends_quietly(store):
    p = subprocess.Popen([WF_EXE, "history", "d1", "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=wf_env(store))
    p.stdout.close()  # type: ignore[union-attr]
    assert p.wait(timeout=30) in (0, 141)
    assert b"Traceback" not in p.stderr.read()  # type: ignore[union-attr]
