"""The log of `wf worker` on stderr, through real `wf worker` processes: one line per failed
activity attempt and per failed instance (id, name, attempt, error), slow steps, lease takeovers,
drain and stop with what was in flight, the app's own logging; -v, --log-level (and
WF_LOG_LEVEL), --log-format json; bad values are usage errors."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

from cli_testing import HERE, WF_EXE, one_error_line, run_wf, wait_until, wf_env

OPS_APP = f"{HERE / 'ops_apps.py'}:wfr"


class Worker:
    """A `wf worker` of ops_apps.py whose stderr goes to a file the test reads while it runs."""

    def __init__(self, db: str, log: Path, *flags: str, **env: str) -> None:
        self.log = log
        with open(log, "wb") as fh:
            self.proc = subprocess.Popen([WF_EXE, "worker", "--app", OPS_APP, *flags], env=wf_env(db, **env),
                                         stdout=subprocess.DEVNULL, stderr=fh)
        self.db, self.draining = db, False
        wait_until(self.up, 30, "the worker to record itself")

    def up(self) -> bool:
        assert self.proc.poll() is None, self.text()
        workers = json.loads(run_wf(self.db, "workers", "-o", "json").stdout or "[]")
        return any(w["pid"] == self.proc.pid for w in workers)

    def text(self) -> str:
        return self.log.read_text()

    def drain(self) -> None:
        """SIGTERM, once (a second signal would exit without draining)."""
        if self.proc.poll() is None and not self.draining:
            self.draining = True
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> str:
        """A drain, then the whole log."""
        self.drain()
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        assert self.proc.returncode in (0, -signal.SIGKILL), self.text()
        return self.text()


def finish(db: str, workflow: str, iid: str, payload: str = "null", code: int = 3) -> None:
    assert run_wf(db, "run", workflow, "-i", iid, "-x", payload, "-q").returncode == 0
    r = run_wf(db, "wait", iid, "--timeout", "30s", "-q")
    assert r.returncode == code, r.stderr


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]  # every line is one JSON object


def test_json_log_names_each_failure_slow_step_and_drain(db, tmp_path):
    w = Worker(db, tmp_path / "worker.log", "--log-format", "json", WF_STEP_WARN_SECONDS="0.3")
    try:
        finish(db, "fails_twice", "f1")
        finish(db, "broken", "b1", '"o-7"')
        finish(db, "slow_step", "s1", "1.0", code=0)
        gate = tmp_path / "gate"
        assert run_wf(db, "run", "holder", "-i", "h1", "-x", json.dumps(str(gate))).returncode == 0
        wait_until(lambda: '"worker"' in run_wf(db, "get", "h1", "-o", "json").stdout, 20, "hold in flight")
        w.drain()  # the held activity is in flight
        wait_until(lambda: "draining" in w.text(), 20, "the drain line")
        gate.touch()
        log = w.stop()
    finally:
        w.stop()
    rs = records(log)
    assert all({"time", "level", "logger", "message"} <= set(r) for r in rs)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["time"]) for r in rs)

    attempts = [r for r in rs if r.get("activity") == "always_fails" and r["instance_id"] == "f1"]
    assert [(r["attempt"], r["level"], r["logger"], r["error"]) for r in attempts] == [
        (1, "warning", "wf.worker", "RuntimeError: card declined"),
        (2, "warning", "wf.worker", "RuntimeError: card declined")]
    assert "activity always_fails (attempt 2) of instance f1 failed: RuntimeError: card declined" in [
        r["message"] for r in attempts]
    assert "card declined" in attempts[0]["stack_trace"]

    failed = {r["instance_id"]: r for r in rs if r.get("status") == "FAILED"}
    assert set(failed) == {"f1", "b1"}  # one line per failed instance, none for the completed ones
    assert failed["f1"]["workflow"] == "fails_twice" and failed["f1"]["level"] == "error"
    assert failed["b1"]["workflow"] == "broken" and failed["b1"]["error"] == "ValueError: order o-7 has no lines"
    assert failed["b1"]["message"] == "workflow broken (instance b1) failed: ValueError: order o-7 has no lines"

    slow = [r for r in rs if "WF_STEP_WARN_SECONDS" in r["message"]]
    assert slow and slow[0]["instance_id"] == "s1" and slow[0]["workflow"] == "slow_step"
    assert slow[0]["level"] == "warning" and slow[0]["duration_ms"] >= 300

    app = [r for r in rs if r["logger"] == "ops.app"]
    assert app and {r["message"] for r in app} == {"charging the card"}  # its info, not its debug (level info)

    drain = next(r for r in rs if "draining (up to" in r["message"])
    assert drain["activities"] == 1 and drain["instances"] == ["h1"] and "hold of h1" in drain["message"]
    messages = [r["message"] for r in rs]
    assert messages[0].startswith("wf worker: running") and messages[-1] == "wf worker: stopped"
    assert any(m.startswith("wf worker: stopping; draining") for m in messages)
    assert run_wf(db, "wait", "h1", "--timeout", "20s", "-q").returncode == 0  # the drain finished it


def test_text_log_and_levels(db, tmp_path):
    w = Worker(db, tmp_path / "text.log")
    finish(db, "fails", "t1")
    log = w.stop()
    line = next(x for x in log.splitlines() if "activity always_fails" in x)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING wf\.worker: activity always_fails "
                        r"\(attempt 1\) of instance t1 failed: RuntimeError: card declined", line), line
    assert re.search(r"Z ERROR wf\.worker: workflow fails \(instance t1\) failed: RuntimeError: activity "
                     r"'always_fails' failed: card declined\n", log)
    assert "Z INFO ops.app: charging the card" in log and "debug detail" not in log
    assert "Traceback" not in log  # the trace is a field of the JSON form only

    w = Worker(db, tmp_path / "debug.log", "-v")
    finish(db, "fails", "t2")
    assert "Z DEBUG ops.app: debug detail" in w.stop()

    w = Worker(db, tmp_path / "warning.log", WF_LOG_LEVEL="WARNING")  # the environment, any case
    finish(db, "fails", "t3")
    log = w.stop()
    assert " INFO " not in log and "wf worker: " not in log and "charging the card" not in log
    assert "WARNING wf.worker: activity always_fails (attempt 1) of instance t3 failed" in log
    assert "ERROR wf.worker: workflow fails (instance t3) failed" in log

    w = Worker(db, tmp_path / "quiet.log", "-q")  # quiet: warning, unless --log-level says otherwise
    finish(db, "fails", "t4")
    log = w.stop()
    assert " INFO " not in log and "WARNING wf.worker: activity always_fails (attempt 1) of instance t4" in log


def test_bad_log_flags_are_usage_errors(db):
    for args, env, bad in [
        (("worker", "--app", OPS_APP, "--log-level", "LOUD"), {}, "LOUD"),
        (("worker", "--app", OPS_APP, "--log-format", "xml"), {}, "xml"),
        (("worker", "--app", OPS_APP), {"WF_LOG_LEVEL": "chatty"}, "chatty"),
        (("serve", "--port", "0", "--log-level", "LOUD"), {}, "LOUD"),
    ]:
        r = run_wf(db, *args, **env)
        assert r.returncode == 2, (args, r.stderr)
        assert bad in one_error_line(r.stderr), args


def test_a_lease_takeover_names_the_instance_and_both_workers(db, tmp_path):
    gate = tmp_path / "gate"
    first = Worker(db, tmp_path / "first.log")
    try:
        assert run_wf(db, "run", "holder", "-i", "h2", "-x", json.dumps(str(gate))).returncode == 0
        wait_until(lambda: '"worker"' in run_wf(db, "get", "h2", "-o", "json").stdout, 20, "hold in flight")
        second = Worker(db, tmp_path / "second.log", "--log-format", "json")
        first.proc.kill()  # its process is gone: the second worker takes over at its next heartbeat
        first.proc.wait()
        taken = wait_until(lambda: [r for r in records(second.text()) if r.get("instance_id") == "h2"
                                    and "lease takeover" in r["message"]], 30, "the takeover line")[0]
        assert f":{first.proc.pid}:" in taken["old_owner"] and f":{second.proc.pid}:" in taken["new_owner"]
        assert taken["workflow"] == "holder"
        assert taken["message"] == f"lease takeover: instance h2 (holder) from worker {taken['old_owner']} -> " \
                                   f"{taken['new_owner']}"
        gone = next(r for r in records(second.text()) if r.get("old_owner") == taken["old_owner"] and "is gone" in
                    r["message"])
        assert gone["level"] == "warning" and gone["instances"] == 1 and gone["tasks"] == 1
        gate.touch()  # the second worker runs the activity again and finishes
        assert run_wf(db, "wait", "h2", "--timeout", "30s", "-q").returncode == 0
        second.stop()
    finally:
        first.stop()
