"""Numeric settings are checked where they are read (issue 9, item 8): garbage, empty, zero,
negative, inf and nan give one line naming the setting, and exit 2. Through the real `wf`."""

from __future__ import annotations

import pytest

from rel_testing import APP_SPEC, run_wf, wf_env

BAD = ["", "soon", "0", "-1", "inf", "nan"]


def _one_line(r, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("value", BAD)
def test_wf_timeout(tmp_path, value):
    env = wf_env(str(tmp_path / "wf.db"), tmp_path, WF_TIMEOUT=value)
    _one_line(run_wf(env, "list"), "timeout", "WF_TIMEOUT")
    _one_line(run_wf(env, "--url", "http://127.0.0.1:9", "list"), "timeout", "WF_TIMEOUT")


@pytest.mark.parametrize("value", ['""', '"soon"', "0", "-1", "inf", "nan"])
def test_the_profiles_timeout(tmp_path, value):
    env = wf_env(str(tmp_path / "wf.db"), tmp_path)
    cfg = tmp_path / "config" / "wf" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f"[profiles.default]\ntimeout = {value}\n")
    _one_line(run_wf(env, "list"), "timeout", "profile 'default'")


@pytest.mark.parametrize("value", BAD)
def test_config_set_timeout(tmp_path, value):
    env = wf_env(str(tmp_path / "wf.db"), tmp_path)
    _one_line(run_wf(env, "config", "set", "--", "timeout", value), "timeout")
    assert not (tmp_path / "config" / "wf" / "config.toml").exists()


@pytest.mark.parametrize("var", ["WF_LEASE_SECONDS", "WF_STEP_WARN_SECONDS"])
@pytest.mark.parametrize("value", BAD)
def test_worker_settings(tmp_path, var, value):
    env = wf_env(str(tmp_path / "wf.db"), tmp_path, **{var: value})
    _one_line(run_wf(env, "worker", "--app", APP_SPEC, timeout=60), var)
