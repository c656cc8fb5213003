"""Prometheus metrics (issue 13): a real `wf worker --metrics-port 0` and a real `wf serve`, scraped
over HTTP after running workflows with a failing activity, the text parsed with prometheus_client's
own parser, and every count compared with what ran."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess

import httpx
import pytest
from serve_support import APP_SPEC, WF_EXE, run_wf, scrape, wait_until, wf_env
from serve_support import metric_value as value

import wf

DEFAULT = {"app_id": "default"}


def families(samples: dict) -> set[str]:
    return {name for name, _ in samples}


def run_the_mix(db: str) -> None:
    """Two doublers that complete and one workflow whose activity fails (so it fails)."""
    client = wf.WorkflowClient(db)
    ids = [client.schedule_new_workflow("doubler", input=n) for n in (1, 2)]
    ids.append(client.schedule_new_workflow("failing", input="boom"))
    for iid in ids:
        client.wait_for_workflow_completion(iid, timeout_in_seconds=60)
    client.close()


def assert_work_counted(samples: dict) -> None:
    """What run_the_mix ran, as counted by the process that ran it."""
    # (a name's series all appear, at 0, once it has run: rates over them need no special case)
    for name, started, completed, failed in (("doubler", 2, 2, 0), ("failing", 1, 0, 1)):
        wl = dict(DEFAULT, name=name)
        assert value(samples, "wf_workflows_started_total", **wl) == started
        assert value(samples, "wf_workflows_completed_total", **wl) == completed
        assert value(samples, "wf_workflows_failed_total", **wl) == failed
        # two steps each: the start (schedules the activity), then the activity's result
        assert value(samples, "wf_workflow_step_duration_seconds_count", **wl) == 2 * started
        assert value(samples, "wf_workflow_step_duration_seconds_bucket", **wl, le="+Inf") == 2 * started
    for name, attempts, failures in (("double", 2, 0), ("explode", 1, 1)):
        al = dict(DEFAULT, name=name)
        assert value(samples, "wf_activity_attempts_total", **al) == attempts
        assert value(samples, "wf_activity_failures_total", **al) == failures
        assert value(samples, "wf_activity_duration_seconds_count", **al) == attempts
        assert value(samples, "wf_activity_duration_seconds_sum", **al) >= 0
    assert value(samples, "wf_worker_activities_in_flight", **DEFAULT) == 0
    assert value(samples, "wf_store_write_lock_wait_seconds_count") >= 4  # a turn per step at least
    assert not any(dict(labels).get("instance_id") for _, labels in samples)  # never an instance id


class WorkerProcess:
    def __init__(self, db: str, home, *args: str) -> None:
        self.log = home / "worker.log"
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen([WF_EXE, "--db", db, "worker", "--app", APP_SPEC, *args], env=wf_env(home),
                                         stdout=fh, stderr=subprocess.STDOUT)

    def metrics_url(self) -> str:
        def announced():
            found = re.search(r"wf worker: metrics at (http://\S+/metrics)", self.log.read_text())
            assert found or self.proc.poll() is None, self.log.read_text()
            return found and found.group(1)

        return wait_until(announced, 30, "the worker to announce its metrics port")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


def test_a_worker_serves_what_it_ran_on_its_metrics_port(tmp_path):
    db = str(tmp_path / "w.db")
    worker = WorkerProcess(db, tmp_path, "--metrics-port", "0")
    try:
        url = worker.metrics_url()
        assert url.startswith("http://127.0.0.1:") and not url.startswith("http://127.0.0.1:0/")
        before = scrape(url)
        assert value(before, "wf_activity_attempts_total", **DEFAULT, name="double") is None
        assert "process_cpu_seconds_total" in families(before)  # the client library's standard ones
        run_the_mix(db)
        samples = scrape(url)
        assert_work_counted(samples)
        # the store-wide gauges are wf serve's: N workers would export N copies of them
        assert not families(samples) & {"wf_instances", "wf_workers", "wf_store_up"}
        assert not any(name.endswith("_created") for name in families(samples))
    finally:
        assert worker.stop() == 0, worker.log.read_text()


def test_a_metrics_port_in_use_is_one_error_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        db = str(tmp_path / "w.db")
        r = run_wf(wf_env(tmp_path), "--db", db, "worker", "--app", APP_SPEC, "--metrics-port", str(port))
    assert r.returncode == 1
    assert r.stderr.startswith(f"Error: cannot serve metrics on 127.0.0.1:{port}: Address already in use")
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    bad = run_wf(wf_env(tmp_path), "--db", db, "worker", "--app", APP_SPEC, "--metrics-port", "70000")
    assert bad.returncode == 2 and "--metrics-port" in bad.stderr
    nowhere = run_wf(wf_env(tmp_path), "--db", db, "worker", "--app", APP_SPEC, "--metrics-port", "0",
                     "--metrics-host", "no-such-host.invalid")
    assert nowhere.returncode == 1 and nowhere.stderr.startswith("Error: cannot serve metrics on no-such-host.invalid:0")
    assert len(nowhere.stderr.strip().splitlines()) == 1
    # the worker never started: the store was not even created
    assert not os.path.exists(db)


def test_wf_serve_serves_the_store_gauges_and_its_own_work(serve_process, tmp_path):
    db = str(tmp_path / "serve.db")
    server = serve_process("--app", APP_SPEC, db=db, env={"WF_RETENTION_INTERVAL": "50ms"})
    url = f"{server.url}/metrics"
    run_the_mix(db)
    samples = scrape(url)
    assert_work_counted(samples)  # its in-process worker (--app) ran them
    for name, status, n in (("doubler", "COMPLETED", 2), ("failing", "FAILED", 1)):
        assert value(samples, "wf_instances", **DEFAULT, name=name, status=status) == n
    assert value(samples, "wf_workers", **DEFAULT) == 1
    assert value(samples, "wf_activities_in_flight", **DEFAULT) == 0
    assert value(samples, "wf_store_up") == 1

    # a purge through the API, then one by a retention policy, each counted by its trigger
    client = wf.WorkflowClient(url=server.url)
    done = client.list_workflows(name="doubler")
    client.purge_workflow(next(iter(done)).instance_id)
    assert value(scrape(url), "wf_instances_purged_total", **DEFAULT, trigger="request") == 1
    assert httpx.put(f"{server.url}/v1.0/retention", json={"failed": "1ms"}).status_code == 200

    def purged_by_retention():
        s = scrape(url)
        return value(s, "wf_instances_purged_total", **DEFAULT, trigger="retention") == 1 and s

    samples = wait_until(purged_by_retention, 30, "retention to purge the failed instance")
    assert value(samples, "wf_retention_runs_total") >= 1
    assert value(samples, "wf_instances", **DEFAULT, name="failing", status="FAILED") is None
    assert value(samples, "wf_instances", **DEFAULT, name="doubler", status="COMPLETED") == 1
    client.close()


def test_metrics_of_wf_serve_take_the_token_as_a_prometheus_bearer(serve_process, tmp_path):
    server = serve_process(token="s3cret")
    url = f"{server.url}/metrics"
    r = httpx.get(url)
    assert r.status_code == 401 and "Authorization: Bearer" in r.json()["message"]
    assert httpx.get(url, headers={"authorization": "Bearer wrong"}).status_code == 401
    assert value(scrape(url, authorization="Bearer s3cret"), "wf_store_up") == 1
    assert value(scrape(url, **{"dapr-api-token": "s3cret"}), "wf_store_up") == 1
    # the bearer form is for /metrics only: the workflow API keeps Dapr's header
    assert httpx.get(f"{server.url}/v1.0/workflows/dapr", headers={"authorization": "Bearer s3cret"}).status_code == 401
    # the Host policy holds here too (DNS rebinding): only names this server answers to
    r = httpx.get(url, headers={"authorization": "Bearer s3cret", "host": "evil.example"})
    assert r.status_code == 403 and r.json()["errorCode"] == "ERR_FORBIDDEN_HOST"


def test_a_read_token_may_scrape(serve_process, tmp_path):
    tokens = str(tmp_path / "tokens.toml")
    env = wf_env(tmp_path)
    reader = run_wf(env, "serve", "token", "add", "prometheus", "--role", "read", "--tokens", tokens).stdout.strip()
    server = serve_process("--tokens", tokens)
    samples = scrape(f"{server.url}/metrics", authorization=f"Bearer {reader}")
    assert value(samples, "wf_store_up") == 1


def test_openmetrics_is_served_when_asked_for(serve_process):
    server = serve_process()
    r = httpx.get(f"{server.url}/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.rstrip().endswith("# EOF")


@pytest.mark.parametrize("header, token", [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None),
                                           ("Bearer", None), ("", None), (None, None)])
def test_bearer_token(header, token):
    from wf.server.auth import bearer_token, operation_of_request, required_role

    assert bearer_token(header) == token
    assert required_role(operation_of_request("GET", "/metrics")) == "read"
