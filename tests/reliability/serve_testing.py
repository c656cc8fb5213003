"""Starting a real `wf serve` on a free loopback port for the security and schema suites."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
from wf_testing import stop_process

from rel_testing import WF_EXE, wf_env

_available: bool | None = None


def require_serve() -> None:
    """`wf serve` must be there: fail loudly (never skip) when it is not."""
    global _available
    if _available is None:
        r = subprocess.run([WF_EXE, "serve", "--help"], capture_output=True, text=True, timeout=30)
        _available = r.returncode == 0
    if not _available:
        pytest.fail("`wf serve --help` failed: the server extra is missing")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, db: str, home: Path, *args: str, host: str | None = None, token: str | None = None):
        self.port = free_port()
        self.log = home / f"serve-{self.port}.log"
        argv = [WF_EXE, "--db", db, "serve", "--port", str(self.port), "--grpc-port", "0", *args]
        if host:
            argv += ["--host", host]
        if token:
            argv += ["--token", token]
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(argv, env=wf_env(db, home), stdout=fh, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_up(self, timeout: float = 20) -> "Server":
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"wf serve exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                httpx.get(f"{self.url}/v1.0/metadata", timeout=1)
                return self
            except httpx.TransportError:
                if time.monotonic() >= deadline:
                    pytest.fail(f"wf serve not answering on {self.url}: {self.log.read_text()[-2000:]}")
                time.sleep(0.05)

    def stop(self) -> str:
        stop_process(self.proc)
        return self.log.read_text()


@pytest.fixture
def serve(tmp_path):
    require_serve()
    servers: list[Server] = []

    def start(*args: str, host: str | None = None, token: str | None = None, wait: bool = True) -> Server:
        s = Server(str(tmp_path / "serve.db"), tmp_path, *args, host=host, token=token)
        servers.append(s)
        return s.wait_up() if wait else s

    yield start
    for s in servers:
        s.stop()
