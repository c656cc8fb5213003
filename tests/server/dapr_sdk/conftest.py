"""Fixtures of the Dapr SDK tests: a real `wf serve` with its gRPC port, and Dapr SDK apps of our
own (dapr_apps.py) as subprocesses that find it through DAPR_GRPC_PORT / DAPR_HTTP_PORT."""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("dapr.ext.workflow", reason="the Dapr SDK comes with the dev extra")

from serve_support import ServeProcess, run_wf, wf_env  # noqa: E402

HERE = Path(__file__).resolve().parent
APPS = HERE / "dapr_apps.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class GrpcServe:
    proc: ServeProcess
    grpc_port: int
    db: str
    home: Path
    token: str | None

    @property
    def http_port(self) -> int:
        return self.proc.port

    def app_env(self, **extra: str) -> dict[str, str]:
        """The environment a Dapr SDK app gets: where its 'sidecar' is, and the token."""
        env = wf_env(self.home, DAPR_GRPC_PORT=str(self.grpc_port), DAPR_HTTP_PORT=str(self.http_port),
                     DAPR_RUNTIME_HOST="127.0.0.1", **extra)
        if self.token:
            env["DAPR_API_TOKEN"] = self.token
        return env

    def run_app(self, scenario: str, timeout: float = 120, **env: str) -> list[dict]:
        """Run dapr_apps.py SCENARIO to its end; its JSON lines."""
        import json

        r = subprocess.run([sys.executable, str(APPS), scenario], env=self.app_env(**env), capture_output=True,
                           text=True, timeout=timeout)
        assert r.returncode == 0 and r.stdout.rstrip().endswith("done"), (
            f"{scenario} exited {r.returncode}\nstdout: {r.stdout[-3000:]}\nstderr: {r.stderr[-3000:]}")
        return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]

    def start_worker(self, log: Path, app: Path = APPS, **env: str) -> subprocess.Popen:
        """A Dapr SDK worker process of `app` (dapr_apps.py by default), connected to this serve."""
        fh = open(log, "wb")
        return subprocess.Popen([sys.executable, str(app), "worker"], env=self.app_env(**env), stdout=fh,
                                stderr=subprocess.STDOUT)

    def wf(self, *args: str, timeout: float = 60, app: str | None = None) -> subprocess.CompletedProcess:
        return run_wf(wf_env(self.home), "--db", self.db, *(("-a", app) if app else ()), *args, timeout=timeout)


@pytest.fixture
def grpc_serve(tmp_path):
    """grpc_serve(*args, token=None) -> a `wf serve` with HTTP and gRPC on OS-picked loopback ports."""
    procs: list[ServeProcess] = []

    def start(*args: str, token: str | None = None, db: str | None = None, app_id: str | None = None) -> GrpcServe:
        db = db or str(tmp_path / "serve.db")
        for _ in range(3):  # a freed port may be taken again before wf serve binds it: try another
            grpc_port = free_port()
            p = ServeProcess(db, tmp_path, "--grpc-port", str(grpc_port), *args, token=token, app_id=app_id)
            procs.append(p)
            if p.wait_up():
                return GrpcServe(p, grpc_port, db, tmp_path, token)
            log = p.stop()
            if "in use" not in log.lower():
                pytest.fail(f"wf serve did not come up: {log[-2000:]}")
        pytest.fail("wf serve could not find free ports")

    yield start
    for p in procs:
        p.stop()
