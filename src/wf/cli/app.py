"""The root of the click tree: global options, the `ls` alias, one-line errors, exit codes."""

from __future__ import annotations

import sys
from typing import Any

import click

from wf import __version__
from wf.cli import errors
from wf.cli.common import Globals

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# Which module defines each command. A command's module is imported only when that command
# runs (or --help lists them all), so `wf --version` and `wf get` skip the others' imports.
COMMAND_MODULES = {
    "run": "wf.cli.run",
    "get": "wf.cli.inspect",
    "history": "wf.cli.inspect",
    "list": "wf.cli.inspect",
    "count": "wf.cli.inspect",
    "workers": "wf.cli.inspect",
    "top": "wf.cli.top",
    "raise-event": "wf.cli.control",
    "suspend": "wf.cli.control",
    "resume": "wf.cli.control",
    "terminate": "wf.cli.control",
    "wait": "wf.cli.control",
    "purge": "wf.cli.purge",
    "rerun": "wf.cli.rerun",
    "worker": "wf.cli.worker",
    "audit": "wf.cli.audit",
    "retention": "wf.cli.retention",
    "serve": "wf.cli.serve",
    "config": "wf.cli.config",
    "doctor": "wf.cli.doctor",
    "completion": "wf.cli.completion",
}


class WfGroup(click.Group):
    """A click group with lazily loaded commands, aliases and wf's error reporting (one line,
    meaningful exit code)."""

    aliases = {"ls": "list"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMAND_MODULES) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        name = self.aliases.get(cmd_name, cmd_name)
        if name not in self.commands and name in COMMAND_MODULES:
            import importlib

            for command in importlib.import_module(COMMAND_MODULES[name]).COMMANDS:
                accept_global_options(command)
                self.add_command(command)
        return super().get_command(ctx, name)

    def suggest(self, ctx: click.Context, typed: str) -> str:
        import difflib

        names = [*self.list_commands(ctx), *self.aliases]
        close = difflib.get_close_matches(typed.lower(), names, n=1, cutoff=0.6)
        return f"did you mean {close[0]!r}?" if close else "'wf --help' lists the commands"

    invoked: str | None = None  # the command this run resolved to (wf.cli.main exits early after reads)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        typed = args[0] if args else ""
        if typed and not typed.startswith("-") and not ctx.resilient_parsing and self.get_command(ctx, typed) is None:
            raise click.UsageError(f"No such command {typed!r}; {self.suggest(ctx, typed)}")
        name, cmd, rest = super().resolve_command(ctx, args)
        self.invoked = cmd.name if cmd is not None else None
        return (cmd.name if cmd is not None else name), cmd, rest

    def invoke(self, ctx: click.Context) -> Any:
        # click's main would turn these into "Aborted!" and exit 1: carry them past it as our own.
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise errors.Interrupted() from None
        except BrokenPipeError:
            raise errors.OutputClosed() from None

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            _refuse_undecodable([a for a in (sys.argv[1:] if args is None else args) if isinstance(a, str)])
            rv = super().main(args, prog_name or "wf", complete_var, standalone_mode=False, **extra)
        except BaseException as exc:  # noqa: BLE001 - this is the one place that reports errors
            if isinstance(exc, SystemExit):
                raise
            if isinstance(exc, click.Abort) and isinstance(exc.__cause__, KeyboardInterrupt):
                exc = errors.Interrupted()  # Ctrl-C while click parsed the command line
            code = errors.handle(exc)
        else:
            code = rv if isinstance(rv, int) else 0
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            code = errors.handle(BrokenPipeError())
        except (OSError, ValueError):
            pass
        sys.exit(code)


def _refuse_undecodable(args: list[str]) -> None:
    """Bytes that are not UTF-8 reach Python as lone surrogates, which no store, URL or JSON can
    carry: a usage error naming the argument, before any command sees it."""
    for i, arg in enumerate(args):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
            name, sep, _ = arg.partition("=")
            if arg.startswith("--") and sep and name.isascii():
                what = f"the value of {name}"
            elif i and args[i - 1].startswith("-") and "=" not in args[i - 1] and len(args[i - 1]) > 1:
                what = f"the value of {args[i - 1][:40]}"
            else:
                what = f"argument {i + 1}"
            raise click.UsageError(f"{what} is not valid UTF-8 text: '{errors.one_line(shown)[:120]}'") from None


