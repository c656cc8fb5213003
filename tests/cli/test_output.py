"""Rendering: terminal tables and cards, colour rules, prompts and progress, streaming formats.

Formatting concerns only use hand-built rows (and a tiny in-memory source); command behaviour is
tested against the real engine in test_commands.py.
"""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from wf.cli import output
from wf.cli.output import Renderer, humanize_age, humanize_elapsed, payload_text
from wf.model import FailureDetails, HistoryEvent, WorkflowState, WorkflowStatus

ANSI = re.compile(r"\x1b\[[0-9;]*m")
NOW = datetime.now(timezone.utc)


def state(iid="i1", status=WorkflowStatus.RUNNING, **kw) -> WorkflowState:
    return WorkflowState(instance_id=iid, name=kw.pop("name", "order"), runtime_status=status,
                         # from the time of the call: NOW is taken at collection, minutes earlier in a long run
                         created_at=kw.pop("created_at", datetime.now(timezone.utc) - timedelta(minutes=5)),
                         last_updated_at=NOW, **kw)


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal(monkeypatch):
    """Make every stream look like a terminal (the one seam: output.is_terminal)."""
    monkeypatch.setattr(output, "is_terminal", lambda stream: True)


def test_humanize():
    now = datetime(2024, 1, 10, tzinfo=timezone.utc)
    assert humanize_age(now - timedelta(seconds=45), now) == "45s"
    assert humanize_age(now - timedelta(minutes=12), now) == "12m"
    assert humanize_age(now - timedelta(hours=5), now) == "5h"
    assert humanize_age(now - timedelta(days=3), now) == "3d"
    assert humanize_age(now + timedelta(seconds=5), now) == "0s"  # clock skew never shows negative
    assert humanize_elapsed(0.25) == "250ms" and humanize_elapsed(90) == "1m30s"
    assert payload_text('"text"') == "text" and payload_text('{"a": 1}') == '{"a":1}' and payload_text(None) == ""


def test_plain_table_when_not_a_terminal():
    out = io.StringIO()
    ago = datetime.now(timezone.utc) - timedelta(minutes=5, seconds=1)  # ages count from now, not from import
    Renderer(out=out, err=io.StringIO()).states([state("a", created_at=ago),
                                                 state("bb", WorkflowStatus.FAILED, created_at=ago)])
    lines = out.getvalue().splitlines()
    assert lines[0] == "NAME   ID  STATUS   CUSTOM STATUS  AGE"
    assert lines[1].split() == ["order", "a", "RUNNING", "5m"]
    assert "\x1b[" not in out.getvalue()


def test_table_with_status_colours_at_a_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: every column fits
    out = TTY()
    r = Renderer(out=out, err=TTY())
    assert r.tty and r.color
    r.states([state("a", WorkflowStatus.COMPLETED), state("b", WorkflowStatus.FAILED)], "wide")
    text = out.getvalue()
    assert "\x1b[" in text  # coloured
    plain = ANSI.sub("", text)
    assert "FAILURE MESSAGE" in plain and "COMPLETED" in plain and "FAILED" in plain


@pytest.mark.parametrize("how", ["flag", "env"])
def test_no_color(monkeypatch, how):
    if how == "env":
        monkeypatch.setenv("NO_COLOR", "")  # any value, even empty, turns colour off
    out = TTY()
    r = Renderer(out=out, err=TTY(), no_color=(how == "flag"))
    assert r.tty and not r.color
    r.states([state("a", WorkflowStatus.FAILED)])
    assert "\x1b[" not in out.getvalue() and "FAILED" in out.getvalue()


def test_card_at_a_terminal_and_plain():
    s = state("c1", WorkflowStatus.FAILED, serialized_input='{"x": 1}', serialized_output=None,
              serialized_custom_status='"half way"', failure_details=FailureDetails("boom", "ValueError", "tb\nline"))
    out = TTY()
    Renderer(out=out, err=TTY(), no_color=True).state(s, "wide")
    text = out.getvalue()
    for key in ("ID", "Name", "Status", "App ID", "Custom status", "Created", "Last updated", "Failure",
                "Stack trace", "Input"):
        assert key in text, key
    assert "Output" not in text  # -o wide omits empty rows: a failed instance has no output
    assert "half way" in text and "ValueError: boom" in text
    plain = io.StringIO()
    Renderer(out=plain, err=io.StringIO()).state(s, "short", show_input=True)
    assert 'Input:         {"x": 1}' in plain.getvalue() and "Stack trace" not in plain.getvalue()


