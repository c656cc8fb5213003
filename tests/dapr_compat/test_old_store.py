"""A store written by wf 0.1.0 (schema 1, compact JSON payloads, no registrations) opens, migrates,
and its instances keep working: a finished one reads as before, a running one completes."""

from __future__ import annotations

import json
import sqlite3

import wf
from wf.engine.store import MIGRATIONS, SCHEMA_VERSION, Store
from wf_testing import completed_output

T = 1_700_000_000.0


def ev(**fields) -> str:
    return json.dumps(fields, separators=(",", ":"))


def make_0_1_0_store(path) -> None:
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[0].split(";"):  # the schema wf 0.1.0 created
        if statement.strip():
            conn.execute(statement)
    conn.execute("PRAGMA user_version=1")
    conn.execute("INSERT INTO instances (iid, app_id, instance_id, name, status, created_at, updated_at, completed_at, "
                 "input, output) VALUES (1, 'default', 'done', 'adder', 'COMPLETED', ?, ?, ?, ?, ?)",
                 (T, T + 1, T + 1, '{"n":1}', '{"sum":2}'))
    # A running instance half way: its activity finished, the completion waits in the inbox.
    conn.execute("INSERT INTO instances (iid, app_id, instance_id, name, status, created_at, updated_at, input, "
                 "ready_at) VALUES (2, 'default', 'half', 'adder', 'RUNNING', ?, ?, ?, ?)",
                 (T, T, '{"n":20}', T + 2))
    history = [ev(type="ExecutionStarted", ts=T, name="adder", data='{"n":20}'),
               ev(type="TaskScheduled", ts=T, event_id=1, name="plus_one", data="20")]
    conn.executemany("INSERT INTO history (iid, seq, event) VALUES (2, ?, ?)", enumerate(history))
    conn.execute("INSERT INTO inbox (iid, kind, visible_at, event) VALUES (2, 'TaskCompleted', ?, ?)",
                 (T + 2, ev(type="TaskCompleted", ts=T + 2, task_id=1, name="plus_one", data="21")))
    conn.execute("INSERT INTO workers (worker_id, app_id, host, pid, heartbeat) VALUES ('old', 'default', 'h', 1, ?)",
                 (T,))
    conn.commit()
    conn.close()


def adder(ctx: wf.DaprWorkflowContext, inp):
    total = yield ctx.call_activity("plus_one", input=inp["n"])
    return {"sum": total}


def plus_one(ctx, n):
    return n + 1


def test_a_0_1_0_store_migrates_and_its_instances_keep_working(tmp_path, make_app):
    path = tmp_path / "old.db"
    make_0_1_0_store(path)
    store = Store(path)
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert {"workflows", "activities"} <= {r[1] for r in store.conn.execute("PRAGMA table_info(workers)")}
    store.close()

    app = make_app([adder], [plus_one], db=str(path))
    done = app.client.get_workflow_state("done")
    assert done.runtime_status == wf.WorkflowStatus.COMPLETED and json.loads(done.serialized_output) == {"sum": 2}
    assert done.serialized_output == '{"sum":2}'  # stored text is kept as written
    half = app.wait("half")
    assert completed_output(half) == {"sum": 21}
    assert half.serialized_output == '{"sum": 21}'  # new payloads in Dapr's encoding
    assert [e.event_type for e in app.history("half")][-1] == "ExecutionCompleted"
    # a new instance on the old store
    assert completed_output(app.run(adder, {"n": 1})) == {"sum": 2}
