"""`wf raise-event`, `suspend`, `resume`, `terminate` (one instance, several, or --all by filters), `wait`."""

from __future__ import annotations

import click

from wf.cli.bulk import check_selection, run_bulk, selection_options
from wf.cli.common import (
    Globals,
    LIVE_STATUSES,
    complete_event_targets,
    exit_code_for,
    instance_ids_in,
    instance_id_argument,
    pass_globals,
    read_payload,
    require_state,
    timeout_seconds,
)
from wf.cli.errors import EXIT_TIMEOUT, ExitWith
from wf.model import InvalidArgumentError, WfError


def _check_exists(g: Globals, instance_id: str) -> None:
    require_state(g, instance_id, fetch_payloads=False)


# Repeating an operation that already holds succeeds as a no-op (DESIGN: scripts can retry, exit 0),
# and says so on stderr: the statuses in which it holds, and the words.
ALREADY = {
    "suspend": (("SUSPENDED",), "is already suspended"),
    "resume": (("RUNNING", "PENDING"), "is not suspended"),
    "terminate": (("TERMINATED",), "is already terminated"),
}


def _already_holds(g: Globals, operation: str, instance_id: str) -> bool:
    """Whether the operation already holds for the instance (noted on stderr). The operation is
    still sent: the engine decides, and records it in the audit trail. With -q nothing is read."""
    if g.quiet:
        return False
    state = g.backend().get(instance_id, fetch_payloads=False)
    if state is None:
        return False  # the operation itself reports the missing instance
    statuses, words = ALREADY[operation]
    status = state.runtime_status.name
    if status not in statuses:
        return False
    g.out.note(f"{instance_id} {words} ({status}); nothing changed")
    return True


@click.command("raise-event")
@click.argument("targets", nargs=-1, metavar="ID/EVENT | ID... EVENT | --all EVENT",
                shell_complete=complete_event_targets)
@click.option("-x", "--input", "input_", metavar="JSON", help="Event data as JSON, @FILE, or - for stdin.")
@selection_options
@pass_globals
def raise_event_cmd(g: Globals, targets: tuple[str, ...], input_: str | None, all_: bool, statuses: tuple[str, ...],
                    filter_name: str | None, filter_max_age: str | None, dry_run: bool, yes: bool,
                    rps: float | None) -> None:
    """Send event EVENT (with optional data) to one instance, several, or --all selected by filters.

    \b
    Examples:
      wf raise-event order-7/approval_decision -x '{"approved": true, "reason": "ok"}'
      wf raise-event order-7 approval_decision -x @decision.json
      wf raise-event order-7 order-8 approval_decision -x '{"approved": true}'
      wf raise-event --all -w approval_workflow -s RUNNING approval_decision -x '{"approved": false}'
    """
    ids, event = _event_targets(targets, all_)
    if not event or not event.strip():
        raise InvalidArgumentError("the event name is empty; use ID/EVENT, e.g. order-7/approval_decision")
    check_selection(ids, all_, statuses, filter_name, filter_max_age)
    data = read_payload(input_, "event data")
    if len(ids) == 1 and not dry_run:
        hint = _unexpected_event_note(g, ids[0], event)
        g.backend().raise_event(ids[0], event, data)
        if hint:
            g.out.note(hint)
        g.out.message(f"Raised event {event} on {ids[0]}")
        return
    run_bulk(g, "raise_event", (f"raise {event} on", "Raising", f"Raised {event} on"), ids, all_, statuses,
             filter_name, filter_max_age, dry_run, yes, rps, event_name=event, data=data)


def _event_targets(targets: tuple[str, ...], all_: bool) -> tuple[list[str], str]:
    """(instance ids, event name) from ID/EVENT, ID EVENT, ID... EVENT, or --all EVENT."""
    if all_:
        if len(targets) != 1:
            raise click.UsageError("with --all, name only the event: wf raise-event --all [-s ...] EVENT")
        return [], targets[0]
    if not targets:
        raise click.UsageError("name the instance and the event: ID/EVENT, or ID EVENT")
    if all("/" in t for t in targets):
        pairs = [t.partition("/") for t in targets]
        events = {p[2] for p in pairs}
        if len(events) != 1:
            raise click.UsageError("raise one event at a time: every ID/EVENT must name the same EVENT")
        return [p[0] for p in pairs], events.pop()
    if len(targets) == 1:
        raise click.UsageError("name the event: ID/EVENT, or ID EVENT as two arguments")
    return list(targets[:-1]), targets[-1]


