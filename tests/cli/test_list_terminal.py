"""`wf ls` at a real pseudo-terminal (pexpect): the newest 50 and a footer of counts, tables that
fit the terminal (ids and statuses whole, payloads cut, columns dropped when narrow), and tables
that stream page by page."""

from __future__ import annotations

import io
import re
import subprocess

import pexpect
import pytest
from cli_testing import WF_EXE, wf_env

from wf.cli.output import Renderer, fit_columns

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def at_terminal(db: str, *args: str, cols: int = 200, rows: int = 100) -> list[str]:
    """Run the real `wf` on a pseudo-terminal of the given size; its lines, colours removed."""
    child = pexpect.spawn(WF_EXE, list(args), env=wf_env(db), dimensions=(rows, cols), encoding="utf-8",
                          timeout=30)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return [ANSI.sub("", line) for line in child.before.replace("\r\n", "\n").splitlines()]


@pytest.fixture
def many(backend):
    """55 instances: 50 PENDING, 3 TERMINATED, 2 SUSPENDED, newest last started."""
    for i in range(55):
        backend.start("a_workflow_with_a_rather_long_name" if i % 2 else "short", instance_id=f"inst-{i:03d}",
                      input='"x"')
    for i in range(3):
        backend.terminate(f"inst-{i:03d}", output='"' + "o" * 200 + '"')
    for i in range(3, 5):
        backend.suspend(f"inst-{i:03d}")
    backend.close()


def test_ls_at_a_terminal_shows_the_newest_50_and_a_footer(db, many):
    lines = at_terminal(db, "ls")
    assert lines[0].split() == ["NAME", "ID", "STATUS", "CUSTOM", "STATUS", "AGE"]
    body = lines[1:-1]
    assert len(body) == 50 and body[0].split()[1] == "inst-054" and body[-1].split()[1] == "inst-005"
    assert lines[-1] == "50 PENDING · 3 TERMINATED · 2 SUSPENDED; 50 of 55 shown (--limit N for more, --limit 0 for all)"

    lines = at_terminal(db, "ls", "--limit", "0")
    assert len(lines) == 57 and lines[-1] == "50 PENDING · 3 TERMINATED · 2 SUSPENDED; 55 shown"
    lines = at_terminal(db, "ls", "-s", "SUSPENDED", "--limit", "1")
    assert lines[-1] == "2 SUSPENDED; 1 of 2 shown (--limit N for more, --limit 0 for all)"


def test_ls_oldest_lists_oldest_first_with_the_filters(db, many):
    lines = at_terminal(db, "ls", "--oldest", "--limit", "3")
    assert [line.split()[1] for line in lines[1:-1]] == ["inst-000", "inst-001", "inst-002"]
    lines = at_terminal(db, "ls", "-s", "PENDING", "--oldest", "--limit", "2")
    assert [line.split()[1] for line in lines[1:-1]] == ["inst-005", "inst-006"]
    piped = subprocess.run([WF_EXE, "ls", "--oldest", "-o", "ids"], env=wf_env(db), capture_output=True, text=True)
    assert piped.stdout.split() == [f"inst-{i:03d}" for i in range(55)]


def test_ls_fits_a_narrow_terminal_without_cutting_ids_or_statuses(db, many):
    for cols in (120, 80, 60, 40):
        lines = at_terminal(db, "ls", "-o", "wide", "--limit", "0", cols=cols)
        table = lines[:-1]
        assert all(len(line) <= cols for line in table), (cols, [line for line in table if len(line) > cols])
        ids = [line.split()[1 if "NAME" in lines[0] else 0] for line in table[1:]]
        assert ids == [f"inst-{i:03d}" for i in range(54, -1, -1)], cols
        assert all(any(s in line for s in ("PENDING", "TERMINATED", "SUSPENDED")) for line in table[1:])
    header = at_terminal(db, "ls", "-o", "wide", cols=60)[0].split()
    assert "CREATED" not in header and "LAST" not in header and "ID" in header and "STATUS" in header
    wide = at_terminal(db, "ls", "-o", "wide", cols=200)
    assert "CREATED" in wide[0] and "LAST UPDATE" in wide[0]
    assert any("a_workflow_with_a_rather_long_name" in line for line in wide)
    narrow = at_terminal(db, "ls", cols=44)
    assert any(re.search(r"a_workflow\w*…", line) for line in narrow)  # a long name is cut with an ellipsis


def test_fit_columns_cuts_payloads_then_drops_in_order():
    natural = {"NAME": 30, "ID": 32, "STATUS": 10, "CUSTOM STATUS": 40, "AGE": 3}
    assert fit_columns(natural, None) == natural
    assert fit_columns(natural, 200) == natural
    # 30 + 32 + 10 + 3 and four gaps of 2 leave 17 of 100 for the custom status
    assert fit_columns(natural, 100) == {"NAME": 30, "ID": 32, "STATUS": 10, "CUSTOM STATUS": 17, "AGE": 3}
    assert fit_columns(natural, 80) == {"NAME": 29, "ID": 32, "STATUS": 10, "AGE": 3}  # dropped, then cut
    assert fit_columns(natural, 60) == {"NAME": 10, "ID": 32, "STATUS": 10}  # the name cut to 10, no age
    assert fit_columns(natural, 45) == {"ID": 32, "STATUS": 10}
    assert fit_columns(natural, 20) == {"ID": 32, "STATUS": 10}  # never cut: longer than the terminal


def test_tables_stream_a_page_at_a_time():
    """Rows are written a page (50) at a time, before the next page is produced."""
    from datetime import datetime, timezone

    from wf.model import WorkflowState, WorkflowStatus

    out = io.StringIO()
    now = datetime.now(timezone.utc)

    def states():
        for i in range(120):
            if i == 50:
                assert len(out.getvalue().splitlines()) == 51, "the first page is not out yet"
            if i == 100:
                assert len(out.getvalue().splitlines()) == 101
            yield WorkflowState(f"id-{i}", "w" * (1 + i // 50), WorkflowStatus.RUNNING, now, now)

    assert Renderer(out=out, err=io.StringIO()).states(states()) == 120
    lines = out.getvalue().splitlines()
    assert len(lines) == 121 and lines[120].split()[:2] == ["www", "id-119"]
