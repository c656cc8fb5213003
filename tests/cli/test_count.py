"""`wf count` through the real `wf`: a total, counts by status / name / app, the list filters."""

from __future__ import annotations

import json

from cli_testing import run_wf


def test_count_total_by_status_name_and_app(db, backend):
    for i in range(4):
        backend.start("alpha", instance_id=f"a{i}")
    backend.start("beta", instance_id="b0")
    backend.suspend("a0")
    backend.terminate("a1")
    backend.close()
    from wf.backends.local import LocalBackend

    other = LocalBackend(db, app_id="billing")
    other.start("alpha", instance_id="x0")
    other.close()

    assert run_wf(db, "count").stdout == "5\n"
    assert run_wf(db, "count", "-s", "PENDING").stdout == "3\n"
    assert run_wf(db, "count", "-w", "beta", "-m", "1h").stdout == "1\n"
    r = run_wf(db, "count", "--by", "status")
    assert r.returncode == 0
    assert [line.split() for line in r.stdout.splitlines()] == [
        ["STATUS", "COUNT"], ["PENDING", "3"], ["SUSPENDED", "1"], ["TERMINATED", "1"], ["total", "5"]]
    doc = json.loads(run_wf(db, "count", "--by", "name", "-o", "json").stdout)
    assert doc == {"total": 5, "by": "name", "counts": {"alpha": 4, "beta": 1}}
    doc = json.loads(run_wf(db, "count", "--by", "app", "-o", "json").stdout)
    assert doc["counts"] == {"default": 5, "billing": 1}
    assert run_wf(db, "-a", "billing", "count").stdout == "1\n"
    r = run_wf(db, "count", "--by", "colour")
    assert r.returncode == 2 and "Error:" in r.stderr
    r = run_wf(db, "count", "-s", "NOPE")
    assert r.returncode == 2 and "unknown status 'NOPE'" in r.stderr
