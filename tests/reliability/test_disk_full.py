"""A full disk (issue 9, item 9): one line naming the store, exit 1, never a ROLLBACK error in its
place; a worker backs off quietly and resumes when space returns. The store lives on a small
tmpfs mounted by the test (root only: CI runs as root)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rel_testing import run_wf, start_worker, stop, wait_ready, wait_until, wf_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),
    pytest.mark.skipif(sys.platform != "linux" or os.geteuid() != 0,
                       reason="mounts a small tmpfs: needs root on Linux (CI has it)"),
]

APP = f"{Path(__file__).with_name('poison_app.py')}:wfr"


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=True)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(mnt: Path) -> Path:
    filler = mnt / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_is_one_line_and_a_worker_resumes_after_it(small_disk, tmp_path):
    db = str(small_disk / "wf.db")
    env = wf_env(db, tmp_path)
    log = tmp_path / "worker.log"
    assert run_wf(env, "run", "quick", "-x", "0", "-i", "before", "-q").returncode == 0
    p = start_worker(env, APP, log=log)
    try:
        wait_ready(db, p)
        r = run_wf(env, "wait", "before", "--timeout", "20s")
        assert r.returncode == 0, r.stderr

        filler = _fill(small_disk)
        r = run_wf(env, "run", "quick", "-x", "1", "-i", "during")
        assert r.returncode == 1
        assert r.stderr == f"Error: the disk holding {db} is full: free some space and retry\n", r.stderr
        # the worker's heartbeat cannot be written either: it backs off, logging once, no traceback
        wait_until(lambda: "worker turn failed" in log.read_text(), timeout=15, what="the worker noticed")
        time.sleep(3)  # the scenario is time passing on a full disk: no log line every 50 ms
        text = log.read_text()
        assert text.count("worker turn failed") <= 2, text[-2000:]
        assert "Traceback" not in text
        assert p.poll() is None

        filler.unlink()
        r = run_wf(env, "run", "quick", "-x", "2", "-i", "after", "--wait", "--timeout", "30s")
        assert r.returncode == 0, r.stderr
        assert stop(p) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
