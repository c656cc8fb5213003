"""The `wf` command line. `main` is the console script; the click tree lives in wf.cli.app.

Kept tiny: importing this package must stay cheap (it runs on every `wf` invocation).
"""

import os
import sys

# Commands that only read the store: once they have returned (store closed, output flushed), the
# process ends without the interpreter's teardown of every module, a few milliseconds of each
# call that scripts make in loops. Commands that may leave threads, servers or atexit work behind
# (worker, serve, run --app, ...) exit the ordinary way.
READ_COMMANDS = frozenset({"get", "history", "list", "count"})
FAST_COMMANDS = READ_COMMANDS | {"ls"}  # wf.cli.fast.COMMANDS, without importing it first


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        # The one answer that needs nothing: skip click and the tree (scripts probe it in loops).
        # Any other spelling (`wf --db x --version`) goes through click and prints the same line.
        from wf import __version__

        _exit_now(_print(f"wf {__version__}"))
    if FAST_COMMANDS.intersection(sys.argv[1:4]):
        from wf.cli import fast  # the plainest reads, without click; None: not one of them

        code = fast.run(sys.argv[1:])
        if code is not None:
            _exit_now(code)
    from wf.cli.app import cli

    try:
        cli.main(prog_name="wf")
    except SystemExit as done:
        if cli.invoked in READ_COMMANDS and isinstance(done.code, int):
            _exit_now(done.code)
        raise


def _print(line: str) -> int:
    try:
        print(line)
    except BrokenPipeError:
        return 141
    return 0


def _exit_now(code: int) -> None:
    """Flush what was written and end the process without interpreter teardown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:  # `wf ... | head`: the reader left, like errors.handle reports it
            code = code or 141
        except (OSError, ValueError):
            pass
    os._exit(code)
