"""Global options reach the backend: --url/--token/-a from flags, environment and profile."""

from __future__ import annotations

import pytest

from cli_testing import one_error_line


class Recorder:
    app_id = "default"

    def list(self, flt=None, *, limit=None, fetch_payloads=False, order="newest"):
        return iter(())

    def close(self):
        pass


@pytest.fixture
def opened(monkeypatch):
    import wf.backends as backends_pkg

    calls = []

    def fake_open(**kw):
        calls.append(kw)
        return Recorder()

    monkeypatch.setattr(backends_pkg, "open_backend", fake_open)
    return calls


def test_url_token_app_id_flags(wf, opened):
    assert wf("--url", "http://h:3500", "--token", "T", "-a", "billing", "list", db=False).exit_code == 0
    kw = opened[-1]
    assert (kw["url"], kw["token"], kw["app_id"], kw["db"]) == ("http://h:3500", "T", "billing", None)


@pytest.mark.parametrize("var", ["WF_API_TOKEN", "DAPR_API_TOKEN"])
def test_token_from_environment(wf, opened, var):
    assert wf("list", db=False, env={"WF_URL": "http://h:3500", var: "envtok"}).exit_code == 0
    assert opened[-1]["token"] == "envtok" and opened[-1]["url"] == "http://h:3500"


def test_wf_api_token_wins_over_dapr_api_token(wf, opened):
    wf("list", db=False, env={"WF_URL": "http://h", "WF_API_TOKEN": "a", "DAPR_API_TOKEN": "b"})
    assert opened[-1]["token"] == "a"


def test_profile_supplies_url_and_token(wf, opened):
    wf("--profile", "remote", "config", "set", "url", "http://side:3500", db=False)
    wf("--profile", "remote", "config", "set", "token", "ptok", db=False)
    wf("--profile", "remote", "config", "set", "timeout", "7", db=False)
    assert wf("--profile", "remote", "list", db=False).exit_code == 0
    kw = opened[-1]
    assert (kw["url"], kw["token"], kw["timeout"]) == ("http://side:3500", "ptok", 7.0)
    assert wf("--profile", "remote", "--token", "flag", "list", db=False).exit_code == 0
    assert opened[-1]["token"] == "flag"


def test_local_commands_open_the_local_store(wf, opened, db):
    wf("list")
    assert opened[-1]["url"] is None and str(opened[-1]["db"]) == db


def test_unreachable_url_is_one_line(wf):
    """The HTTP engine says the URL cannot be reached, in one line."""
    r = wf("--url", "http://127.0.0.1:9", "list", db=False, env={"WF_TIMEOUT": "2"})
    assert r.exit_code == 1
    one_error_line(r.stderr)
