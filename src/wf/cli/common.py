"""What every command shares: the global options object (wf.cli.globals), argument helpers, payload reading,
instance-id completion, loading an app module, and how a finished workflow maps to an exit code.

Cheap to import: click and wf.model only; the backend, Rich and the engine load when used.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from wf.cli.globals import Globals, not_found, require_state  # noqa: F401 - used by the commands
from wf.model import (
    InvalidArgumentError,
    WfError,
    WorkflowState,
    WorkflowStatus,
    validate_instance_id,
)

if TYPE_CHECKING:
    from wf.backends.base import Backend


pass_globals = click.make_pass_decorator(Globals, ensure=True)


# --------------------------------------------------------------------------------- instance ids


def root_globals(ctx: click.Context) -> Globals:
    """The Globals of this run, on the root context. The root's callback makes it; where that
    callback does not run (shell completion), it is made here from the root's parameters."""
    root = ctx.find_root()
    if not isinstance(root.obj, Globals):
        p = root.params
        root.obj = Globals(db=p.get("db"), url=p.get("url"), token=p.get("token"), app_id=p.get("app_id"),
                           profile=p.get("profile"), no_color=bool(p.get("no_color")), quiet=bool(p.get("quiet")))
    return root.obj


# Shell completion (`wf completion`): values from the local store, never from a remote engine (a
# slow network must not hang the shell). Fast (an indexed query, at most COMPLETION_LIMIT newest),
# never creates a store, and silent: any error completes nothing rather than print a traceback.

COMPLETION_LIMIT = 100
LIVE_STATUSES = ("RUNNING", "PENDING", "SUSPENDED", "STALLED")  # not ended: terminate, raise-event apply


def _completion_backend(ctx: click.Context) -> tuple[Globals, Backend] | None:
    g = root_globals(ctx)
    if g.is_remote() or not os.path.exists(g.resolved_db()):
        return None
    return g, g.backend()


def _id_items(ctx: click.Context, incomplete: str, statuses: tuple[str, ...] | None, prefix: str = "") -> list:
    opened = _completion_backend(ctx)
    if opened is None:
        return []
    g, backend = opened
    from click.shell_completion import CompletionItem

    from wf.model import ListFilter

    try:
        flt = ListFilter(statuses=tuple(WorkflowStatus.parse(s) for s in statuses) if statuses else None,
                         id_prefix=incomplete or None)
        return [CompletionItem(prefix + s.instance_id, help=f"{s.name} {s.runtime_status.name}")
                for s in backend.list(flt, limit=COMPLETION_LIMIT)]
    finally:
        g.close()


def instance_ids_in(*statuses: str):
    """A shell_complete of instance ids in these statuses (none given: every status), newest first."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
        try:
            return _id_items(ctx, incomplete, statuses or None)
        except Exception:  # completion must never print a traceback into the user's shell
            return []

    return complete


complete_instance_ids = instance_ids_in()


def complete_event_targets(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    """raise-event: live instance ids; after `ID/` (or after `ID ` as the second word) the events
    that instance waits for."""
    try:
        given = [t for t in (ctx.params.get(param.name or "") or ()) if t]
        iid, slash, event = incomplete.partition("/")
        if slash:
            return _event_names(ctx, iid, event, f"{iid}/")
        items = _id_items(ctx, incomplete, LIVE_STATUSES)
        if len(given) == 1 and "/" not in given[0]:
            items += _event_names(ctx, given[0], incomplete, "")
        return items
    except Exception:
        return []


def _event_names(ctx: click.Context, instance_id: str, incomplete: str, prefix: str) -> list:
    opened = _completion_backend(ctx)
    if opened is None:
        return []
    g, backend = opened
    try:
        pending = backend.pending(validate_instance_id(instance_id)) or []
    finally:
        g.close()
    from click.shell_completion import CompletionItem

    names = dict.fromkeys(i.name for i in pending if i.kind == "event" and i.name)
    return [CompletionItem(prefix + n, help=f"an event {instance_id} waits for") for n in names
            if n.lower().startswith(incomplete.lower())]


def complete_statuses(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Status names for -s (comma separated lists too: `-s RUNNING,FA` -> RUNNING,FAILED)."""
    from wf.model import STATUS_NAMES

    head, comma, last = incomplete.rpartition(",")
    given = {p.strip().upper() for p in head.split(",")} if comma else set()
    return [f"{head}{comma}{n}" for n in STATUS_NAMES if n.startswith(last.upper()) and n not in given]


