"""The README documents every command, and the walkthrough it points to works as written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


from wf.cli.app import cli

ROOT = Path(__file__).resolve().parents[2]


def test_readme_covers_every_command_and_exit_code():
    text = (ROOT / "README.md").read_text()
    for name in cli.commands:
        assert f"**{name}**" in text or f"**{name}** " in text, f"README has no section for {name}"
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 124 |"):
        assert code in text
    for section in ("## Install", "## Quickstart", "## Commands", "## Exit codes", "## Environment variables",
                    "## Recipes"):
        assert section in text
    assert "bash examples/walkthrough.sh" in text and "python -m pytest -q" in text


def test_walkthrough_runs(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WF_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    r = subprocess.run(["bash", str(ROOT / "examples" / "walkthrough.sh")], capture_output=True, text=True,
                       timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Walkthrough complete." in r.stdout
    assert "Raised event approval_decision on order-1001" in r.stdout
    assert "Traceback" not in r.stderr
