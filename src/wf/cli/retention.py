"""`wf retention set | show | clear`: how long finished instances are kept, per app id, applied
continuously by the workers and `wf serve` (one process at a time)."""

from __future__ import annotations

import click

from wf.cli.common import Globals, output_option, pass_globals


@click.group("retention")
def retention_group() -> None:
    """Keep finished instances for a while, then purge them: per app id, by status (Dapr 1.17's
    stateRetentionPolicy), counted from when each instance finished. Workers and wf serve apply it.

    \b
    Examples:
      wf retention set --completed 72h --any-terminal 720h
      wf retention show
      wf retention clear
    """


def _seconds(text: str | None, what: str) -> float | None:
    if text is None:
        return None
    from wf.durations import parse_duration
    from wf.model import InvalidArgumentError

    secs = parse_duration(text).total_seconds()
    if secs <= 0:
        raise InvalidArgumentError(f"invalid {what} {text!r}: expected a duration > 0, e.g. 720h")
    return secs


@retention_group.command("set")
@click.option("--any-terminal", metavar="DUR", help="Keep any finished instance this long (the default for the others).")
@click.option("--completed", metavar="DUR", help="Keep COMPLETED instances this long.")
@click.option("--failed", metavar="DUR", help="Keep FAILED instances this long.")
@click.option("--terminated", metavar="DUR", help="Keep TERMINATED instances this long.")
@click.option("--audit", "audit_", metavar="DUR", help="Keep audit records this long (the whole store; default 90d).")
@pass_globals
def set_cmd(g: Globals, any_terminal: str | None, completed: str | None, failed: str | None,
            terminated: str | None, audit_: str | None) -> None:
    """Replace the app's retention policy (the limits not named: none)."""
    limits = {"any_terminal": _seconds(any_terminal, "--any-terminal"), "completed": _seconds(completed, "--completed"),
              "failed": _seconds(failed, "--failed"), "terminated": _seconds(terminated, "--terminated")}
    audit_secs = _seconds(audit_, "--audit")
    if audit_secs is None and all(v is None for v in limits.values()):
        raise click.UsageError("name a limit: --any-terminal, --completed, --failed, --terminated or --audit")
    backend = g.backend()
    policy = None
    if any(v is not None for v in limits.values()):
        policy = backend.set_retention(**limits)
    if audit_secs is not None:
        backend.set_audit_retention(audit_secs)
    g.out.retention(policy or backend.retention(), "short")


@retention_group.command("show")
@output_option(("short", "json", "yaml"))
@pass_globals
def show_cmd(g: Globals, fmt: str) -> None:
    """The app's policy, when it last ran and how many it purged."""
    g.out.retention(g.backend().retention(), fmt.lower())


@retention_group.command("clear")
@pass_globals
def clear_cmd(g: Globals) -> None:
    """Remove the app's policy: finished instances are kept until purged."""
    removed = g.backend().clear_retention()
    app = g.resolved_app_id()
    g.out.message(f"Retention policy of app {app} removed" if removed else f"App {app} had no retention policy")


COMMANDS = [retention_group]
