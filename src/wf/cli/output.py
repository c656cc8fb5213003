"""Every byte the CLI prints about workflows is rendered here.

Commands hand over plain rows (WorkflowState, HistoryEvent, counts, short messages) and a format
name; this module picks the rendering:

- at a terminal: Rich tables (list, history) and cards (get), statuses in colour, humanized ages;
- not at a terminal: the same columns as plain aligned text, so `wf list | grep` works and Rich is
  never imported (start-up stays cheap in scripts and cron);
- `-o json | jsonl | yaml | ids`: stable formats for scripts. The keys are those of
  WorkflowState.to_dict() / HistoryEvent.to_dict(), times are RFC 3339 UTC, statuses are their
  names. json and jsonl and yaml and ids all stream: each row is written as it arrives, so memory
  stays flat over a million rows.

Colour is off with --no-color, with NO_COLOR set (any value), and whenever the stream is not a
terminal. Progress bars and prompts go to stderr, and progress bars only at a terminal.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from wf.model import HistoryEvent, PendingItem, WorkerInfo, WorkflowState, WorkflowStatus, rfc3339

if TYPE_CHECKING:  # rich is imported only when a table is drawn
    from rich.console import Console

STATE_FORMATS = ("short", "wide", "json", "yaml")
LIST_FORMATS = ("short", "wide", "json", "jsonl", "yaml", "ids")
HISTORY_FORMATS = ("short", "wide", "json", "jsonl", "yaml")

STATUS_STYLES = {
    "RUNNING": "bold blue",
    "PENDING": "cyan",
    "SUSPENDED": "yellow",
    "STALLED": "bold yellow",
    "CONTINUED_AS_NEW": "cyan",
    "COMPLETED": "green",
    "FAILED": "bold red",
    "TERMINATED": "magenta",
    "CANCELED": "magenta",
}

TERMINAL_IDS = 50  # a dry run at a terminal lists this many ids, then '... and N more'
NOT_ASKED: Any = object()  # Renderer.state(pending=...) left out: the card has no "Waiting for"
DETAILS_WIDTH = 60  # history DETAILS and list FAILURE MESSAGE are cut to this in short/plain output


def is_terminal(stream: Any) -> bool:
    """Whether a stream is an interactive terminal. Tests monkeypatch this one function."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def color_wanted(no_color: bool, stream: Any) -> bool:
    if no_color or "NO_COLOR" in os.environ:
        return False
    return is_terminal(stream)


# ----------------------------------------------------------------------------- plain value helpers


def humanize_age(dt: datetime | None, now: datetime | None = None) -> str:
    """Age like kubectl and the Dapr CLI print it: 45s, 12m, 5h, 3d."""
    if dt is None:
        return ""
    now = now or datetime.now(timezone.utc)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    secs = max(0, int((now - dt).total_seconds()))
    if secs < 120:
        return f"{secs}s"
    if secs < 120 * 60:
        return f"{secs // 60}m"
    if secs < 48 * 3600:
        return f"{secs // 3600}h"
    return f"{secs // 86400}d"


def humanize_elapsed(seconds: float) -> str:
    if seconds < 1:
        return f"{int(round(seconds * 1000))}ms"
    if seconds < 60:
        return f"{seconds:.1f}s".replace(".0s", "s")
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60)}s"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60)}m"
    return f"{int(seconds // 86400)}d{int(seconds % 86400 // 3600)}h"


def payload_text(text: str | None) -> str:
    """A JSON payload for a human: a JSON string shows bare, anything else as compact JSON."""
    if text is None:
        return ""
    try:
        value = json.loads(text)
        if isinstance(value, str):
            return value
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):  # too deep to re-encode here: show it as stored
        return str(text)


def clip(text: str, width: int = DETAILS_WIDTH) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def status_name(state: WorkflowState) -> str:
    s = state.runtime_status
    return s.name if isinstance(s, WorkflowStatus) else str(s)


# ------------------------------------------------------------------------------------------- rows


def state_row(state: WorkflowState, wide: bool, now: datetime | None = None) -> dict[str, str]:
    row = {
        "NAME": state.name,
        "ID": state.instance_id,
        "STATUS": status_name(state),
        "CUSTOM STATUS": clip(payload_text(state.serialized_custom_status), 40),
        "AGE": humanize_age(state.created_at, now),
    }
    if wide:
        row["CREATED"] = rfc3339(state.created_at) or ""
        row["LAST UPDATE"] = rfc3339(state.last_updated_at) or ""
        row["FAILURE MESSAGE"] = clip(state.failure_details.message) if state.failure_details else ""
    return row


