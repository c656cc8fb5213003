"""`wf top` through the real `wf` on a pseudo-terminal, read through a terminal emulator, with a
real `wf worker` running real workflows (some failing): the counts, the rates of the last
minute, the worker and its load, the oldest running, the latest failures with their errors cut;
q and Ctrl-C exit 0 with the terminal restored; nothing garbles at 80x24 or 60 columns; off a
terminal, one plain snapshot."""

from __future__ import annotations

import re

import pytest
from cli_testing import one_error_line, run_wf, wait_until, wf_env
from terminal_testing import Terminal

pytestmark = pytest.mark.timeout(120)

LONG = "the card was declined by the issuing bank because " + "x" * 80


@pytest.fixture
def busy(db, worker_proc, backend):
    """A live worker of tests/cli/apps.py, 3 completed, 2 failed and 2 waiting instances."""
    worker = worker_proc()
    for i in range(3):
        backend.start("doubler", input=str(i), instance_id=f"done-{i}")
    backend.start("failing", input='"card declined"', instance_id="bad-1")
    backend.start("failing", input=f'"{LONG}"', instance_id="bad-2")
    backend.start("waiter", instance_id="wait-1")
    backend.start("waiter", instance_id="wait-2")

    def settled():
        counts = backend.count_by(None, "status")
        return counts == {"COMPLETED": 3, "FAILED": 2, "RUNNING": 2}

    wait_until(settled, 30, "the instances to settle")
    return worker


@pytest.fixture
def terminals():
    opened: list[Terminal] = []

    def open_(db: str, *args: str, cols: int = 80, rows: int = 24) -> Terminal:
        t = Terminal(list(args), wf_env(db), cols=cols, rows=rows)
        opened.append(t)
        return t

    yield open_
    for t in opened:
        t.close()


def drawn(lines: list[str], *ids: str) -> bool:
    """A whole frame is on the screen (its last line, the footer, is drawn last) with these rows."""
    return bool(lines[-1].startswith("q quit") and all(row(lines, i) for i in ids))


def row(lines: list[str], first: str) -> list[str] | None:
    """The cells of the line that starts with `first`."""
    return next((line.split() for line in lines if line.split()[:1] == [first]), None)


def test_top_shows_counts_rates_workers_and_failures_and_q_quits(db, busy, terminals, backend):
    t = terminals(db, "top", "--interval", "500ms")
    lines = t.wait_for(lambda ls: drawn(ls, "bad-2", "wait-2") and "WORKERS (1 live)" in ls,
                       what="the first full screen")
    assert lines[0].startswith("wf top · app default · ") and lines[0].endswith(" UTC")
    assert lines[1].split() == ["RUNNING", "2", "PENDING", "0", "FAILED", "2", "COMPLETED", "3", "7", "in", "all"]
    # all seven started within the last minute; the last column is the 15-minute sparkline
    assert row(lines, "started")[:2] == ["started", "7"] and row(lines, "failed")[:2] == ["failed", "2"]
    assert row(lines, "completed")[:2] == ["completed", "3"]
    assert row(lines, "PER")[:4] == ["PER", "MINUTE", "LAST", "1M"]

    assert "WORKERS (1 live)" in lines
    worker = next(line for line in lines if str(busy.pid) in line.split())
    assert re.search(rf"\S+\s+{busy.pid}\s+0\s+\d+s ago\s+\d+s ago$", worker), worker  # host pid load heartbeat

    oldest = lines.index("OLDEST RUNNING")
    assert lines[oldest + 1].split() == ["ID", "NAME", "RUNNING", "FOR"]
    assert [lines[oldest + 2].split()[:2], lines[oldest + 3].split()[:2]] == [["wait-1", "waiter"], ["wait-2", "waiter"]]

    failures = lines.index("LATEST FAILURES")
    assert lines[failures + 1].split() == ["ID", "NAME", "FAILED", "ERROR"]
    # the latest failure first (the worker may finish them in either order; a tie goes to the later start)
    ended = {iid: backend.get(iid).completed_at for iid in ("bad-1", "bad-2")}
    latest = sorted(ended, key=lambda iid: (ended[iid], iid), reverse=True)
    assert [lines[failures + 2].split()[:2], lines[failures + 3].split()[:2]] == [[iid, "failing"] for iid in latest]
    long, short = row_line(lines, "bad-2"), row_line(lines, "bad-1")
    assert "ValueError: activity 'explode' failed: the card was" in long and long.endswith("…") and len(long) == 80
    assert short.endswith("ValueError: activity 'explode' failed: card declined")
    assert lines[-1] == "q quit · refresh every 500ms" and len(lines) == 24

    # live: a new failure shows up on the next refresh, the counts follow
    run_wf(db, "run", "failing", "-i", "bad-3", "-x", '"later"')
    lines = t.wait_for(lambda ls: drawn(ls, "bad-3") and "FAILED 3" in ls[1], what="the new failure")
    assert row(lines, "bad-3")[-2:] == ["failed:", "later"] and row(lines, "failed")[1] == "3"

    assert t.end("q") == 0
    assert t.restored()