def test_history_table_columns_and_elapsed():
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    events = [
        HistoryEvent(-1, "ExecutionStarted", t0, name="order", data='{"id": 7}'),
        HistoryEvent(1, "TaskScheduled", t0 + timedelta(milliseconds=20), name="charge"),
        HistoryEvent(-1, "TaskFailed", t0 + timedelta(seconds=2), name="charge", task_scheduled_id=1,
                     failure_details=FailureDetails("card declined " + "x" * 100, "PaymentError")),
        HistoryEvent(2, "TimerCreated", t0 + timedelta(seconds=3), extra={"fire_at": "2024-01-01T00:01:00Z"}),
    ]
    out = io.StringIO()
    Renderer(out=out, err=io.StringIO()).history(events)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["TYPE", "NAME", "EVENTID", "ELAPSED", "DETAILS"]
    assert lines[2].split()[:4] == ["TaskScheduled", "charge", "1", "20ms"]
    assert "#1 PaymentError: card declined" in lines[3] and lines[3].endswith("…")  # clipped in short
    assert "fire_at=2024-01-01T00:01:00Z" in lines[4]
    wide = io.StringIO()
    Renderer(out=wide, err=io.StringIO()).history(events, "wide")
    assert "x" * 100 in wide.getvalue()  # not clipped in wide
    tty = TTY()
    Renderer(out=tty, err=TTY(), no_color=True).history(events)
    assert "ELAPSED" in tty.getvalue() and "TaskFailed" in tty.getvalue()


@pytest.mark.parametrize("fmt", ["json", "jsonl", "yaml", "ids"])
def test_formats_stream_row_by_row(fmt):
    """Each row is written before the next is even produced: flat memory over a million rows."""
    made = [state(f"row{i}") for i in range(3)]  # one creation time each, for the comparison
    out = io.StringIO()

    def rows():
        for i in range(3):
            if i:
                assert f"row{i - 1}" in out.getvalue(), "previous row not written yet"
            yield made[i]

    n = Renderer(out=out, err=io.StringIO()).states(rows(), fmt)
    assert n == 3
    text = out.getvalue()
    if fmt == "json":
        assert [d["instance_id"] for d in json.loads(text)] == ["row0", "row1", "row2"]
        assert text == json.dumps([s.to_dict() for s in made], indent=2) + "\n"
    elif fmt == "jsonl":
        assert [json.loads(line)["instance_id"] for line in text.splitlines()] == ["row0", "row1", "row2"]
    elif fmt == "yaml":
        assert [d["instance_id"] for d in yaml.safe_load(text)] == ["row0", "row1", "row2"]
    else:
        assert text == "row0\nrow1\nrow2\n"


def test_list_jsonl_streams_through_the_command(wf, monkeypatch):
    """The command hands Backend.list's iterator straight to the renderer (never a list())."""
    produced = []

    class Source:
        app_id = "default"

        def list(self, flt=None, *, limit=None, fetch_payloads=False, order="newest"):
            for i in range(5):
                produced.append(i)
                yield state(f"s{i}")

        def close(self):
            pass

    seen_lengths = []
    real = Renderer.dict_stream

    def spy(self, rows, fmt):
        def watch():
            for row in rows:
                seen_lengths.append(len(produced))
                yield row
        return real(self, watch(), fmt)

    import wf.backends as backends_pkg

    monkeypatch.setattr(backends_pkg, "open_backend", lambda **kw: Source())
    monkeypatch.setattr(Renderer, "dict_stream", spy)
    r = wf("list", "-o", "jsonl")
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 5
    assert seen_lengths == [1, 2, 3, 4, 5]


