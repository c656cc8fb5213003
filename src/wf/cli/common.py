"""What every command shares: the global options object (wf.cli.globals), argument helpers, payload reading,
instance-id completion, loading an app module, and how a finished workflow maps to an exit code.

Cheap to import: click and wf.model only; the backend, Rich and the engine load when used.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from wf.cli.globals import Globals, not_found, require_state  # noqa: F401 - used by the commands
from wf.model import (
    InvalidArgumentError,
    WfError,
    WorkflowState,
    WorkflowStatus,
    validate_instance_id,
)


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


def complete_instance_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    """Instance ids from the local store, newest first. Never creates a store, never fails loudly."""
    try:
        g = root_globals(ctx)
        if g.is_remote():
            return []
        db = g.resolved_db()
        if not os.path.exists(db):
            return []
        from click.shell_completion import CompletionItem

        backend = g.backend()
        try:
            items = []
            for state in backend.list(None, limit=1000):
                if state.instance_id.startswith(incomplete):
                    items.append(CompletionItem(state.instance_id, help=f"{state.name} {state.runtime_status.name}"))
                    if len(items) >= 200:
                        break
            return items
        finally:
            g.close()
    except Exception:  # completion must never print a traceback into the user's shell
        return []


def _check_id(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is None:
        return value
    if isinstance(value, tuple):
        return tuple(validate_instance_id(v) for v in value)
    return validate_instance_id(value)


def instance_id_argument(name: str = "instance_id", **kwargs: Any):
    return click.argument(name, metavar=kwargs.pop("metavar", "ID"), callback=_check_id,
                          shell_complete=complete_instance_ids, **kwargs)


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