def state_card(state: WorkflowState, wide: bool, show_input: bool, show_output: bool) -> list[tuple[str, str]]:
    now = datetime.now(timezone.utc)
    fields: list[tuple[str, str]] = [
        ("ID", state.instance_id),
        ("Name", state.name),
        ("Status", status_name(state)),
    ]
    if wide:
        fields.append(("App ID", state.app_id))
    if state.serialized_custom_status is not None:
        fields.append(("Custom status", payload_text(state.serialized_custom_status)))
    fields.append(("Created", f"{rfc3339(state.created_at)} ({humanize_age(state.created_at, now)} ago)"))
    fields.append(("Last updated", f"{rfc3339(state.last_updated_at)} ({humanize_age(state.last_updated_at, now)} ago)"))
    if wide and state.completed_at is not None:
        fields.append(("Completed", rfc3339(state.completed_at) or ""))
    if wide and state.parent_instance_id:
        fields.append(("Parent", state.parent_instance_id))
    fd = state.failure_details
    if fd is not None:
        fields.append(("Failure", f"{fd.error_type}: {fd.message}"))
        if wide and fd.stack_trace:
            fields.append(("Stack trace", fd.stack_trace.rstrip()))
    if (wide or show_input) and state.serialized_input is not None:
        fields.append(("Input", state.serialized_input))
    if (wide or show_output) and state.serialized_output is not None:
        fields.append(("Output", state.serialized_output))
    return fields


def when(dt: datetime | None, now: datetime) -> str:
    """An instant with how far it is from now: '2026-05-01T12:00:00.000Z (in 2d23h)' or '(3m ago)'."""
    if dt is None:
        return ""
    secs = (dt - now).total_seconds()
    rel = f"in {humanize_elapsed(secs)}" if secs >= 0.5 else f"{humanize_elapsed(-secs) if secs < 0 else '0s'} ago"
    return f"{rfc3339(dt)} ({rel})"


def pending_line(item: PendingItem, now: datetime) -> str:
    k = item.kind
    if k == "event":
        return f"event {item.name!r}, since {when(item.since, now)}"
    if k == "timer":
        return f"timer, fires {when(item.fire_at, now)}"
    if k in ("activity", "child") and item.next_retry_at is not None:
        what = "activity" if k == "activity" else "child workflow"
        error = f" ({clip(item.error, 80)})" if item.error else ""
        return f"{what} {item.name!r}, attempt {item.attempt} failed{error}; next retry {when(item.next_retry_at, now)}"
    if k == "activity":
        where = f"running on worker {item.worker}" if item.worker else "queued (no worker has taken it)"
        return f"activity {item.name!r}, attempt {item.attempt or 1}, {where}, since {when(item.since, now)}"
    if k == "child":
        return f"child workflow {item.instance_id} ({item.name}), {item.status or 'not found'}"
    if k == "start":
        if item.start_at is not None and item.start_at > now:
            return f"its start time, {when(item.start_at, now)}"
        return f"a worker to start it (due since {when(item.start_at, now)})"
    if k == "suspended":
        reason = f": {item.reason}" if item.reason else ""
        return f"resume: suspended since {when(item.since, now)}{reason}"
    if k == "unconsumed_event":
        return f"event {item.name!r} x{item.count}, first {when(item.since, now)}"
    return item.message or k


def waits_and_warnings(pending: list[PendingItem], now: datetime) -> tuple[list[str], list[str]]:
    """What an instance waits for (one line each) and the missing-worker warnings of its pending list."""
    waits = [pending_line(i, now) for i in pending if i.kind not in ("unconsumed_event", "no_worker")]
    warnings = [i.message or "no live worker can run it" for i in pending if i.kind == "no_worker"]
    return waits, warnings


def pending_fields(pending: list[PendingItem] | None, state: WorkflowState) -> list[tuple[str, str]]:
    """The card's "Waiting for" rows: what blocks the instance, events nobody took, a missing worker."""
    if state.runtime_status.is_terminal:
        return []
    if pending is None:
        return [("Waiting for", "unknown: this engine's API does not say (wf serve and the local engine do)")]
    now = datetime.now(timezone.utc)
    fields = []
    waits, warnings = waits_and_warnings(pending, now)
    if waits:
        fields.append(("Waiting for", "\n".join(waits)))
    unconsumed = [pending_line(i, now) for i in pending if i.kind == "unconsumed_event"]
    if unconsumed:
        fields.append(("Not consumed", "\n".join(unconsumed)))
    fields.extend(("Warning", w) for w in warnings)
    return fields


