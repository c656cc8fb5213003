"""A store damaged in the middle (issue 9, item 10): the same one line as a damaged header, exit 1;
`wf serve` answers a Dapr-style error; `wf doctor` finds it (exit 1) and reports a sound store."""

from __future__ import annotations

import json
import os

import httpx
import pytest

import wf
from rel_testing import run_wf, wf_env
from serve_testing import serve  # noqa: F401 - the fixture

PAGE = 4096


def _populate(db: str, n: int = 2000) -> None:
    client = wf.WorkflowClient(db)
    for i in range(n):
        client.schedule_new_workflow("collector", input="x" * 300, instance_id=f"i{i}")


def _damage_the_middle(db: str) -> None:
    """Overwrite a few pages in the middle of the file (the instances' table), not the header."""
    size = os.path.getsize(db)
    with open(db, "r+b") as fh:
        for page in range(size // PAGE // 2, size // PAGE // 2 + 6):
            fh.seek(page * PAGE)
            fh.write(bytes((page * 7 + i) % 251 for i in range(PAGE)))


@pytest.fixture
def damaged(tmp_path):
    db = str(tmp_path / "serve.db")
    _populate(db)
    _damage_the_middle(db)
    return db


def test_a_query_that_meets_damage_says_so_in_one_line(damaged, tmp_path):
    env = wf_env(damaged, tmp_path)
    r = run_wf(env, "list", "-o", "ids")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("Error: "), r.stderr
    assert f"{damaged} is damaged" in r.stderr
    assert "unexpected" not in r.stderr


def test_doctor_finds_the_damage(damaged, tmp_path):
    env = wf_env(damaged, tmp_path)
    r = run_wf(env, "doctor")
    assert r.returncode == 1
    assert "DAMAGED" in r.stdout
    r = run_wf(env, "doctor", "-o", "json")
    assert r.returncode == 1
    report = json.loads(r.stdout)
    assert report["ok"] is False and report["problems"]


def test_doctor_reports_a_sound_store_and_repairs_what_is_safe(tmp_path):
    db = str(tmp_path / "wf.db")
    _populate(db, 50)
    import sqlite3

    conn = sqlite3.connect(db)  # an orphan: history of an instance that no longer exists
    conn.execute("INSERT INTO history (iid, seq, event) VALUES (999999, 0, '{}')")
    conn.commit()
    conn.close()
    env = wf_env(db, tmp_path)
    r = run_wf(env, "doctor", "-o", "json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["ok"] is True
    assert report["schema_version"] == report["schema_version_expected"]
    assert report["counts"]["instances"] == 50 and report["counts"]["inbox"] == 50 and "audit" in report["counts"]
    assert report["orphans"] == {"history": 1, "inbox": 0, "tasks": 0}
    assert report["live_workers"] == []
    r = run_wf(env, "doctor", "--repair", "-o", "json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert any("orphan" in line for line in report["repaired"])
    assert any("index" in line for line in report["repaired"])
    assert any("checkpoint" in line for line in report["repaired"])
    assert json.loads(run_wf(env, "doctor", "-o", "json").stdout)["orphans"]["history"] == 0
    r = run_wf(env, "doctor")
    assert r.returncode == 0 and "state           ok" in r.stdout


def test_serve_answers_a_dapr_style_error(damaged, serve):  # noqa: F811
    server = serve()
    token = None
    for _ in range(100):  # page through the list until the damaged pages are met
        params = {"continuationToken": token} if token else {}
        r = httpx.get(f"{server.url}/v1.0/workflows/dapr", params=params, timeout=30)
        if r.status_code != 200:
            break
        token = r.json().get("continuationToken")
        assert token, "the whole list was read without meeting the damage"
    assert r.status_code == 500
    body = r.json()
    assert body["errorCode"] == "ERR_STORE"
    assert "is damaged" in body["message"]
