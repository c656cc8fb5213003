"""Roles on wf serve: named tokens from a file of hashes (`wf serve token add` prints each once),
read < operate < admin, a request beyond its role is 403 ERR_PERMISSION_DENIED with an audit
record, and the single --token stays an admin token. Through the real `wf` and a real `wf serve`."""

from __future__ import annotations

import httpx
import pytest
from wf_testing import seed_waiting

from serve_support import APP_SPEC, run_wf, wf_env
from wf.server.auth import OPERATION_ROLES, TokenTable, allows, operation_of_request, required_role, token_hash

pytestmark = pytest.mark.timeout(120)

ADMIN = "roles-Admin-Token-1"


def test_named_tokens_and_their_roles_through_a_real_wf_serve(serve_process, tmp_path):
    tokens = tmp_path / "tokens.toml"
    home_env = wf_env(tmp_path)
    made = {}
    for name, role in (("reader", "read"), ("oncall", "operate"), ("ops", "admin")):
        r = run_wf(home_env, "serve", "token", "add", name, "--role", role, "--tokens", str(tokens))
        assert r.returncode == 0, r.stderr
        made[name] = r.stdout.strip()
        assert len(made[name]) >= 32 and f"Added token '{name}' (role {role})" in r.stderr
    text = tokens.read_text()
    assert all(t not in text for t in made.values()) and token_hash(made["reader"]) in text  # hashes only
    assert (tokens.stat().st_mode & 0o777) == 0o600
    r = run_wf(home_env, "serve", "token", "add", "reader", "--role", "read", "--tokens", str(tokens))
    assert r.returncode == 2 and "already has a token named 'reader'" in r.stderr

    db = str(tmp_path / "serve.db")
    seed_waiting(db, 3, "approval_workflow", prefix="w")
    s = serve_process("--app", APP_SPEC, "--tokens", str(tokens), token=ADMIN, db=db)

    def wf_as(token: str, *args: str):
        return run_wf(wf_env(tmp_path, WF_URL=s.url, WF_API_TOKEN=token), *args)

    # read: get, list, history; not start
    assert wf_as(made["reader"], "get", "w-000000").returncode == 0
    assert wf_as(made["reader"], "list", "-o", "ids").stdout.split() == ["w-000002", "w-000001", "w-000000"]
    r = wf_as(made["reader"], "run", "doubler", "-x", "1")
    assert r.returncode == 1
    assert r.stderr == ("Error: the engine at " + s.url + " refused the request (403 forbidden): token 'reader' has "
                        "role read: start needs operate\n")
    # operate: start, suspend, terminate; not purge, not bulk
    assert wf_as(made["oncall"], "suspend", "w-000000", "-r", "look").returncode == 0
    assert wf_as(made["oncall"], "terminate", "w-000000").returncode == 0
    r = wf_as(made["oncall"], "purge", "w-000000")
    assert r.returncode == 1 and "role operate: purge needs admin" in r.stderr
    r = wf_as(made["oncall"], "terminate", "--all", "-y")
    assert r.returncode == 1 and "bulk-terminate needs admin" in r.stderr
    # admin: bulk, purge, retention, audit; the single --token is an admin named api-token
    assert wf_as(made["ops"], "terminate", "--all", "-r", "done").returncode == 0
    assert wf_as(ADMIN, "purge", "--all").returncode == 0
    assert wf_as(made["ops"], "retention", "set", "--completed", "72h").returncode == 0
    with httpx.Client(base_url=s.url, headers={"dapr-api-token": made["ops"]}, timeout=30) as api:
        rows = api.get("/v1.0/audit").json()["records"]
        assert api.get("/v1.0/audit", headers={"dapr-api-token": made["oncall"]}).status_code == 403
        assert api.get("/v1.0/audit", headers={"dapr-api-token": "wrong"}).status_code == 401
    summary = [(x["actor"], x["operation"], x["outcome"]) for x in reversed(rows)]
    assert summary == [
        ("reader", "start", "denied"),
        ("oncall", "suspend", "ok"),
        ("oncall", "terminate", "ok"),
        ("oncall", "purge", "denied"),
        ("oncall", "terminate", "denied"),
        ("ops", "terminate", "ok"),
        ("api-token", "purge", "ok"),
        ("ops", "retention-set", "ok"),
    ]


def test_a_bad_tokens_file_is_one_error_line(tmp_path):
    bad = tmp_path / "tokens.toml"
    bad.write_text('[tokens.x]\nrole = "root"\nsha256 = "00"\n')
    r = run_wf(wf_env(tmp_path), "--db", str(tmp_path / "s.db"), "serve", "--port", "0", "--tokens", str(bad))
    assert r.returncode == 2 and r.stderr.startswith("Error: tokens file") and "role 'root'" in r.stderr
    assert len(r.stderr.splitlines()) == 1


def test_the_role_table_every_door_shares():
    assert [required_role(op) for op in ("get", "list", "history", "metadata")] == ["read"] * 4
    assert {required_role(op) for op in ("start", "raise-event", "suspend", "resume", "terminate", "rerun")} == {"operate"}
    assert {required_role(op) for op in ("purge", "bulk-terminate", "retention-set", "audit")} == {"admin"}
    assert required_role("something-new") == "admin"  # unknown operations need the most
    assert allows("admin", "read") and allows("operate", "operate") and not allows("read", "operate")
    assert set(OPERATION_ROLES.values()) == {"read", "operate", "admin"}
    cases = {("GET", "/v1.0/workflows/dapr/o1"): "get", ("GET", "/v1.0/workflows/dapr"): "list",
             ("POST", "/v1.0-beta1/workflows/dapr/o1/raiseEvent/go"): "raise-event",
             ("POST", "/v1.0/workflows/dapr/o1/pause"): "suspend", ("POST", "/v1.0/workflows/dapr/purge"): "bulk-purge",
             ("POST", "/v1.0/workflows/dapr/o1/purge"): "purge", ("POST", "/v1.0/workflows/dapr/orders/start"): "start",
             ("PUT", "/v1.0/retention"): "retention-set", ("GET", "/v1.0/retention"): "retention-show",
             ("DELETE", "/v1.0/retention"): "retention-clear", ("GET", "/v1.0/audit"): "audit",
             ("POST", "/v1.0/other"): "admin"}
    assert {k: operation_of_request(*k) for k in cases} == cases
    table = TokenTable(single="s3cret", named={"ci": ("read", token_hash("ci-token"))})
    assert table.identify("s3cret").role == "admin" and table.identify("ci-token").name == "ci"
    assert table.identify("nope") is None and table.identify(None) is None