def _ids_argument(*statuses: str):
    """ID...: completion offers the instances in the states the command applies to."""
    return click.argument("instance_ids", nargs=-1, metavar="ID...", shell_complete=instance_ids_in(*statuses))


def _unexpected_event_note(g: Globals, instance_id: str, event: str) -> str | None:
    """A note when the instance is not waiting for this event (a typo, most often). The event is
    delivered anyway: an event raised early is kept until the workflow waits for it."""
    from wf.model import WfError

    try:
        pending = g.backend().pending(instance_id)
    except WfError:
        return None  # the raise itself reports a missing instance
    if pending is None:
        return None
    waits = [i.name for i in pending if i.kind == "event" and i.name]
    if any(event.lower() == w.lower() for w in waits):
        return None
    if not waits:
        return (f"note: {instance_id} is not waiting for any event now; {event!r} is kept until the "
                "workflow waits for it")
    import difflib

    close = difflib.get_close_matches(event.lower(), [w.lower() for w in waits], n=1, cutoff=0.6)
    names = ", ".join(repr(w) for w in waits)
    suggestion = ""
    if close:
        match = next(w for w in waits if w.lower() == close[0])
        suggestion = f"; did you mean {match}?"
    return (f"note: {instance_id} is not waiting for {event!r} (it waits for {names}){suggestion} "
            "The event is delivered and kept until a wait for it")


@click.command("suspend")
@_ids_argument("RUNNING", "PENDING")
@click.option("-r", "--reason", metavar="TEXT", help="Why (recorded in the history and the audit trail).")
@selection_options
@pass_globals
def suspend_cmd(g: Globals, instance_ids: tuple[str, ...], reason: str | None, all_: bool,
                statuses: tuple[str, ...], filter_name: str | None, filter_max_age: str | None, dry_run: bool,
                yes: bool, rps: float | None) -> None:
    """Suspend (pause) instances; events that arrive are kept for after resume.

    \b
    Examples:
      wf suspend order-7 -r "waiting for the vendor"
      wf suspend --all -w nightly_report -r "database maintenance" -y
    """
    check_selection(instance_ids, all_, statuses, filter_name, filter_max_age)
    if len(instance_ids) == 1 and not dry_run:
        held = _already_holds(g, "suspend", instance_ids[0])
        g.backend().suspend(instance_ids[0], reason)
        if not held:
            g.out.message(f"Suspended {instance_ids[0]}")
        return
    run_bulk(g, "suspend", ("suspend", "Suspending", "Suspended"), instance_ids, all_, statuses, filter_name,
             filter_max_age, dry_run, yes, rps, reason=reason)


@click.command("resume")
@_ids_argument("SUSPENDED")
@click.option("-r", "--reason", metavar="TEXT", help="Why (recorded in the history and the audit trail).")
@selection_options
@pass_globals
def resume_cmd(g: Globals, instance_ids: tuple[str, ...], reason: str | None, all_: bool,
               statuses: tuple[str, ...], filter_name: str | None, filter_max_age: str | None, dry_run: bool,
               yes: bool, rps: float | None) -> None:
    """Resume suspended instances.

    \b
    Examples:
      wf resume order-7 -r "vendor is back"
      wf resume --all -w nightly_report -y
    """
    check_selection(instance_ids, all_, statuses, filter_name, filter_max_age)
    if len(instance_ids) == 1 and not dry_run:
        held = _already_holds(g, "resume", instance_ids[0])
        g.backend().resume(instance_ids[0], reason)
        if not held:
            g.out.message(f"Resumed {instance_ids[0]}")
        return
    run_bulk(g, "resume", ("resume", "Resuming", "Resumed"), instance_ids, all_, statuses, filter_name,
             filter_max_age, dry_run, yes, rps, reason=reason)


