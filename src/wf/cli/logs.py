"""The log of the long-running commands (`wf worker`, `wf serve`): one record per line on stderr,
as text or as JSON, wf's own records and the app's `logging` output alike.

    -v                    debug (the same as --log-level debug)
    --log-level LEVEL     debug, info (the default), warning, error [env WF_LOG_LEVEL]
    --log-format FORMAT   text (the default): 2026-05-01T12:00:00.123Z WARNING wf.worker: message
                          json: {"time", "level", "logger", "message", and the record's fields}
                          [env WF_LOG_FORMAT]

wf's records carry their facts as fields (`extra=`: instance_id, workflow, activity, attempt,
error, method, path, status, duration_ms, ...): the JSON form has them as keys, the text form in
its message.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
# Attributes every LogRecord has: anything else on a record came from `extra=` and is a field.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
_QUIET_LIBRARIES = ("uvicorn", "uvicorn.error", "asyncio", "grpc", "httpx", "httpcore")


def logging_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """-v, --log-level and --log-format, for the commands that run until stopped."""
    fn = click.option("--log-format", type=click.Choice(FORMATS, case_sensitive=False), default="text",
                      envvar="WF_LOG_FORMAT", show_default=True,
                      help="Log lines as text, or as one JSON object per line for log shippers [env WF_LOG_FORMAT].")(fn)
    fn = click.option("--log-level", type=click.Choice(LEVELS, case_sensitive=False), default=None,
                      envvar="WF_LOG_LEVEL", metavar="LEVEL",
                      help="The least severe records logged: debug, info, warning or error "
                           "[env WF_LOG_LEVEL; default info].")(fn)
    return click.option("-v", "--verbose", count=True, help="Debug detail in the log (--log-level debug).")(fn)


def _utc(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{_utc(record.created)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"time": _utc(record.created), "level": record.levelname.lower(),
                               "logger": record.name, "message": record.getMessage()}
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        if record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


@contextmanager
def logging_to_stderr(verbose: int = 0, level: str | None = None, fmt: str = "text",
                      quiet: bool = False) -> Iterator[None]:
    """While the command runs, send every logger's records (wf's and the app's: they propagate to
    the root) to stderr at the chosen level (-q: warning), in the chosen format; libraries stay at
    warning unless debugging. The previous set-up comes back afterwards (the command may run
    inside a test)."""
    chosen = getattr(logging, (level or ("debug" if verbose else "warning" if quiet else "info")).upper())
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(chosen)  # also over an app's logger that sets a lower level of its own
    handler.setFormatter(JsonFormatter() if fmt.lower() == "json" else TextFormatter())
    root = logging.getLogger()
    libraries = [logging.getLogger(name) for name in _QUIET_LIBRARIES]
    saved = (list(root.handlers), root.level, [lib.level for lib in libraries])
    for old in saved[0]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(chosen)
    for lib in libraries:
        lib.setLevel(logging.DEBUG if chosen <= logging.DEBUG else max(logging.WARNING, chosen))
    try:
        yield
    finally:
        handler.flush()
        root.removeHandler(handler)
        for old in saved[0]:
            root.addHandler(old)
        root.setLevel(saved[1])
        for lib, lib_level in zip(libraries, saved[2], strict=True):
            lib.setLevel(lib_level)
