"""Turning failures into one `Error: ...` line on stderr and an exit code.

Exit codes (DESIGN.md): 0 success; 1 the engine refused or failed (WfError's default); 2 usage (click's
usage errors, InvalidArgumentError); and for `run --wait` / `wait`: 3 FAILED, 4 TERMINATED or
CANCELED, 124 timed out; 130 interrupted (Ctrl-C), 141 the output pipe closed (both without a
message). No traceback unless WF_DEBUG=1.
"""

from __future__ import annotations

import os
import sys

import click

from wf.model import WfError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_FAILED = 3
EXIT_TERMINATED = 4
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


def debug_enabled() -> bool:
    return os.environ.get("WF_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


MAX_ERROR_LINE = 500


def one_line(text: str) -> str:
    """Whitespace collapsed, and at most about MAX_ERROR_LINE characters: a message that echoes
    a 5,000-character id or payload keeps its head and tail."""
    line = " ".join(str(text).split())
    if len(line) > MAX_ERROR_LINE:
        cut = len(line) - MAX_ERROR_LINE + 100
        line = f"{line[:300]} ...[{cut} characters]... {line[-100:]}"
    return line


def error_line(message: str) -> None:
    click.echo(f"Error: {one_line(message)}", err=True)


class Interrupted(Exception):
    """Ctrl-C (SIGINT): exit 130, quietly (the terminal already shows ^C)."""


class OutputClosed(Exception):
    """The reader of stdout went away (`wf list | head -1`): exit 141 like a process SIGPIPE ended, quietly."""


class ExitWith(Exception):
    """Raised by a command that has already reported what happened and wants a given exit code."""

    def __init__(self, code: int, message: str | None = None):
        super().__init__(message or "")
        self.code = code
        self.message = message


def _silence_stdout() -> None:
    """`wf list -o jsonl | head`: the reader left; stop quietly, without a second error at exit
    (Python's final flush of the buffered rest would fail again)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def handle(exc: BaseException) -> int:
    """Report exc on stderr (one line) and return the process exit code."""
    if isinstance(exc, ExitWith):
        if exc.message:
            error_line(exc.message)
        return exc.code
    if isinstance(exc, (Interrupted, KeyboardInterrupt)):
        return EXIT_INTERRUPTED
    if isinstance(exc, (OutputClosed, BrokenPipeError)):
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    if debug_enabled() and not isinstance(exc, (click.exceptions.Exit, click.Abort)):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, WfError):
        error_line(str(exc) or type(exc).__name__)
        return exc.exit_code
    if isinstance(exc, click.UsageError):
        msg = exc.format_message().rstrip(".")
        hint = ""
        if exc.ctx is not None:
            hint = f"; see '{exc.ctx.command_path} --help'"
        error_line(f"{msg}{hint}")
        return exc.exit_code
    if isinstance(exc, click.ClickException):
        error_line(exc.format_message())
        return exc.exit_code
    if isinstance(exc, (click.Abort, EOFError)):
        click.echo("Aborted.", err=True)
        return EXIT_ERROR
    if isinstance(exc, TimeoutError):
        error_line(str(exc) or "timed out")
        return EXIT_TIMEOUT
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    error_line(f"unexpected {detail} (run with WF_DEBUG=1 for a traceback, and report it)")
    return EXIT_ERROR
