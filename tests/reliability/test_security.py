"""Security: `wf serve` binds loopback by default, refuses a public bind without a token, checks
tokens in constant time, caps body sizes and never logs tokens; a config file holding a token is
private (0600) whatever the umask. (SQL parameters: test_sql_parameters.py.)"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest

import wf
from rel_testing import run_wf, wf_env
from serve_testing import Server, require_serve, serve  # noqa: F401 - fixture

SERVER_SRC = Path(wf.__file__).resolve().parent / "server"
TOKEN = "s3cr3t-Token-4f9a1c"


def _listening(port: int) -> set[str]:
    """Local addresses LISTENing on port, from /proc/net/tcp and tcp6."""
    found = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, _, st = line.split()[1], line.split()[2], line.split()[3]
            addr, p = local.split(":")
            if int(p, 16) == port and st == "0A":
                found.add(addr)
    return found


def test_serve_binds_loopback_by_default(serve):
    s = serve()
    addrs = _listening(s.port)
    assert addrs, "nothing listening"
    assert addrs <= {"0100007F", "00000000000000000000000001000000"}, f"listening on {addrs}, not loopback only"


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_serve_refuses_a_public_bind_without_a_token(tmp_path, host):
    require_serve()
    s = Server(str(tmp_path / "p.db"), tmp_path, host=host)
    try:
        s.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        s.stop()
        pytest.fail(f"wf serve --host {host} without a token kept running")
    log = s.stop()
    assert s.proc.returncode in (1, 2), log
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "token" in lines[0].lower(), lines
    assert not _listening(s.port)


def test_public_bind_with_a_token_requires_it(serve):
    import httpx

    s = serve(host="0.0.0.0", token=TOKEN)
    path = f"{s.url}/v1.0/workflows/dapr/ghost"
    assert httpx.get(path).status_code == 401
    assert httpx.get(path, headers={"dapr-api-token": "wrong"}).status_code == 401
    assert httpx.get(path, headers={"dapr-api-token": TOKEN[:-1]}).status_code == 401
    assert httpx.get(path, headers={"dapr-api-token": TOKEN}).status_code == 404


def test_tokens_are_compared_in_constant_time():
    require_serve()
    sources = {p: p.read_text() for p in SERVER_SRC.rglob("*.py")}
    assert any("hmac.compare_digest" in t or "secrets.compare_digest" in t for t in sources.values()), \
        "no compare_digest in src/wf/server"
    naive = re.compile(r"(token|dapr-api-token|authorization)\w*['\")\]]*\s*[!=]=|[!=]=\s*\w*(token)\b", re.I)
    hits = [f"{p.name}:{i}: {line.strip()}" for p, t in sources.items() for i, line in enumerate(t.splitlines(), 1)
            if naive.search(line) and "is None" not in line and "compare_digest" not in line]
    assert not hits, f"tokens compared with == / != : {hits}"


def test_request_bodies_are_capped(serve):
    import httpx

    s = serve()
    before = list(wf.WorkflowClient(db=str(Path(s.log).parent / "serve.db")).list_workflows())
    body = b'{"blob": "' + b"x" * (64 * 1024 * 1024) + b'"}'
    try:
        r = httpx.post(f"{s.url}/v1.0/workflows/dapr/collector/start?instanceID=big", content=body, timeout=60)
        assert r.status_code == 413, (r.status_code, r.text[:300])
    except httpx.TransportError:
        pass  # the server may also cut the upload short; what matters is that nothing was started
    assert s.proc.poll() is None, "the server died"
    after = list(wf.WorkflowClient(db=str(Path(s.log).parent / "serve.db")).list_workflows())
    assert [x.instance_id for x in after] == [x.instance_id for x in before]


def test_tokens_never_reach_the_logs(serve):
    import httpx

    s = serve(token=TOKEN)
    wrong = "WRONG-" + TOKEN[::-1]
    for headers in ({"dapr-api-token": TOKEN}, {"dapr-api-token": wrong}, {}):
        httpx.get(f"{s.url}/v1.0/workflows/dapr/ghost", headers=headers)
        httpx.post(f"{s.url}/v1.0/workflows/dapr/nothing/start", headers=headers, content=b"{bad")
    httpx.get(f"{s.url}/v1.0/workflows/dapr/ghost?token={TOKEN}")
    log = s.stop()
    assert log.strip(), "the server logged nothing at all: cannot tell"
    assert TOKEN not in log and wrong not in log, "a token was written to the log"
    assert TOKEN[:8] not in log


def test_config_file_holding_a_token_is_0600_whatever_the_umask(tmp_path):
    env = wf_env(None, tmp_path)
    cfg = tmp_path / "config" / "wf" / "config.toml"
    old = os.umask(0)
    try:
        r = run_wf(env, "config", "set", "url", "http://127.0.0.1:3500")
        assert r.returncode == 0, r.stderr
        r = run_wf(env, "config", "set", "token", TOKEN)
        assert r.returncode == 0, r.stderr
        assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
        r = run_wf(env, "--profile", "other", "config", "set", "db", str(tmp_path / "x.db"))  # another write
        assert r.returncode == 0, r.stderr
        assert stat.S_IMODE(cfg.stat().st_mode) == 0o600, "rewriting a file that holds a token widened it"
        assert TOKEN not in run_wf(env, "config", "list").stdout
    finally:
        os.umask(old)
    assert not [p for p in cfg.parent.iterdir() if p.name != "config.toml"], "a temporary copy was left behind"


def test_cli_errors_do_not_echo_the_token(tmp_path):
    """A refused remote call names the URL, never the token."""
    env = wf_env(None, tmp_path)
    t0 = time.monotonic()
    r = run_wf(env, "--url", "http://127.0.0.1:9", "--token", TOKEN, "get", "x", timeout=60)
    assert r.returncode == 1 and TOKEN not in r.stdout + r.stderr
    assert time.monotonic() - t0 < 30
