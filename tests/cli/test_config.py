"""`wf config` and the precedence of settings: flag > environment > profile > default."""

from __future__ import annotations

import json
import os
import stat
import tomllib

from cli_testing import one_error_line


def _cfg(tmp_path):
    return tmp_path / "config" / "wf" / "config.toml"


def test_set_get_list_use(wf, tmp_path):
    r = wf("config", "set", "app_id", "billing", db=False)
    assert r.exit_code == 0 and "Set app_id in profile default" in r.stdout
    data = tomllib.loads(_cfg(tmp_path).read_text())
    assert data == {"profiles": {"default": {"app_id": "billing"}}}
    assert wf("config", "get", "app_id", db=False).stdout == "billing\n"
    assert wf("config", "get", "app-id", db=False).stdout == "billing\n"  # - and _ both work

    assert wf("--profile", "prod", "config", "set", "url", "http://localhost:3500", db=False).exit_code == 0
    assert wf("--profile", "prod", "config", "get", "url", db=False).stdout == "http://localhost:3500\n"
    assert wf("config", "get", "url", db=False).exit_code == 1  # unset in the active profile: exit 1, no output

    r = wf("config", "use", "prod", db=False)
    assert r.exit_code == 0 and r.stdout == "Using profile prod\n"
    assert tomllib.loads(_cfg(tmp_path).read_text())["current"] == "prod"
    assert wf("config", "get", "url", db=False).stdout == "http://localhost:3500\n"

    listing = wf("config", "list", db=False).stdout
    assert "* prod" in listing and "  default" in listing and "url = http://localhost:3500" in listing
    data = json.loads(wf("config", "list", "-o", "json", db=False).stdout)
    assert data["current"] == "prod" and data["profiles"]["default"] == {"app_id": "billing"}
    assert wf("config", "path", db=False).stdout.strip() == str(_cfg(tmp_path))


def test_unset(wf, tmp_path):
    wf("config", "set", "durability", "FULL", db=False)
    assert wf("config", "get", "durability", db=False).stdout == "full\n"
    assert wf("config", "unset", "durability", db=False).stdout == "Unset durability in profile default\n"
    assert wf("config", "unset", "durability", db=False).stdout == "durability is not set in profile default\n"
    assert tomllib.loads(_cfg(tmp_path).read_text())["profiles"]["default"] == {}


def test_token_makes_the_file_private_and_is_masked(wf, tmp_path):
    wf("config", "set", "db", "/tmp/x.db", db=False)
    assert stat.S_IMODE(os.stat(_cfg(tmp_path)).st_mode) == 0o644
    assert wf("config", "set", "token", "s3cr3t-token-value", db=False).exit_code == 0
    assert stat.S_IMODE(os.stat(_cfg(tmp_path)).st_mode) == 0o600
    listing = wf("config", "list", db=False).stdout
    assert "s3cr3t" not in listing and "****alue" in listing
    assert "s3cr3t" not in wf("config", "list", "-o", "json", db=False).stdout
    assert wf("config", "get", "token", db=False).stdout == "s3cr3t-token-value\n"  # scripts can read it


def test_bad_config_input_changes_nothing(wf, tmp_path):
    wf("config", "set", "app_id", "a1", db=False)
    before = _cfg(tmp_path).read_bytes()
    cases = [
        (("config", "set", "colour", "x"), "unknown setting 'colour'; settings are: db, url"),
        (("config", "set", "durability", "fast"), "invalid durability 'fast'"),
        (("config", "set", "timeout", "soon"), "invalid timeout 'soon'"),
        (("config", "set", "timeout", "0"), "more than 0"),
        (("config", "set", "url", "localhost:3500"), "invalid url"),
        (("config", "use", "bad name"), "invalid profile name"),
        (("config", "get", "nope"), "unknown setting 'nope'"),
    ]
    for args, message in cases:
        r = wf(*args, db=False)
        assert r.exit_code == 2, args
        assert message in one_error_line(r.stderr)
    assert _cfg(tmp_path).read_bytes() == before


def test_precedence_flag_env_profile_default(wf, tmp_path, monkeypatch):
    from wf.backends.local import LocalBackend

    dbs = {k: str(tmp_path / f"{k}.db") for k in ("flag", "env", "profile", "other")}
    for k, path in dbs.items():
        LocalBackend(path).start("doubler", instance_id=f"in-{k}")
    wf("config", "set", "db", dbs["profile"], db=False)
    wf("--profile", "other", "config", "set", "db", dbs["other"], db=False)

    def ids(*args, env=None):
        r = wf(*args, "list", "-o", "ids", db=False, env=env)
        assert r.exit_code == 0, r.stderr
        return r.stdout.strip()

    assert ids() == "in-profile"
    assert ids(env={"WF_DB": dbs["env"]}) == "in-env"
    assert ids("--db", dbs["flag"], env={"WF_DB": dbs["env"]}) == "in-flag"
    assert ids("--profile", "other") == "in-other"
    assert ids(env={"WF_PROFILE": "other"}) == "in-other"
    assert wf("config", "get", "db", db=False, env={"WF_DB": dbs["env"]}).stdout.strip() == dbs["env"]
    # The default path when nothing is set.
    wf("config", "unset", "db", db=False)
    assert wf("config", "get", "db", db=False).stdout.strip() == str(tmp_path / "data" / "wf" / "wf.db")


def test_app_id_from_profile(wf, backend, db):
    from wf.backends.local import LocalBackend

    LocalBackend(db, app_id="billing").start("doubler", instance_id="bill-1")
    wf("config", "set", "app_id", "billing", db=False)
    assert wf("list", "-o", "ids").stdout == "bill-1\n"
    assert wf("-a", "default", "list", "-o", "ids").stdout == ""
