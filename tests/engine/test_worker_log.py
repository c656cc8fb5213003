"""What a stopping worker logs about the work in flight: before the drain, and what a drain that
ran out of time left behind (its leases released, for another worker to run again)."""

from __future__ import annotations

import logging
import threading

from wf_testing import App, wait_until


def test_a_drain_that_runs_out_of_time_names_what_it_left(tmp_path, caplog):
    started, gate = threading.Event(), threading.Event()
    app = App(str(tmp_path / "log.db"))

    @app.activity
    def stuck(ctx, _):
        started.set()
        gate.wait(30)
        return 1

    @app.workflow
    def waits_on_stuck(ctx, _):
        return (yield ctx.call_activity(stuck))

    app.start()
    try:
        app.schedule(waits_on_stuck, instance_id="left-1")
        wait_until(started.is_set, what="the activity to start")
        with caplog.at_level(logging.INFO, logger="wf.worker"):
            app.running = False
            app.runtime.shutdown(timeout=0.3)
    finally:
        gate.set()
        app.stop()
    draining = [r for r in caplog.records if "draining (up to 0.3s)" in r.getMessage()]
    assert len(draining) == 1 and draining[0].levelno == logging.INFO
    assert draining[0].activities == 1 and draining[0].instances == ["left-1"]
    assert "1 activities in flight (stuck of left-1)" in draining[0].getMessage()
    left = [r for r in caplog.records if "unfinished" in r.getMessage()]
    assert len(left) == 1 and left[0].levelno == logging.WARNING and left[0].instances == ["left-1"]
    assert "stuck of left-1" in left[0].getMessage() and "another worker runs them again" in left[0].getMessage()
