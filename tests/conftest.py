"""Fixtures for the behaviour tests of the bundled local engine; the helpers live in wf_testing.py."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from wf_testing import SCRUBBED_ENV, App


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No WF_* from the developer's shell, a private config and data dir, no leftover overrides."""
    for var in SCRUBBED_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    from wf import settings

    settings.clear_overrides()
    yield
    settings.clear_overrides()

@pytest.fixture
def db_path(tmp_path) -> str:
    return str(tmp_path / "wf.db")


@pytest.fixture
def make_app(db_path):
    """Factory of App objects on the test's store; every app it made is shut down at teardown.

    make_app(workflows=[...], activities=[...], app_id=None, start=True, db=None, **runtime_kwargs)
    registers plain functions under their own names; register named ones on app.runtime yourself.
    """
    apps: list[App] = []

    def factory(
        workflows: Iterable[Callable] = (),
        activities: Iterable[Callable] = (),
        *,
        app_id: str | None = None,
        start: bool = True,
        db: str | None = None,
        **runtime_kwargs: Any,
    ) -> App:
        a = App(db or db_path, app_id, **runtime_kwargs)
        apps.append(a)
        for fn in workflows:
            a.runtime.register_workflow(fn)
        for fn in activities:
            a.runtime.register_activity(fn)
        if start:
            a.start()
        return a

    yield factory
    errors = []
    for a in reversed(apps):
        try:
            a.stop()
        except Exception as exc:  # report, but shut the others down first
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def app(make_app) -> App:
    """An App on the test's store, not started yet: register workflows and activities, then app.start()."""
    return make_app(start=False)
