"""Failures: one `Error:` line on stderr, the documented exit code, no traceback, nothing changed."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import subprocess

import pytest

from cli_testing import one_error_line, snapshot


def _digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.mark.parametrize("args", [
    ("list",), ("get", "x"), ("history", "x"), ("run", "doubler"), ("purge", "--all"), ("wait", "x"),
    ("raise-event", "x/go"), ("suspend", "x"), ("terminate", "x"),
])
def test_corrupt_database(wf, db, args):
    with open(db, "wb") as fh:
        fh.write(b"this is not a sqlite file at all" * 100)
    before = _digest(db)
    r = wf(*args)
    assert r.exit_code == 1, r.stderr
    assert "is not a wf database, or it is corrupt" in one_error_line(r.stderr)
    assert _digest(db) == before


def test_store_from_a_newer_wf_is_refused_untouched(wf, db, backend):
    backend.start("doubler", instance_id="n1")
    backend.close()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    before = _digest(db)
    for args in (("list",), ("get", "n1"), ("run", "doubler"), ("purge", "n1")):
        r = wf(*args)
        assert r.exit_code == 1
        assert "written by a newer version of wf" in one_error_line(r.stderr)
        assert "upgrade wf" in r.stderr
    assert _digest(db) == before


def test_database_path_is_a_directory(wf, tmp_path):
    d = tmp_path / "adir"
    d.mkdir()
    r = wf("--db", str(d), "run", "doubler", db=False)
    assert r.exit_code == 1
    one_error_line(r.stderr)


@contextlib.contextmanager
def read_only(path):
    """Make a file read-only even for root (CI runs as root, who ignores mode bits): the
    immutable attribute where chattr works, else the mode bits."""
    immutable = os.geteuid() == 0 and subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
    if not immutable:
        if os.geteuid() == 0:
            pytest.fail("running as root and chattr +i is not available: cannot make a read-only file")
        os.chmod(path, 0o444)
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            os.chmod(path, 0o644)


def test_read_only_database(wf, db, backend):
    backend.start("doubler", instance_id="ro")
    backend.store().conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    backend.close()
    for suffix in ("-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    before = _digest(db)
    with read_only(db):
        r = wf("terminate", "ro")
        assert r.exit_code == 1
        assert "read-only" in one_error_line(r.stderr) or "readonly" in r.stderr
    assert _digest(db) == before


def test_missing_store_reads_find_nothing_and_create_nothing(wf, db):
    assert wf("list").exit_code == 0
    assert wf("get", "x").exit_code == 1
    assert wf("purge", "--all", "--dry-run").stdout.startswith("Would purge 0 instances")
    assert not os.path.exists(db)


@pytest.mark.parametrize("args, message", [
    (("run", "doubler", "-x", "{not json"), "input is not valid JSON"),
    (("run", "doubler", "-x", ""), "input is empty"),
    (("run", "doubler", "-x", "@/no/such/file.json"), "cannot read input file '/no/such/file.json'"),
    (("run", "doubler", "-i", "has space"), "invalid instance id 'has space'"),
    (("run", "doubler", "-i", "x" * 65), "invalid instance id"),
    (("run", "doubler", "-s", "tomorrow"), "invalid start time 'tomorrow'"),
    (("run", "doubler", "--wait", "--timeout", "10"), "add a unit, e.g. 10s"),
    (("run", "doubler", "--if-exists", "maybe"), "Invalid value for '--if-exists'"),
    (("list", "-s", "DONE"), "unknown status 'DONE'; expected one of RUNNING"),
    (("list", "-m", "ages"), "invalid age 'ages'"),
    (("list", "-o", "xml"), "Invalid value for '-o' / '--output'"),
    (("list", "--limit", "-1"), "Invalid value for '--limit'"),
    (("get", "a/b"), "invalid instance id 'a/b'"),
    (("history", "x", "-o", "ids"), "Invalid value for '-o'"),
    (("list", "--bogus"), "No such option '--bogus'"),
    (("bogus",), "No such command 'bogus'"),
    (("completion", "tcsh"), "Invalid value for '{bash|zsh|fish}'"),
])
def test_usage_errors_exit_2_with_one_line(wf, backend, args, message):
    backend.start("doubler", instance_id="exists")
    before = snapshot(backend.path)
    r = wf(*args)
    assert r.exit_code == 2, (args, r.stderr)
    line = one_error_line(r.stderr)
    assert message in line, line
    assert snapshot(backend.path) == before


def test_usage_error_names_the_help_to_read(wf):
    r = wf("list", "--bogus")
    assert one_error_line(r.stderr).endswith("see 'wf list --help'")


def test_unexpected_exception_is_one_line_unless_wf_debug(wf, monkeypatch):
    from wf.backends import local

    def boom(self, *a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(local.LocalBackend, "list", boom)
    r = wf("list")
    assert r.exit_code == 1
    assert one_error_line(r.stderr) == (
        "Error: unexpected RuntimeError: disk on fire (run with WF_DEBUG=1 for a traceback, and report it)")
    r = wf("list", env={"WF_DEBUG": "1"})
    assert r.exit_code == 1
    assert "Traceback" in r.stderr and "disk on fire" in r.stderr
    assert r.stderr.rstrip().splitlines()[-1].startswith("Error: unexpected RuntimeError")


def test_wf_error_traceback_only_with_wf_debug(wf):
    r = wf("get", "ghost")
    assert "Traceback" not in r.stderr
    r = wf("get", "ghost", env={"WF_DEBUG": "1"})
    assert "Traceback" in r.stderr and "NotFoundError" in r.stderr


def test_bad_config_file_is_one_line(wf, tmp_path):
    cfg = tmp_path / "config" / "wf" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("current = [unclosed\n")
    r = wf("list", db=False)
    assert r.exit_code == 2
    assert "is not valid TOML" in one_error_line(r.stderr)
