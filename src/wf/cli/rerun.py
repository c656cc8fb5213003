"""`wf rerun ID -e EVENT_ID`: a finished instance run again from one of its events (Dapr's rerun)."""

from __future__ import annotations

import click

from wf.cli.common import Globals, instance_id_argument, pass_globals, read_payload
from wf.model import validate_instance_id


@click.command("rerun")
@instance_id_argument()
@click.option("-e", "--event-id", type=click.IntRange(min=0), required=True, metavar="N",
              help="The event_id (from 'wf history ID') of an activity, timer or child workflow to run again.")
@click.option("--new-instance-id", metavar="ID", help="Id of the new instance (default: a new uuid).")
@click.option("-x", "--input", "input_", metavar="JSON",
              help="New input of that activity or child workflow (JSON, @FILE, or - for stdin); default: as before.")
@pass_globals
def rerun_cmd(g: Globals, instance_id: str, event_id: int, new_instance_id: str | None, input_: str | None) -> None:
    """Rerun a finished instance from one of its events, as a new instance; prints the new id.

    The new instance replays the history up to event N (nothing before it runs again), runs that
    activity, timer or child workflow again, and goes on from there. The instance rerun is left
    as it is. Only a finished instance that is not a child workflow can be rerun.

    \b
    Examples:
      wf history order-7 -o wide                       # find the event_id
      wf rerun order-7 -e 3
      wf rerun order-7 -e 3 --new-instance-id order-7-retry -x '{"amount": 900}'
    """
    if new_instance_id is not None:
        validate_instance_id(new_instance_id)
    payload = read_payload(input_)
    new_id = g.backend().rerun(instance_id, event_id, new_instance_id=new_instance_id, input=payload,
                               overwrite_input=payload is not None)
    click.echo(new_id)


COMMANDS = [rerun_cmd]
