"""Helpers of the wf serve tests: a real uvicorn server in a thread on an OS-given loopback port,
a real `wf serve` process, real `wf` processes, and polling with deadlines (no bare sleeps)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from wf_testing import SCRUBBED_ENV, stop_process

HERE = Path(__file__).resolve().parent
APP_SPEC = f"{HERE / 'serve_app.py'}:wfr"
WF_EXE = shutil.which("wf", path=os.path.dirname(sys.executable)) or shutil.which("wf")


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "", interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def loopback_socket() -> socket.socket:
    """A listening-ready socket on a port the OS picked (no race between choosing and binding)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class ThreadServer:
    """create_app(...) served by uvicorn in a daemon thread; .url, .stop()."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = loopback_socket()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started or not self.thread.is_alive(), 20, "uvicorn to start")
        if not self.server.started:
            pytest.fail("uvicorn did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.sock.close()


def scrape(url: str, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """One scrape of a /metrics endpoint, parsed by prometheus_client: {(sample, sorted labels): value}."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    r = httpx.get(url, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def metric_value(samples: dict, metric: str, /, **labels: str) -> float | None:
    """The value of one sample of a scrape; None when it is absent."""
    return samples.get((metric, tuple(sorted(labels.items()))))


def wf_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env["XDG_CONFIG_HOME"] = str(home / "config")
    env["XDG_DATA_HOME"] = str(home / "data")
    env.update(extra)
    return env


def run_wf(env: dict[str, str], *args: str, timeout: float = 60, input: str | None = None):
    return subprocess.run([WF_EXE, *args], env=env, capture_output=True, text=True, timeout=timeout, input=input)


class ServeProcess:
    """A real `wf --db DB serve --port P ...` process (the port comes from the OS and is freed just
    before; a clash is retried by the fixture)."""

    def __init__(self, db: str, home: Path, *args: str, token: str | None = None, port: int | None = None,
                 env: dict[str, str] | None = None, app_id: str | None = None) -> None:
        if port is None:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.port = port
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / f"serve-{self.port}.log"
        env = wf_env(home, **(env or {}))
        if token:
            env["WF_API_TOKEN"] = token  # the server reads its token from the environment too
        with open(self.log, "wb") as fh:
            app = ["-a", app_id] if app_id else []
            self.proc = subprocess.Popen([WF_EXE, "--db", db, *app, "serve", "--port", str(self.port), "--grpc-port", "0", *args],
                                         env=env, stdout=fh, stderr=subprocess.STDOUT)

    def wait_up(self, timeout: float = 30) -> bool:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> str:
        stop_process(self.proc, 20)
        return self.log.read_text()
