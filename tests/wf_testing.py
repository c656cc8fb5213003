"""Helpers for the behaviour tests of the bundled local engine (imported by tests as `wf_testing`).

Tests go through the public API only (`import wf`). Correctness never rests on a bare sleep:
`wait_until` polls a predicate against a deadline and fails with a message naming what it
waited for. A sleep appears only where the scenario itself is about time passing (a timer that
must fire while no runtime is up, a gap between two creation times).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

import wf

DEFAULT_WAIT = 10.0

# Settings a developer's shell may carry; every test (and every process a test starts) runs without them.
SCRUBBED_ENV = ("WF_DB", "WF_URL", "WF_API_TOKEN", "DAPR_API_TOKEN", "WF_APP_ID", "WF_PROFILE", "WF_DURABILITY",
                "WF_TIMEOUT", "WF_DEBUG", "NO_COLOR", "WF_TEST_RUNS", "WF_RETENTION_INTERVAL", "WF_LOG_LEVEL",
                "WF_LOG_FORMAT")


def wait_until(predicate: Callable[[], Any], timeout: float = DEFAULT_WAIT, interval: float = 0.02, what: str = "") -> Any:
    """Poll predicate until it returns something truthy; return that value. Fails the test at the deadline."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
        except AssertionError as exc:  # a predicate may assert; keep polling until the deadline
            value, last_exc = None, exc
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = f" (last assertion: {last_exc})" if last_exc else ""
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}{detail}")
        time.sleep(interval)


def stop_process(p: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM a process the test started and wait for it; SIGKILL it if it does not end in time."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def stays(predicate: Callable[[], Any], duration: float, interval: float = 0.02, what: str = "") -> None:
    """Assert predicate holds during the whole of duration (used for 'nothing happens' checks)."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        assert predicate(), f"condition stopped holding: {what or predicate}"
        time.sleep(interval)


class App:
    """A runtime and a client on one store; register on .runtime, then start()."""

    def __init__(self, db: str, app_id: str | None = None, **runtime_kwargs: Any):
        self.db = db
        self.app_id = app_id
        self.runtime = wf.WorkflowRuntime(db=db, app_id=app_id, **runtime_kwargs)
        self.client = wf.WorkflowClient(db=db, app_id=app_id)
        self.running = False

    # registration helpers
    def workflow(self, fn=None, *, name: str | None = None):
        if fn is None:
            return self.runtime.workflow(name=name)
        return self.runtime.workflow(fn)

    def activity(self, fn=None, *, name: str | None = None):
        if fn is None:
            return self.runtime.activity(name=name)
        return self.runtime.activity(fn)

    def start(self) -> "App":
        self.runtime.start()
        self.running = True
        return self

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.runtime.shutdown()

    # client helpers
    def schedule(self, workflow, input: Any = None, **kwargs: Any) -> str:
        return self.client.schedule_new_workflow(workflow, input=input, **kwargs)

    def run(self, workflow, input: Any = None, timeout: float = DEFAULT_WAIT, **kwargs: Any) -> wf.WorkflowState:
        iid = self.schedule(workflow, input, **kwargs)
        return self.wait(iid, timeout)

    def wait(self, instance_id: str, timeout: float = DEFAULT_WAIT) -> wf.WorkflowState:
        state = self.client.wait_for_workflow_completion(instance_id, timeout_in_seconds=timeout)
        assert state is not None, f"no state for {instance_id}"
        return state

    def state(self, instance_id: str) -> wf.WorkflowState | None:
        return self.client.get_workflow_state(instance_id)

    def status(self, instance_id: str) -> wf.WorkflowStatus | None:
        st = self.client.get_workflow_state(instance_id, fetch_payloads=False)
        return None if st is None else st.runtime_status

    def wait_status(self, instance_id: str, status: wf.WorkflowStatus, timeout: float = DEFAULT_WAIT):
        return wait_until(
            lambda: self.status(instance_id) == status, timeout, what=f"{instance_id} to be {status}"
        )

    def history(self, instance_id: str) -> list[wf.HistoryEvent]:
        return self.client.get_history(instance_id)

    def types(self, instance_id: str) -> list[str]:
        return [e.event_type for e in self.history(instance_id)]

    def wait_history(self, instance_id: str, event_type: str, count: int = 1, timeout: float = DEFAULT_WAIT):
        """Wait until the history holds at least count events of event_type."""
        return wait_until(
            lambda: self.types(instance_id).count(event_type) >= count,
            timeout,
            what=f"{count} x {event_type} in the history of {instance_id}",
        )


def output(state: wf.WorkflowState) -> Any:
    assert state.serialized_output is not None, f"no output; state: {state}"
    return json.loads(state.serialized_output)


def completed_output(state: wf.WorkflowState) -> Any:
    """The output of a state that must be COMPLETED (the failure, if any, is shown on assertion)."""
    assert state.runtime_status == wf.WorkflowStatus.COMPLETED, (
        f"{state.instance_id} is {state.runtime_status}: {state.failure_details}"
    )
    return None if state.serialized_output is None else json.loads(state.serialized_output)


def seed_waiting(db: str, n: int, name: str = "waiter", *, prefix: str = "seed", app_id: str = "default",
                 status: str = "RUNNING") -> list[str]:
    """n instances of workflow `name` as a worker leaves them while they wait for an event (RUNNING,
    their history the start), written through the store's own methods in one transaction: many
    instances in a second, for the bulk tests. A worker that registers `name` carries them on."""
    import time as _time

    from wf.engine import history as h
    from wf.engine.history import Event
    from wf.engine.store import Store

    store = Store(db)
    now = _time.time()
    ids = [f"{prefix}-{i:06d}" for i in range(n)]
    try:
        with store.write():
            for iid in ids:
                key = store.insert_instance(app_id=app_id, instance_id=iid, name=name, status=status, now=now,
                                            input="null")
                store.append_history(key, 0, [Event(h.EXECUTION_STARTED, now, name=name, data="null").to_json()])
    finally:
        store.close()
    return ids
