"""`wf worker --app MODULE:ATTR`: run an app's workflows and activities until told to stop."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

import click

from wf.cli.common import Globals, load_app, pass_globals, prepare_app_overrides
from wf.cli.logs import logging_options, logging_to_stderr

log = logging.getLogger("wf.worker")


@click.command("worker")
@click.option("--app", "app_spec", required=True, metavar="MODULE:ATTR",
              help="The app's WorkflowRuntime: MODULE:ATTR or path/to/file.py:ATTR.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), metavar="PORT",
              help="Serve this worker's Prometheus metrics at http://HOST:PORT/metrics (0: a free port, "
                   "named in the start-up line).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, metavar="HOST",
              help="Address of the metrics endpoint. It has no token: keep it on loopback or a private network.")
@logging_options
@pass_globals
def worker_cmd(g: Globals, app_spec: str, metrics_port: int | None, metrics_host: str, verbose: int,
               log_level: str | None, log_format: str) -> None:
    """Run the workflows and activities of an app against the store, until SIGINT / SIGTERM.

    The first signal drains: work in progress finishes and is committed, nothing new is claimed.
    A second signal exits at once (what was running is retried by the next worker).

    It logs to stderr: start, drain and stop, each failed activity attempt and failed instance,
    lease takeovers, slow workflow steps, and the app's own `logging` output (README: Logs).

    \b
    Examples:
      wf worker --app examples/approval.py:wfr
      wf --db /var/lib/wf/prod.db -a billing worker --app billing.workflows:wfr
      wf worker --app examples/approval.py:wfr --metrics-port 9464   # Prometheus scrapes :9464/metrics
      wf worker --app billing.workflows:wfr --log-format json --log-level warning
    """
    with logging_to_stderr(verbose, log_level, log_format, quiet=g.quiet):  # before the app is imported
        _run_worker(g, app_spec, metrics_port, metrics_host)


def _run_worker(g: Globals, app_spec: str, metrics_port: int | None, metrics_host: str) -> None:
    prepare_app_overrides(g)
    runtime = load_app(app_spec)
    metrics_server = None
    if metrics_port is not None:  # before the worker starts, so it records from its first turn
        from wf.engine import metrics

        metrics_server, bound = metrics.serve_http(metrics_host, metrics_port)
        shown = f"[{metrics_host}]" if ":" in metrics_host else metrics_host
        log.info("wf worker: metrics at http://%s:%s/metrics", shown, bound)
    stop = threading.Event()
    seen = {"n": 0}

    def on_signal(signum: int, frame: object) -> None:
        seen["n"] += 1
        if seen["n"] > 1:
            try:
                sys.stderr.write("wf worker: second signal, exiting now without draining\n")
                sys.stderr.flush()
            finally:
                os._exit(128 + signum)
        stop.set()

    watched = [signal.SIGINT, signal.SIGTERM]
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, on_signal) for s in watched}
    try:
        runtime.start()
        log.info("wf worker: running %s (app %s, store %s); Ctrl-C or SIGTERM stops it", app_spec,
                 g.resolved_app_id(), g.resolved_db())
        while not stop.wait(0.2):
            fatal = runtime.fatal_error
            if fatal is not None:  # the worker cannot go on: exit at once, a supervisor restarts it
                sys.stderr.write(f"Error: wf worker: the worker died ({type(fatal).__name__}: {fatal}); exiting\n")
                sys.stderr.flush()
                os._exit(1)
        log.info("wf worker: stopping; draining work in progress (signal again to exit at once)")
        runtime.shutdown()
        log.info("wf worker: stopped")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if metrics_server is not None:
            metrics_server.shutdown()


COMMANDS = [worker_cmd]
