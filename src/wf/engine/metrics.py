"""Prometheus metrics: what this process does, and the store's state at scrape time.

Off by default: `recorder` is None and every hook in the engine is one `is None` test, so a
process that serves no metrics (every `wf` command, a plain worker) never imports
prometheus_client. enable() turns them on for the process (`wf worker --metrics-port`, `wf serve`).

Where each metric lives (README "Metrics"):
- counters and histograms of work count what THIS process did: the in-process worker's steps and
  activities, the gRPC hub's work items (wf serve), purges and retention runs made here;
- StoreCollector derives gauges from the store at scrape time (instances by app, name and status in
  one GROUP BY; live workers and their activities in flight): served by `wf serve` only, so N
  workers on one store do not export N copies of the same numbers.
Labels are low-cardinality: app id, workflow or activity name, status, kind. Never instance ids.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("wf.metrics")

recorder: "Recorder | None" = None
_enable_lock = threading.Lock()

# Buckets in seconds. Steps are CPU work (sub-millisecond to seconds); activities are whatever the
# app does (an HTTP call to a batch job); write-lock waits are usually microseconds.
STEP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
ACTIVITY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
LOCK_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0)


def enable() -> "Recorder":
    """Turn metrics on for this process (idempotent); the engine's hooks record from now on."""
    global recorder
    with _enable_lock:
        if recorder is None:
            from prometheus_client import disable_created_metrics

            from wf.engine.store import Store

            disable_created_metrics()  # no *_created series: this process owns its registry
            recorder = Recorder()
            Store.on_lock_wait = recorder.lock_wait.observe
        return recorder