@click.command("terminate")
@_ids_argument(*LIVE_STATUSES)
@click.option("--output", "output", metavar="JSON", help="The workflow's output as JSON (@FILE, - for stdin).")
@click.option("--no-recursive", is_flag=True, help="Leave its child workflows running.")
@click.option("-r", "--reason", metavar="TEXT", help="Why (recorded in the audit trail).")
@selection_options
@pass_globals
def terminate_cmd(g: Globals, instance_ids: tuple[str, ...], output: str | None, no_recursive: bool,
                  reason: str | None, all_: bool, statuses: tuple[str, ...], filter_name: str | None,
                  filter_max_age: str | None, dry_run: bool, yes: bool, rps: float | None) -> None:
    """Terminate instances (and, unless --no-recursive, their child workflows).

    \b
    Examples:
      wf terminate order-7 --output '{"reason": "cancelled by support"}'
      wf terminate a1 b2 c3 -r "duplicates"
      wf terminate --all -w nightly_report -s RUNNING -m 6h -r "stuck" --dry-run
    """
    check_selection(instance_ids, all_, statuses, filter_name, filter_max_age)
    payload = read_payload(output, "output")
    if len(instance_ids) == 1 and not dry_run:
        held = _already_holds(g, "terminate", instance_ids[0])
        if reason:
            g.backend().terminate(instance_ids[0], payload, recursive=not no_recursive, reason=reason)
        else:
            g.backend().terminate(instance_ids[0], payload, recursive=not no_recursive)
        if not held:
            g.out.message(f"Terminated {instance_ids[0]}")
        return
    run_bulk(g, "terminate", ("terminate", "Terminating", "Terminated"), instance_ids, all_, statuses, filter_name,
             filter_max_age, dry_run, yes, rps, output=payload, recursive=not no_recursive, reason=reason)


@click.command("wait")
@instance_id_argument()
@click.option("--timeout", metavar="DUR", help="Give up after DUR (30s, 5m); exit 124. Default: wait for ever.")
@click.option("-o", "--output", "fmt", type=click.Choice(("short", "wide", "json", "yaml")), default="short",
              show_default=True, help="Format of the final state.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing; only the exit code tells.")
@pass_globals
def wait_cmd(g: Globals, instance_id: str, timeout: str | None, fmt: str, quiet: bool) -> None:
    """Wait until an instance finishes; the exit code says how it ended.

    Exit codes: 0 COMPLETED, 3 FAILED, 4 TERMINATED or CANCELED, 124 timed out, 1 not found.

    \b
    Example:
      wf wait order-7 --timeout 10m -q; case $? in 0) echo done;; 3) echo failed;; esac
    """
    secs = timeout_seconds(timeout)
    _check_exists(g, instance_id)
    wait_and_report(g, instance_id, secs, fmt=fmt, quiet=quiet or g.quiet, print_id=False)


def wait_and_report(g: Globals, instance_id: str, secs: float | None, *, fmt: str = "short", quiet: bool = False,
                    print_id: bool = False) -> None:
    """Block until the instance is terminal, print its state, exit 0 / 3 / 4 (124 on timeout)."""
    import time

    from wf.durations import format_duration

    from wf.cli.live import wait_spinner

    backend = g.backend()
    started = time.monotonic()
    try:
        with wait_spinner(g.out, backend, instance_id, quiet=quiet):
            state = backend.wait(instance_id, until="completion", timeout=secs, fetch_payloads=True)
    except TimeoutError:
        elapsed = time.monotonic() - started  # the real time: a last poll may have outlasted --timeout
        try:
            current = backend.get(instance_id, fetch_payloads=False)
            status = f"still {current.runtime_status.name}" if current is not None else "gone"
        except WfError as exc:  # the engine is still away: the timeout is the answer, with why
            status = f"state unknown: {exc}"
        raise ExitWith(
            EXIT_TIMEOUT,
            f"timed out after {format_duration(elapsed)} waiting for {instance_id} ({status}); "
            f"'wf wait {instance_id}' waits again",
        ) from None
    if not quiet:
        g.out.state(state, fmt, show_output=True)
    code = exit_code_for(state)
    if code:
        raise ExitWith(code)


COMMANDS = [raise_event_cmd, suspend_cmd, resume_cmd, terminate_cmd, wait_cmd]
