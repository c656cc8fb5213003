"""Contention: three `wf worker` processes and six client processes (Python clients and the `wf`
executable) on one SQLite file at once: starting, raising events, suspending, resuming,
terminating and purging.

No event is lost (each one raised to a collector shows in its history, and in its output, exactly
once; none raised to a victim shows twice), "database is locked" never reaches a user, and every
operation is done or refused with a wf error (one `Error:` line from the CLI).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import wf
from rel_testing import completions_twice, query, start_worker, stop, wait_ready, wf_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150),
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

CLIENT = Path(__file__).with_name("contention_client.py")
SECONDS = 12
COLLECTORS, EVENTS = 8, 15  # per raiser


def test_workers_and_clients_on_one_file(tmp_path, capsys):
    db = str(tmp_path / "contention.db")
    env = wf_env(db, tmp_path)
    wf.WorkflowClient(db=db).list_workflows()  # nothing to list; makes sure the path resolves
    logs = [tmp_path / f"worker{i}.log" for i in range(3)]
    workers = [start_worker(env, log=log) for log in logs]
    for w in workers:
        wait_ready(db, w)
    roles = [
        ["raiser", "r1", str(COLLECTORS), str(EVENTS)],
        ["raiser", "r2", str(COLLECTORS), str(EVENTS)],
        ["raiser", "r3", str(COLLECTORS), str(EVENTS)],
        ["manager", "r1", "r2", "r3"],
        ["chaos", "x1"],
        ["chaos", "x2"],
        ["cli", "k1"],
    ]
    clients = []
    t0 = time.monotonic()
    for i, (role, *args) in enumerate(roles):
        report = tmp_path / f"client{i}.json"
        clients.append((report, subprocess.Popen(
            [sys.executable, str(CLIENT), role, db, str(1000 + i), str(SECONDS), str(report), *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    outputs = []
    for report, p in clients:
        out, _ = p.communicate(timeout=120)
        outputs.append(out)
        assert p.returncode == 0, f"client {report.name} exited {p.returncode}: {out[-3000:]}"
    reports = [json.loads(report.read_text()) for report, _ in clients]
    contention_s = time.monotonic() - t0

    client = wf.WorkflowClient(db=db)
    try:
        # Every collector got all its events, each exactly once, and completed with them.
        collector_events = 0
        problems = []
        raised_to: dict[str, list[str]] = {}
        for r in reports:
            for iid, tags in r["raised"].items():
                raised_to.setdefault(iid, []).extend(tags)
        collectors = [f"r{k}-c{i}" for k in (1, 2, 3) for i in range(COLLECTORS)]
        for iid in collectors:
            st = client.wait_for_workflow_completion(iid, timeout_in_seconds=60)
            tags = sorted(raised_to.get(iid, []))
            collector_events += len(tags)
            if st.runtime_status != wf.WorkflowStatus.COMPLETED:
                problems.append(f"{iid} is {st.runtime_status}: {st.failure_details}")
                continue
            got = json.loads(st.serialized_output)
            in_history = [json.loads(e.data) for e in client.get_history(iid) if e.event_type == "EventRaised"]
            if sorted(got) != tags or sorted(in_history) != tags or len(tags) != EVENTS:
                problems.append(f"{iid}: raised {len(tags)}, output {len(got)}, history {len(in_history)}; "
                                f"missing {sorted(set(tags) - set(in_history))}, "
                                f"twice {[t for t, n in Counter(in_history).items() if n > 1]}")
            if completions_twice(client.get_history(iid)):
                problems.append(f"{iid}: a completion recorded twice")
        # Victims that still exist: no event delivered twice, none delivered that nobody raised.
        victims = 0
        for st in client.list_workflows(name="victim"):
            victims += 1
            hist = client.get_history(st.instance_id)
            delivered = [json.loads(e.data) for e in hist if e.event_type == "EventRaised"]
            twice = [t for t, n in Counter(delivered).items() if n > 1]
            stray = set(delivered) - set(raised_to.get(st.instance_id, []))
            if twice or stray or completions_twice(hist):
                problems.append(f"{st.instance_id}: delivered twice {twice}, never raised {stray}")
        assert not problems, "\n".join(problems)
    finally:
        client.close()
        codes = [stop(w) for w in workers]

    ops = Counter()
    for r in reports:
        ops.update(r["ops"])
    unexpected = [u for r in reports for u in r["unexpected"]]
    locked = [x for r in reports for x in r["locked"]]
    texts = "\n".join(outputs + [log.read_text() for log in logs])
    assert not unexpected, f"{len(unexpected)} operations neither done nor refused with a wf error: {unexpected[:10]}"
    assert not locked and "locked" not in texts.lower(), f"a locked database reached a user: {locked[:5]}"
    assert "Traceback" not in texts, texts[-3000:]
    assert codes == [0, 0, 0], codes
    assert query(db, "SELECT COUNT(*) FROM workers")[0][0] == 0
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    total = sum(ops.values())
    done = sum(n for k, n in ops.items() if k.endswith(":ok"))
    refused = sum(n for k, n in ops.items() if k.endswith(":refused"))
    refusal_kinds = Counter()
    for r in reports:
        refusal_kinds.update(r["refusals"])
    with capsys.disabled():
        print(f"\ncontention: 3 workers + {len(roles)} clients, {contention_s:.1f}s: {total} operations "
              f"({done} done, {refused} refused with a wf error, 0 other); {collector_events} events to "
              f"{len(collectors)} collectors, none lost or doubled; {victims} victims left; "
              f"refusals by kind: {refusal_kinds.most_common(8)}")
    assert total > 500, ops
