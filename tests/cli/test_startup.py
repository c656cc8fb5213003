"""`wf --help`, `wf get` and `wf list` stay cheap: no httpx, no Rich off a terminal, no worker/runtime."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = r"""
import json, sys
from wf.cli.app import cli
try:
    cli.main(sys.argv[1:], prog_name="wf")
except SystemExit:
    pass
sys.stderr.write("\nMODULES " + json.dumps(sorted(sys.modules)) + "\n")
"""

FORBIDDEN = ("httpx", "rich", "yaml", "wf.engine.worker", "wf.engine.runtime", "wf.engine.executor", "wf.client",
             "wf.server", "fastapi", "uvicorn", "asyncio")


def imported(db: str, *args: str) -> set[str]:
    p = subprocess.run([sys.executable, "-c", PROBE, "--db", db, *args], capture_output=True, text=True, timeout=30)
    line = [x for x in p.stderr.splitlines() if x.startswith("MODULES ")][-1]
    return set(json.loads(line[len("MODULES "):]))


@pytest.mark.parametrize("args", [("--help",), ("list",), ("list", "-o", "jsonl"), ("get", "x1"), ("history", "x1")])
def test_light_commands_import_little(db, backend, args):
    backend.start("doubler", instance_id="x1")
    backend.close()
    mods = imported(db, *args)
    bad = sorted(m for m in mods if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert bad == [], f"wf {' '.join(args)} imported {bad}"


def test_importtime_of_the_entry_point():
    p = subprocess.run([sys.executable, "-X", "importtime", "-c", "from wf.cli import main; import wf.cli.app"],
                       capture_output=True, text=True, timeout=30)
    names = {line.split("|")[-1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")}
    assert "wf.cli.app" in names
    assert not {n for n in names if n.startswith(("httpx", "rich", "wf.engine"))}


@pytest.mark.parametrize("args, loaded", [
    (("--version",), set()),
    (("get", "x1"), {"wf.cli.inspect"}),
    (("list",), {"wf.cli.inspect"}),
    (("wait", "x1", "--timeout", "1ms"), {"wf.cli.control"}),
])
def test_only_the_invoked_commands_module_is_imported(db, backend, args, loaded):
    backend.start("doubler", instance_id="x1")
    backend.close()
    command_modules = {"wf.cli.run", "wf.cli.inspect", "wf.cli.control", "wf.cli.purge", "wf.cli.worker",
                       "wf.cli.serve", "wf.cli.config", "wf.cli.completion"}
    assert imported(db, *args) & command_modules == loaded


def test_reads_do_not_import_random(db, backend):
    """Only a retry for the write lock needs it. (uuid comes with click itself, for click.UUID.)"""
    backend.start("doubler", instance_id="x1")
    backend.close()
    assert "random" not in imported(db, "get", "x1")


def test_help_still_lists_every_command(wf):
    from wf.cli.app import COMMAND_MODULES

    out = wf("--help", db=False).stdout
    for name in COMMAND_MODULES:
        assert f"  {name}" in out, name
