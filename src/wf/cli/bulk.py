"""What the bulk commands share (terminate, suspend, resume, raise-event): several ids or `--all`
with the list filters, a dry run, a confirmation at a terminal, a progress bar, a summary."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from wf.cli.common import Globals, complete_statuses, workflow_name_completer
from wf.cli.errors import ExitWith
from wf.model import ListFilter, describe_ids, validate_instance_id


def selection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--all with -s / -w / -m, --dry-run, -y, --rps."""
    options = [
        click.option("--all", "all_", is_flag=True,
                     help="Every instance the list filters select (without -s: those the operation applies to)."),
        click.option("-s", "--filter-status", "statuses", metavar="STATUS", multiple=True, shell_complete=complete_statuses,
                     help="With --all: only these statuses (repeatable, or comma separated)."),
        click.option("-w", "--filter-name", metavar="NAME", shell_complete=workflow_name_completer(with_store=True),
                     help="With --all: only instances of this workflow."),
        click.option("-m", "--filter-max-age", metavar="AGE",
                     help="With --all: only instances created within AGE (24h, 7d) or since a timestamp."),
        click.option("--dry-run", is_flag=True,
                     help="List the ids that would be touched (at a terminal the first 50) and their count; change nothing."),
        click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation at a terminal."),
        click.option("--rps", type=click.FloatRange(min=0, min_open=True), metavar="N",
                     help="At most N requests per second (a Dapr sidecar takes one request per instance)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def selection_filter(statuses: tuple[str, ...], name: str | None, max_age: str | None) -> ListFilter:
    from wf.cli.inspect import parse_statuses

    created_after = None
    if max_age is not None:
        from wf.durations import parse_time_ago

        created_after = parse_time_ago(max_age)
    return ListFilter(statuses=parse_statuses(statuses), name=name or None, created_after=created_after)


def check_selection(ids: tuple[str, ...] | list[str], all_: bool, statuses: tuple[str, ...], name: str | None,
                    max_age: str | None) -> None:
    if ids and all_:
        raise click.UsageError("give instance ids or --all with filters, not both")
    if not all_ and (statuses or name or max_age):
        raise click.UsageError("-s / -w / -m select instances for --all; add --all")
    if not ids and not all_:
        raise click.UsageError("name one or more instance ids, or use --all (with -s / -w / -m)")
    for iid in ids:
        validate_instance_id(iid)


def plural(n: int, word: str = "instance") -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def run_bulk(g: Globals, operation: str, verbs: tuple[str, str, str], ids: tuple[str, ...] | list[str], all_: bool,
             statuses: tuple[str, ...], name: str | None, max_age: str | None, dry_run: bool, yes: bool,
             rps: float | None, **params: Any) -> None:
    """verbs: (terminate, Terminating, Terminated). Exit 1 if any instance failed."""
    verb, doing, done = verbs
    backend = g.backend()
    out = g.out
    app = g.resolved_app_id()
    if all_:
        flt = selection_filter(statuses, name, max_age)
        selection = flt.describe()
        targets = backend.select(operation, flt)
    else:
        targets = list(dict.fromkeys(ids))
        selection = describe_ids(targets)
    target = f"{selection}; app {app}"
    n = len(targets)
    if dry_run:
        out.id_list(targets, n)
        out.message(f"Would {verb} {plural(n)} ({target}); dry run, nothing changed")
        return
    if n == 0:
        out.message(f"Nothing to {verb} ({target})")
        return
    if out.err_tty and _stdin_is_terminal() and not yes:
        if not out.confirm(f"{verb.capitalize()} {plural(n)} ({selection}) of app {app} {g.where()}?"):
            raise click.Abort()
    with out.progress(n, doing) as advance:
        result = backend.bulk(operation, targets, progress=advance, selection=selection, rps=rps, **params)
    out.bulk_summary(result, done, target)
    if result.failed:
        raise ExitWith(1)


def _stdin_is_terminal() -> bool:
    from wf.cli.output import is_terminal

    return is_terminal(sys.stdin)
