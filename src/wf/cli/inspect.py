"""`wf get`, `wf history`, `wf list` (alias `ls`): reading the store, no worker needed."""

from __future__ import annotations

import click

from wf.cli import reads
from wf.cli.common import (
    Globals,
    complete_statuses,
    instance_id_argument,
    output_option,
    pass_globals,
    require_state,
    timeout_seconds,
    workflow_name_completer,
)
from wf.cli.output import HISTORY_FORMATS, LIST_FORMATS, STATE_FORMATS, Renderer
from wf.model import InvalidArgumentError, ListFilter, PendingItem, WorkflowState, WorkflowStatus

MIN_INTERVAL = 0.1  # seconds; a faster --watch would only load the engine
DEFAULT_INTERVAL = "1s"


def watch_options(fn):  # noqa: ANN001, ANN201 - a click decorator
    fn = click.option("--interval", metavar="DUR", help=f"With --watch: how often to poll (at least 100ms) "
                                                        f"[default: {DEFAULT_INTERVAL}].")(fn)
    return click.option("--watch", is_flag=True, help="Keep watching: at a terminal the view redraws in place "
                                                      "until Ctrl-C; elsewhere it is printed again on each change.")(fn)


def watch_interval(watch: bool, interval: str | None) -> float:
    """The validated --interval in seconds (usage errors, exit 2)."""
    if interval is not None and not watch:
        raise click.UsageError("--interval goes with --watch")
    if not watch:
        return 0.0
    from wf.durations import parse_duration

    secs = parse_duration(interval or DEFAULT_INTERVAL).total_seconds()
    if secs < MIN_INTERVAL:
        raise InvalidArgumentError(f"invalid --interval {interval!r}: at least 100ms")
    return secs


@click.command("get")
@instance_id_argument()
@output_option(STATE_FORMATS)
@click.option("--show-input", is_flag=True, help="Include the input in the card.")
@click.option("--show-output", is_flag=True, help="Include the output in the card.")
@watch_options
@pass_globals
def get_cmd(g: Globals, instance_id: str, fmt: str, show_input: bool, show_output: bool, watch: bool,
            interval: str | None) -> None:
    """Show the state of one instance, and what it waits for: external events, timers,
    activities (attempt, worker), child workflows, its start time, a suspension; events that
    arrived and wait unconsumed; a warning when no live worker can run it. In -o json/yaml
    these are the `pending` list (null when the engine cannot say, as a Dapr sidecar's HTTP API).

    With --watch the card redraws in place at a terminal until Ctrl-C; elsewhere (or with -o
    json/yaml) the state is printed again each time it changes.

    \b
    Examples:
      wf get order-7
      wf get order-7 -o json | jq -r .runtime_status
      wf get order-7 --watch --interval 500ms
    """
    fmt = fmt.lower()
    secs = watch_interval(watch, interval)
    if not watch:
        return reads.show_state(g, instance_id, fmt, show_input=show_input, show_output=show_output)
    backend = g.backend()

    def poll() -> tuple[WorkflowState, list[PendingItem] | None]:
        state = require_state(g, instance_id, fetch_payloads=True)
        return state, [] if state.runtime_status.is_terminal else backend.pending(instance_id)

    def draw(out: Renderer, value: tuple[WorkflowState, list[PendingItem] | None]) -> None:
        out.state(value[0], fmt, show_input=show_input, show_output=show_output, pending=value[1])

    from wf.cli.live import watch as watch_loop

    def key(value: tuple[WorkflowState, list[PendingItem] | None]) -> object:
        state, pending = value
        return state.to_dict(), None if pending is None else [i.to_dict() for i in pending]

    redraw = g.out.tty and fmt in ("short", "wide")
    watch_loop(g.out, poll, key, draw, secs, redraw=redraw, every=interval or DEFAULT_INTERVAL,
               separate=fmt in ("short", "wide"))


@click.command("history")
@instance_id_argument()
@click.option("-o", "--output", "fmt", type=click.Choice(HISTORY_FORMATS, case_sensitive=False),
              help="Output format [default: short; with --follow off a terminal: jsonl].")
@click.option("-f", "--follow", is_flag=True,
              help="Print events as they are recorded; end when the instance does, with wait's exit codes.")
@click.option("--timeout", metavar="DUR", help="With --follow: give up after DUR (exit 124).")
@pass_globals
def history_cmd(g: Globals, instance_id: str, fmt: str | None, follow: bool, timeout: str | None) -> None:
    """Show the event history of one instance, in the order events were recorded.

    With -f/--follow, events are printed as they are recorded (at a terminal as table rows, off
    a terminal as JSON lines, one event per line) until the instance ends; the exit code says
    how: 0 COMPLETED, 3 FAILED, 4 TERMINATED or CANCELED, 124 --timeout passed.

    \b
    Examples:
      wf history order-7
      wf history order-7 -o jsonl | jq -c 'select(.event_type == "TaskFailed")'
      wf history order-7 -f
      wf history order-7 -f | jq -r .event_type     # streams JSON lines, ends with the instance
    """
    if timeout is not None and not follow:
        raise click.UsageError("--timeout goes with --follow")
    secs = timeout_seconds(timeout)
    fmt = (fmt or ("short" if not follow or g.out.tty else "jsonl")).lower()
    if follow:
        return _follow(g, instance_id, fmt, secs)
    reads.show_history(g, instance_id, fmt)


