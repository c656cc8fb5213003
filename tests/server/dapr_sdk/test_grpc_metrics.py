"""Metrics of wf serve's gRPC door (issue 13): a Dapr SDK app's activity attempts, failures and
work items, counted by the wf serve that handed them out, scraped from its /metrics."""

from __future__ import annotations

from serve_support import metric_value, scrape, wait_until

APP = {"app_id": "default"}


def test_wf_serve_counts_the_work_items_of_a_dapr_sdk_app(grpc_serve):
    serve = grpc_serve()
    ok, failed, _ = serve.run_app("retries")  # flaky fails twice then succeeds; then fails three times of three
    assert ok["status"] == "COMPLETED" and failed["status"] == "FAILED"
    url = f"http://127.0.0.1:{serve.http_port}/metrics"
    samples = scrape(url)
    flaky, retrying = dict(APP, name="flaky"), dict(APP, name="retrying")
    assert metric_value(samples, "wf_activity_attempts_total", **flaky) == 6
    assert metric_value(samples, "wf_activity_failures_total", **flaky) == 5
    assert metric_value(samples, "wf_activity_duration_seconds_count", **flaky) == 6
    assert metric_value(samples, "wf_grpc_work_items_total", **APP, kind="activity") == 6
    assert metric_value(samples, "wf_workflows_started_total", **retrying) == 2
    assert metric_value(samples, "wf_workflows_completed_total", **retrying) == 1
    assert metric_value(samples, "wf_workflows_failed_total", **retrying) == 1
    turns = metric_value(samples, "wf_grpc_work_items_total", **APP, kind="workflow")
    assert turns is not None and turns >= 2 * 3  # a turn per result at least
    assert metric_value(samples, "wf_workflow_step_duration_seconds_count", **retrying) == turns
    assert metric_value(samples, "wf_instances", **APP, name="retrying", status="FAILED") == 1
    assert metric_value(samples, "wf_instances", **APP, name="retrying", status="COMPLETED") == 1
    # the app has gone: its stream closes, nothing is in flight
    wait_until(lambda: metric_value(scrape(url), "wf_grpc_worker_streams", **APP) == 0, 30, "the stream to close")
    assert metric_value(scrape(url), "wf_worker_activities_in_flight", **APP) == 0
