"""`wf top`: a full-screen live view of one app (or every app): counts by status, instances
started / completed / failed per minute, the live workers and their load, the oldest running
instances and the latest failures. `q` (or Ctrl-C) quits.

Three parts, one place: a Snapshot read through the Backend interface (so `--url` works for
wf serve, and a Dapr sidecar's gRPC API shows what it cannot say as unknown); the screen, laid
out as lines that each fit the terminal (columns are cut or dropped, never wrapped; panels drop
when the terminal is short); and the loop (Rich Live on the alternate screen, keys read in
cbreak mode, the terminal restored however it ends). Off a terminal, one snapshot is printed as
plain text and the command exits 0, like `top -b -n 1`.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import click

from wf.cli.common import Globals, pass_globals
from wf.cli.output import STATUS_STYLES, clip, humanize_age, humanize_elapsed
from wf.model import ListFilter, Rates, UnsupportedError, WfError, WorkerInfo, WorkflowState, WorkflowStatus

if TYPE_CHECKING:
    from rich.text import Text

RATE_MINUTES = 15  # the sparkline's span
ROWS_FETCHED = 20  # oldest running / latest failures read per refresh (a tall terminal shows them all)
SNAPSHOT_ROWS = 10  # rows per panel off a terminal
MIN_INTERVAL, MAX_INTERVAL = 0.5, 3600.0
STATUS_ORDER = ("RUNNING", "PENDING", "SUSPENDED", "STALLED", "FAILED", "COMPLETED", "TERMINATED", "CANCELED",
                "CONTINUED_AS_NEW")
ALWAYS_SHOWN = ("RUNNING", "PENDING", "FAILED", "COMPLETED")  # shown even at 0, so the line does not jump
SPARKS = "▁▂▃▄▅▆▇█"
QUIT_KEYS = (b"q", b"Q")


# ------------------------------------------------------------------------------------ snapshot


@dataclass
class Snapshot:
    """What one refresh read. None where the engine cannot say (the screen shows 'unknown')."""

    at: datetime
    counts: dict[str, int] | None
    rates: Rates | None
    workers: list[WorkerInfo] | None
    oldest: list[WorkflowState] = field(default_factory=list)
    failures: list[WorkflowState] = field(default_factory=list)


def take_snapshot(backend: Any, all_apps: bool) -> Snapshot:
    """One read of everything the screen shows, through the Backend interface only."""
    at = datetime.now(timezone.utc)
    if backend.capabilities().engine == "grpc":
        return snapshot_by_listing(backend, at)
    counts = backend.count_by(None, "status", all_apps=all_apps)
    rates = backend.rates(RATE_MINUTES, all_apps=all_apps)
    try:
        workers: list[WorkerInfo] | None = backend.workers(all_apps=all_apps)
    except UnsupportedError:  # Dapr's gRPC API lists no workers
        workers = None
    oldest = list(backend.list(ListFilter(statuses=(WorkflowStatus.RUNNING,)), limit=ROWS_FETCHED, order="oldest",
                               all_apps=all_apps))
    failures = list(backend.list(ListFilter(statuses=(WorkflowStatus.FAILED,)), limit=ROWS_FETCHED,
                                 order="finished", all_apps=all_apps, fetch_payloads=True))  # with their errors
    return Snapshot(at, counts, rates, workers, oldest, failures)


def snapshot_by_listing(backend: Any, at: datetime) -> Snapshot:
    """For an engine that can only list (Dapr's gRPC API: no count, no order, no workers): one
    pass over every instance counts, sorts and takes the rates (a finished instance's last
    update is its end); the failures shown are read again with their details."""
    counts: dict[str, int] = {}
    rates = Rates([0] * RATE_MINUTES, [0] * RATE_MINUTES, [0] * RATE_MINUTES)
    running: list[WorkflowState] = []
    failed: list[WorkflowState] = []

    def minute(dt: datetime | None) -> int | None:
        ago = None if dt is None else (at - _aware(dt)).total_seconds() // 60
        return int(ago) if ago is not None and 0 <= ago < RATE_MINUTES else None

    for state in backend.list(None):
        status = state.runtime_status.name
        counts[status] = counts.get(status, 0) + 1
        if (m := minute(state.created_at)) is not None:
            rates.started[m] += 1
        if status in ("COMPLETED", "FAILED") and (m := minute(state.completed_at or state.last_updated_at)) is not None:
            (rates.completed if status == "COMPLETED" else rates.failed)[m] += 1
        if status == "RUNNING":
            running.append(state)
        elif status == "FAILED":
            failed.append(state)
    running.sort(key=lambda s: _aware(s.created_at))
    failed.sort(key=lambda s: _aware(s.completed_at or s.last_updated_at), reverse=True)
    failures = [backend.get(s.instance_id, fetch_payloads=True) or s for s in failed[:ROWS_FETCHED]]
    return Snapshot(at, counts, rates, None, running[:ROWS_FETCHED], failures)


# -------------------------------------------------------------------------------------- screen


# (title, the total it is part of or None, columns, rows, column index -> style, what it says when empty)
Panel = tuple[str, "int | None", "list[Column]", "list[list[str]]", "dict[int, str]", str]


@dataclass
class Column:
    header: str
    cut_to: int | None = None  # cut with an ellipsis down to this width before anything is dropped
    drop: int = 0  # 0: never dropped; otherwise the lower goes first when the terminal is narrow


def fit(columns: list[Column], rows: list[list[str]], width: int) -> tuple[list[int], list[int]]:
    """(indexes of the columns kept, their widths): natural widths, then cut columns shrink,
    then columns drop in their order, then the last column is cut to whatever is left."""
    widths = [max([len(c.header)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    keep = list(range(len(columns)))

    def over() -> int:
        return sum(widths[i] for i in keep) + 2 * (len(keep) - 1) - width

    for i in keep:
        cut_to = columns[i].cut_to
        if cut_to is not None and over() > 0:
            widths[i] = max(min(widths[i], cut_to), widths[i] - over())
    for i in sorted((i for i in keep if columns[i].drop), key=lambda i: columns[i].drop):
        if over() <= 0:
            break
        keep.remove(i)
    if over() > 0:  # still too wide (a very narrow terminal): cut the last column
        widths[keep[-1]] = max(1, widths[keep[-1]] - over())
    return keep, [widths[i] for i in keep]


def cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


class Screen:
    """Lines of rich Text, none wider than `width`, at most `height` of them (None: no limit)."""

    def __init__(self, snap: Snapshot, *, scope: str, engine: str, all_apps: bool, interval: float, width: int,
                 height: int | None, color: bool, error: str | None = None) -> None:
        self.s, self.scope, self.engine, self.all_apps = snap, scope, engine, all_apps
        self.interval, self.width, self.height, self.color, self.error = interval, max(20, width), height, color, error

    # -- pieces
    def text(self, plain: str = "", style: str | None = None) -> "Text":
        from rich.text import Text

        return Text(cell(plain, self.width), style=(style or "") if self.color else "", no_wrap=True,
                    overflow="ellipsis")

    def title(self) -> "Text":
        right = self.s.at.strftime("%H:%M:%S UTC")
        left = cell(f"wf top · {self.scope} · {self.engine}", max(1, self.width - len(right) - 1))
        line = self.text(left.ljust(self.width - len(right)) + right, "reverse")
        return line

    def count_lines(self) -> list["Text"]:
        counts = self.s.counts
        if counts is None:
            return [self.text("counts: unknown (this engine's API does not count)", "dim")]
        names = [n for n in STATUS_ORDER if counts.get(n) or n in ALWAYS_SHOWN]
        names += sorted(n for n in counts if n not in STATUS_ORDER)
        items = [(n, f"{n} {counts.get(n, 0):,}") for n in names]
        items.append(("", f"{sum(counts.values()):,} in all"))
        lines: list[Text] = []
        current = self.text()
        for status, item in items:
            gap = "  " if current.plain else ""
            if current.plain and len(current.plain) + len(gap) + len(item) > self.width:
                lines.append(current)
                current, gap = self.text(), ""
            current.append(gap)
            current.append(cell(item, self.width), style=STATUS_STYLES.get(status, "dim") if self.color else "")
        lines.append(current)
        return lines

    def rate_lines(self, compact: bool = False) -> list["Text"]:
        rates = self.s.rates
        if rates is None:
            return [self.text("per minute: unknown (this engine's API does not say)", "dim")]
        if compact:  # a short terminal: the last minute on one line
            last = [values[0] if values else 0 for values in (rates.started, rates.completed, rates.failed)]
            return [self.text("last minute: {:,} started · {:,} completed · {:,} failed".format(*last))]
        spark = self.width >= 48
        head = f"{'PER MINUTE':<11} {'LAST 1M':>8}"
        if spark:
            head += f"  LAST {len(rates.started)}M"
        lines = [self.text(head, "bold")]
        for label, values, style in (("started", rates.started, ""), ("completed", rates.completed, "green"),
                                     ("failed", rates.failed, "bold red")):
            line = self.text(f"{label:<11} ")
            line.append(f"{(values[0] if values else 0):>8,}", style=style if self.color and values and values[0] else "")
            if spark:
                line.append("  " + sparkline(values, min(len(values), self.width - 22)),
                            style=style if self.color else "")
            lines.append(line)
        return lines

    def table(self, panel: "Panel", limit: int | None) -> list["Text"]:
        """A titled panel: a header and at most `limit` rows (None: all), or what it says when empty."""
        title, total, columns, rows, styles, empty = panel
        shown = rows if limit is None else rows[:limit]
        if total is not None and total > len(shown):
            title += f" ({len(shown)} of {total:,})"
        lines = [self.text(title, "bold")]
        if not rows:
            return lines + ([self.text("  " + empty, "dim")] if empty else [])
        keep, widths = fit(columns, shown, self.width)
        header = "  ".join(columns[i].header.ljust(w) for i, w in zip(keep, widths, strict=True))
        lines.append(self.text(header.rstrip(), "dim"))
        for row in shown:
            line = self.text()
            for n, (i, w) in enumerate(zip(keep, widths, strict=True)):
                value = cell(row[i], w)
                line.append(value if n == len(keep) - 1 else value.ljust(w + 2),
                            style=styles.get(i, "") if self.color else "")
            lines.append(line)
        return lines

    def panels(self) -> list["Panel"]:
        """The workers, the oldest running instances, the latest failures."""
        s, now = self.s, self.s.at
        app = [Column("APP", drop=2)] if self.all_apps else []

        def apps(app_id: str) -> list[str]:
            return [app_id] if self.all_apps else []

        if s.workers is None:
            workers: Panel = ("WORKERS: unknown (this engine's API does not list workers)", None, [], [], {}, "")
        else:
            rows = [[w.host, str(w.pid), *apps(w.app_id), str(w.activities_in_flight),
                     humanize_age(w.heartbeat, now) + " ago",
                     humanize_age(w.started_at, now) + " ago" if w.started_at else ""] for w in s.workers]
            workers = (f"WORKERS ({len(rows)} live)", None,
                       [Column("HOST", cut_to=12, drop=4), Column("PID"), *app, Column("ACTIVITIES"),
                        Column("HEARTBEAT", drop=3), Column("STARTED", drop=1)],
                       rows, {}, "no live workers: start one with `wf worker --app MODULE:ATTR`")
        counts = s.counts or {}
        rows = [[o.instance_id, o.name, *apps(o.app_id), humanize_age(o.created_at, now)] for o in s.oldest]
        oldest: Panel = ("OLDEST RUNNING", counts.get("RUNNING"),
                         [Column("ID"), Column("NAME", cut_to=12, drop=3), *app, Column("RUNNING FOR", drop=1)],
                         rows, {}, "none running")
        rows = [[f.instance_id, f.name, *apps(f.app_id),
                 humanize_age(f.completed_at or f.last_updated_at, now) + " ago", clip(_failure(f), 200)]
                for f in s.failures]
        failures: Panel = ("LATEST FAILURES", counts.get("FAILED"),
                           [Column("ID"), Column("NAME", cut_to=12, drop=3), *app, Column("FAILED", drop=4),
                            Column("ERROR", cut_to=10, drop=1)],
                           rows, {3 + len(app): "red"}, "no failures")
        return [workers, oldest, failures]

    # -- the whole screen
    def lines(self) -> list["Text"]:
        top = [self.title(), *self.count_lines()]
        rates = self.rate_lines()
        footer = self.text(f"q quit · refresh every {humanize_elapsed(self.interval)}", "dim")
        if self.error:
            footer = self.text(f"could not refresh: {self.error}", "bold red")
        panels = self.panels()
        if self.height is None:
            body = [self.text()] + rates
            for panel in panels:
                body += [self.text()] + self.table(panel, SNAPSHOT_ROWS)
            return top + body
        room = self.height - len(top) - 1  # the footer
        if room < len(rates) + 1 + 3:  # keep room for the latest failures: the rates on one line
            rates = self.rate_lines(compact=True)
        if room < len(rates) + 1:  # a very short terminal: the counts alone
            kept = top[: max(0, self.height - 1)]
            return kept + [self.text()] * (self.height - 1 - len(kept)) + [footer]
        room -= len(rates) + 1
        # Each panel needs a blank line, a title and one row; the latest failures go last (kept first),
        # then the workers, then the oldest running.
        shown: list[int] = []
        for i in (2, 0, 1):
            if room >= 3 * (len(shown) + 1):
                shown.append(i)
        shown.sort()
        extra = room - 3 * len(shown)
        want = {i: len(panels[i][3]) for i in shown}  # rows beyond the panel's least (then a header each)
        give = {i: 0 for i in shown}
        while extra > 0 and any(give[i] < want[i] for i in shown):
            for i in (2, 0, 1):
                if i in give and give[i] < want[i] and extra > 0:
                    give[i] += 1
                    extra -= 1
        body = [self.text()] + rates
        for i in shown:
            rows = panels[i][3]
            if rows and give[i] == 0:  # no room for a header and a row: say how many instead
                body += [self.text(), self.text(panels[i][0], "bold"), self.text(f"  {len(rows)} not shown", "dim")]
                continue
            body += [self.text()] + self.table(panels[i], give[i] if rows else None)  # give: a header and rows
        lines = top + body
        lines += [self.text()] * max(0, self.height - len(lines) - 1)
        return lines[: self.height - 1] + [footer]


def _failure(state: WorkflowState) -> str:
    fd = state.failure_details
    return f"{fd.error_type}: {fd.message}" if fd is not None else ""


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


def sparkline(values: list[int], width: int) -> str:
    """The last `width` minutes, oldest on the left (values[0] is the latest minute)."""
    values = list(reversed(values[:width]))
    peak = max(values, default=0)
    if peak <= 0:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[min(len(SPARKS) - 1, (v * (len(SPARKS) - 1) + peak - 1) // peak)] for v in values)


# ---------------------------------------------------------------------------------------- loop


def parse_interval(ctx: click.Context, param: click.Parameter, value: str) -> float:
    from wf.durations import parse_duration
    from wf.model import InvalidArgumentError

    try:
        seconds = parse_duration(value).total_seconds()
    except InvalidArgumentError as exc:
        raise click.BadParameter(str(exc)) from None
    if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise click.BadParameter(f"{value!r} is out of range: expected 500ms to 1h")
    return seconds


class Keys:
    """q from the terminal, read in cbreak mode (Ctrl-C still interrupts); the mode is restored."""

    def __init__(self) -> None:
        self.fd: int | None = None
        self.saved: Any = None

    def __enter__(self) -> "Keys":
        try:
            if sys.stdin.isatty():
                import termios
                import tty

                self.fd = sys.stdin.fileno()
                self.saved = termios.tcgetattr(self.fd)
                tty.setcbreak(self.fd)
        except (OSError, ValueError, AttributeError):
            self.fd = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None and self.saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds`; True when a quit key was pressed."""
        if self.fd is None:
            time.sleep(seconds)
            return False
        import select

        ready, _, _ = select.select([self.fd], [], [], seconds)
        if not ready:
            return False
        data = os.read(self.fd, 64)
        if not data:  # end of input: no more keys, Ctrl-C still quits
            self.fd = None
            return False
        return any(k in data for k in QUIT_KEYS)


@click.command("top")
@click.option("-A", "--all-apps", is_flag=True, help="Every app of the store, not only this one.")
@click.option("--interval", metavar="DURATION", default="2s", show_default=True, callback=parse_interval,
              help="How often the screen refreshes (500ms to 1h).")
@pass_globals
def top_cmd(g: Globals, all_apps: bool, interval: float) -> int:
    """A full-screen live view of one app (-a APP, default the configured one) or of every app
    (-A): counts by status; instances started, completed and failed in the last minute and a
    sparkline of the last 15; the live workers and their load; the oldest running instances; the
    latest failures. q or Ctrl-C quits (exit 0). Works on the local store and on `wf serve`
    (--url); over a Dapr sidecar's gRPC API, what it cannot say shows as unknown.

    Off a terminal it prints one snapshot as plain text and exits 0 (like `top -b -n 1`).

    \b
    Examples:
      wf top
      wf top -A --interval 5s
      wf --url http://build-host:3500 top
    """
    backend = g.backend()
    scope = "every app" if all_apps else f"app {backend.app_id}"
    engine = str(getattr(backend, "display_url", None) or getattr(backend, "path", ""))
    snap = take_snapshot(backend, all_apps)  # before the screen: a refusal is one line and exit 1
    out = g.out
    if not out.tty:
        width = _columns() or 80
        for line in Screen(snap, scope=scope, engine=engine, all_apps=all_apps, interval=interval, width=width,
                           height=None, color=False).lines():
            out.line(line.plain.rstrip())
        return 0
    from rich.console import Group
    from rich.live import Live

    console = out.console()

    def screen(error: str | None = None) -> Group:
        width, height = console.size
        return Group(*Screen(snap, scope=scope, engine=engine, all_apps=all_apps, interval=interval, width=width,
                             height=height, color=out.color, error=error).lines())

    try:
        with Keys() as keys, Live(screen(), console=console, screen=True, auto_refresh=False) as live:
            error: str | None = None
            due = time.monotonic() + interval
            size = console.size
            while True:
                if keys.wait(max(0.0, min(0.25, due - time.monotonic()))):
                    return 0
                if console.size != size:  # resized: lay out again at once
                    size = console.size
                    live.update(screen(error), refresh=True)
                if time.monotonic() < due:
                    continue
                try:
                    snap = take_snapshot(backend, all_apps)
                    error = None
                except WfError as exc:  # the engine went away for a moment: keep the last figures
                    error = " ".join(str(exc).split())
                live.update(screen(error), refresh=True)
                due = time.monotonic() + interval
    except KeyboardInterrupt:
        return 0


def _columns() -> int | None:
    try:
        return int(os.environ.get("COLUMNS", "")) or None
    except ValueError:
        return None


COMMANDS = [top_cmd]