# The global options: on the root group, and (hidden) on every command so that they may also follow
# it (`wf get ID --no-color`, `wf ls --db x.db`), as kubectl and the Temporal CLI accept them. A
# command's own option of the same name wins (`wf serve --token` is the server's token).
GLOBAL_OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("--db",), {"metavar": "PATH", "help": "SQLite store of the local engine [env WF_DB; default ~/.local/share/wf/wf.db]."}),
    (("--url",), {"metavar": "URL", "help": "Use a remote engine: http://HOST:PORT (a Dapr sidecar's or wf serve's HTTP "
                  "API) or grpc://HOST:PORT (grpcs:// with TLS; their gRPC workflow API) [env WF_URL]."}),
    (("--token",), {"metavar": "TOKEN", "help": "API token for --url [env WF_API_TOKEN, else DAPR_API_TOKEN]."}),
    (("-a", "--app-id"), {"metavar": "APP", "help": "App id the instances belong to [env WF_APP_ID; default 'default']."}),
    (("--profile",), {"metavar": "NAME", "help": "Config profile to read settings from [env WF_PROFILE]."}),
    (("--no-color",), {"is_flag": True, "default": False,
                       "help": "No colour (also when NO_COLOR is set or not at a terminal)."}),
    (("-q", "--quiet"), {"is_flag": True, "default": False,
                         "help": "Print nothing on success but what a script needs (the id of `run`, the rows of "
                                 "`list`); errors still go to stderr."}),
)


GLOBAL_PREFIX = "wf_global_"


def _global_options(fn: Any) -> Any:
    for decls, attrs in reversed(GLOBAL_OPTIONS):
        fn = click.option(*decls, **attrs)(fn)
    return fn


def _set_global_after_command(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """A global option given after the command: into the root's Globals. Given both before and
    after with different values is a usage error (one of the two is a mistake; neither wins)."""
    if value is None or value is False:
        return
    from wf.cli.common import root_globals

    g = root_globals(ctx)
    name = (param.name or "").removeprefix(GLOBAL_PREFIX)
    before = getattr(g, name)
    if before not in (None, False) and before != value and not ctx.resilient_parsing:
        raise click.UsageError(
            f"{param.opts[-1]} is given twice with different values ({before!r} before the command, {value!r} "
            "after it); give it once"
        )
    setattr(g, name, value)


def accept_global_options(command: click.Command) -> None:
    """Add the global options, hidden, to a command (and to the commands of a group), once."""
    if getattr(command, "_wf_globals", False):
        return
    own = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    added = []
    for decls, attrs in GLOBAL_OPTIONS:
        if own.intersection(decls):
            continue
        attrs = {k: v for k, v in attrs.items() if k != "help"}
        name = GLOBAL_PREFIX + decls[-1].lstrip("-").replace("-", "_")  # never the name of a command's own parameter
        command.params.append(click.Option((*decls, name), hidden=True, expose_value=False,
                                           callback=_set_global_after_command, **attrs))
        added.append("/".join(decls))
    if added:
        note = f"Global options also work here, after the command: {', '.join(added)} (see 'wf --help')."
        command.epilog = f"{command.epilog}\n\n{note}" if command.epilog else note
    command._wf_globals = True  # type: ignore[attr-defined]
    for sub in getattr(command, "commands", {}).values():
        accept_global_options(sub)


@click.group(cls=WfGroup, context_settings=CONTEXT_SETTINGS)
@_global_options
@click.version_option(__version__, "--version", prog_name="wf", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, db: str | None, url: str | None, token: str | None, app_id: str | None,
        profile: str | None, no_color: bool, quiet: bool) -> None:
    """Run and operate durable workflows: on the bundled local engine (one SQLite file) or on a
    Dapr sidecar / `wf serve` over HTTP or gRPC. The global options below may also follow the
    command (`wf get ID --no-color`); given both before and after, they must agree.

    \b
    Examples:
      wf run order_workflow -x '{"id": 1}' --wait --timeout 5m
      wf list -s RUNNING -m 24h
      wf raise-event order-1/approval_decision -x '{"approved": true}'
      wf purge --all-older-than 720h -y

    Exit codes: 0 ok, 1 refused or failed, 2 usage; `run --wait`, `wait` and `history -f`:
    3 FAILED, 4 TERMINATED or CANCELED, 124 timed out; 130 interrupted (Ctrl-C); 141 the reader of
    the output went away (`wf list | head`), quietly.
    """
    g = Globals(db=db, url=url, token=token, app_id=app_id, profile=profile, no_color=no_color, quiet=quiet)
    ctx.obj = g
    ctx.call_on_close(g.close)