def test_bulk_purge_asks_at_a_terminal(wf, finished, backend, terminal):
    finished("doubler", "1", "q1")
    finished("doubler", "1", "q2")
    r = wf("purge", "--all", input="n\n")
    assert f"Purge 2 instances (finished) of app default in {backend.path}? [y/N]" in r.stderr
    assert r.exit_code == 1 and backend.get("q1") is not None  # declined: nothing changed
    r = wf("purge", "--all", input="y\n")
    assert r.exit_code == 0 and backend.get("q1") is None and backend.get("q2") is None
    assert "Purging" in r.stderr  # the progress bar, on stderr
    assert "Purged 2 instances" in r.stdout


def test_bulk_purge_yes_skips_the_question_and_nothing_to_purge(wf, finished, backend, terminal):
    r = wf("purge", "--all", input="")
    assert r.exit_code == 0 and "Nothing to purge" in r.stdout
    finished("doubler", "1", "y1")
    r = wf("purge", "--all-older-than", "0s", "-y")
    assert r.exit_code == 0 and "[y/N]" not in r.stderr and backend.get("y1") is None


def test_progress_only_at_a_terminal():
    calls = []
    r = Renderer(out=io.StringIO(), err=io.StringIO())
    with r.progress(10, "Purging") as advance:
        advance(5)
        calls.append(1)
    assert calls and r.err.getvalue() == ""
    err = TTY()
    r = Renderer(out=io.StringIO(), err=err, no_color=True)
    with r.progress(10, "Purging") as advance:
        advance(4)
        advance(6)
    text = ANSI.sub("", err.getvalue())
    assert "Purging" in text and "10/10" in text


def test_get_list_history_at_a_terminal_through_commands(wf, finished, terminal):
    finished("doubler", "2", "t1")
    get = ANSI.sub("", wf("get", "t1").stdout)
    assert "COMPLETED" in get and "doubling" in get
    ls = ANSI.sub("", wf("list").stdout)
    assert "CUSTOM STATUS" in ls and "t1" in ls
    hist = ANSI.sub("", wf("history", "t1").stdout)
    assert "ExecutionCompleted" in hist
    assert "\x1b[" not in wf("--no-color", "list").stdout


def test_forced_bulk_purge_counts_live_instances(wf, backend, terminal):
    backend.start("waiter", instance_id="live-1")
    r = wf("purge", "--all", "--force", input="y\n")
    assert f"Purge 1 instance (any status) of app default in {backend.path}? [y/N]" in r.stderr
    assert r.exit_code == 0 and backend.get("live-1") is None


def test_history_rows_show_when_an_event_arrived_if_it_was_recorded_later():
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    events = [HistoryEvent(-1, "ExecutionStarted", t0, "approval"),
              HistoryEvent(-1, "ExecutionSuspended", t0 + timedelta(seconds=1)),
              HistoryEvent(-1, "ExecutionResumed", t0 + timedelta(seconds=4)),
              HistoryEvent(-1, "EventRaised", t0 + timedelta(seconds=2), "go", data='"ok"'),  # raised while suspended
              HistoryEvent(-1, "ExecutionCompleted", t0 + timedelta(seconds=4.5), data='"ok"')]
    rows = output.history_rows(events, wide=False)
    assert [(r["TYPE"], r["ELAPSED"], r["ARRIVED"]) for r in rows] == [
        ("ExecutionStarted", "0ms", ""), ("ExecutionSuspended", "1s", ""), ("ExecutionResumed", "4s", ""),
        ("EventRaised", "4s", "2s"),  # recorded after the resume, no earlier
        ("ExecutionCompleted", "4.5s", "")]
    assert "ARRIVED" not in output.history_rows(events[:3], wide=False)[0]  # in order: no such column
    # a followed history keeps its layout: one clock across batches, the arrival in DETAILS
    clock = output.HistoryClock()
    first, second = output.history_rows(events[:3], False, clock), output.history_rows(events[3:], False, clock)
    assert "ARRIVED" not in first[0] and "ARRIVED" not in second[0]
    assert second[0]["ELAPSED"] == "4s" and second[0]["DETAILS"].startswith("arrived 2s; ")