def test_top_at_60_columns_drops_columns_rather_than_wrap(db, busy, terminals):
    t = terminals(db, "top", cols=60, rows=24)
    lines = t.wait_for(lambda ls: drawn(ls, "bad-2", "wait-1"), what="the screen at 60 columns")
    assert lines[0].startswith("wf top · app default") and lines[0].endswith("UTC") and len(lines[0]) == 60
    assert lines[-1].startswith("q quit")
    # each row whole on its own line: id first, then what fits, nothing carried over to the next line
    for iid in ("bad-1", "bad-2", "wait-1", "wait-2"):
        cells = row(lines, iid)
        assert cells and cells[1] in ("failing", "waiter"), (iid, lines)
    assert re.fullmatch(r"bad-2\s+failing\s+\d+s ago\s+ValueError: activity.*…", row_line(lines, "bad-2"))
    assert all(len(line) <= 60 for line in lines)
    assert t.end("\x03") == 0  # Ctrl-C quits too, quietly
    assert t.restored()


def row_line(lines: list[str], first: str) -> str:
    return next(line for line in lines if line.split()[:1] == [first])


def test_a_short_terminal_keeps_the_counts_and_the_latest_failures(db, busy, terminals):
    t = terminals(db, "top", cols=80, rows=10)
    lines = t.wait_for(lambda ls: drawn(ls, "bad-2", "bad-1"), what="the short screen")
    assert lines[1].startswith("RUNNING 2") and lines[-1].startswith("q quit")
    assert lines[3] == "last minute: 7 started · 3 completed · 2 failed"  # the rates on one line
    assert lines[5] == "LATEST FAILURES"
    assert "OLDEST RUNNING" not in lines and "WORKERS (1 live)" not in lines  # dropped rather than squeezed
    assert t.end("q") == 0


def test_top_every_app_names_the_app(db, busy, terminals, backend):
    from wf.backends.local import LocalBackend

    other = LocalBackend(db, app_id="billing")
    other.start("waiter", instance_id="elsewhere")  # no worker of billing: it stays PENDING
    other.close()
    t = terminals(db, "top", "-A", cols=100)
    lines = t.wait_for(lambda ls: drawn(ls, "bad-2"), what="every app")
    assert lines[0].startswith("wf top · every app · ")
    assert "PENDING 1" in lines[1] and lines[1].rstrip().endswith("8 in all")
    assert row(lines, "bad-2")[:3] == ["bad-2", "failing", "default"]
    assert "APP" in row(lines, "HOST")
    assert t.end("q") == 0


def test_top_off_a_terminal_prints_one_snapshot(db, busy):
    r = run_wf(db, "top")
    assert r.returncode == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert lines[1].split()[:8] == ["RUNNING", "2", "PENDING", "0", "FAILED", "2", "COMPLETED", "3"]
    assert "\x1b" not in r.stdout and all(len(line) <= 80 for line in lines)
    assert row(lines, "bad-1")[-3:] == ["failed:", "card", "declined"]
    assert "q quit" not in r.stdout


@pytest.mark.parametrize("value", ["10ms", "2h", "soon", "-1s"])
def test_a_bad_interval_is_a_usage_error(db, value):
    r = run_wf(db, "top", "--interval", value)
    assert r.returncode == 2 and r.stdout == ""
    assert "--interval" in one_error_line(r.stderr)


def test_the_screen_fits_every_size_without_wrapping():
    """The layout on its own, at every size from 20x1 to 120x40: no line wider than the terminal,
    no more lines than it has, the footer on the last line, ids whole while they fit."""
    from datetime import datetime, timedelta, timezone

    from wf.cli.top import Screen, Snapshot
    from wf.model import FailureDetails, Rates, WorkerInfo, WorkflowState, WorkflowStatus

    now = datetime.now(timezone.utc)
    iid = "0123456789abcdef0123456789abcdef"  # a generated id: 32 characters
    failed = [WorkflowState(f"{iid[:-2]}{i:02d}", "a_rather_long_workflow_name", WorkflowStatus.FAILED,
                            now - timedelta(hours=1), now, failure_details=FailureDetails(LONG, "ValueError"),
                            app_id="billing", completed_at=now - timedelta(seconds=i)) for i in range(20)]
    running = [WorkflowState(f"run-{i}", "w", WorkflowStatus.RUNNING, now - timedelta(days=3), now) for i in range(20)]
    workers = [WorkerInfo(f"h:{i}:x", "default", "a-very-long-host-name.example.com", 40000 + i, now, now, i)
               for i in range(5)]
    snap = Snapshot(now, {"RUNNING": 20, "FAILED": 1234567, "COMPLETED": 7654321, "SUSPENDED": 3},
                    Rates([5] * 15, [3] * 15, [1] * 15), workers, running, failed)
    for all_apps in (False, True):
        for width in range(20, 121, 7):
            for height in range(1, 41, 3):
                lines = [t.plain for t in Screen(snap, scope="app default", engine="/var/lib/wf/wf.db",
                                                 all_apps=all_apps, interval=2, width=width, height=height,
                                                 color=True).lines()]
                assert len(lines) == height and lines[-1].startswith("q quit"[: width]), (width, height, lines)
                assert all(len(line) <= width for line in lines), (width, height, lines)
                if width >= 40:
                    assert all(line.split()[0] == f"{iid[:-2]}{n:02d}" for n, line in
                               enumerate(x for x in lines if x.startswith(iid[:-2]))), (width, height, lines)
