"""A watchdog over the dispatcher while it runs workflow code (with no transaction open).

The dispatcher advances the instances it claimed itself, one after the other: no thread hand-off
per turn, so steps stay cheap. Workflow code is user code, though: it may compute for long or
never yield. When one step has held the dispatcher for `take_over_after` seconds, the watchdog
deposes that thread (it finishes its step, hands the result over and leaves) and starts a new
dispatcher, so the other instances keep advancing and the heartbeat goes on. A step that runs
longer than `warn_after` seconds is logged with its instance id. Python cannot stop a thread:
a step that never ends keeps its thread for the life of the process, and its instance stays
with this worker (terminate still ends it: the step's result, if it ever comes, no longer
matches the instance and is dropped).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger("wf.worker")

T = TypeVar("T")


class Deposed(BaseException):
    """Unwinds a dispatcher thread that a new one replaced while it ran a long step."""


class StepWatch(Generic[T]):
    def __init__(self, describe: Callable[[T], str], take_over: Callable[[], None], *, warn_after: float,
                 take_over_after: float = 0.5, max_stuck: int = 64,
                 fields: Callable[[T], dict[str, Any]] | None = None) -> None:
        self._describe, self._take_over, self._fields = describe, take_over, fields
        self.warn_after, self.take_over_after, self.max_stuck = warn_after, take_over_after, max_stuck
        self._lock = threading.Lock()
        self.generation = 0  # the dispatcher thread's number: a deposed one holds an older number
        self._current: list | None = None  # [item, started (monotonic), warned] of the dispatcher's step
        self._stuck: list[list] = []  # the same, for deposed threads still in their step

    def begin(self, item: T) -> None:
        self._current = [item, time.monotonic(), False]

    def end(self, generation: int) -> None:
        """After a step: raises Deposed if another thread took over meanwhile."""
        with self._lock:
            if generation == self.generation:
                self._current = None
                return
        raise Deposed

    def left(self, item: T) -> None:
        """A deposed thread finished its step."""
        with self._lock:
            self._stuck = [entry for entry in self._stuck if entry[0] is not item]

    @property
    def stuck(self) -> int:
        return len(self._stuck)

    def check(self) -> None:
        """Called by the watchdog thread every ~100 ms."""
        now = time.monotonic()
        take_over = False
        with self._lock:
            current = self._current
            if current is not None and now - current[1] >= self.take_over_after and len(self._stuck) < self.max_stuck:
                self.generation += 1
                self._stuck.append(current)
                self._current = None
                take_over = True
            watched = [*self._stuck, *([self._current] if self._current is not None else [])]
        if take_over:
            self._take_over()
        for entry in watched:
            item, started, warned = entry
            if not warned and now - started >= self.warn_after:
                entry[2] = True
                extra = self._fields(item) if self._fields is not None else {}
                log.warning("workflow %s: one step has run for %.1fs without yielding (limit %gs, "
                            "WF_STEP_WARN_SECONDS); other instances go on", self._describe(item), now - started,
                            self.warn_after, extra={**extra, "duration_ms": round((now - started) * 1000)})


class Watchdog(threading.Thread):
    def __init__(self, watch: StepWatch, stop: threading.Event, interval: float = 0.1) -> None:
        super().__init__(name="wf-watchdog", daemon=True)
        self._watch, self._stop, self._interval = watch, stop, interval

    def run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._watch.check()
            except Exception:  # pragma: no cover - keep watching
                log.exception("watchdog check failed")