def wait_status(instance_id: str, state: WorkflowState | None, pending: list[PendingItem] | None,
                elapsed: float, problem: str | None = None) -> str:
    """The spinner line of `wf wait` / `run --wait`: 'order-7 RUNNING 12s · waits for event
    'approval', since ...'; the first thing it waits for (+N more), a missing worker, a problem."""
    head = f"{instance_id} {status_name(state) if state is not None else '...'} {humanize_elapsed(elapsed)}"
    parts = [head]
    if problem:
        parts.append(problem)
    now = datetime.now(timezone.utc)
    waits, warnings = waits_and_warnings(pending or [], now)
    if waits:
        parts.append("waits for " + waits[0] + (f" (+{len(waits) - 1} more)" if len(waits) > 1 else ""))
    parts.extend(warnings)
    return " · ".join(parts)


def event_details(ev: HistoryEvent) -> str:
    parts = []
    if ev.task_scheduled_id is not None:
        parts.append(f"#{ev.task_scheduled_id}")
    extra = ev.extra or {}
    for key in ("fire_at", "instance_id", "reason"):
        if extra.get(key) is not None:
            parts.append(f"{key}={extra[key]}")
    if ev.data is not None:
        parts.append(payload_text(ev.data))
    if ev.failure_details is not None:
        parts.append(f"{ev.failure_details.error_type}: {ev.failure_details.message}")
    return " ".join(p for p in parts if p)


class HistoryClock:
    """When events were recorded, as far as a history tells. Events are listed in the order they
    were recorded, but each carries the time it arrived: one raised while the instance was
    suspended is recorded after the resume, with its earlier time. So an event was recorded no
    earlier than every event before it: ELAPSED is that running maximum, and ARRIVED an arrival
    time that differs from it. One clock spans a followed history's batches."""

    def __init__(self) -> None:
        self.start: datetime | None = None  # the first event's time
        self.latest: datetime | None = None  # the latest time recorded so far

    def times(self, ev: HistoryEvent) -> tuple[str, str]:
        """(ELAPSED, ARRIVED) of the next event: ARRIVED is '' unless it shows another time."""
        if self.start is None:
            self.start = self.latest = ev.timestamp
        assert self.latest is not None
        self.latest = max(self.latest, ev.timestamp)
        recorded = humanize_elapsed(max(0.0, (self.latest - self.start).total_seconds()))
        arrived = humanize_elapsed(max(0.0, (ev.timestamp - self.start).total_seconds()))
        return recorded, "" if arrived == recorded else arrived


def history_rows(events: list[HistoryEvent], wide: bool, clock: HistoryClock | None = None) -> list[dict[str, str]]:
    """The table rows of history events; an ARRIVED column only when an event's arrival differs
    from when it was recorded (see HistoryClock). A followed history passes its clock along and
    gets the arrival in DETAILS instead, since its columns are fixed by the first batch."""
    rows = []
    followed = clock is not None
    clock = clock or HistoryClock()
    for ev in events:
        elapsed, arrived = clock.times(ev)
        details = event_details(ev)
        if followed and arrived:
            details = f"arrived {arrived}; {details}" if details else f"arrived {arrived}"
        row = {
            "TYPE": ev.event_type,
            "NAME": ev.name or "",
            "EVENTID": str(ev.event_id),
            "ELAPSED": elapsed,
            "ARRIVED": arrived,
            "DETAILS": details if wide else clip(details),
        }
        if wide:
            row = {"TIMESTAMP": rfc3339(ev.timestamp) or "", **row}
        rows.append(row)
    if followed or not any(r["ARRIVED"] for r in rows):
        for r in rows:
            del r["ARRIVED"]
    return rows


# ------------------------------------------------------------------------------------------ tables

PAGE_ROWS = 50  # rows per page of a streamed table
CUT_COLUMNS = ("CUSTOM STATUS", "FAILURE MESSAGE", "DETAILS", "NAME")  # cut with an ellipsis to fit
NEVER_CUT = ("ID", "STATUS", "TYPE", "EVENTID")  # copyable: never cut, never wrapped
DROP_ORDER = ("CUSTOM STATUS", "FAILURE MESSAGE", "DETAILS", "LAST UPDATE", "CREATED", "TIMESTAMP", "ARRIVED", "ELAPSED",
              "AGE", "NAME")  # at a narrow terminal these go, in this order, rather than wrap