def _follow(g: Globals, instance_id: str, fmt: str, secs: float | None) -> None:
    from wf.cli.common import exit_code_for
    from wf.cli.errors import EXIT_TIMEOUT, ExitWith
    from wf.cli.live import HistoryFollower

    require_state(g, instance_id, fetch_payloads=False)
    follower = HistoryFollower(g.backend(), instance_id, secs)
    try:
        g.out.history_follow(follower.batches(), fmt)
    except TimeoutError as exc:
        from wf.durations import format_duration

        raise ExitWith(EXIT_TIMEOUT, f"timed out after {format_duration(secs or 0)} following {instance_id} "
                                     f"({exc}); 'wf history {instance_id} -f' follows again") from None
    g.out.flush()
    assert follower.final is not None
    code = exit_code_for(follower.final)
    if code:
        raise ExitWith(code)


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


TERMINAL_LIMIT = reads.TERMINAL_LIMIT


@click.command("list")
@click.option("-w", "--filter-name", metavar="NAME", help="Only instances of this workflow.",
              shell_complete=workflow_name_completer(with_store=True))
@click.option("-s", "--filter-status", "statuses", metavar="STATUS", multiple=True, shell_complete=complete_statuses,
              help="Only these statuses (repeatable, or comma separated): RUNNING, COMPLETED, FAILED, ...")
@click.option("-m", "--filter-max-age", metavar="AGE", help="Only instances created within AGE (24h, 7d) or since a timestamp.")
@click.option("--limit", type=click.IntRange(min=0), metavar="N",
              help=f"At most N instances, newest first; 0 for all [default: {TERMINAL_LIMIT} at a terminal, else all].")
@click.option("--oldest", is_flag=True, help="Oldest first: with -s RUNNING, the longest running.")
@output_option(LIST_FORMATS)
@watch_options
@pass_globals
def list_cmd(g: Globals, filter_name: str | None, statuses: tuple[str, ...], filter_max_age: str | None,
             limit: int | None, oldest: bool, fmt: str, watch: bool, interval: str | None) -> None:
    """List instances, newest first (alias: ls). Every format streams: the first row comes at
    once, memory stays flat over millions. At a terminal: the newest 50, and a footer with the
    counts by status and how many more there are.

    With --watch the table redraws in place at a terminal (as many rows as fit) until Ctrl-C;
    elsewhere (or with -o json/jsonl/yaml/ids) the list is printed again each time it changes.

    \b
    Examples:
      wf list
      wf ls -s RUNNING -s SUSPENDED -m 24h -o wide
      wf ls --limit 0                                # every instance
      wf list -s FAILED -o ids | xargs -n1 wf history
      wf list -o jsonl > instances.jsonl             # streams; flat memory
      wf ls --watch -s RUNNING
      wf ls -s RUNNING --oldest --limit 10           # the longest running
    """
    fmt = fmt.lower()
    secs = watch_interval(watch, interval)
    flt = list_filter(filter_name, statuses, filter_max_age)
    order = "oldest" if oldest else "newest"
    if not watch:
        return reads.show_list(g, flt, limit, fmt, order)
    tty = g.out.tty
    table = fmt in ("short", "wide")
    redraw = watch and tty and table
    if limit is None and tty:
        limit = TERMINAL_LIMIT
        if redraw:  # the header, the footer and the watch line must fit too
            limit = max(1, min(limit, g.out.terminal_rows() - 3))
    backend = g.backend()

    def states():  # noqa: ANN202 - an iterator of WorkflowState
        return backend.list(flt, limit=limit or None, fetch_payloads=not table and fmt != "ids", order=order)

    def draw(out: Renderer, rows) -> None:  # noqa: ANN001 - any iterable of WorkflowState
        shown = out.states(rows, fmt)
        if out.tty and table and shown:
            out.list_footer(reads.status_counts(backend, flt), shown, limited=limit is not None and 0 < limit <= shown)

    from wf.cli.live import watch as watch_loop

    watch_loop(g.out, lambda: list(states()), lambda rows: [s.to_dict() for s in rows], draw, secs,
               redraw=redraw, every=interval or DEFAULT_INTERVAL, separate=table)


def filter_options(fn):  # noqa: ANN001, ANN201 - a click decorator
    """The list filters (-w, -s, -m), shared by list and count."""
    fn = click.option("-m", "--filter-max-age", metavar="AGE",
                      help="Only instances created within AGE (24h, 7d) or since a timestamp.")(fn)
    fn = click.option("-s", "--filter-status", "statuses", metavar="STATUS", multiple=True, shell_complete=complete_statuses,
                      help="Only these statuses (repeatable, or comma separated): RUNNING, COMPLETED, FAILED, ...")(fn)
    return click.option("-w", "--filter-name", metavar="NAME", help="Only instances of this workflow.",
                        shell_complete=workflow_name_completer(with_store=True))(fn)


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
    reads.show_count(g, list_filter(filter_name, statuses, filter_max_age), by, fmt.lower())


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


COMMANDS = [get_cmd, history_cmd, list_cmd, count_cmd, workers_cmd]
