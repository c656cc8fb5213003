"""`wf --help`, `wf get` and `wf list` stay cheap: no httpx, no Rich off a terminal, no worker/runtime;
`wf get -o json` imports nothing beyond an explicit allow-list; `wf --version` not even click."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cli_testing import run_wf

PROBE = r"""
import json, sys
from wf.cli.app import cli
try:
    cli.main(sys.argv[1:], prog_name="wf")
except SystemExit:
    pass
sys.stderr.write("\nMODULES " + json.dumps(sorted(sys.modules)) + "\n")
"""

FORBIDDEN = ("httpx", "grpc", "google.protobuf", "dapr", "rich", "yaml", "wf.engine.worker", "wf.engine.runtime",
             "wf.engine.executor", "wf.client", "wf.server", "fastapi", "uvicorn", "asyncio")


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


# Everything `wf get ID -o json` may import beyond the interpreter's start and click itself (whatever
# those load on this Python): wf's read path, json, sqlite3, dataclasses (for wf.model), and what
# click loads while parsing (difflib: click tries `-o` as a long option first; locale via gettext).
# A module that is not here is a start-up regression: import it where it is used instead.
GET_JSON_ALLOWED = {
    "wf", "wf.cli", "wf.cli.app", "wf.cli.common", "wf.cli.errors", "wf.cli.inspect", "wf.cli.output",
    "wf.cli.globals", "wf.cli.reads",  # split out of wf.cli.common and wf.cli.inspect for wf.cli.fast
    "wf.model", "wf.settings", "wf.backends", "wf.backends.base", "wf.backends.local",
    "wf.engine", "wf.engine.store",
    "wf.engine.pending", "wf.engine.history",  # what a live instance waits for (not for a finished one)
    "json", "json.decoder", "json.encoder", "json.scanner", "_json",
    "sqlite3", "sqlite3.dbapi2", "_sqlite3",
    "dataclasses", "copy",
    "difflib", "heapq", "_heapq", "locale", "_locale",
}

BEYOND_CLICK = r"""
import sys
import click
base = set(sys.modules)
from wf.cli.app import cli
try:
    cli.main(sys.argv[1:], prog_name="wf")
except SystemExit:
    pass
sys.stderr.write("\nMODULES " + " ".join(sorted(set(sys.modules) - base)) + "\n")
"""


def test_get_json_imports_only_its_allow_list(db, backend):
    backend.start("doubler", instance_id="x1")
    backend.close()
    p = subprocess.run([sys.executable, "-c", BEYOND_CLICK, "--db", db, "get", "x1", "-o", "json"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and json.loads(p.stdout)["instance_id"] == "x1", p.stderr
    line = [x for x in p.stderr.splitlines() if x.startswith("MODULES ")][-1]
    extra = set(line.split()[1:]) - GET_JSON_ALLOWED
    assert extra == set(), f"wf get -o json now also imports {sorted(extra)}"


def test_version_skips_click_entirely():
    p = subprocess.run([sys.executable, "-X", "importtime", "-c",
                        "import sys; sys.argv = ['wf', '--version']; from wf.cli import main; main()"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout == "wf 0.1.0\n"
    names = {line.split("|")[-1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")}
    assert {n for n in names if n.startswith(("click", "wf."))} == {"wf.cli"}


def test_reads_end_early_with_their_output_and_exit_code(db, backend):
    """get/history/list/count skip interpreter teardown (os._exit): everything written must still
    arrive, and the exit code must be the command's."""
    for i in range(300):
        backend.start("doubler", instance_id=f"r{i:03d}")
    backend.close()
    r = run_wf(db, "list", "-o", "jsonl")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 300 and r.stdout.endswith("}\n")
    r = run_wf(db, "get", "nope", "-o", "json")
    assert r.returncode == 1 and r.stderr.startswith("Error: no workflow instance 'nope'")
    r = run_wf(db, "list", "--limit", "-1")  # (0 means all: issue 13)
    assert r.returncode == 2 and r.stderr.startswith("Error: ")
