"""Live views over any engine, by polling its API: `--watch` (get, list), `history --follow`, and
the spinner of `wait` / `run --wait`. What they look like is cli/output.py's business; this
module decides when to poll, what counts as a change, and how each one ends.

- `--watch` at a terminal redraws the view in place every --interval until Ctrl-C (exit 0).
  Off a terminal (or in -o json/jsonl/yaml/ids) it prints the whole view again each time its
  data changes (not its ages), so `wf get ID --watch -o json | jq` sees one document per change.
- `history --follow` follows the history by position (it is append-only; a continue-as-new
  starts a fresh one), so no event is printed twice or missed, and ends when the instance does,
  with `wait`'s exit codes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from wf.model import ConnectionFailedError, HistoryEvent, WorkflowState

if TYPE_CHECKING:
    from wf.backends.base import Backend
    from wf.cli.output import Renderer

FOLLOW_FIRST, FOLLOW_FACTOR, FOLLOW_CAP = 0.05, 1.5, 1.0  # history --follow polls back off to 1 s
SPINNER_POLL = 1.0  # how often the spinner of `wait` reads the status and what the instance waits for


def watch(out: "Renderer", poll: Callable[[], Any], key: Callable[[Any], Any], draw: Callable[["Renderer", Any], Any],
          interval: float, *, redraw: bool, every: str, separate: bool = False) -> None:
    """Poll until Ctrl-C. redraw (a table or card at a terminal): draw every poll in place, ages and
    all. Otherwise: draw when key(value) changed, with a blank line between views when separate.
    An engine that stops answering is waited for (shown, or noted once on stderr); other errors end."""
    try:
        if redraw:
            with out.live(every) as show:
                frame = None
                while True:
                    try:
                        frame = out.frame(_drawing(draw, poll()))
                        show(frame)
                    except ConnectionFailedError as exc:
                        show(frame or "", f"Error (retrying every {every}): {exc}")
                    time.sleep(interval)
        last: Any = _NOTHING
        noted = False
        while True:
            try:
                value = poll()
            except ConnectionFailedError as exc:
                if not noted:
                    out.note(f"Error (retrying every {every}): {exc}")
                    noted = True
            else:
                noted = False
                k = key(value)
                if k != last:
                    if separate and last is not _NOTHING:
                        out.line()
                    draw(out, value)
                    out.flush()
                    last = k
            time.sleep(interval)
    except KeyboardInterrupt:
        return  # the way to stop watching: exit 0


_NOTHING = object()


def _drawing(draw: Callable[["Renderer", Any], Any], value: Any) -> Callable[["Renderer"], Any]:
    return lambda r: draw(r, value)


class HistoryFollower:
    """history --follow: batches() yields the events as they are recorded, in order, each once,
    and returns when the instance has ended (its final state in .final). Raises TimeoutError after
    timeout seconds (None: never), NotFoundError when the instance is gone (purged)."""

    def __init__(self, backend: "Backend", instance_id: str, timeout: float | None,
                 pause: Callable[[float], None] = time.sleep) -> None:
        self.backend, self.instance_id, self.timeout, self.pause = backend, instance_id, timeout, pause
        self.final: WorkflowState | None = None
        self.restarts = 0  # continue-as-new: how many times the history started afresh

    def batches(self) -> Iterator[list[HistoryEvent]]:
        started = time.monotonic()
        seen, first, interval = 0, None, FOLLOW_FIRST
        while True:
            try:
                state = self.backend.get(self.instance_id, fetch_payloads=False)  # before the history: a
                events = None if state is None else self.backend.history(self.instance_id)  # finished state's
            except ConnectionFailedError:  # history is then complete
                state, events = _UNREACHABLE, None
            if state is None:
                from wf.model import NotFoundError

                raise NotFoundError(f"instance {self.instance_id!r} no longer exists (purged while followed)")
            if events is not None:
                head = _identity(events[0]) if events else None
                if first is not None and head != first or len(events) < seen:
                    seen = 0  # continue-as-new: a new history, from its start
                    self.restarts += 1
                first = head
                if len(events) > seen:
                    yield events[seen:]
                    seen, interval = len(events), FOLLOW_FIRST
                if state.runtime_status.is_terminal:
                    self.final = state
                    return
            if self.timeout:
                remaining = self.timeout - (time.monotonic() - started)
                if remaining <= 0:
                    raise TimeoutError(f"still {state.runtime_status.name}" if events is not None
                                       else "the engine is unreachable")
                interval = min(interval, remaining)
            self.pause(interval)
            interval = min(interval * FOLLOW_FACTOR, FOLLOW_CAP)


_UNREACHABLE: Any = object()


def _identity(event: HistoryEvent) -> tuple:
    """What tells one execution's first event from the next one's (after a continue-as-new)."""
    return event.event_type, event.timestamp, event.event_id


@contextmanager
def wait_spinner(out: "Renderer", backend: "Backend", instance_id: str, *, quiet: bool = False) -> Iterator[None]:
    """While the block runs (a wait): at a terminal, a spinner on stderr with the instance's status
    and what it waits for, read every SPINNER_POLL seconds in a thread; nothing off a terminal or
    when quiet."""
    if quiet or not out.err_tty:
        yield
        return
    from wf.cli.output import wait_status
    from wf.model import WfError

    started = time.monotonic()
    stop = threading.Event()
    with out.spinner(wait_status(instance_id, None, None, 0)) as update:

        def poll() -> None:
            state = pending = problem = None
            while True:
                try:
                    state = backend.get(instance_id, fetch_payloads=False)
                    pending = None if state is None or state.runtime_status.is_terminal else backend.pending(instance_id)
                    problem = None
                except WfError as exc:
                    problem = f"state unknown: {exc}"
                except Exception as exc:  # noqa: BLE001 - a spinner never ends the wait or prints a traceback
                    problem = f"state unknown: {type(exc).__name__}"
                update(wait_status(instance_id, state, pending, time.monotonic() - started, problem))
                if stop.wait(SPINNER_POLL):
                    return

        thread = threading.Thread(target=poll, name="wf-wait-spinner", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)