class Recorder:
    """This process's registry and the engine's hooks into it. Label children are cached per
    (app, name), so a hook on the hot path is a dict lookup and an add."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram
        from prometheus_client import gc_collector, platform_collector, process_collector

        self.registry = r = CollectorRegistry(auto_describe=True)
        process_collector.ProcessCollector(registry=r)
        platform_collector.PlatformCollector(registry=r)
        gc_collector.GCCollector(registry=r)
        wl = ["app_id", "name"]
        self.started = Counter("wf_workflows_started_total", "Workflow instances this process started running "
                               "(their first step; not continue-as-new).", wl, registry=r)
        self.completed = Counter("wf_workflows_completed_total", "Workflow instances that completed in a step "
                                 "this process ran.", wl, registry=r)
        self.failed = Counter("wf_workflows_failed_total", "Workflow instances that failed in a step this "
                              "process ran.", wl, registry=r)
        self.steps = Histogram("wf_workflow_step_duration_seconds", "Time of one workflow step: the replay of "
                               "new events in the worker (for gRPC apps: from handing out the work item to its "
                               "completion).", wl, buckets=STEP_BUCKETS, registry=r)
        self.attempts = Counter("wf_activity_attempts_total", "Activity attempts this process started (or "
                                "handed to a gRPC app).", wl, registry=r)
        self.activity_failures = Counter("wf_activity_failures_total", "Activity attempts that failed.", wl,
                                         registry=r)
        self.activity_seconds = Histogram("wf_activity_duration_seconds", "Time of one activity attempt, "
                                          "failed or not.", wl, buckets=ACTIVITY_BUCKETS, registry=r)
        self.lock_wait = Histogram("wf_store_write_lock_wait_seconds", "How long a write transaction of this "
                                   "process waited for the store's write lock (BEGIN IMMEDIATE).",
                                   buckets=LOCK_BUCKETS, registry=r)
        self.purged = Counter("wf_instances_purged_total", "Instances (children included) this process purged; "
                              "trigger: request (wf purge, the API) or retention (a retention policy).",
                              ["app_id", "trigger"], registry=r)
        self.retention_runs = Counter("wf_retention_runs_total", "Retention passes this process ran (it held "
                                      "the store's retention lease).", registry=r)
        self.work_items = Counter("wf_grpc_work_items_total", "Work items handed to Dapr SDK apps over gRPC; "
                                  "kind: workflow or activity.", ["app_id", "kind"], registry=r)
        self.live = LiveCollector()
        r.register(self.live)
        self._workflow: dict[tuple[str, str], tuple[Any, Any, Any, Any]] = {}
        self._activity: dict[tuple[str, str], tuple[Any, Any, Any]] = {}

    def _wf(self, app_id: str, name: str) -> tuple[Any, Any, Any, Any]:
        c = self._workflow.get((app_id, name))
        if c is None:
            c = self._workflow[(app_id, name)] = (self.started.labels(app_id, name),
                                                  self.completed.labels(app_id, name),
                                                  self.failed.labels(app_id, name), self.steps.labels(app_id, name))
        return c

    def _act(self, app_id: str, name: str) -> tuple[Any, Any, Any]:
        c = self._activity.get((app_id, name))
        if c is None:
            c = self._activity[(app_id, name)] = (self.attempts.labels(app_id, name),
                                                  self.activity_failures.labels(app_id, name),
                                                  self.activity_seconds.labels(app_id, name))
        return c

    # ------------------------------------------------------------------------------ hooks

    def step(self, app_id: str, name: str, seconds: float) -> None:
        self._wf(app_id, name)[3].observe(seconds)

    def step_recorded(self, app_id: str, name: str, *, first: bool, status: str | None) -> None:
        """A step was committed: `first` if it started the instance; status: how it left it
        (None: still running; STALLED waits for a worker that has its code, and counts nothing)."""
        if status == "STALLED":
            return
        started, completed, failed, _ = self._wf(app_id, name)
        if first:
            started.inc()
        if status == "COMPLETED":
            completed.inc()
        elif status == "FAILED":
            failed.inc()

    def activity_started(self, app_id: str, name: str) -> None:
        self._act(app_id, name)[0].inc()

    def activity_finished(self, app_id: str, name: str, seconds: float, failed: bool) -> None:
        _, failures, duration = self._act(app_id, name)
        duration.observe(seconds)
        if failed:
            failures.inc()


# ---------------------------------------------------------------------------------- engine hooks
# Module functions for the callers outside the worker's hot path (the store, control, retention).

def purged(app_id: str, n: int, trigger: str) -> None:
    r = recorder
    if r is not None and n:
        r.purged.labels(app_id, trigger).inc(n)


def retention_ran() -> None:
    r = recorder
    if r is not None:
        r.retention_runs.inc()


def track(runner: Any) -> None:
    """A worker (or gRPC hub) of this process, for the in-flight gauges; forgotten when it is."""
    r = recorder
    if r is not None:
        r.live.add(runner)


def untrack(runner: Any) -> None:
    r = recorder
    if r is not None:
        r.live.discard(runner)


class LiveCollector:
    """Gauges of this process's running workers and gRPC hubs, read when scraped: activities in
    flight (per app) and connected gRPC worker streams."""

    def __init__(self) -> None:
        self._runners: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, runner: Any) -> None:
        with self._lock:
            self._runners.add(runner)

    def discard(self, runner: Any) -> None:
        with self._lock:
            self._runners.discard(runner)

    def describe(self) -> Iterator[Any]:
        return iter(self._families({}, {}))

    def collect(self) -> Iterator[Any]:
        with self._lock:
            runners = list(self._runners)
        in_flight: dict[str, int] = {}
        streams: dict[str, int] = {}
        for w in runners:
            in_flight[w.app_id] = in_flight.get(w.app_id, 0) + w.activities_in_flight
            connected = getattr(w, "connected", None)
            if connected is not None:
                streams[w.app_id] = streams.get(w.app_id, 0) + connected
        return iter(self._families(in_flight, streams))

    @staticmethod
    def _families(in_flight: dict[str, int], streams: dict[str, int]) -> list[Any]:
        from prometheus_client.core import GaugeMetricFamily

        a = GaugeMetricFamily("wf_worker_activities_in_flight", "Activities this process runs now (or has "
                              "handed to gRPC apps and awaits).", labels=["app_id"])
        for app_id, n in sorted(in_flight.items()):
            a.add_metric([app_id], n)
        s = GaugeMetricFamily("wf_grpc_worker_streams", "Dapr SDK apps connected to this wf serve for work "
                              "items (GetWorkItems streams).", labels=["app_id"])
        for app_id, n in sorted(streams.items()):
            s.add_metric([app_id], n)
        return [a, s]


# ---------------------------------------------------------------------------------- the store's gauges

class StoreCollector:
    """Gauges computed from the store when scraped (nothing kept in memory): instances by app, name
    and status (one GROUP BY), live workers and the activities they hold. Its own read connection,
    opened at the first scrape: a long count never holds up the API's connection."""

    def __init__(self, db: str | os.PathLike, durability: str | None = None) -> None:
        self.db, self.durability = db, durability
        self._store: Any = None
        self._lock = threading.Lock()

    def describe(self) -> Iterator[Any]:
        return iter(self._families([], [], up=True))

    def collect(self) -> Iterator[Any]:
        from wf.engine.pending import lease_seconds
        from wf.engine.store import Store

        try:
            with self._lock:
                if self._store is None:
                    self._store = Store(self.db, durability=self.durability)
                counts = self._store.instance_counts()
                workers = self._store.live_workers(None, time.time() - lease_seconds())
        except Exception as exc:  # noqa: BLE001 - a scrape reports the store down, never a 500
            log.warning("wf metrics: cannot read the store: %s", exc)
            return iter(self._families([], [], up=False))
        return iter(self._families(counts, workers, up=True))

    @staticmethod
    def _families(counts: list[tuple[str, str, str, int]], workers: list[Any], *, up: bool) -> list[Any]:
        from prometheus_client.core import GaugeMetricFamily

        instances = GaugeMetricFamily("wf_instances", "Workflow instances in the store, by app, workflow name and "
                                      "status.", labels=["app_id", "name", "status"])
        for app_id, name, status, n in counts:
            instances.add_metric([app_id, name, status], n)
        live: dict[str, int] = {}
        held: dict[str, int] = {}
        for w in workers:
            live[w.app_id] = live.get(w.app_id, 0) + 1
            held[w.app_id] = held.get(w.app_id, 0) + w.in_flight
        live_g = GaugeMetricFamily("wf_workers", "Live workers (heartbeat within the lease) by app, any process: "
                                   "wf worker, an app's runtime, wf serve's gRPC hub.", labels=["app_id"])
        held_g = GaugeMetricFamily("wf_activities_in_flight", "Activity tasks held by live workers, by app.",
                                   labels=["app_id"])
        for app_id in sorted(live):
            live_g.add_metric([app_id], live[app_id])
            held_g.add_metric([app_id], held[app_id])
        up_g = GaugeMetricFamily("wf_store_up", "1 if the last scrape could read the store, else 0.",
                                 value=1 if up else 0)
        return [instances, live_g, held_g, up_g]

    def close(self) -> None:
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()


class Exposition:
    """What `wf serve` answers at /metrics: the store's gauges plus this process's registry."""

    def __init__(self, db: str | os.PathLike | None, durability: str | None = None) -> None:
        from prometheus_client import CollectorRegistry

        self.process = enable()
        self.registry = CollectorRegistry(auto_describe=False)  # the parts check their own names
        self.store = StoreCollector(db, durability) if db is not None else None
        if self.store is not None:
            self.registry.register(self.store)
        self.registry.register(self.process.registry)

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The text format Prometheus asked for (Accept: OpenMetrics or the classic one)."""
        from prometheus_client.exposition import choose_encoder

        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def serve_http(host: str, port: int) -> tuple[Any, int]:
    """This process's registry over HTTP at http://host:port/metrics (`wf worker --metrics-port`),
    on a daemon thread. Returns (server, the port it got: port 0 asks the OS for one)."""
    from prometheus_client import start_http_server

    from wf.model import WfError

    registry = enable().registry
    try:
        server, _ = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:  # in use, not allowed, or no such address
        raise WfError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}; pick another "
                      "--metrics-port or --metrics-host") from None
    return server, server.server_port
