"""The real `wf` executable against a real `wf serve --app ... ` process with a token: the full
walkthrough (run, get, list, raise-event, suspend, resume, terminate, purge, purge --all-older-than,
wait) over HTTP, and the serve command's own refusals."""

from __future__ import annotations

import json
import subprocess

import pytest

from serve_support import APP_SPEC, ServeProcess, run_wf, wait_until, wf_env

pytestmark = pytest.mark.timeout(120)

TOKEN = "cli-Token-c0ffee42"


def status(env: dict, iid: str) -> str | None:
    r = run_wf(env, "get", iid, "-o", "json")
    return json.loads(r.stdout)["runtime_status"] if r.returncode == 0 else None


def test_full_walkthrough_through_wf_serve_with_a_token(serve_process, tmp_path):
    s = serve_process("--app", APP_SPEC, token=TOKEN)
    env = wf_env(tmp_path, WF_URL=s.url, WF_API_TOKEN=TOKEN)

    # run --wait: a small order needs no approval
    r = run_wf(env, "run", "doubler", "-i", "small", "-x", "21", "--wait", "--timeout", "30s", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["serialized_output"] == "42"

    # run, then get while it waits for a person
    r = run_wf(env, "run", "approval_workflow", "-i", "order-1001", "-x", '{"id": "order-1001", "amount": 1500}')
    assert r.returncode == 0 and "order-1001" in r.stdout, r.stderr
    wait_until(lambda: status(env, "order-1001") == "RUNNING", 30, "order-1001 running")
    r = run_wf(env, "get", "order-1001", "-o", "json")
    doc = json.loads(r.stdout)
    assert doc["name"] == "approval_workflow" and json.loads(doc["serialized_input"])["amount"] == 1500

    # list, with filters and formats
    r = run_wf(env, "list", "-o", "jsonl")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(d["instance_id"], d["runtime_status"]) for d in rows] == [("order-1001", "RUNNING"),
                                                                       ("small", "COMPLETED")]
    assert run_wf(env, "ls", "-s", "COMPLETED", "-o", "ids").stdout == "small\n"
    assert run_wf(env, "list", "-w", "doubler", "-m", "1h", "-o", "ids").stdout == "small\n"

    # suspend, resume
    r = run_wf(env, "suspend", "order-1001", "-r", "vendor outage")
    assert r.returncode == 0 and r.stdout == "Suspended order-1001\n", r.stderr
    assert status(env, "order-1001") == "SUSPENDED"
    r = run_wf(env, "wait", "order-1001", "--timeout", "300ms")
    assert r.returncode == 124 and "SUSPENDED" in r.stderr
    assert run_wf(env, "resume", "order-1001").returncode == 0
    assert status(env, "order-1001") == "RUNNING"

    # raise-event, wait (exit code 0), history
    r = run_wf(env, "raise-event", "order-1001/approval_decision", "-x", '{"approved": true}')
    assert r.returncode == 0 and r.stdout == "Raised event approval_decision on order-1001\n"
    r = run_wf(env, "wait", "order-1001", "--timeout", "30s", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(json.loads(r.stdout)["serialized_output"]) == {"order": "order-1001", "approved": True}
    r = run_wf(env, "history", "order-1001", "-o", "jsonl")
    types = [json.loads(line)["event_type"] for line in r.stdout.splitlines()]
    assert {"ExecutionSuspended", "ExecutionResumed", "EventRaised", "ExecutionCompleted"} <= set(types)

    # terminate: wait says 4; a failure says 3
    run_wf(env, "run", "approval_workflow", "-i", "order-2", "-x", "{}")
    r = run_wf(env, "terminate", "order-2", "--output", '{"cancelled_by": "support"}')
    assert r.returncode == 0, r.stderr
    assert run_wf(env, "wait", "order-2", "--timeout", "30s", "-q").returncode == 4
    r = run_wf(env, "run", "failing", "-i", "bad", "-x", '"nope"', "--wait", "--timeout", "30s", "-q")
    assert r.returncode == 3

    # purge one, then the rest by age
    r = run_wf(env, "purge", "order-2")
    assert r.returncode == 0 and r.stdout == "Purged order-2\n", r.stderr
    r = run_wf(env, "purge", "--all-older-than", "1h")
    assert r.returncode == 0 and r.stdout.startswith("Purged 0 instances"), r.stdout + r.stderr
    r = run_wf(env, "purge", "--all-older-than", "0s", "--dry-run")
    *ids, summary = r.stdout.splitlines()  # the ids it would purge (through wf serve's listing), then the count
    assert r.returncode == 0 and len(ids) == 3 and summary.startswith("Would purge 3 instances"), r.stdout
    r = run_wf(env, "purge", "--all-older-than", "0s", "--all-filter-status", "FAILED")
    assert r.stdout.startswith("Purged 1 instance "), r.stdout + r.stderr
    r = run_wf(env, "purge", "--all-older-than", "0s")
    assert r.returncode == 0 and r.stdout.startswith("Purged 2 instances"), r.stdout + r.stderr
    assert run_wf(env, "list", "-o", "ids").stdout == ""

    # errors over HTTP: one line, the CLI's exit codes
    r = run_wf(env, "get", "order-1001")
    assert r.returncode == 1 and r.stderr.startswith("Error: no workflow instance 'order-1001'")
    r = run_wf(env, "raise-event", "ghost/go")
    assert r.returncode == 1 and "no workflow instance 'ghost'" in r.stderr
    r = run_wf(env, "list", "-s", "DONE")
    assert r.returncode == 2  # refused by the CLI before any request
    r = run_wf({**env, "WF_API_TOKEN": "wrong"}, "list")
    assert r.returncode == 1 and "check the API token" in r.stderr and "wrong" not in r.stderr

    log = s.stop()
    assert TOKEN not in log and "Traceback" not in log, log[-2000:]


def test_serve_without_a_token_on_loopback_and_its_app_ids(serve_process, tmp_path):
    s = serve_process()
    env = wf_env(tmp_path, WF_URL=s.url)
    r = run_wf(env, "-a", "billing", "run", "doubler", "-i", "b1", "-x", "1")
    assert r.returncode == 0, r.stderr
    assert run_wf(env, "-a", "billing", "list", "-o", "ids").stdout == "b1\n"
    assert run_wf(env, "list", "-o", "ids").stdout == ""
    r = run_wf(env, "-a", "billing", "get", "b1", "-o", "json")
    assert json.loads(r.stdout)["app_id"] == "billing"


def test_serve_refuses_a_public_address_without_a_token(tmp_path):
    env = wf_env(tmp_path)
    r = subprocess.run([*_wf(), "--db", str(tmp_path / "x.db"), "serve", "--host", "0.0.0.0", "--port", "0", "--grpc-port", "0"],
                       env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert r.stderr.startswith("Error: refusing to listen on 0.0.0.0 without a token") and r.stderr.count("\n") == 1


def test_serve_reports_a_port_in_use_in_one_line(serve_process, tmp_path):
    s = serve_process()
    r = subprocess.run([*_wf(), "--db", str(tmp_path / "y.db"), "serve", "--port", str(s.port), "--grpc-port", "0"],
                       env=wf_env(tmp_path), capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "could not start" in r.stderr and "Traceback" not in r.stderr


def test_serve_with_a_broken_app_fails_in_one_line(tmp_path):
    app = tmp_path / "broken.py"
    app.write_text("raise RuntimeError('no config')\n")
    r = subprocess.run([*_wf(), "--db", str(tmp_path / "z.db"), "serve", "--port", "0", "--grpc-port", "0", "--app", f"{app}:wfr"],
                       env=wf_env(tmp_path), capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "no config" in r.stderr and "Traceback" not in r.stderr


def test_the_token_can_come_from_the_flag(tmp_path):
    p = ServeProcess(str(tmp_path / "f.db"), tmp_path, "--token", TOKEN)
    try:
        assert p.wait_up()
        env = wf_env(tmp_path, WF_URL=p.url)
        r = run_wf(env, "list")
        assert r.returncode == 1 and "check the API token" in r.stderr
        assert run_wf({**env, "DAPR_API_TOKEN": TOKEN}, "list").returncode == 0
    finally:
        log = p.stop()
    assert TOKEN not in log


def _wf() -> list[str]:
    from serve_support import WF_EXE

    return [WF_EXE]


def test_get_says_what_an_instance_waits_for_through_wf_serve(serve_process, tmp_path):
    """GET .../{id}/pending (a wf extension, named in the metadata) feeds `wf get --url`."""
    import httpx

    from serve_support import HERE

    s = serve_process("--app", f"{HERE.parent / 'cli' / 'ops_apps.py'}:wfr")
    env = wf_env(tmp_path, WF_URL=s.url)
    assert run_wf(env, "run", "approval", "-i", "w1").returncode == 0

    def waits() -> list:
        return json.loads(run_wf(env, "get", "w1", "-o", "json").stdout)["pending"]

    items = wait_until(lambda: (p := waits()) and p[0]["kind"] == "event" and p, 30, "w1 waiting")
    assert [i["kind"] for i in items] == ["event", "timer"] and items[0]["name"] == "approval_decision"
    assert "Waiting for:  event 'approval_decision', since " in run_wf(env, "get", "w1").stdout
    r = run_wf(env, "raise-event", "w1/approval", "-x", "1")
    assert r.returncode == 0 and "did you mean approval_decision?" in r.stderr

    assert "pending" in httpx.get(f"{s.url}/v1.0/metadata").json()["wf"]["extensions"]
    body = httpx.get(f"{s.url}/v1.0/workflows/dapr/w1/pending").json()
    assert body["instanceID"] == "w1" and body["pending"][0] == items[0]
    missing = httpx.get(f"{s.url}/v1.0/workflows/dapr/ghost/pending")
    assert missing.status_code == 404 and missing.json()["errorCode"] == "ERR_INSTANCE_ID_NOT_FOUND"

    # wf count over ?countBy= (the list footer uses it too)
    doc = json.loads(run_wf(env, "count", "--by", "status", "-o", "json").stdout)
    assert doc == {"total": 1, "by": "status", "counts": {"RUNNING": 1}}
    assert run_wf(env, "count", "-s", "COMPLETED").stdout == "0\n"
    bad = httpx.get(f"{s.url}/v1.0/workflows/dapr", params={"countBy": "colour"})
    assert bad.status_code == 400 and bad.json()["errorCode"] == "ERR_MALFORMED_REQUEST"


def test_event_names_with_dots_work_over_url_as_locally(serve_process, tmp_path):
    """`.` and `..` are path segments an HTTP client would resolve away: they must arrive as names."""
    s = serve_process("--app", APP_SPEC)
    remote = wf_env(tmp_path, WF_URL=s.url)
    local = wf_env(tmp_path, WF_DB=str(tmp_path / "serve.db"))
    cases = [(env, f"{where}-{n}", event) for n, event in enumerate([".", "..", "%2E"])
             for env, where in ((remote, "url"), (local, "local"))]
    for env, iid, event in cases:
        assert run_wf(env, "run", "event_echo", "-i", iid, "-x", json.dumps(event)).returncode == 0
    for env, iid, event in cases:
        wait_until(lambda iid=iid, env=env: status(env, iid) == "RUNNING", 30, f"{iid} running")
        r = run_wf(env, "raise-event", iid, event, "-x", json.dumps({"via": iid}))
        assert r.returncode == 0, (event, r.stderr)
        assert r.stdout == f"Raised event {event} on {iid}\n"
    for env, iid, event in cases:
        r = run_wf(env, "wait", iid, "--timeout", "30s", "-o", "json")
        assert r.returncode == 0, (event, r.stderr)
        assert json.loads(json.loads(r.stdout)["serialized_output"]) == {"via": iid}, event


def _connected(proc: subprocess.Popen) -> bool:
    """The process holds a socket: the client has reached the server at least once."""
    import os

    try:
        return any(os.readlink(f"/proc/{proc.pid}/fd/{fd}").startswith("socket:")
                   for fd in os.listdir(f"/proc/{proc.pid}/fd"))
    except OSError:
        return False


def test_wait_over_url_rides_through_a_server_restart(serve_process, tmp_path):
    """`wf wait` (and `run --wait`) keep polling while `wf serve` restarts on the same port."""
    import time

    from serve_support import WF_EXE, ServeProcess

    s = serve_process("--app", APP_SPEC)
    env = wf_env(tmp_path, WF_URL=s.url)
    assert run_wf(env, "run", "approval_workflow", "-i", "o-1", "-x", '{"id": "o-1"}').returncode == 0
    wait_until(lambda: status(env, "o-1") == "RUNNING", 30, "o-1 running")
    waiters = [subprocess.Popen([WF_EXE, "wait", "o-1", "--timeout", "90s", "-o", "json"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
               subprocess.Popen([WF_EXE, "run", "doubler", "-i", "d-1", "-x", "4", "--wait", "--timeout", "90s",
                                 "-s", "4s", "-q"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    try:
        for w in waiters:
            wait_until(lambda w=w: _connected(w) or w.poll() is not None, 30, "the waiters to reach the server")
        s.stop()
        time.sleep(2.5)  # the server is down: the waiters' polls are refused meanwhile
        assert [w.poll() for w in waiters] == [None, None], [w.communicate() for w in waiters]
        s2 = ServeProcess(str(tmp_path / "serve.db"), tmp_path, "--app", APP_SPEC, port=s.port)
        try:
            assert s2.wait_up(), s2.stop()
            r = run_wf(env, "raise-event", "o-1/approval_decision", "-x", '{"approved": true}')
            assert r.returncode == 0, r.stderr
            out, err = waiters[0].communicate(timeout=60)
            assert waiters[0].returncode == 0, err
            assert json.loads(json.loads(out)["serialized_output"]) == {"order": "o-1", "approved": True}
            out, err = waiters[1].communicate(timeout=60)
            assert (waiters[1].returncode, out.strip()) == (0, "d-1"), err
        finally:
            s2.stop()
    finally:
        for w in waiters:
            w.kill()


def test_wait_over_url_times_out_124_while_the_server_is_away(serve_process, tmp_path):
    import re
    import time

    from serve_support import WF_EXE

    from wf.durations import parse_duration

    s = serve_process("--app", APP_SPEC)
    env = wf_env(tmp_path, WF_URL=s.url)
    assert run_wf(env, "run", "approval_workflow", "-i", "o-2").returncode == 0
    w = subprocess.Popen([WF_EXE, "wait", "o-2", "--timeout", "3s"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    try:
        wait_until(lambda: _connected(w) or w.poll() is not None, 30, "wf wait to reach the server")
        s.stop()
        out, err = w.communicate(timeout=60)
    finally:
        w.kill()
    took = time.monotonic() - t0
    lines = err.splitlines()
    assert w.returncode == 124, err
    assert len(lines) == 1 and "waiting for o-2 (state unknown: cannot reach the engine" in lines[0], lines
    reported = parse_duration(re.search(r"timed out after (\S+) waiting", lines[0]).group(1)).total_seconds()
    assert 3 <= reported <= took + 0.5, (lines[0], took)


def test_an_http_timeout_message_states_the_time_really_spent(tmp_path):
    """A server that accepts connections and never answers: reads are tried 3 times, and the
    message says how long that took, not just the per-request timeout."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        r = run_wf(wf_env(tmp_path, WF_URL=url, WF_TIMEOUT="0.5"), "get", "x", timeout=60)
    lines = r.stderr.splitlines()
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert "did not answer within 0.5s; 3 tries over " in lines[0], lines[0]


def test_metadata_counts_live_workers_and_lists_them(serve_process, tmp_path):
    """workflows.connectedWorkers of GET /v1.0/metadata is the number of live workers of the app;
    GET /v1.0/workers lists them, and `wf workers --url` shows them."""
    import httpx

    from serve_support import HERE, WF_EXE

    db = str(tmp_path / "shared.db")
    s = serve_process(db=db)
    env = wf_env(tmp_path, WF_URL=s.url)
    base = httpx.get(f"{s.url}/v1.0/metadata").json()["workflows"]["connectedWorkers"]
    worker = subprocess.Popen([WF_EXE, "--db", db, "worker", "--app", f"{HERE.parent / 'cli' / 'ops_apps.py'}:wfr"],
                              env=wf_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: httpx.get(f"{s.url}/v1.0/metadata").json()["workflows"]["connectedWorkers"] == base + 1,
                   30, "the worker counted")
        listed = httpx.get(f"{s.url}/v1.0/workers").json()["workers"]
        assert worker.pid in [w["pid"] for w in listed]
        rows = json.loads(run_wf(env, "workers", "-o", "json").stdout)
        assert worker.pid in [w["pid"] for w in rows]
    finally:
        worker.terminate()
        worker.wait(timeout=15)
    wait_until(lambda: httpx.get(f"{s.url}/v1.0/metadata").json()["workflows"]["connectedWorkers"] == base,
               30, "the stopped worker no longer counted")

