"""`wf doctor`: check the local store, and with --repair do what is safe."""

from __future__ import annotations

import click

from wf.cli.common import Globals, pass_globals
from wf.cli.errors import ExitWith


@click.command("doctor")
@click.option("--repair", is_flag=True,
              help="Checkpoint the WAL, rebuild the indexes and remove orphan rows (safe beside running workers).")
@click.option("-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format.")
@pass_globals
def doctor_cmd(g: Globals, repair: bool, fmt: str) -> None:
    """Check the store: SQLite's integrity check, schema version, rows per table, WAL size,
    orphan rows and live workers. Exits 1 when the store is damaged.

    \b
    Examples:
      wf doctor
      wf doctor --repair -o json
    """
    if g.is_remote():
        raise click.UsageError("wf doctor checks a local store (--db); it cannot check a remote engine")
    from wf.engine.health import examine

    report = examine(g.resolved_db(), repair=repair)
    if fmt == "json":
        g.out.json_value(report)
    else:
        g.out.doctor(report)
    if not report["ok"]:
        raise ExitWith(1)


COMMANDS = [doctor_cmd]
