"""Fixtures of the CLI tests; they live in cli_testing.py, which the tests also import helpers from
(a uniquely named module, so it never collides with tests/conftest.py)."""

from cli_testing import (  # noqa: F401 - fixtures are found by name here
    backend,
    db,
    finished,
    running,
    runtime,
    wf,
    worker_proc,
)