def workflow_name_completer(*, with_store: bool):
    """Workflow names the live workers of the app registered (`wf run NAME`); with_store: also the
    names of the instances in the store (`-w/--filter-name`)."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
        try:
            opened = _completion_backend(ctx)
            if opened is None:
                return []
            g, backend = opened
            from click.shell_completion import CompletionItem

            try:
                names: dict[str, str] = {}
                for worker in backend.workers():
                    for name in worker.workflows or ():
                        names.setdefault(name, "registered by a live worker")
                if with_store:
                    for name in backend.count_by(None, "name"):
                        names.setdefault(name, "in the store")
            finally:
                g.close()
            return [CompletionItem(n, help=h) for n, h in sorted(names.items())
                    if n.lower().startswith(incomplete.lower())]
        except Exception:
            return []

    return complete


def _check_id(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is None:
        return value
    if isinstance(value, tuple):
        return tuple(validate_instance_id(v) for v in value)
    return validate_instance_id(value)


def instance_id_argument(name: str = "instance_id", **kwargs: Any):
    return click.argument(name, metavar=kwargs.pop("metavar", "ID"), callback=_check_id,
                          shell_complete=kwargs.pop("shell_complete", complete_instance_ids), **kwargs)


def output_option(choices: tuple[str, ...], default: str = "short"):
    return click.option("-o", "--output", "fmt", type=click.Choice(choices, case_sensitive=False),
                        default=default, show_default=True, help="Output format.")


# ------------------------------------------------------------------------------------- payloads


def read_payload(value: str | None, what: str = "input") -> str | None:
    """JSON text from `-x`: inline JSON, `@file`, or `-` for stdin. Validated, returned unchanged."""
    if value is None:
        return None
    if value == "-":
        text = sys.stdin.read()
        source = f"{what} from stdin"
    elif value.startswith("@"):
        path = value[1:]
        try:
            with open(os.path.expanduser(path), encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise InvalidArgumentError(f"cannot read {what} file {path!r}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise InvalidArgumentError(f"{what} file {path!r} is not UTF-8 text") from None
        source = f"{what} file {path!r}"
    else:
        text, source = value, what
    text = text.strip()
    if not text:
        raise InvalidArgumentError(f"{source} is empty; pass JSON, e.g. -x '{{\"id\": 1}}' or -x 'null'")
    try:
        json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:  # json.loads recurses per nesting level: '[[[[...' 100k deep
        raise InvalidArgumentError(f"{source} is nested too deeply to be read as JSON") from None
    except _NonJsonConstant as exc:  # Python's json reads NaN/Infinity; JSON (and jq, Dapr) do not
        raise InvalidArgumentError(f"{source} is not valid JSON: {exc} is not a JSON value") from None
    except ValueError as exc:
        raise InvalidArgumentError(f"{source} is not valid JSON: {exc}") from None
    return text  # parsed once: a second parse one frame deeper could fail where this one passed


class _NonJsonConstant(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NonJsonConstant(name)


# ------------------------------------------------------------------------------------- outcomes


def exit_code_for(state: WorkflowState) -> int:
    from wf.cli.errors import EXIT_FAILED, EXIT_OK, EXIT_TERMINATED

    status = state.runtime_status
    if status == WorkflowStatus.FAILED:
        return EXIT_FAILED
    if status in (WorkflowStatus.TERMINATED, WorkflowStatus.CANCELED):
        return EXIT_TERMINATED
    return EXIT_OK


def timeout_seconds(text: str | None) -> float | None:
    if text is None:
        return None
    from wf.durations import parse_duration

    secs = parse_duration(text).total_seconds()
    return secs if secs > 0 else None


# ---------------------------------------------------------------------------------- app modules


def load_app(spec: str) -> Any:
    """`MODULE:ATTR` or `path/to/file.py:ATTR` -> the WorkflowRuntime object. ATTR defaults to the
    module's only WorkflowRuntime. The module's directory (or the current one) goes on sys.path."""
    import importlib
    import importlib.util

    module_part, _, attr = spec.partition(":")
    if not module_part:
        raise InvalidArgumentError(f"invalid --app {spec!r}: expected MODULE:ATTR or FILE.py:ATTR")
    try:
        if module_part.endswith(".py") or os.sep in module_part or "/" in module_part:
            path = os.path.abspath(os.path.expanduser(module_part))
            if not os.path.isfile(path):
                raise InvalidArgumentError(f"invalid --app {spec!r}: no such file {module_part!r}")
            directory = os.path.dirname(path)
            mod_name = os.path.splitext(os.path.basename(path))[0]
            if _taken(mod_name, path):
                mod_name = f"wf_app_{mod_name}"  # never shadow another module (say, a file named queue.py)
            if directory not in sys.path:
                sys.path.append(directory)  # its sibling modules import; last, so it shadows nothing
            module_spec = importlib.util.spec_from_file_location(mod_name, path)
            if module_spec is None or module_spec.loader is None:
                raise InvalidArgumentError(f"invalid --app {spec!r}: cannot load {module_part!r} as Python")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[mod_name] = module
            module_spec.loader.exec_module(module)
        else:
            cwd = os.getcwd()
            if cwd not in sys.path:
                sys.path.insert(0, cwd)
            try:
                module = importlib.import_module(module_part)
            except ModuleNotFoundError as exc:
                if exc.name and module_part.startswith(exc.name):
                    raise InvalidArgumentError(f"invalid --app {spec!r}: no module named {exc.name!r}") from None
                raise
    except InvalidArgumentError:
        raise
    except Exception as exc:
        if isinstance(exc, WfError):
            raise
        raise AppLoadError(f"app {spec!r} failed to import: {type(exc).__name__}: {exc}") from exc
    if attr:
        obj = module
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise InvalidArgumentError(f"invalid --app {spec!r}: {module_part!r} has no attribute {part!r}")
            obj = getattr(obj, part)
    else:
        candidates = [v for v in vars(module).values() if _is_runtime(v)]
        if len(candidates) != 1:
            raise InvalidArgumentError(
                f"invalid --app {spec!r}: name the runtime, e.g. {module_part}:wfr "
                f"({len(candidates)} WorkflowRuntime objects found)"
            )
        obj = candidates[0]
    if not _is_runtime(obj):
        raise InvalidArgumentError(
            f"invalid --app {spec!r}: {attr!r} is a {type(obj).__name__}, not a wf.WorkflowRuntime"
        )
    return obj


def _taken(name: str, path: str) -> bool:
    """Whether `name` already means another module (loaded, or importable from sys.path)."""
    import importlib.util

    loaded = sys.modules.get(name)
    if loaded is not None:
        return os.path.abspath(getattr(loaded, "__file__", "") or "") != path
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    return spec is not None and os.path.abspath(spec.origin or "") != path


def _is_runtime(obj: Any) -> bool:
    return not isinstance(obj, type) and callable(getattr(obj, "start", None)) and callable(
        getattr(obj, "shutdown", None)) and hasattr(obj, "workflow")


class AppLoadError(WfError):
    """The app module raised while importing (exit 1; WF_DEBUG=1 shows its traceback)."""


def prepare_app_overrides(g: Globals) -> None:
    """Make the app module's WorkflowRuntime(db=None) use this command's store and app id."""
    from wf import settings

    if g.is_remote():
        raise InvalidArgumentError(
            "--app runs the bundled local engine, so it cannot be combined with --url / WF_URL; "
            "unset the URL or drop --app"
        )
    settings.set_overrides(db=str(g.resolved_db()), app_id=g.resolved_app_id(), profile=g.profile)
