"""`wf purge`: delete finished instances, one by one or in bulk with retention filters."""

from __future__ import annotations

import sys
from dataclasses import replace

import click

from wf.cli.common import (
    Globals,
    complete_instance_ids,
    complete_statuses,
    not_found,
    pass_globals,
    workflow_name_completer,
)
from wf.cli.errors import ExitWith
from wf.cli.inspect import parse_statuses
from wf.cli.output import TERMINAL_IDS
from wf.model import TERMINAL_STATUSES, ListFilter, WfError, describe_ids, rfc3339, validate_instance_id


@click.command("purge")
@click.argument("instance_ids", nargs=-1, metavar="[ID]...", shell_complete=complete_instance_ids)
@click.option("--all", "all_", is_flag=True, help="Every finished instance (COMPLETED, FAILED, TERMINATED, CANCELED).")
@click.option("--all-older-than", metavar="DUR", help="Every instance that finished more than DUR ago (720h, 30d).")
@click.option("--all-filter-status", "statuses", metavar="STATUS", multiple=True, shell_complete=complete_statuses,
              help="With --all / --all-older-than: only these statuses (repeatable or comma separated).")
@click.option("-s", "--filter-status", "filter_statuses", metavar="STATUS", multiple=True, shell_complete=complete_statuses,
              help="Same as --all-filter-status (the list command's flag).")
@click.option("-w", "--filter-name", metavar="NAME", shell_complete=workflow_name_completer(with_store=True),
              help="With --all / --all-older-than: only instances of this workflow.")
@click.option("-m", "--filter-max-age", metavar="AGE",
              help="With --all / --all-older-than: only instances created within AGE (24h, 7d) or since a timestamp.")
@click.option("--force", is_flag=True, help="Also purge instances that have not finished.")
@click.option("--dry-run", is_flag=True,
              help="List the ids that would be purged (at a terminal the first 50) and their count; change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation at a terminal.")
@pass_globals
def purge_cmd(g: Globals, instance_ids: tuple[str, ...], all_: bool, all_older_than: str | None,
              statuses: tuple[str, ...], filter_statuses: tuple[str, ...], filter_name: str | None,
              filter_max_age: str | None, force: bool, dry_run: bool, yes: bool) -> None:
    """Delete instances with their history and child workflows.

    Only finished instances, unless --force. A bulk purge (or several ids) asks for confirmation
    at a terminal, naming the count, the app and the store, unless -y; from cron or a script it
    proceeds.

    \b
    Examples:
      wf purge order-7 order-8
      wf purge --all-older-than 720h -y                # cron: keep 30 days
      wf purge --all --all-filter-status FAILED --dry-run
      wf purge --all-older-than 168h -w nightly_report -s COMPLETED
    """
    statuses = statuses + filter_statuses
    bulk = all_ or all_older_than is not None
    if all_ and all_older_than is not None:
        raise click.UsageError("--all and --all-older-than conflict; use one (--all-older-than already selects all)")
    if instance_ids and bulk:
        raise click.UsageError("give instance ids or --all / --all-older-than, not both")
    if (statuses or filter_name or filter_max_age) and not bulk:
        raise click.UsageError("--all-filter-status / -s / -w / -m: each needs --all or --all-older-than")
    if not instance_ids and not bulk:
        raise click.UsageError("name instance ids to purge, or use --all / --all-older-than DUR")
    for iid in instance_ids:
        validate_instance_id(iid)

    if bulk:
        _purge_bulk(g, all_older_than, statuses, filter_name, filter_max_age, force, dry_run, yes)
    else:
        _purge_ids(g, instance_ids, force, dry_run, yes)


def _purge_ids(g: Globals, instance_ids: tuple[str, ...], force: bool, dry_run: bool, yes: bool) -> None:
    backend = g.backend()
    out = g.out
    failures: list[WfError] = []
    ids = list(dict.fromkeys(instance_ids))  # each id once, in the order given
    if len(ids) > 1 and not dry_run and not yes and out.err_tty and _stdin_is_terminal():
        # several ids are a bulk operation: asked like `terminate a1 b2 c3`
        if not out.confirm(f"Purge {len(ids)} instances ({describe_ids(ids)}) of app {g.resolved_app_id()} "
                           f"{g.where()}?"):
            raise click.Abort()
    for iid in ids:
        try:
            if dry_run:
                state = backend.get(iid, fetch_payloads=False)
                if state is None:
                    raise not_found(g, iid)
                if not force and not state.runtime_status.is_terminal:
                    from wf.model import InvalidStateError

                    raise InvalidStateError(
                        f"instance {iid!r} is {state.runtime_status.name}, not finished; terminate it first or add --force"
                    )
                if out.quiet:
                    out.line(iid)  # -q: only what a script needs, the ids
                else:
                    out.message(f"Would purge {iid} ({state.runtime_status.name})")
                continue
            n = backend.purge(iid, force=force)
            if n == 0:
                raise not_found(g, iid)
            extra = f" (with {n - 1} child instance{'s' if n != 2 else ''})" if n > 1 else ""
            out.message(f"Purged {iid}{extra}")
        except WfError as exc:
            from wf.cli.errors import error_line

            error_line(str(exc))
            failures.append(exc)
    if failures:
        raise ExitWith(max(f.exit_code for f in failures))


