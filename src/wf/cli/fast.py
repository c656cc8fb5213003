"""The reads that scripts call in loops, without click: `wf get ID`, `wf history ID`, `wf count`
and `wf list --limit N`, each with at most -o FMT and the global --db / -a before the command.

Importing click (and the stdlib it pulls in: inspect, typing, uuid, platform, gettext) costs about
a third of such a call. Only the plainest spellings are taken here, and only when they succeed off
a terminal on the local store: anything else (another option, --help, a remote engine, output to
a terminal, an error such as an unknown id) returns None, and the call goes through click as
always, which then reports it the usual way. A read changes nothing, so doing it again there is
harmless; the output of the attempt here is kept in a buffer until it has succeeded.
"""

from __future__ import annotations

import io
import sys

COMMANDS = frozenset({"get", "history", "count", "list", "ls"})
_GLOBALS = {"--db": "db", "-a": "app_id", "--app-id": "app_id"}
_LIST_MAX = 10_000  # --limit beyond this streams through click (nothing is buffered here)


def _parse(args: list[str]) -> tuple[str, dict[str, str], str | None, str | None, int | None] | None:
    """(command, global options, instance id, format, limit), or None for anything else."""
    options: dict[str, str] = {}
    i = 0
    while i < len(args) and args[i].startswith("-"):
        name, eq, value = args[i].partition("=")
        if name not in _GLOBALS or _GLOBALS[name] in options or (eq and not name.startswith("--")):
            return None  # (click reads `-a=x` as the value "=x")
        if not eq:
            if i + 1 >= len(args):
                return None
            i += 1
            value = args[i]
        options[_GLOBALS[name]] = value
        i += 1
    if i >= len(args) or args[i] not in COMMANDS:
        return None
    command = "list" if args[i] == "ls" else args[i]
    positional: list[str] = []
    fmt = limit = None
    rest = args[i + 1:]
    j = 0
    while j < len(rest):
        arg = rest[j]
        name, eq, value = arg.partition("=")
        if name in ("-o", "--output", "--limit") and not (eq and name == "-o"):
            if not eq:
                if j + 1 >= len(rest):
                    return None
                j += 1
                value = rest[j]
            if name == "--limit":
                if limit is not None or command != "list" or not value.isdigit():
                    return None
                limit = value
            else:
                if fmt is not None:
                    return None
                fmt = value.lower()
        elif arg.startswith("-"):
            return None
        else:
            positional.append(arg)
        j += 1
    needs_id = command in ("get", "history")
    if len(positional) != int(needs_id):
        return None
    number = int(limit) if limit is not None else None
    if command == "list" and (number is None or not 0 < number <= _LIST_MAX):
        return None
    return command, options, positional[0] if needs_id else None, fmt, number


def run(args: list[str]) -> int | None:
    """The exit code of a read done here, or None: let click do it."""
    try:
        for arg in args:
            arg.encode("utf-8")
    except UnicodeEncodeError:
        return None
    parsed = _parse(args)
    if parsed is None:
        return None
    command, options, instance_id, fmt, limit = parsed
    from wf.cli.output import HISTORY_FORMATS, LIST_FORMATS, STATE_FORMATS, Renderer, is_terminal

    formats = {"get": STATE_FORMATS, "history": HISTORY_FORMATS, "list": LIST_FORMATS, "count": ("short", "json", "yaml")}
    fmt = fmt or "short"
    if fmt not in formats[command] or is_terminal(sys.stdout):
        return None
    from wf.cli import reads
    from wf.cli.globals import Globals

    g = Globals(db=options.get("db"), app_id=options.get("app_id"))
    buffer = io.StringIO()
    try:
        if g.is_remote():
            return None
        g._renderer = Renderer(out=buffer)
        if instance_id is not None:
            from wf.model import validate_instance_id

            show = reads.show_state if command == "get" else reads.show_history
            show(g, validate_instance_id(instance_id), fmt)
        else:
            from wf.model import ListFilter

            if command == "count":
                reads.show_count(g, ListFilter(), None, fmt)
            else:
                reads.show_list(g, ListFilter(), limit, fmt)
    except (Exception, KeyboardInterrupt):  # click does it again and reports what went wrong
        return None
    finally:
        try:
            g.close()
        except Exception:  # noqa: BLE001 - a read-only store: nothing to lose
            pass
    try:
        sys.stdout.write(buffer.getvalue())
    except BrokenPipeError:  # `wf ... | head`: the reader left, quietly (errors.handle does the same)
        return 141
    return 0
