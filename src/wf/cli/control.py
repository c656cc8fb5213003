"""`wf raise-event`, `suspend`, `resume`, `terminate`, `wait`: acting on one instance."""

from __future__ import annotations

import click

from wf.cli.common import (
    Globals,
    exit_code_for,
    instance_id_argument,
    pass_globals,
    read_payload,
    require_state,
    timeout_seconds,
)
from wf.cli.errors import EXIT_TIMEOUT, ExitWith
from wf.model import InvalidArgumentError, validate_instance_id


def _check_exists(g: Globals, instance_id: str) -> None:
    require_state(g, instance_id, fetch_payloads=False)


@click.command("raise-event")
@click.argument("target", metavar="ID/EVENT")
@click.argument("event", required=False, metavar="[EVENT]")
@click.option("-x", "--input", "input_", metavar="JSON", help="Event data as JSON, @FILE, or - for stdin.")
@pass_globals
def raise_event_cmd(g: Globals, target: str, event: str | None, input_: str | None) -> None:
    """Send event EVENT (with optional data) to instance ID.

    \b
    Examples:
      wf raise-event order-7/approval_decision -x '{"approved": true, "reason": "ok"}'
      wf raise-event order-7 approval_decision -x @decision.json
    """
    if event is None:
        instance_id, sep, event = target.partition("/")
        if not sep:
            raise click.UsageError("name the event: ID/EVENT, or ID EVENT as two arguments")
    else:
        instance_id = target
    validate_instance_id(instance_id)
    if not event or not event.strip():
        raise InvalidArgumentError("the event name is empty; use ID/EVENT, e.g. order-7/approval_decision")
    data = read_payload(input_, "event data")
    hint = _unexpected_event_note(g, instance_id, event)
    g.backend().raise_event(instance_id, event, data)
    if hint:
        g.out.note(hint)
    g.out.message(f"Raised event {event} on {instance_id}")


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
@instance_id_argument()
@click.option("-r", "--reason", metavar="TEXT", help="Why (recorded in the history).")
@pass_globals
def suspend_cmd(g: Globals, instance_id: str, reason: str | None) -> None:
    """Suspend (pause) a running instance; events that arrive are kept for after resume.

    \b
    Example:
      wf suspend order-7 -r "waiting for the vendor"
    """
    g.backend().suspend(instance_id, reason)
    g.out.message(f"Suspended {instance_id}")


@click.command("resume")
@instance_id_argument()
@click.option("-r", "--reason", metavar="TEXT", help="Why (recorded in the history).")
@pass_globals
def resume_cmd(g: Globals, instance_id: str, reason: str | None) -> None:
    """Resume a suspended instance.

    \b
    Example:
      wf resume order-7 -r "vendor is back"
    """
    g.backend().resume(instance_id, reason)
    g.out.message(f"Resumed {instance_id}")


@click.command("terminate")
@instance_id_argument()
@click.option("--output", "output", metavar="JSON", help="The workflow's output as JSON (@FILE, - for stdin).")
@click.option("--no-recursive", is_flag=True, help="Leave its child workflows running.")
@pass_globals
def terminate_cmd(g: Globals, instance_id: str, output: str | None, no_recursive: bool) -> None:
    """Terminate an instance (and, unless --no-recursive, its child workflows).

    \b
    Example:
      wf terminate order-7 --output '{"reason": "cancelled by support"}'
    """
    payload = read_payload(output, "output")
    g.backend().terminate(instance_id, payload, recursive=not no_recursive)
    g.out.message(f"Terminated {instance_id}")


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
    wait_and_report(g, instance_id, secs, fmt=fmt, quiet=quiet, print_id=False)


def wait_and_report(g: Globals, instance_id: str, secs: float | None, *, fmt: str = "short", quiet: bool = False,
                    print_id: bool = False) -> None:
    """Block until the instance is terminal, print its state, exit 0 / 3 / 4 (124 on timeout)."""
    from wf.durations import format_duration

    backend = g.backend()
    try:
        state = backend.wait(instance_id, until="completion", timeout=secs, fetch_payloads=True)
    except TimeoutError:
        current = backend.get(instance_id, fetch_payloads=False)
        status = f"still {current.runtime_status.name}" if current is not None else "gone"
        raise ExitWith(
            EXIT_TIMEOUT,
            f"timed out after {format_duration(secs or 0)} waiting for {instance_id} ({status}); "
            f"'wf wait {instance_id}' waits again",
        ) from None
    if not quiet:
        g.out.state(state, fmt, show_output=True)
    code = exit_code_for(state)
    if code:
        raise ExitWith(code)


COMMANDS = [raise_event_cmd, suspend_cmd, resume_cmd, terminate_cmd, wait_cmd]
