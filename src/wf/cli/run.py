"""`wf run NAME`: schedule a workflow instance, optionally wait for it (or run it in-process)."""

from __future__ import annotations

from datetime import datetime, timezone

import click

from wf.backends.base import IF_EXISTS_CHOICES
from wf.cli.common import (
    Globals,
    load_app,
    pass_globals,
    prepare_app_overrides,
    read_payload,
    timeout_seconds,
    workflow_name_completer,
)
from wf.model import validate_instance_id


@click.command("run")
@click.argument("name", shell_complete=workflow_name_completer(with_store=False))
@click.option("-i", "--instance-id", metavar="ID", help="Instance id (1-64 letters, digits, '-', '_'); default a new uuid.")
@click.option("-x", "--input", "input_", metavar="JSON", help="Input as JSON, @FILE to read a file, or - for stdin.")
@click.option("-s", "--start-time", metavar="TIME", help="Start later: RFC 3339 / YYYY-MM-DD, or a duration from now (10m).")
@click.option("--if-exists", type=click.Choice(IF_EXISTS_CHOICES), default="return", show_default=True,
              help="When the id exists: return it and start nothing, error, or replace a finished instance.")
@click.option("--wait", is_flag=True, help="Wait for the instance to finish; the exit code tells how it ended.")
@click.option("--timeout", metavar="DUR", help="With --wait or --app: give up after DUR (exit 124). Implies --wait.")
@click.option("--app", "app_spec", metavar="MODULE:ATTR", help="Run the workflow in this process with the app's runtime, then exit.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the instance id.")
@click.option("-o", "--output", "fmt", type=click.Choice(("short", "wide", "json", "yaml")), default="short",
              show_default=True, help="Format of the final state printed with --wait / --app.")
@pass_globals
def run_cmd(g: Globals, name: str, instance_id: str | None, input_: str | None, start_time: str | None,
            if_exists: str, wait: bool, timeout: str | None, app_spec: str | None, quiet: bool, fmt: str) -> None:
    """Start a new instance of workflow NAME and print its id.

    \b
    Examples:
      wf run approval_workflow -i order-7 -x '{"amount": 1500}'
      wf run nightly_report -s 2h                     # start in two hours
      ID=$(wf run build -x @params.json -q)
      wf run build --wait --timeout 10m; echo $?      # 0 ok, 3 failed, 4 terminated, 124 timed out
      wf run approval_workflow --app examples/approval.py:wfr -x '{"amount": 10}'
    """
    quiet = g.quiet = quiet or g.quiet  # run's -q and the global one are the same
    # Validate everything before anything changes.
    if instance_id is not None:
        validate_instance_id(instance_id)
    payload = read_payload(input_)
    start_at = None
    if start_time is not None:
        from wf.durations import parse_time_ahead

        start_at = parse_time_ahead(start_time)
    wait_secs = timeout_seconds(timeout)
    wait = wait or timeout is not None or app_spec is not None

    runtime = None
    if app_spec is not None:
        prepare_app_overrides(g)
        runtime = load_app(app_spec)
        _check_registered(runtime, name, app_spec)

    backend = g.backend()
    existed = None
    if instance_id is not None and if_exists == "return":
        existed = backend.get(instance_id, fetch_payloads=False)

    if runtime is not None:
        runtime.start()
    try:
        iid = backend.start(name, input=payload, instance_id=instance_id, start_at=start_at, if_exists=if_exists)
        out = g.out
        if existed is not None:
            what = f"Instance {iid} already exists ({existed.runtime_status.name}); started nothing new"
        else:
            what = f"Started {name} as {iid}"
            if start_at is not None:
                from wf.cli.output import when

                what += f"; it starts at {when(start_at, datetime.now(timezone.utc))}"
            if runtime is None and not quiet:
                hint = _no_worker_note(backend, name)
                if hint:
                    out.note(hint)
        if quiet:
            out.line(iid)
            if existed is not None:
                out.warning(what)  # the id printed is not a new instance: scripts may care
        elif not wait:
            out.message(what)
        else:
            out.note(f"{what}; waiting for it to finish...")
        out.flush()
        if not wait:
            return
        from wf.cli.control import wait_and_report

        wait_and_report(g, iid, wait_secs, fmt=fmt, quiet=quiet)
    finally:
        if runtime is not None:
            runtime.shutdown()


def _no_worker_note(backend, name: str) -> str | None:  # noqa: ANN001 - any Backend
    """A note when no live worker of the app can run NAME: the instance would wait silently."""
    from wf.model import WfError

    try:
        workers = backend.workers()
    except WfError:  # an engine that cannot list workers (a Dapr sidecar): nothing to say
        return None
    app = backend.app_id
    if not workers:
        return (f"note: no live worker of app {app!r} is running; the instance waits until one starts "
                "(wf worker --app MODULE:ATTR)")
    recorded = [w.workflows for w in workers if w.workflows is not None]
    if len(recorded) < len(workers):  # some worker did not record its registrations: it may run NAME
        return None
    names = sorted({n for names in recorded for n in names})
    if any(n.lower() == name.lower() for n in names):
        return None
    import difflib

    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    suggestion = f"; did you mean {close[0]}?" if close else ""
    return (f"note: no live worker of app {app!r} registers workflow {name!r} (they register: "
            f"{', '.join(names) or 'none'}){suggestion} The instance waits until a worker that does starts")


def _check_registered(runtime, name: str, app_spec: str) -> None:
    """Refuse early when the app has no workflow of that name (it would wait for ever otherwise)."""
    names = _registered_workflows(runtime)
    if names is not None and name not in names and name.lower() not in {n.lower() for n in names}:
        from wf.model import InvalidArgumentError

        known = ", ".join(sorted(names)) or "none"
        raise InvalidArgumentError(f"app {app_spec!r} has no workflow named {name!r} (it has: {known})")


def _registered_workflows(runtime) -> set[str] | None:
    for attr in ("workflow_names", "registered_workflows"):
        value = getattr(runtime, attr, None)
        if callable(value):
            value = value()
        if value is not None:
            return set(value)
    registry = getattr(runtime, "registry", None) or getattr(runtime, "_registry", None)
    for holder in (registry, runtime):
        for attr in ("workflows", "_workflows"):
            value = getattr(holder, attr, None) if holder is not None else None
            if isinstance(value, dict):
                return set(value)
    return None


COMMANDS = [run_cmd]
