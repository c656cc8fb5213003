"""Bad input, table-driven, through the real `wf` executable and through click's CliRunner: each
row gets its documented exit code (2 usage, 1 refused or failed), exactly one `Error: ...` line on
stderr, no traceback, and leaves the store as it was (a digest of its instances, history and
inbox; the file's bytes where the file itself is the bad input).

The rows that need an HTTP engine (an unreachable URL, a server answering garbage, a wrong token)
run once wf.backends.http exists, and the token row once `wf serve` does.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import sqlite3
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

import wf
from rel_testing import file_digest, run_wf, store_digest, wf_env


# ------------------------------------------------------------------------------------ the store


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> str:
    """A store holding one instance in each state the rows need: done (COMPLETED), live (RUNNING,
    waiting for 'poke'), paused (SUSPENDED), ended (TERMINATED); checkpointed into one file."""
    import crash_app

    path = str(tmp_path_factory.mktemp("template") / "wf.db")
    rt = wf.WorkflowRuntime(db=path)
    for name, fn in crash_app.wfr.workflows.items():
        rt.register_workflow(fn, name=name)
    for name, fn in crash_app.wfr.activities.items():
        rt.register_activity(fn, name=name)
    client = wf.WorkflowClient(db=path)
    with rt:
        client.schedule_new_workflow("collector", input=0, instance_id="done")
        for iid in ("live", "paused", "ended"):
            client.schedule_new_workflow("victim", instance_id=iid)
            client.wait_for_workflow_start(iid, timeout_in_seconds=10)
        assert client.wait_for_workflow_completion("done", timeout_in_seconds=10).runtime_status.name == "COMPLETED"
        client.pause_workflow("paused")
        client.terminate_workflow("ended")
    client.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    return path


@pytest.fixture
def store(template, tmp_path) -> str:
    db = str(tmp_path / "wf.db")
    shutil.copyfile(template, db)
    return db


@contextlib.contextmanager
def immutable(path: str):
    """Read-only even for root (CI runs as root): chattr +i, as tests/cli/test_errors.py does."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", path], capture_output=True).returncode != 0:
            pytest.fail("running as root without chattr +i: cannot make a read-only file")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", path], check=True)
    else:
        os.chmod(path, 0o444)
        try:
            yield
        finally:
            os.chmod(path, 0o644)


def corrupt(db: str, tmp: Path) -> None:
    with open(db, "r+b") as fh:
        fh.seek(0)
        fh.write(b"this is not a sqlite file" * 8)


def truncate(db: str, tmp: Path) -> None:
    with open(db, "r+b") as fh:
        fh.truncate(1500)


