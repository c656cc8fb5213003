"""`wf audit`: who did what, when, to which instances, and how it went."""

from __future__ import annotations

import click

from wf.cli.common import Globals, output_option, pass_globals
from wf.model import AUDIT_OPERATIONS, InvalidArgumentError, validate_instance_id

AUDIT_FORMATS = ("short", "wide", "json", "jsonl", "yaml")


@click.command("audit")
@click.option("-m", "--filter-max-age", "max_age", metavar="AGE",
              help="Only records within AGE (24h, 7d) or since a timestamp.")
@click.option("-w", "--filter-operation", "operation", metavar="OPERATION",
              help=f"Only this operation: {', '.join(AUDIT_OPERATIONS)}.")
@click.option("-i", "--instance-id", metavar="ID", help="Only records of this instance (bulk records name a selection).")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="At most N records (newest first).")
@output_option(AUDIT_FORMATS)
@pass_globals
def audit_cmd(g: Globals, max_age: str | None, operation: str | None, instance_id: str | None, limit: int | None,
              fmt: str) -> None:
    """The audit trail of management operations, newest first: when, who (user@host here, the
    token's name through wf serve), what, which instance or selection, how many, why, the outcome.

    \b
    Examples:
      wf audit -m 24h
      wf audit -w terminate -o wide
      wf audit -i order-7 -o json
    """
    since = None
    if max_age is not None:
        from wf.durations import parse_time_ago

        since = parse_time_ago(max_age)
    if operation is not None:
        operation = operation.strip().lower().replace("_", "-")
        if operation not in AUDIT_OPERATIONS:
            raise InvalidArgumentError(f"unknown operation {operation!r}; expected one of {', '.join(AUDIT_OPERATIONS)}")
    if instance_id is not None:
        validate_instance_id(instance_id)
    records = g.backend().audit(since=since, operation=operation, instance_id=instance_id, limit=limit)
    g.out.audit(records, fmt.lower())


COMMANDS = [audit_cmd]