MIN_CUT = {"NAME": 10}
ANSI_CODES = {"bold": "1", "red": "31", "green": "32", "yellow": "33", "blue": "34", "magenta": "35", "cyan": "36"}
GAP = 2
FOLLOW_FLOOR = {"TYPE": 22, "NAME": 16, "ELAPSED": 7, "DETAILS": DETAILS_WIDTH}  # history -f: later rows are longer


def fit_columns(natural: dict[str, int], width: int | None) -> dict[str, int]:
    """Column widths (in order) that fit `width` columns: payload columns are cut down to 12,
    then dropped; then times; then the name is cut to 10; then age and name are dropped. Ids and
    statuses are never cut. width None: the natural widths."""
    widths = dict(natural)

    def over() -> int:
        return sum(widths.values()) + GAP * (len(widths) - 1) - (width or 0)

    if width is None or over() <= 0:
        return widths
    for h in CUT_COLUMNS[:-1]:
        if h in widths and over() > 0:
            widths[h] = max(min(widths[h], 12), widths[h] - over())
    for h in DROP_ORDER:
        if over() <= 0:
            break
        if h == "AGE" and "NAME" in widths:  # cut the name before losing the age
            widths["NAME"] = max(min(widths["NAME"], MIN_CUT["NAME"]), widths["NAME"] - over())
            if over() <= 0:
                break
        if h in widths and len(widths) > 1:
            widths.pop(h)
    return widths


def cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


class TableStream:
    """One table written page by page with a fixed layout (see Renderer.table)."""

    def __init__(self, renderer: "Renderer", status_col: str | None, width: int | None,
                 floor: dict[str, int] | None = None) -> None:
        self.r, self.status_col, self.width = renderer, status_col, width
        self.floor = floor or {}  # widths the first page gets at least (its rows may be few and short)
        self.widths: dict[str, int] | None = None

    def write(self, rows: list[dict[str, str]]) -> None:
        if self.widths is None:
            natural = {h: max(len(h), *(len(r[h]) for r in rows)) for h in rows[0]}
            if self.width is not None and self.status_col in natural:  # room for the usual statuses
                natural[self.status_col] = max(natural[self.status_col], len("TERMINATED"))
            if self.width is not None:
                natural.update({h: max(w, self.floor.get(h, 0)) for h, w in natural.items()})
            self.widths = fit_columns(natural, self.width)
            self._line({h: h for h in self.widths}, header=True)
        else:
            for h in self.widths:  # off a terminal nothing is cut: every column may widen
                if h not in CUT_COLUMNS or self.width is None:
                    self.widths[h] = max(self.widths[h], *(len(r[h]) for r in rows))
            if self.width is not None:  # a wider id or status: the cut columns give way
                over = sum(self.widths.values()) + GAP * (len(self.widths) - 1) - self.width
                for h in CUT_COLUMNS:
                    if over > 0 and h in self.widths:
                        take = max(0, min(over, self.widths[h] - MIN_CUT.get(h, 12)))
                        self.widths[h] -= take
                        over -= take
        for row in rows:
            self._line(row)
        self.r.flush()

    def _line(self, row: dict[str, str], header: bool = False) -> None:
        assert self.widths is not None
        cells = []
        last = len(self.widths) - 1
        for i, (h, w) in enumerate(self.widths.items()):
            value = row[h] if header or self.width is None or h not in CUT_COLUMNS else cut(row[h], w)
            pad = "" if i == last else " " * max(0, w - len(value))
            if header:
                value = self.r.styled(value, "bold")
            elif h == self.status_col:
                value = self.r.styled(value, STATUS_STYLES.get(value))
            cells.append(value + pad)
        self.r.line((" " * GAP).join(cells).rstrip())


# ------------------------------------------------------------------------------------ the renderer


