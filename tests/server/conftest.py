"""Fixtures of the wf serve tests (helpers in serve_support.py)."""

from __future__ import annotations

import pytest

from serve_support import ServeProcess, ThreadServer


@pytest.fixture
def serve_db(tmp_path) -> str:
    return str(tmp_path / "serve.db")


@pytest.fixture
def thread_server():
    """thread_server(app) -> ThreadServer; stopped at teardown."""
    servers: list[ThreadServer] = []

    def start(app) -> ThreadServer:
        s = ThreadServer(app)
        servers.append(s)
        return s

    yield start
    for s in reversed(servers):
        s.stop()


@pytest.fixture
def serve_process(tmp_path):
    """serve_process(*args, token=None) -> a `wf serve` process that answers /healthz."""
    procs: list[ServeProcess] = []

    def start(*args: str, token: str | None = None, db: str | None = None,
              env: dict[str, str] | None = None) -> ServeProcess:
        for _ in range(3):  # the OS may hand the freed port to someone else: try another
            p = ServeProcess(db or str(tmp_path / "serve.db"), tmp_path, *args, token=token, env=env)
            procs.append(p)
            if p.wait_up():
                return p
            log = p.stop()
            if "address already in use" not in log.lower():
                pytest.fail(f"wf serve did not come up: {log[-2000:]}")
        pytest.fail("wf serve could not find a free port")

    yield start
    for p in procs:
        p.stop()