def newer(db: str, tmp: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version=99")
    conn.close()


def garbage_file(db: str, tmp: Path) -> None:
    (tmp / "bin.json").write_bytes(b"\xff\xfe\x00garbage")


def deep_file(db: str, tmp: Path) -> None:
    (tmp / "deep.json").write_text("[" * 200_000 + "]" * 200_000)


def huge_file(db: str, tmp: Path) -> None:
    (tmp / "huge.json").write_text(json.dumps({"blob": "x" * 20_000_000}))


def huge_bad_file(db: str, tmp: Path) -> None:
    (tmp / "hugebad.json").write_text('{"blob": "' + "x" * 20_000_000)


def a_directory(db: str, tmp: Path) -> None:
    os.remove(db)
    os.mkdir(db)


# ------------------------------------------------------------------------------------ the table


@dataclass
class Row:
    id: str
    args: tuple[str, ...]
    code: int
    message: str  # a piece of the one error line
    stdin: str | None = None
    setup: Callable[[str, Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    raw: bool = False  # the file is the bad input: compare its bytes too
    read_only: bool = False
    needs: str | None = None  # "http": needs wf.backends.http; "serve": needs `wf serve`


ROWS = [
    # bad JSON
    Row("json-broken", ("run", "collector", "-x", "{not json"), 2, "input is not valid JSON"),
    Row("json-empty", ("run", "collector", "-x", ""), 2, "input is empty"),
    Row("json-blank-stdin", ("run", "collector", "-x", "-"), 2, "input from stdin is empty", stdin="  \n"),
    Row("json-bad-stdin", ("run", "collector", "-x", "-"), 2, "not valid JSON", stdin="{'single': 'quotes'}"),
    Row("json-nan", ("run", "collector", "-x", "NaN"), 2, "NaN is not a JSON value"),
    Row("json-infinity", ("raise-event", "live/poke", "-x", '{"a": Infinity}'), 2, "Infinity is not a JSON value"),
    Row("json-event-data", ("raise-event", "live/poke", "-x", "[1,"), 2, "event data is not valid JSON"),
    Row("json-terminate-output", ("terminate", "live", "--output", "{bad"), 2, "output is not valid JSON"),
    Row("json-missing-file", ("run", "collector", "-x", "@{tmp}/nope.json"), 2, "cannot read input file"),
    Row("json-binary-file", ("run", "collector", "-x", "@{tmp}/bin.json"), 2, "is not UTF-8 text", setup=garbage_file),
    Row("json-too-deep", ("run", "collector", "-x", "@{tmp}/deep.json"), 2, "nested too deeply", setup=deep_file),
    Row("json-huge-broken", ("run", "collector", "-x", "@{tmp}/hugebad.json"), 2, "not valid JSON", setup=huge_bad_file),
    # arguments that are not UTF-8 (bytes 0xff reach Python as the lone surrogate \udcff)
    Row("utf8-id", ("get", "ab\udcff"), 2, "is not valid UTF-8 text: 'ab\\xff'"),
    Row("utf8-input", ("run", "collector", "-x", '"\udcff"'), 2, "the value of -x is not valid UTF-8"),
    Row("utf8-input-long", ("run", "collector", "--input=\udcfe"), 2, "the value of --input is not valid UTF-8"),
    Row("utf8-event-name", ("raise-event", "live", "\udcffev"), 2, "is not valid UTF-8 text: '\\xffev'"),
    Row("utf8-filter", ("list", "-w", "\udcff"), 2, "the value of -w is not valid UTF-8"),
    Row("utf8-db", ("--db", "{tmp}/\udcff.db", "list"), 2, "the value of --db is not valid UTF-8"),
    Row("utf8-command", ("\udcfe",), 2, "is not valid UTF-8 text: '\\xfe'"),
    # huge, valid payloads to an instance that cannot take them
    Row("huge-event-unknown", ("raise-event", "ghost/poke", "-x", "@{tmp}/huge.json"), 1, "no workflow instance 'ghost'",
        setup=huge_file),
    Row("huge-event-finished", ("raise-event", "done/poke", "-x", "@{tmp}/huge.json"), 1, "done", setup=huge_file),
    # bad durations and timestamps
    Row("dur-no-unit", ("run", "collector", "--wait", "--timeout", "10"), 2, "add a unit, e.g. 10s"),
    Row("dur-bad-unit", ("wait", "live", "--timeout", "5x"), 2, "invalid duration '5x'"),
    Row("dur-empty", ("wait", "live", "--timeout", ""), 2, "invalid duration"),
    Row("dur-signed", ("list", "-m", "-5h"), 2, "invalid age '-5h'"),
    Row("dur-words", ("list", "-m", "ages"), 2, "invalid age 'ages'"),
    Row("dur-too-large", ("list", "-m", "99999999999999999999h"), 2, "too large"),
    Row("dur-purge-years", ("purge", "--all-older-than", "1y"), 2, "invalid"),
    Row("ts-words", ("run", "collector", "-s", "tomorrow"), 2, "invalid start time 'tomorrow'"),
    Row("ts-bad-date", ("run", "collector", "-s", "2024-13-45"), 2, "invalid timestamp '2024-13-45'"),
    Row("ts-bad-time", ("list", "-m", "2024-05-01T25:61:00Z"), 2, "invalid timestamp"),
    Row("ts-out-of-range-high", ("run", "collector", "-s", "9999-12-31T23:59:59-23:59"), 2, "invalid"),
    Row("ts-out-of-range-low", ("list", "-m", "0001-01-01T00:00:00+01:00"), 2, "invalid"),
    Row("ts-too-far-ahead", ("run", "collector", "-s", "99999999h"), 2, "too far ahead"),
    # unknown statuses
    Row("status-unknown", ("list", "-s", "DONE"), 2, "unknown status 'DONE'"),
    Row("status-one-bad-of-two", ("list", "-s", "RUNNING,BOGUS"), 2, "unknown status 'BOGUS'"),
    Row("status-purge", ("purge", "--all", "--all-filter-status", "NOPE", "-y"), 2, "unknown status 'NOPE'"),
    # invalid and over-long ids
    Row("id-slash", ("get", "a/b"), 2, "invalid instance id 'a/b'"),
    Row("id-too-long", ("get", "x" * 65), 2, "invalid instance id"),
    Row("id-very-long", ("history", "y" * 5000), 2, "invalid instance id"),
    Row("id-space", ("run", "collector", "-i", "has space"), 2, "invalid instance id 'has space'"),
    Row("id-empty", ("suspend", ""), 2, "invalid instance id ''"),
    Row("id-unicode", ("terminate", "ordér-1"), 2, "invalid instance id"),
    Row("id-sql", ("get", "x' OR '1'='1"), 2, "invalid instance id"),
    Row("id-in-event", ("raise-event", "bad id!/poke"), 2, "invalid instance id"),
    Row("id-one-bad-in-purge", ("purge", "done", "bad;id"), 2, "invalid instance id 'bad;id'"),
    Row("id-dotdot", ("history", "../etc/passwd"), 2, "invalid instance id"),
    # empty event names
    Row("event-empty-slash", ("raise-event", "live/"), 2, "the event name is empty"),
    Row("event-blank", ("raise-event", "live", "   "), 2, "the event name is empty"),
    Row("event-missing", ("raise-event", "live"), 2, "name the event"),
    # conflicting or missing flags
    Row("flags-purge-ids-and-all", ("purge", "done", "--all"), 2, "not both"),
    Row("flags-purge-all-and-older", ("purge", "--all", "--all-older-than", "1h"), 2, "conflict"),
    Row("flags-purge-nothing", ("purge",), 2, "name instance ids to purge"),
    Row("flags-filter-without-all", ("purge", "--all-filter-status", "FAILED"), 2, "needs --all"),
    Row("flags-app-and-url", ("--url", "http://127.0.0.1:9", "worker", "--app", "x.py:wfr"), 2,
        "cannot be combined with --url"),
    Row("flags-negative-limit", ("list", "--limit", "-1"), 2, "Invalid value for '--limit'"),
    Row("flags-if-exists", ("run", "collector", "--if-exists", "maybe"), 2, "Invalid value for '--if-exists'"),
    Row("flags-output-format", ("get", "done", "-o", "xml"), 2, "Invalid value for '-o'"),
    Row("flags-unknown-option", ("list", "--bogus"), 2, "No such option '--bogus'"),
    Row("flags-unknown-command", ("frobnicate",), 2, "No such command 'frobnicate'"),
    Row("config-bad-durability", ("config", "set", "durability", "sometimes"), 2, "invalid durability"),
    Row("config-bad-url", ("config", "set", "url", "not a url"), 2, "invalid url"),
    Row("config-unknown-key", ("config", "set", "colour", "red"), 2, "unknown setting 'colour'"),
    Row("env-bad-durability", ("list",), 2, "durability", env={"WF_DURABILITY": "sometimes"}),
    # unknown instances
    Row("unknown-get", ("get", "ghost"), 1, "no workflow instance 'ghost'"),
    Row("unknown-history", ("history", "ghost"), 1, "no workflow instance 'ghost'"),
    Row("unknown-event", ("raise-event", "ghost/poke", "-x", "1"), 1, "no workflow instance 'ghost'"),
    Row("unknown-suspend", ("suspend", "ghost"), 1, "no workflow instance 'ghost'"),
    Row("unknown-resume", ("resume", "ghost"), 1, "no workflow instance 'ghost'"),
    Row("unknown-terminate", ("terminate", "ghost"), 1, "no workflow instance 'ghost'"),
    Row("unknown-wait", ("wait", "ghost", "--timeout", "1s"), 1, "no workflow instance 'ghost'"),
    Row("unknown-purge", ("purge", "ghost"), 1, "ghost"),
    # wrong states
    Row("state-suspend-completed", ("suspend", "done"), 1, "COMPLETED"),
    Row("state-resume-terminated", ("resume", "ended"), 1, "TERMINATED"),
    Row("state-event-to-completed", ("raise-event", "done/poke"), 1, "done"),
    Row("state-event-to-terminated", ("raise-event", "ended/poke", "-x", "1"), 1, "ended"),
    Row("state-purge-running", ("purge", "live"), 1, "terminate it first"),
    Row("state-purge-suspended", ("purge", "paused"), 1, "terminate it first"),
    Row("state-start-existing-error", ("run", "collector", "-i", "live", "--if-exists", "error"), 1, "already exists"),
    Row("state-replace-live", ("run", "collector", "-i", "paused", "--if-exists", "replace"), 1, "terminate it first"),
    # the store file itself
    Row("db-corrupt", ("list",), 1, "is not a wf database, or it is corrupt", setup=corrupt, raw=True),
    Row("db-corrupt-write", ("run", "collector"), 1, "is not a wf database, or it is corrupt", setup=corrupt, raw=True),
    Row("db-truncated", ("get", "done"), 1, "wf.db", setup=truncate, raw=True),
    Row("db-truncated-write", ("terminate", "live"), 1, "wf.db", setup=truncate, raw=True),
    Row("db-newer", ("list",), 1, "written by a newer version of wf", setup=newer, raw=True),
    Row("db-newer-write", ("purge", "done"), 1, "upgrade wf", setup=newer, raw=True),
    Row("db-read-only", ("terminate", "live"), 1, "read-only", read_only=True, raw=True),
    Row("db-read-only-start", ("run", "collector", "-i", "new-one"), 1, "read-only", read_only=True, raw=True),
    Row("db-directory", ("run", "collector"), 1, "wf.db", setup=a_directory),
    Row("db-no-such-dir", ("--db", "/proc/no/such/dir/wf.db", "run", "collector"), 1, "/proc/no/such/dir/wf.db"),
    # remote engines
    Row("url-unreachable", ("--url", "http://127.0.0.1:9", "list"), 1, "127.0.0.1:9", needs="http"),
    Row("url-unreachable-get", ("--url", "http://127.0.0.1:9", "get", "x"), 1, "127.0.0.1:9", needs="http"),
    Row("url-garbage-server", ("--url", "{garbage}", "get", "x"), 1, "sent a response that is not JSON", needs="http"),
    Row("url-garbage-server-run", ("--url", "{garbage}", "run", "collector"), 1, "the engine at http://127.0.0.1:",
        needs="http"),
    Row("url-wrong-token", ("--url", "{serve}", "--token", "wrong-token", "get", "done"), 1, "token", needs="serve"),
    Row("url-no-token", ("--url", "{serve}", "terminate", "live"), 1, "token", needs="serve"),
    Row("url-not-a-url", ("--url", "not a url", "list"), 2, "url", needs="http"),
    Row("url-bad-timeout", ("--url", "http://127.0.0.1:9", "list"), 2, "invalid timeout", env={"WF_TIMEOUT": "soon"},
        needs="http"),
]


# ------------------------------------------------------------------------------------ a garbage server


class _Garbage(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = b"<html>\x00\xffnot json at all"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def garbage_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# ------------------------------------------------------------------------------------ the test


def _run(mode: str, db: str, tmp: Path, args: list[str], row: Row) -> tuple[int, str, str]:
    if mode == "exe":
        r = run_wf(wf_env(db, tmp, **row.env), *args, input=row.stdin, timeout=60)
        return r.returncode, r.stdout, r.stderr
    from wf import settings
    from wf.cli.app import cli

    try:
        r = CliRunner().invoke(cli, ["--db", db, *args] if "--db" not in args else args, input=row.stdin,
                               env=row.env, prog_name="wf", catch_exceptions=True)
    finally:
        settings.clear_overrides()
    code = r.exit_code
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        return 99, r.stdout, r.stderr + f"\nTraceback (escaped the CLI): {r.exception!r}"
    return code, r.stdout, r.stderr


@pytest.mark.parametrize("mode", ["exe", "runner"])
@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input(row, mode, store, tmp_path, request):
    if row.setup:
        row.setup(store, tmp_path)
    args = [a.replace("{tmp}", str(tmp_path)) for a in row.args]
    server = None
    if row.needs == "serve":
        from serve_testing import Server, require_serve

        require_serve()
        server = Server(store, tmp_path, token="the-right-token-123").wait_up()
        request.addfinalizer(server.stop)
        args = [a.replace("{serve}", server.url) for a in args]
    if any("{garbage}" in a for a in args):
        url = request.getfixturevalue("garbage_url")
        args = [a.replace("{garbage}", url) for a in args]
    before = store_digest(store) if os.path.isfile(store) else "dir"
    raw_before = file_digest(store) if row.raw else None
    ctx = immutable(store) if row.read_only else contextlib.nullcontext()
    with ctx:
        code, out, err = _run(mode, store, tmp_path, args, row)
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err[-2000:]
    assert code == row.code, f"{row.id} ({mode}): exit {code}, expected {row.code}; stderr: {err[-500:]!r}"
    assert len(lines) == 1 and lines[0].startswith("Error: "), f"{row.id} ({mode}): not one error line: {lines!r}"
    assert row.message in lines[0], f"{row.id} ({mode}): {lines[0]!r} lacks {row.message!r}"
    assert "unexpected" not in lines[0], lines[0]
    assert len(lines[0]) < 600, f"an error line of {len(lines[0])} characters"
    if os.path.isfile(store):
        assert store_digest(store) == before, f"{row.id} ({mode}) changed the store"
    if raw_before is not None:
        assert file_digest(store) == raw_before, f"{row.id} ({mode}) changed the bytes of the file"
    for suffix in ("-wal", "-journal"):
        if row.raw and os.path.exists(store + suffix):
            assert os.path.getsize(store + suffix) == 0, f"{row.id} ({mode}) wrote a {suffix} file"


def _nested(tmp: Path, depth: int) -> str:
    path = tmp / f"deep-{depth}.json"
    path.write_text("[" * depth + "]" * depth)
    return str(path)


def _deep_outcome(code: int, err: str, depth: int, ok_code: int, ok_text: str) -> str:
    """'ok' or 'deep'; anything else (an unexpected RecursionError, a traceback) fails the test."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and "unexpected" not in err, f"depth {depth}: {err[-500:]!r}"
    if code == 2:
        assert len(lines) == 1 and "is nested too deeply to be read as JSON" in lines[0], (depth, lines)
        return "deep"
    assert code == ok_code and (not ok_text or ok_text in err), (depth, code, err[-300:])
    return "ok"


def test_deep_json_gets_one_message_at_every_depth_through_the_executable(tmp_path):
    """Python's JSON parser recurses per level, so where it gives up depends on the stack: around
    the limit, one parse passed and the next (one frame deeper) raised RecursionError."""
    db = str(tmp_path / "deep.db")
    outcomes = []
    for depth in [*range(970, 1001), 3000]:
        r = run_wf(wf_env(db, tmp_path), "run", "collector", "-i", f"d{depth}", "-x", f"@{_nested(tmp_path, depth)}")
        outcomes.append(_deep_outcome(r.returncode, r.stderr, depth, 0, ""))
    assert outcomes[0] == "ok" and outcomes[-1] == "deep", outcomes
    assert outcomes == sorted(outcomes, key=["ok", "deep"].index), "deep, then accepted again"


def test_deep_json_gets_one_message_at_every_depth_in_process(tmp_path):
    from wf import settings
    from wf.cli.app import cli

    db = str(tmp_path / "deep.db")
    for what, args, ok_code, ok_text in (("input", ("run", "collector", "-i", "x{d}"), 0, ""),
                                         ("event", ("raise-event", "ghost", "poke"), 1, "no workflow instance"),
                                         ("output", ("terminate", "ghost"), 1, "no workflow instance")):
        flag = "--output" if what == "output" else "-x"
        outcomes = []
        for depth in [*range(700, 1101, 2), 5000]:
            argv = ["--db", db, *[a.format(d=depth) for a in args], flag, f"@{_nested(tmp_path, depth)}"]
            try:
                r = CliRunner().invoke(cli, argv, prog_name="wf", catch_exceptions=True)
            finally:
                settings.clear_overrides()
            assert r.exception is None or isinstance(r.exception, SystemExit), (depth, r.exception)
            outcomes.append(_deep_outcome(r.exit_code, r.stderr, depth, ok_code, ok_text))
        assert outcomes[0] == "ok" and outcomes[-1] == "deep", (what, outcomes)


def test_the_table_is_big_enough():
    assert len(ROWS) >= 40
    assert len({r.id for r in ROWS}) == len(ROWS)