def _describe(flt: ListFilter, force: bool) -> str:
    parts = []
    if flt.statuses:
        parts.append("status " + "|".join(s.name for s in flt.statuses))
    else:
        parts.append("any status" if force else "finished")
    if flt.name:
        parts.append(f"name {flt.name}")
    if flt.created_after is not None:
        parts.append(f"created after {rfc3339(flt.created_after)}")
    if flt.completed_before is not None:
        parts.append(f"finished before {rfc3339(flt.completed_before)}")
    return ", ".join(parts)


def _purge_bulk(g: Globals, older_than: str | None, statuses: tuple[str, ...], name: str | None,
                max_age: str | None, force: bool, dry_run: bool, yes: bool) -> None:
    created_after = None
    if max_age is not None:
        from wf.durations import parse_time_ago

        created_after = parse_time_ago(max_age)
    completed_before = None
    if older_than is not None:
        from wf.durations import parse_time_ago

        completed_before = parse_time_ago(older_than)
    wanted = parse_statuses(statuses)
    if wanted and not force:
        live = [s.name for s in wanted if s not in TERMINAL_STATUSES]
        if live:
            raise click.UsageError(
                f"{', '.join(live)} {'is' if len(live) == 1 else 'are'} not a finished status; add --force to purge live instances"
            )
    flt = ListFilter(statuses=wanted, name=name or None, created_after=created_after,
                     completed_before=completed_before)
    backend = g.backend()
    out = g.out
    what = _describe(flt, force)
    app = g.resolved_app_id()

    if dry_run:
        n = backend.purge_many(flt, force=force, dry_run=True)
        if n:
            listed = flt if flt.statuses or force else replace(flt, statuses=tuple(sorted(TERMINAL_STATUSES, key=lambda s: s.value)))
            out.id_list((s.instance_id for s in backend.list(listed, limit=TERMINAL_IDS if out.tty else None)), n)
        out.message(f"Would purge {n} instance{'s' if n != 1 else ''} ({what}; app {app}); dry run, nothing changed")
        return

    interactive = out.err_tty and _stdin_is_terminal()
    total = None
    if interactive and not yes:
        total = _count(backend, flt, force)
        if total == 0:
            out.message(f"Nothing to purge ({what}; app {app})")
            return
        if not out.confirm(f"Purge {total} instance{'s' if total != 1 else ''} ({what}) of app {app} {g.where()}?"):
            raise click.Abort()
    elif out.err_tty:
        total = _count(backend, flt, force)

    with out.progress(total, "Purging") as advance:
        n = backend.purge_many(flt, force=force, dry_run=False, progress=advance)
    outcome = getattr(backend, "last_outcome", None)  # engines that purge one call per instance (gRPC)
    extra = ""
    if outcome is not None and (outcome.skipped or outcome.failed):
        extra = f"; skipped {outcome.skipped} (not finished, or gone meanwhile), failed {outcome.failed}"
    out.message(f"Purged {n} instance{'s' if n != 1 else ''} ({what}; app {app}){extra}")
    if outcome is not None and outcome.failed:
        raise ExitWith(1, f"{outcome.failed} instance{'s' if outcome.failed != 1 else ''} could not be purged "
                          f"(first: {outcome.reasons[0]})")


def _count(backend, flt: ListFilter, force: bool) -> int:
    """Backend.count(flt); the local backend also takes force= (count live instances too)."""
    if force:
        try:
            return backend.count(flt, force=True)
        except TypeError:
            pass
    return backend.count(flt)


def _stdin_is_terminal() -> bool:
    from wf.cli.output import is_terminal

    return is_terminal(sys.stdin)


COMMANDS = [purge_cmd]
