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


TERMINAL_LIMIT = 50


@click.command("list")
@click.option("-w", "--filter-name", metavar="NAME", help="Only instances of this workflow.")
@click.option("-s", "--filter-status", "statuses", metavar="STATUS", multiple=True,
              help="Only these statuses (repeatable, or comma separated): RUNNING, COMPLETED, FAILED, ...")
@click.option("-m", "--filter-max-age", metavar="AGE", help="Only instances created within AGE (24h, 7d) or since a timestamp.")
@click.option("--limit", type=click.IntRange(min=0), metavar="N",
              help=f"At most N instances, newest first; 0 for all [default: {TERMINAL_LIMIT} at a terminal, else all].")
@output_option(LIST_FORMATS)
@pass_globals
def list_cmd(g: Globals, filter_name: str | None, statuses: tuple[str, ...], filter_max_age: str | None,
             limit: int | None, fmt: str) -> None:
    """List instances, newest first (alias: ls). Every format streams: the first row comes at
    once, memory stays flat over millions. At a terminal: the newest 50, and a footer with the
    counts by status and how many more there are.

    \b
    Examples:
      wf list
      wf ls -s RUNNING -s SUSPENDED -m 24h -o wide
      wf ls --limit 0                                # every instance
      wf list -s FAILED -o ids | xargs -n1 wf history
      wf list -o jsonl > instances.jsonl             # streams; flat memory
    """
    fmt = fmt.lower()
    flt = list_filter(filter_name, statuses, filter_max_age)
    tty = g.out.tty
    if limit is None and tty:
        limit = TERMINAL_LIMIT
    backend = g.backend()
    table = fmt in ("short", "wide")
    states = backend.list(flt, limit=limit or None, fetch_payloads=not table and fmt != "ids")
    shown = g.out.states(states, fmt)
    if tty and table and shown:
        g.out.list_footer(_counts(backend, flt), shown, limited=limit is not None and 0 < limit <= shown)


def filter_options(fn):  # noqa: ANN001, ANN201 - a click decorator
    """The list filters (-w, -s, -m), shared by list and count."""
    fn = click.option("-m", "--filter-max-age", metavar="AGE",
                      help="Only instances created within AGE (24h, 7d) or since a timestamp.")(fn)
    fn = click.option("-s", "--filter-status", "statuses", metavar="STATUS", multiple=True,
                      help="Only these statuses (repeatable, or comma separated): RUNNING, COMPLETED, FAILED, ...")(fn)
    return click.option("-w", "--filter-name", metavar="NAME", help="Only instances of this workflow.")(fn)


@click.command("count")
@filter_options
@click.option("--by", type=click.Choice(("status", "name", "app")), help="One count per status, workflow name or app.")
@click.option("-o", "--output", "fmt", type=click.Choice(("short", "json", "yaml"), case_sensitive=False),
              default="short", show_default=True, help="Output format.")
@pass_globals
def count_cmd(g: Globals, filter_name: str | None, statuses: tuple[str, ...], filter_max_age: str | None,
              by: str | None, fmt: str) -> None:
    """Count instances, with the list filters; --by status|name|app gives one count per value
    (by app: across every app of the store).

    \b
    Examples:
      wf count -s RUNNING                      # prints a number
      wf count --by status -m 24h
      wf count --by name -s FAILED -o json
    """
    flt = list_filter(filter_name, statuses, filter_max_age)
    counts = g.backend().count_by(flt, by or "status")
    g.out.counts(counts, by, fmt.lower())


@click.command("workers")
@click.option("-A", "--all-apps", is_flag=True, help="The workers of every app, not only this one.")
@output_option(("short", "wide", "json", "jsonl", "yaml"))
@pass_globals
def workers_cmd(g: Globals, all_apps: bool, fmt: str) -> None:
    """List the live workers: id, app, host, pid, when each started, its last heartbeat, the
    activities it runs now, and the workflows (wide: and activities) it registered.

    \b
    Examples:
      wf workers
      wf workers -A -o json | jq '.[] | {host, pid, activities_in_flight}'
    """
    g.out.workers(g.backend().workers(all_apps=all_apps), fmt.lower())


def list_filter(filter_name: str | None, statuses: tuple[str, ...], filter_max_age: str | None) -> ListFilter:
    created_after = None
    if filter_max_age is not None:
        from wf.durations import parse_time_ago

        created_after = parse_time_ago(filter_max_age)
    return ListFilter(statuses=parse_statuses(statuses), name=filter_name or None, created_after=created_after)


def _counts(backend, flt: ListFilter) -> dict[str, int] | None:  # noqa: ANN001 - any Backend
    from wf.model import UnsupportedError

    try:
        return backend.count_by(flt, "status")
    except UnsupportedError:
        return None


COMMANDS = [get_cmd, history_cmd, list_cmd, count_cmd, workers_cmd]