class Renderer:
    """Writes rows in the chosen format to stdout (messages, progress and prompts to stderr)."""

    def __init__(self, *, no_color: bool = False, quiet: bool = False, out: Any = None, err: Any = None):
        self.quiet = quiet  # -q: no result messages, notes or progress bars; data, warnings and errors stay
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.tty = is_terminal(self.out)
        self.err_tty = is_terminal(self.err)
        self.color = color_wanted(no_color, self.out)
        self.err_color = color_wanted(no_color, self.err)
        self._console: Console | None = None
        self.columns: int | None = None  # the terminal's width, when rendering a frame into a buffer

    # -- low level
    def write(self, text: str) -> None:
        self.out.write(text)

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def flush(self) -> None:
        self.out.flush()

    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                file=self.out, force_terminal=self.tty, no_color=not self.color, highlight=False,
                color_system="auto" if self.color else None, width=self.columns,
            )
        return self._console

    def err_console(self):
        from rich.console import Console

        return Console(file=self.err, force_terminal=self.err_tty, no_color=not self.err_color, highlight=False,
                       color_system="auto" if self.err_color else None)

    def _status_markup(self, status: str, *, ansi: bool = False) -> str:
        style = STATUS_STYLES.get(status)
        if ansi:
            return self.styled(status, style)
        return f"[{style}]{status}[/]" if style and self.color else status

    # -- messages
    def message(self, text: str) -> None:
        """A result line for a human ('Suspended abc'): stdout, plain; nothing with -q."""
        if not self.quiet:
            self.line(text)

    def note(self, text: str) -> None:
        """Informational text that is not the command's result: stderr; nothing with -q."""
        if not self.quiet:
            self.warning(text)

    def warning(self, text: str) -> None:
        """What a script should see even with -q (a failure among many, nothing new started): stderr."""
        self.err.write(text + "\n")
        self.err.flush()

    # -- generic structured values
    def json_value(self, value: Any) -> None:
        self.line(json.dumps(value, indent=2, ensure_ascii=False))

    def yaml_value(self, value: Any) -> None:
        import yaml

        self.write(yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False))

    # -- one state (get, wait, run --wait)
    def state(self, state: WorkflowState, fmt: str = "short", *, show_input: bool = False,
              show_output: bool = False, pending: Any = NOT_ASKED) -> None:
        """One instance. `pending` (wf get): what it waits for, a list, or None when the engine
        cannot say; in json/yaml it is the `pending` key (null when unknown)."""
        if fmt in ("json", "yaml"):
            d = state.to_dict()
            if pending is not NOT_ASKED:
                d["pending"] = None if pending is None else [i.to_dict() for i in pending]
            return self.json_value(d) if fmt == "json" else self.yaml_value(d)
        if fmt == "ids":
            return self.line(state.instance_id)
        fields = state_card(state, fmt == "wide", show_input, show_output)
        if pending is not NOT_ASKED:
            fields.extend(pending_fields(pending, state))
        if self.tty:
            from rich.table import Table

            grid = Table.grid(padding=(0, 2))
            grid.add_column(style="bold")
            grid.add_column(overflow="fold")
            for key, value in fields:
                grid.add_row(key, self._status_markup(value) if key == "Status" else _escape(value))
            self.console().print(grid)
        else:
            width = max(len(k) for k, _ in fields) + 1
            for key, value in fields:
                value = value.replace("\n", "\n" + " " * (width + 1))
                self.line(f"{key + ':':<{width}} {value}")

    # -- many states (list)
    def states(self, states: Iterable[WorkflowState], fmt: str = "short") -> int:
        """Render a stream of states; returns how many were written."""
        n = 0
        if fmt == "ids":
            for s in states:
                self.line(s.instance_id)
                n += 1
            return n
        if fmt in ("json", "jsonl", "yaml"):
            return self.dict_stream((s.to_dict() for s in states), fmt)
        wide = fmt == "wide"
        now = datetime.now(timezone.utc)
        n = self.table((state_row(s, wide, now) for s in states), status_col="STATUS")
        if n == 0:
            self.note("No workflow instances found.")
        return n

    def counts(self, counts: dict[str, int], by: str | None, fmt: str) -> None:
        """`wf count`: a number, or a table of counts per status / name / app (largest first)."""
        total = sum(counts.values())
        if fmt in ("json", "yaml"):
            value: dict[str, Any] = {"total": total}
            if by:
                value.update(by=by, counts=counts)
            return self.json_value(value) if fmt == "json" else self.yaml_value(value)
        if by is None:
            return self.line(str(total))
        header = {"status": "STATUS", "name": "NAME", "app": "APP"}[by]
        width = len(str(total))
        rows = [{header: k, "COUNT": str(n).rjust(width)} for k, n in counts.items()]
        rows.append({header: "total", "COUNT": str(total).rjust(width)})
        self.table(rows, status_col=header if by == "status" else None)

    def workers(self, workers: list[WorkerInfo], fmt: str) -> None:
        if fmt in ("json", "jsonl", "yaml"):
            self.dict_stream((w.to_dict() for w in workers), fmt)
            return
        if not workers:
            self.note("No live workers: start one with `wf worker --app MODULE:ATTR`.")
            return
        now = datetime.now(timezone.utc)
        rows = []
        for w in workers:
            row = {"WORKER": w.worker_id, "APP": w.app_id, "HOST": w.host, "PID": str(w.pid) if w.pid else "-",
                   "STARTED": humanize_age(w.started_at, now), "HEARTBEAT": f"{humanize_age(w.heartbeat, now)} ago",
                   "ACTIVITIES": str(w.activities_in_flight),
                   "WORKFLOWS": "?" if w.workflows is None else ",".join(w.workflows)}
            if fmt == "wide":
                row["REGISTERED ACTIVITIES"] = "?" if w.activities is None else ",".join(w.activities)
            rows.append(row)
        self.table(rows)

    def list_footer(self, counts: dict[str, int] | None, shown: int, limited: bool) -> None:
        """At a terminal, under a list: counts by status and how to see more.
        '12 RUNNING · 3 FAILED · 240 COMPLETED; 50 of 255 shown (--limit N for more, --limit 0 for all)'"""
        parts = []
        if counts:
            parts.append(" · ".join(f"{n} {self._status_markup(status, ansi=True)}" for status, n in counts.items()))
        total = sum(counts.values()) if counts else None
        if total is not None and total > shown:
            parts.append(f"{shown} of {total} shown (--limit N for more, --limit 0 for all)")
        elif limited and total is None:
            parts.append(f"{shown} shown (--limit N for more, --limit 0 for all)")
        else:
            parts.append(f"{shown} shown")
        self.line("; ".join(parts))

    def dict_stream(self, rows: Iterable[dict[str, Any]], fmt: str) -> int:
        """json (an array written element by element), jsonl, or yaml (a list, item by item)."""
        n = 0
        if fmt == "jsonl":
            for row in rows:
                self.line(json.dumps(row, ensure_ascii=False, separators=(",", ":")))
                n += 1
            return n
        if fmt == "yaml":
            import yaml

            for row in rows:
                self.write(yaml.safe_dump([row], sort_keys=False, allow_unicode=True, default_flow_style=False))
                n += 1
            if n == 0:
                self.line("[]")
            return n
        # json: a streamed array, same bytes as json.dumps(list, indent=2)
        for row in rows:
            body = json.dumps(row, indent=2, ensure_ascii=False).replace("\n", "\n  ")
            self.write(("[\n  " if n == 0 else ",\n  ") + body)
            n += 1
        self.line("[]" if n == 0 else "\n]")
        return n

    # -- history
    def history(self, events: list[HistoryEvent], fmt: str = "short") -> None:
        if fmt in ("json", "jsonl", "yaml"):
            self.dict_stream((e.to_dict() for e in events), fmt)
            return
        rows = history_rows(events, fmt == "wide")
        if not rows:
            self.note("No history events.")
            return
        self.table(rows, page=len(rows))

    # -- tables
    def doctor(self, report: dict[str, Any]) -> None:
        """`wf doctor`'s report for a human: one fact per line."""
        self.line(f"store           {report['store']}")
        self.line(f"state           {'ok' if report['ok'] else 'DAMAGED'}")
        if "schema_version" in report:
            self.line(f"schema version  {report['schema_version']} (this wf: {report['schema_version_expected']})")
        for key, label in (("counts", "rows"), ("orphans", "orphan rows")):
            if report.get(key) is not None:
                self.line(f"{label:<16}" + ", ".join(f"{t} {n}" for t, n in report[key].items()))
        if "wal_bytes" in report:
            self.line(f"WAL             {report['wal_bytes']} bytes")
        if "live_workers" in report:
            workers = report["live_workers"]
            self.line(f"live workers    {len(workers)}")
            for w in workers:
                kind = "" if w.get("kind", "worker") == "worker" else f"{w['kind']}, "  # a wf serve's gRPC door
                self.line(f"  {w['worker_id']} ({kind}pid {w['pid']} on {w['host']}, "
                          f"heartbeat {w['heartbeat_age_s']}s ago)")
        for p in report["problems"]:
            self.line(f"problem         {p}")
        for r in report["repaired"]:
            self.line(f"repaired        {r}")

    def terminal_width(self) -> int | None:
        """Columns of the terminal the table goes to; None off a terminal (scripts get every byte)."""
        if not self.tty:
            return None
        if self.columns:
            return self.columns
        try:
            columns = os.get_terminal_size(self.out.fileno()).columns
        except (AttributeError, OSError, ValueError):
            columns = 0
        if columns <= 0:  # a pseudo-terminal with no size set
            try:
                columns = int(os.environ.get("COLUMNS", ""))
            except ValueError:
                columns = 0
        return columns if columns > 0 else 80

    def table(self, rows: Iterable[dict[str, str]], status_col: str | None = None, page: int = PAGE_ROWS) -> int:
        """Aligned columns, written a page at a time: the first page fixes the layout (fitted to
        the terminal), later pages only widen the columns that are never cut. Returns the rows."""
        stream = TableStream(self, status_col, self.terminal_width())
        batch: list[dict[str, str]] = []
        n = 0
        for row in rows:
            batch.append(row)
            n += 1
            if len(batch) >= page:
                stream.write(batch)
                batch = []
        if batch:
            stream.write(batch)
        return n

    def styled(self, text: str, style: str | None) -> str:
        """ANSI colour for a cell at a terminal (no Rich needed for a list)."""
        codes = ";".join(ANSI_CODES[w] for w in (style or "").split() if w in ANSI_CODES)
        return f"\x1b[{codes}m{text}\x1b[0m" if codes and self.color else text

    # -- bulk operations
    def bulk_summary(self, result: Any, done_verb: str, target: str) -> None:
        """'Terminated 980 instances; skipped 20 (COMPLETED 15, FAILED 5); failed 0 (...)' on stdout,
        then the first failures with their reasons on stderr."""
        n = result.done
        line = f"{done_verb} {n} instance{'' if n == 1 else 's'} ({target})"
        if result.skipped:
            by = ", ".join(f"{status} {count}" for status, count in sorted(result.skipped_by_status.items()))
            line += f"; skipped {result.skipped} (not applicable: {by})" if by else f"; skipped {result.skipped}"
        if result.failed:
            line += f"; failed {result.failed}"
        self.message(line)
        for iid, reason in result.failures:
            self.warning(f"  failed {iid}: {clip(reason, 200)}")
        if result.failed > len(result.failures):
            self.warning(f"  ... and {result.failed - len(result.failures)} more failed")

    # -- audit trail and retention
    def audit(self, records: list[Any], fmt: str = "short") -> None:
        if fmt in ("json", "jsonl", "yaml"):
            self.dict_stream((r.to_dict() for r in records), fmt)
            return
        if not records:
            self.note("No audit records.")
            return
        wide = fmt == "wide"
        rows = []
        for r in records:
            row = {"TIME": rfc3339(r.at) or "", "ACTOR": r.actor, "OPERATION": r.operation,
                   "TARGET": r.instance_id or clip(r.selection or "", 50), "COUNT": str(r.count),
                   "OUTCOME": r.outcome, "REASON": clip(r.reason or "", 40)}
            if wide:
                row = {"TIME": row.pop("TIME"), "APP": r.app_id, **row, "SKIPPED": str(r.skipped),
                       "FAILED": str(r.failed), "DETAIL": r.detail or ""}
            rows.append(row)
        self.table(rows)

    def retention(self, policy: Any, fmt: str = "short") -> None:
        if fmt in ("json", "yaml"):
            value = {**policy.to_dict(), "set": policy.is_set}
            return self.json_value(value) if fmt == "json" else self.yaml_value(value)
        from wf.durations import format_duration

        def dur(v: float | None) -> str:
            return "-" if v is None else format_duration(v)

        now = datetime.now(timezone.utc)
        fields = [("App", policy.app_id)]
        if policy.is_set:
            fields += [("Any terminal", dur(policy.any_terminal)), ("Completed", dur(policy.completed)),
                       ("Failed", dur(policy.failed)), ("Terminated", dur(policy.terminated))]
            if policy.last_run_at is not None:
                fields.append(("Last run", f"{rfc3339(policy.last_run_at)} ({humanize_age(policy.last_run_at, now)} "
                                           f"ago): purged {policy.last_purged}, {policy.total_purged} in all"))
            else:
                fields.append(("Last run", "not yet (a worker or wf serve on this store applies it)"))
        else:
            fields.append(("Policy", "none: finished instances are kept until purged"))
        fields.append(("Audit records", f"kept {dur(policy.audit)}"))
        width = max(len(k) for k, _ in fields) + 1
        for key, value in fields:
            self.line(f"{key + ':':<{width}} {value}")

    # -- live views: --watch frames, a followed history, the spinner of wait
    def terminal_rows(self) -> int:
        try:
            rows = os.get_terminal_size(self.out.fileno()).lines
        except (AttributeError, OSError, ValueError):
            rows = 0
        return rows if rows > 0 else 24

    def frame(self, draw: Callable[["Renderer"], Any]) -> str:
        """What draw(renderer) writes, rendered as for this terminal (colours, width) into a string:
        one frame of a live view."""
        import io

        buf = io.StringIO()
        r = Renderer(out=buf, err=buf)
        r.tty, r.color, r.columns = self.tty, self.color, self.terminal_width()
        draw(r)
        return buf.getvalue()

    @contextmanager
    def live(self, every: str) -> Iterator[Callable[..., None]]:
        """At a terminal: yields show(frame, problem), which redraws the frame in place (Rich Live)
        with a line under it: when it was taken, or a problem (an engine that stopped answering).
        When the block ends (Ctrl-C included) the last frame stays and the cursor comes back."""
        from rich.live import Live
        from rich.text import Text

        with Live(console=self.console(), auto_refresh=False, redirect_stdout=False, redirect_stderr=False) as live:

            def show(frame: str, problem: str | None = None) -> None:
                body = Text.from_ansi(frame.rstrip("\n"), no_wrap=True, overflow="ellipsis")
                if problem:
                    body.append("\n" + clip(problem, 200), style="bold red" if self.color else None)
                else:
                    stamp = datetime.now().strftime("%H:%M:%S")
                    body.append(f"\nupdated {stamp}, every {every}; Ctrl-C stops", style="dim" if self.color else None)
                live.update(body, refresh=True)

            yield show

    def history_follow(self, batches: Iterable[list[HistoryEvent]], fmt: str) -> int:
        """A followed history (history --follow): each batch of new events is written and flushed
        as it arrives; a table keeps one layout (fitted to the terminal) for every batch."""
        if fmt in ("json", "jsonl", "yaml"):

            def rows() -> Iterator[dict[str, Any]]:
                it = iter(batches)
                while True:
                    self.flush()  # what was written reaches the reader before the next wait
                    batch = next(it, None)
                    if batch is None:
                        return
                    yield from (e.to_dict() for e in batch)

            return self.dict_stream(rows(), fmt)
        wide = fmt == "wide"
        stream = TableStream(self, None, self.terminal_width(), floor=FOLLOW_FLOOR)
        clock, n = HistoryClock(), 0
        for batch in batches:
            if batch:
                stream.write(history_rows(batch, wide, clock))
                n += len(batch)
        return n

    @contextmanager
    def spinner(self, text: str) -> Iterator[Callable[[str], None]]:
        """At a terminal (stderr): a spinner and one line of text; yields update(text). Cleared when
        the block ends. Off a terminal or with -q: nothing at all (update does nothing)."""
        if not self.err_tty or self.quiet:
            yield lambda text: None
            return
        from rich.markup import escape

        console = self.err_console()
        width = max(20, console.width - 4)
        with console.status(escape(clip(text, width))) as status:
            yield lambda text: status.update(escape(clip(text, width)))

    # -- the ids a dry run would touch
    def id_list(self, ids: Iterable[str], total: int) -> None:
        """One id a line; at a terminal the first TERMINAL_IDS and '... and N more'."""
        shown = 0
        for iid in ids:
            if self.tty and shown == TERMINAL_IDS:
                break
            self.line(iid)
            shown += 1
        if total > shown:
            self.line(f"... and {total - shown} more")

    # -- prompts and progress (stderr)
    def confirm(self, prompt: str) -> bool:
        import click

        return click.confirm(prompt, default=False, err=True)

    @contextmanager
    def progress(self, total: int | None, description: str) -> Iterator[Callable[[int], None]]:
        """Yields advance(n). A Rich progress bar on stderr at a terminal; nothing elsewhere."""
        if not self.err_tty or self.quiet:
            yield lambda n: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task):  # noqa: ANN001 - rich's signature
                speed = task.finished_speed or task.speed
                return Text("" if speed is None else f"{speed:,.0f}/s")

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                      TimeElapsedColumn(), console=self.err_console(), transient=False) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
