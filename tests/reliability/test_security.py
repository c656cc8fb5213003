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
        r = httpx.post(f"{s.url}/v1.0/workflows/dapr/collector/start?instanceID=big", content=body, timeout=60,
                       headers={"Content-Type": "application/json"})
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


# ------------------------------------------------------------------ cross-site requests (Host, Origin, Content-Type)

def _store_ids(s: Server) -> list[str]:
    with wf.WorkflowClient(db=str(Path(s.log).parent / "serve.db")) as c:
        return sorted(x.instance_id for x in c.list_workflows())


def test_a_foreign_page_cannot_start_or_terminate_workflows(serve):
    """A web page's "simple" cross-site POST (text/plain, foreign Origin) is refused; nothing starts."""
    import httpx

    s = serve()
    start = f"{s.url}/v1.0/workflows/dapr/collector/start"
    attacks = [
        {"Origin": "http://evil.example", "Content-Type": "text/plain"},
        {"Origin": "http://evil.example", "Content-Type": "application/json"},
        {"Origin": "null", "Content-Type": "application/json"},
        {"Origin": f"http://localhost:{s.port + 1}", "Content-Type": "application/json"},
    ]
    for i, headers in enumerate(attacks):
        r = httpx.post(f"{start}?instanceID=x{i}", content=b"1", headers=headers)
        assert r.status_code == 403, (headers, r.status_code, r.text)
        doc = r.json()
        assert doc["errorCode"] == "ERR_FORBIDDEN_ORIGIN" and "cross-site" in doc["message"], doc
    r = httpx.post(f"{start}?instanceID=plain", content=b"1", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["errorCode"] == "ERR_UNSUPPORTED_MEDIA_TYPE", r.text
    assert "application/json" in r.json()["message"]
    r = httpx.post(f"{start}?instanceID=form", content=b"a=1",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415, r.text
    assert _store_ids(s) == []


def test_same_origin_pages_and_clients_without_origin_still_work(serve):
    import httpx

    s = serve()
    start = f"{s.url}/v1.0/workflows/dapr/collector/start"
    own = {"Origin": s.url, "Content-Type": "application/json"}  # a page served by this server (the dashboard)
    assert httpx.post(f"{start}?instanceID=page", content=b"1", headers=own).status_code == 202
    r = httpx.post(f"{start}?instanceID=curl", content=b"1", headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 202, r.text
    r = httpx.post(f"{start}?instanceID=plus", content=b"1", headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 202, r.text
    assert httpx.post(f"{start}?instanceID=nobody").status_code == 202  # no body: no content type needed
    local = {"Host": f"localhost:{s.port}", "Origin": f"http://localhost:{s.port}"}
    assert httpx.get(f"{s.url}/v1.0/workflows/dapr/page", headers=local).status_code == 200
    assert httpx.get(f"http://localhost:{s.port}/v1.0/workflows/dapr/page").status_code == 200
    assert _store_ids(s) == ["curl", "nobody", "page", "plus"]
    # and the wf client, through --url
    env = wf_env(None, Path(s.log).parent)
    r = run_wf(env, "--url", f"http://localhost:{s.port}", "get", "page", "-o", "json")
    assert r.returncode == 0, r.stderr


def test_a_foreign_host_header_is_refused(serve):
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 sends Host: evil.example."""
    import httpx

    s = serve()
    path = f"{s.url}/v1.0/workflows/dapr"
    for host in ("evil.example", f"evil.example:{s.port}", f"127.0.0.1:{s.port + 1}", "127.0.0.1.evil.example",
                 "", "a b"):
        r = httpx.get(path, headers={"Host": host})
        assert r.status_code == 403, (host, r.status_code, r.text)
        doc = r.json()
        assert doc["errorCode"] == "ERR_FORBIDDEN_HOST" and "--allow-host" in doc["message"], doc
    for host in (f"127.0.0.1:{s.port}", f"localhost:{s.port}", f"LOCALHOST:{s.port}", f"[::1]:{s.port}"):
        assert httpx.get(path, headers={"Host": host}).status_code == 200, host
    assert httpx.get(f"{s.url}/healthz", headers={"Host": "evil.example"}).status_code == 200  # probes


def test_allow_host_adds_names(serve, tmp_path):
    import httpx

    s = serve("--allow-host", "build-host", "--allow-host", "proxy.example:8443")
    path = f"{s.url}/v1.0/workflows/dapr"
    assert httpx.get(path, headers={"Host": f"build-host:{s.port}"}).status_code == 200
    assert httpx.get(path, headers={"Host": "build-host:9"}).status_code == 200  # NAME: any port
    assert httpx.get(path, headers={"Host": "proxy.example:8443"}).status_code == 200
    assert httpx.get(path, headers={"Host": "proxy.example"}).status_code == 403  # NAME:PORT: that port only
    assert httpx.get(path, headers={"Host": "evil.example"}).status_code == 403
    # a page of an allowed host behind a proxy may call it; others still may not
    r = httpx.post(f"{path}/collector/start?instanceID=p", content=b"1",
                   headers={"Origin": "https://proxy.example:8443", "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    r = httpx.post(f"{path}/collector/start?instanceID=q", content=b"1",
                   headers={"Origin": "https://evil.example", "Content-Type": "application/json"})
    assert r.status_code == 403


def test_a_wildcard_bind_answers_loopback_and_allowed_names_only(serve, tmp_path):
    s = serve(host="0.0.0.0", token=TOKEN)
    env = wf_env(None, tmp_path, WF_API_TOKEN=TOKEN)
    assert run_wf(env, "--url", f"http://127.0.0.1:{s.port}", "list").returncode == 0
    r = run_wf(env, "--url", f"http://127.0.0.2:{s.port}", "list")  # reachable, but not a name it answers to
    assert r.returncode == 1 and "403" in r.stderr and "--allow-host 127.0.0.2" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    s2 = serve("--allow-host", "127.0.0.2", host="0.0.0.0", token=TOKEN)
    assert run_wf(env, "--url", f"http://127.0.0.2:{s2.port}", "list").returncode == 0


def test_allow_host_star_accepts_any_host_but_not_foreign_origins(serve):
    import httpx

    s = serve("--allow-host", "*")
    path = f"{s.url}/v1.0/workflows/dapr"
    assert httpx.get(path, headers={"Host": "anything.example"}).status_code == 200
    r = httpx.get(path, headers={"Host": "anything.example", "Origin": "http://evil.example"})
    assert r.status_code == 403


@pytest.mark.parametrize("value", ["a/b", "host:99999", "", "x y", "user@host"])
def test_allow_host_rejects_garbage(tmp_path, value):
    require_serve()
    r = run_wf(wf_env(None, tmp_path), "--db", str(tmp_path / "a.db"), "serve", "--port", "0", "--allow-host", value)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "--allow-host" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------------ bounded resources

def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_distinct_app_ids_do_not_each_keep_a_connection(serve):
    """200 invented ?appID= values: the server's descriptors stay flat (one store serves every app id)."""
    import httpx

    s = serve()
    with httpx.Client(base_url=s.url, timeout=30) as c:
        j = {"Content-Type": "application/json"}
        assert c.post("/v1.0/workflows/dapr/collector/start?instanceID=mine&appID=app-a", content=b"1",
                      headers=j).status_code == 202
        c.get("/v1.0/workflows/dapr?appID=warm-up")
        before = _open_fds(s.proc.pid)
        for i in range(200):
            r = c.get(f"/v1.0/workflows/dapr?appID=probe-{i}")
            assert r.status_code == 200 and r.json()["instances"] == [], r.text
        after = _open_fds(s.proc.pid)
        assert after - before < 20, f"open descriptors grew from {before} to {after} over 200 app ids"
        # app ids still separate what they see
        assert [x["instanceID"] for x in c.get("/v1.0/workflows/dapr?appID=app-a").json()["instances"]] == ["mine"]
        assert c.get("/v1.0/workflows/dapr/mine?appID=app-b").status_code == 404
        assert c.get("/v1.0/workflows/dapr/mine?appID=app-a").status_code == 200
    assert s.proc.poll() is None


def test_a_client_that_never_finishes_its_headers_is_dropped(serve):
    import socket

    from wf.server.slow_clients import HEADER_TIMEOUT

    s = serve()
    silent = socket.create_connection(("127.0.0.1", s.port), timeout=HEADER_TIMEOUT + 20)
    slow = socket.create_connection(("127.0.0.1", s.port), timeout=HEADER_TIMEOUT + 20)
    t0 = time.monotonic()
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    closed = {}
    while len(closed) < 2 and time.monotonic() - t0 < HEADER_TIMEOUT + 15:
        for name, sock in (("silent", silent), ("slow", slow)):
            if name in closed:
                continue
            sock.settimeout(0.5)
            try:
                data = sock.recv(1024)
            except socket.timeout:
                if name == "slow" and "slow" not in closed:
                    try:  # a byte now and then must not restart the clock
                        sock.sendall(b"X")
                    except OSError:
                        closed[name] = time.monotonic() - t0
                continue
            except OSError:
                data = b""
            if not data:
                closed[name] = time.monotonic() - t0
    silent.close()
    slow.close()
    assert set(closed) == {"silent", "slow"}, f"still open after {time.monotonic() - t0:.1f}s: {closed}"
    assert all(HEADER_TIMEOUT - 1 <= t <= HEADER_TIMEOUT + 10 for t in closed.values()), closed
    # and a normal client is unaffected
    import httpx

    assert httpx.get(f"{s.url}/healthz").status_code == 200


def test_config_set_never_follows_a_planted_temporary_symlink(tmp_path):
    """The temporary file of `wf config set` had a predictable name (.config.toml.PID.tmp): a
    symlink planted under it received the token. Plant one for each of the next pids."""
    env = wf_env(None, tmp_path)
    cfg_dir = tmp_path / "config" / "wf"
    cfg_dir.mkdir(parents=True)
    victim = tmp_path / "attacker-owned.txt"
    last = int(Path("/proc/sys/kernel/ns_last_pid").read_text())
    for pid in range(last + 1, last + 3000):
        (cfg_dir / f".config.toml.{pid}.tmp").symlink_to(victim)
    r = run_wf(env, "config", "set", "token", TOKEN)
    assert r.returncode == 0, r.stderr
    assert not victim.exists(), "the token was written through a planted symlink"
    cfg = cfg_dir / "config.toml"
    assert not cfg.is_symlink() and TOKEN in cfg.read_text()
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    planted = {p.name for p in cfg_dir.iterdir() if p.is_symlink()}
    assert len(planted) == 2999, "a planted symlink was consumed"
    assert not [p for p in cfg_dir.iterdir() if not p.is_symlink() and p.name != "config.toml"]


def test_config_set_keeps_a_symlinked_config_where_it_points(tmp_path):
    env = wf_env(None, tmp_path)
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "wf.toml"
    real.write_text('[profiles.default]\napp_id = "billing"\n')
    cfg_dir = tmp_path / "config" / "wf"
    cfg_dir.mkdir(parents=True)
    link = cfg_dir / "config.toml"
    link.symlink_to(Path("..") / ".." / "dotfiles" / "wf.toml")  # relative, as dotfile managers make them
    r = run_wf(env, "config", "set", "url", "http://127.0.0.1:3500")
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == os.path.join("..", "..", "dotfiles", "wf.toml")
    text = real.read_text()
    assert 'app_id = "billing"' in text and "http://127.0.0.1:3500" in text
    assert run_wf(env, "config", "get", "app_id").stdout.strip() == "billing"
    assert run_wf(env, "config", "set", "token", TOKEN).returncode == 0
    assert link.is_symlink() and stat.S_IMODE(real.stat().st_mode) == 0o600
    assert [p.name for p in dotfiles.iterdir()] == ["wf.toml"], "a temporary copy was left behind"
    assert [p.name for p in cfg_dir.iterdir()] == ["config.toml"]
