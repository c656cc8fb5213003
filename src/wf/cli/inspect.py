"""`wf get`, `wf history`, `wf list` (alias `ls`): reading the store, no worker needed."""

from __future__ import annotations

import click

from wf.cli.common import Globals, instance_id_argument, not_found, output_option, pass_globals, require_state
from wf.cli.output import HISTORY_FORMATS, LIST_FORMATS, STATE_FORMATS
from wf.model import ListFilter, PendingItem, WorkflowStatus


@click.command("get")
@instance_id_argument()
@output_option(STATE_FORMATS)
@click.option("--show-input", is_flag=True, help="Include the input in the card.")
@click.option("--show-output", is_flag=True, help="Include the output in the card.")
@pass_globals
def get_cmd(g: Globals, instance_id: str, fmt: str, show_input: bool, show_output: bool) -> None:
    """Show the state of one instance, and what it waits for: external events, timers,
    activities (attempt, worker), child workflows, its start time, a suspension; events that
    arrived and wait unconsumed; a warning when no live worker can run it. In -o json/yaml
    these are the `pending` list (null when the engine cannot say, as a Dapr sidecar's HTTP API).

    \b
    Examples:
      wf get order-7
      wf get order-7 -o json | jq -r .runtime_status
    """
    fmt = fmt.lower()
    backend = g.backend()
    state = require_state(g, instance_id, fetch_payloads=True)
    pending: list[PendingItem] | None = [] if state.runtime_status.is_terminal else backend.pending(instance_id)
    g.out.state(state, fmt, show_input=show_input, show_output=show_output, pending=pending)


@click.command("history")
@instance_id_argument()
@output_option(HISTORY_FORMATS)
@pass_globals
def history_cmd(g: Globals, instance_id: str, fmt: str) -> None:
    """Show the event history of one instance.

    \b
    Examples:
      wf history order-7
      wf history order-7 -o jsonl | jq -c 'select(.event_type == "TaskFailed")'
    """
    backend = g.backend()
    events = backend.history(instance_id)
    if not events and backend.get(instance_id, fetch_payloads=False) is None:
        raise not_found(g, instance_id)
    g.out.history(events, fmt.lower())


def parse_statuses(values: tuple[str, ...]) -> tuple[WorkflowStatus, ...] | None:
    """-s RUNNING -s failed, or -s RUNNING,FAILED -> (RUNNING, FAILED)."""
    out: list[WorkflowStatus] = []
    for value in values:
        for part in value.split(","):
            if part.strip():
                status = WorkflowStatus.parse(part)
                if status not in out:
                    out.append(status)
    return tuple(out) or None


@click.command("list")
@click.option("-w", "--filter-name", metavar="NAME", help="Only instances of this workflow.")
@click.option("-s", "--filter-status", "statuses", metavar="STATUS", multiple=True,
              help="Only these statuses (repeatable, or comma separated): RUNNING, COMPLETED, FAILED, ...")
@click.option("-m", "--filter-max-age", metavar="AGE", help="Only instances created within AGE (24h, 7d) or since a timestamp.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="At most N instances (newest first).")
@output_option(LIST_FORMATS)
@pass_globals
def list_cmd(g: Globals, filter_name: str | None, statuses: tuple[str, ...], filter_max_age: str | None,
             limit: int | None, fmt: str) -> None:
    """List instances, newest first (alias: ls).

    \b
    Examples:
      wf list
      wf ls -s RUNNING -s SUSPENDED -m 24h -o wide
      wf list -s FAILED -o ids | xargs -n1 wf history
      wf list -o jsonl > instances.jsonl             # streams; flat memory
    """
    fmt = fmt.lower()
    created_after = None
    if filter_max_age is not None:
        from wf.durations import parse_time_ago

        created_after = parse_time_ago(filter_max_age)
    flt = ListFilter(statuses=parse_statuses(statuses), name=filter_name or None, created_after=created_after)
    states = g.backend().list(flt, limit=limit, fetch_payloads=fmt != "ids")
    g.out.states(states, fmt)


COMMANDS = [get_cmd, history_cmd, list_cmd]
