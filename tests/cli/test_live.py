"""Live views through the real `wf`: `ls --watch` / `get --watch` redraw in place at a pseudo-terminal
(pexpect) and print again on change through a pipe; `history -f` streams the events of a running
instance and ends with wait's exit codes (local store, wf serve over HTTP and over gRPC); `wait`
shows a spinner at a terminal and nothing elsewhere."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pexpect
import pytest
from cli_testing import APP_SPEC, HERE, WF_EXE, one_error_line, run_wf, wait_until, wf_env
from wf_testing import stop_process

from wf.model import HistoryEvent, WorkflowState, WorkflowStatus

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SHOW_CURSOR = "\x1b[?25h"


def spawn(db: str, *args: str, cols: int = 160, rows: int = 40) -> pexpect.spawn:
    return pexpect.spawn(WF_EXE, list(args), env=wf_env(db), dimensions=(rows, cols), encoding="utf-8", timeout=30)


def expect_text(child: pexpect.spawn, pattern: str) -> str:
    """Wait for pattern in the terminal output with its colours removed; that output."""
    seen = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            seen += child.read_nonblocking(4096, timeout=0.2)
        except pexpect.TIMEOUT:
            pass
        if re.search(pattern, ANSI.sub("", seen), re.S):
            return ANSI.sub("", seen)
    pytest.fail(f"never saw {pattern!r} on the terminal; last output: {ANSI.sub('', seen)[-1500:]!r}")


def interrupt(child: pexpect.spawn) -> str:
    """Ctrl-C; what the terminal received until the process ended. It must exit 0 quietly."""
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    tail = child.before
    assert child.exitstatus == 0, (child.exitstatus, child.signalstatus, tail[-1000:])
    assert "Traceback" not in tail
    return tail


def popen(db: str, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([WF_EXE, *args], env=wf_env(db, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, bufsize=1)


def finish(p: subprocess.Popen, timeout: float = 30) -> tuple[int, str, str]:
    """The exit code and the rest of the output. (Not communicate(): it reads the pipes themselves and
    would lose what readline() already buffered.)"""
    out = p.stdout.read()  # to EOF: the process has ended or closed its output
    err = p.stderr.read()
    return p.wait(timeout=timeout), out, err


# ---------------------------------------------------------------------------------- --watch


def test_ls_watch_redraws_when_a_worker_completes_an_instance_and_ctrl_c_exits_0(db, backend, worker_proc):
    backend.start("waiter", instance_id="watched")
    backend.close()
    worker_proc()
    child = spawn(db, "ls", "--watch", "--interval", "200ms")
    expect_text(child, r"watched\s+RUNNING")
    expect_text(child, r"1 RUNNING; 1 shown\s+updated \d\d:\d\d:\d\d, every 200ms; Ctrl-C stops")
    assert run_wf(db, "raise-event", "watched/go").returncode == 0
    expect_text(child, r"watched\s+COMPLETED")  # redrawn in place: the same process, a new frame
    expect_text(child, r"1 COMPLETED; 1 shown")
    tail = interrupt(child)
    assert tail.rstrip().endswith(SHOW_CURSOR)  # the terminal gets its cursor back


def test_get_watch_through_wf_serve_redraws_the_card_and_what_it_waits_for(db, serve):
    url = serve.http
    assert run_wf(db, "--url", url, "run", "waiter", "-i", "remote-1").returncode == 0
    child = spawn(db, "--url", url, "get", "remote-1", "--watch", "--interval", "200ms")
    expect_text(child, r"Status\s+RUNNING")
    expect_text(child, r"Waiting for\s+event 'go'")
    assert run_wf(db, "--url", url, "raise-event", "remote-1/go", "-x", '"yes"').returncode == 0
    expect_text(child, r"Status\s+COMPLETED")
    interrupt(child)


def test_ls_watch_shows_as_many_rows_as_fit_the_terminal_then_the_footer(db, backend):
    for i in range(30):
        backend.start("waiter", instance_id=f"row-{i:02d}")
    backend.close()
    child = spawn(db, "ls", "--watch", rows=15)
    seen = expect_text(child, r"row-29.*row-18\s.*30 PENDING; 12 of 30 shown \(--limit N for more, --limit 0 for all\)")
    seen += ANSI.sub("", interrupt(child))
    assert "row-17" not in seen


def test_watch_through_wf_serve_waits_for_it_when_it_stops_answering(db, serve):
    url = serve.http
    assert run_wf(db, "--url", url, "run", "waiter", "-i", "remote-2").returncode == 0
    child = spawn(db, "--url", url, "get", "remote-2", "--watch", "--interval", "200ms")
    expect_text(child, r"Status\s+RUNNING")
    serve.stop()
    expect_text(child, r"Error \(retrying every 200ms\): cannot reach the engine at http://127\.0\.0\.1")
    assert child.isalive()
    interrupt(child)


def test_history_follow_at_a_terminal_ends_on_ctrl_c_with_130(db, backend):
    backend.start("waiter", instance_id="f5")
    backend.close()
    child = spawn(db, "history", "f5", "-f")
    time.sleep(0.5)  # following a PENDING instance with no history yet
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130 and "Traceback" not in child.before


def test_watch_off_a_terminal_prints_the_state_again_on_each_change(db, backend, worker_proc):
    backend.start("waiter", instance_id="piped")
    backend.close()
    worker_proc()
    wait_until(lambda: json.loads(run_wf(db, "get", "piped", "-o", "json").stdout)["runtime_status"] == "RUNNING",
               what="piped running")
    p = popen(db, "get", "piped", "--watch", "-o", "json", "--interval", "100ms")

    def next_document() -> dict:
        lines = []
        while True:
            line = p.stdout.readline()
            assert line, f"the watch ended early: {p.stderr.read()}"
            lines.append(line)
            if line == "}\n":
                return json.loads("".join(lines))

    first = next_document()
    assert first["runtime_status"] == "RUNNING" and first["pending"][0]["kind"] == "event"
    assert run_wf(db, "raise-event", "piped/go").returncode == 0
    docs = [first, next_document()]
    while docs[-1]["runtime_status"] != "COMPLETED":  # (the event may be seen waiting unconsumed first)
        assert len(docs) < 4, docs
        docs.append(next_document())
    assert all(a != b for a, b in zip(docs, docs[1:], strict=False))  # printed on a change, not on every poll
    assert docs[-1]["pending"] == []
    time.sleep(0.5)  # five more polls: nothing changed, nothing printed
    p.send_signal(signal.SIGINT)
    code, rest, err = finish(p)
    assert (code, rest, err) == (0, "", "")


def test_ls_watch_off_a_terminal_prints_the_list_again_when_it_changes(db, backend, worker_proc):
    backend.start("waiter", instance_id="l1")
    backend.close()
    p = popen(db, "ls", "--watch", "-o", "jsonl", "--interval", "100ms")
    assert json.loads(p.stdout.readline())["runtime_status"] == "PENDING"
    worker_proc()
    assert json.loads(p.stdout.readline())["runtime_status"] == "RUNNING"  # the whole list again
    p.send_signal(signal.SIGINT)
    code, rest, err = finish(p)
    assert code == 0 and err == "" and rest == ""


def test_ls_watch_through_wf_serve_off_a_terminal_prints_the_list_on_each_change(db, serve):
    url = serve.http
    assert run_wf(db, "--url", url, "run", "waiter", "-i", "remote-3").returncode == 0
    p = popen(db, "--url", url, "ls", "--watch", "-o", "jsonl", "--interval", "100ms")
    seen = []
    while not seen or seen[-1]["runtime_status"] != "RUNNING":
        seen.append(json.loads(p.stdout.readline()))
    assert run_wf(db, "--url", url, "raise-event", "remote-3/go").returncode == 0
    while seen[-1]["runtime_status"] != "COMPLETED":
        seen.append(json.loads(p.stdout.readline()))
    p.send_signal(signal.SIGINT)
    code, rest, err = finish(p)
    assert (code, rest, err) == (0, "", "")
    assert all(a != b for a, b in zip(seen, seen[1:], strict=False))  # a line per change, none per poll


@pytest.mark.parametrize("args, message", [
    (("ls", "--watch", "--interval", "10ms"), "at least 100ms"),
    (("get", "x1", "--watch", "--interval", "soon"), "invalid duration"),
    (("ls", "--interval", "1s"), "--interval goes with --watch"),
    (("history", "x1", "--timeout", "1s"), "--timeout goes with --follow"),
])
def test_bad_live_flags_are_usage_errors(db, backend, args, message):
    backend.start("waiter", instance_id="x1")
    backend.close()
    r = run_wf(db, *args)
    assert r.returncode == 2 and message in one_error_line(r.stderr) and r.stdout == ""


# ---------------------------------------------------------------------------------- history -f


def read_events(p: subprocess.Popen, n: int) -> list[dict]:
    events = []
    for _ in range(n):
        line = p.stdout.readline()
        assert line.endswith("}\n"), (line, p.stderr.read() if p.poll() is not None else "")
        events.append(json.loads(line))
    return events


@pytest.mark.parametrize("ending, code", [("completed", 0), ("terminated", 4)])
def test_history_follow_streams_a_running_instance_as_json_lines(db, backend, worker_proc, ending, code):
    backend.start("waiter", instance_id="f1")
    backend.close()
    worker_proc()
    p = popen(db, "history", "f1", "-f")  # a pipe: JSON lines without -o
    first = read_events(p, 1)[0]
    assert first["event_type"] == "ExecutionStarted"  # printed while the instance still waits
    assert p.poll() is None
    if ending == "completed":
        assert run_wf(db, "raise-event", "f1/go", "-x", '"ok"').returncode == 0
    else:
        assert run_wf(db, "terminate", "f1").returncode == 0
    rc, rest, err = finish(p)
    assert (rc, err) == (code, "")
    followed = [first] + [json.loads(line) for line in rest.splitlines()]
    recorded = [json.loads(line) for line in run_wf(db, "history", "f1", "-o", "jsonl").stdout.splitlines()]
    assert followed == recorded  # every event once, in order
    assert followed[-1]["event_type"] == ("ExecutionCompleted" if ending == "completed" else "ExecutionTerminated")


def test_history_follow_waits_for_a_pending_instance_and_exits_3_when_it_fails(db, backend, worker_proc):
    backend.start("failing", instance_id="f2", input='"kaput"')
    backend.close()
    p = popen(db, "history", "f2", "--follow", "-o", "jsonl")
    time.sleep(0.3)  # no worker yet: the instance has no history, the follow waits for it
    assert p.poll() is None
    worker_proc()
    rc, out, err = finish(p)
    assert (rc, err) == (3, "")
    types = [json.loads(line)["event_type"] for line in out.splitlines()]
    assert types[0] == "ExecutionStarted" and "TaskFailed" in types and types[-1] == "ExecutionCompleted"
    assert len(types) == len(run_wf(db, "history", "f2", "-o", "jsonl").stdout.splitlines())


def test_history_follow_starts_over_when_the_instance_continues_as_new(db, backend):
    """A continue-as-new replaces the history: the follow prints the new one from its start."""
    backend.start("rounds", instance_id="cn", input="0")
    backend.close()
    worker = subprocess.Popen([WF_EXE, "worker", "--app", f"{HERE / 'live_apps.py'}:wfr"], env=wf_env(db),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        p = popen(db, "history", "cn", "-f")
        starts = []
        for n in range(3):
            event = read_events(p, 1)[0]
            assert event["event_type"] == "ExecutionStarted" and event["data"] == str(n), event
            starts.append(event)
            if n < 2:
                assert run_wf(db, "raise-event", "cn/next").returncode == 0
        rc, rest, err = finish(p)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    assert (rc, err) == (0, "")
    recorded = [json.loads(line) for line in run_wf(db, "history", "cn", "-o", "jsonl").stdout.splitlines()]
    assert [starts[-1]] + [json.loads(line) for line in rest.splitlines()] == recorded  # the last round, whole
    assert recorded[-1]["event_type"] == "ExecutionCompleted" and recorded[-1]["data"] == "2"


def test_history_follow_times_out_with_124_and_refuses_an_unknown_instance(db, backend):
    backend.start("waiter", instance_id="f3")
    backend.close()
    r = run_wf(db, "history", "f3", "-f", "--timeout", "300ms")
    assert r.returncode == 124 and "timed out after 300ms following f3 (still PENDING)" in one_error_line(r.stderr)
    r = run_wf(db, "history", "nope", "-f")
    assert r.returncode == 1 and "no workflow instance 'nope'" in one_error_line(r.stderr)


@pytest.mark.parametrize("door", ["http", "grpc"])
def test_history_follow_through_wf_serve(db, serve, door):
    url = serve.http if door == "http" else serve.grpc
    assert run_wf(db, "--url", url, "run", "waiter", "-i", f"srv-{door}").returncode == 0
    p = popen(db, "--url", url, "history", f"srv-{door}", "-f")
    assert read_events(p, 1)[0]["event_type"] == "ExecutionStarted"
    assert run_wf(db, "--url", url, "raise-event", f"srv-{door}/go").returncode == 0
    rc, rest, err = finish(p)
    assert (rc, err) == (0, ""), err
    types = ["ExecutionStarted"] + [json.loads(line)["event_type"] for line in rest.splitlines()]
    recorded = run_wf(db, "--url", url, "history", f"srv-{door}", "-o", "jsonl").stdout.splitlines()
    assert types == [json.loads(line)["event_type"] for line in recorded] and types[-1] == "ExecutionCompleted"


def test_history_follow_at_a_terminal_prints_table_rows(db, backend, worker_proc):
    backend.start("waiter", instance_id="f4")
    backend.close()
    worker_proc()
    child = spawn(db, "history", "f4", "-f", cols=100)
    expect_text(child, r"TYPE\s+NAME\s+EVENTID\s+ELAPSED\s+DETAILS\s+ExecutionStarted\s+waiter")
    assert run_wf(db, "raise-event", "f4/go", "-x", '{"note": "' + "n" * 300 + '"}').returncode == 0
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    lines = [ANSI.sub("", line) for line in child.before.replace("\r\n", "\n").splitlines() if line.strip()]
    assert lines[-2].split()[:2] == ["EventRaised", "go"] and lines[-1].startswith("ExecutionCompleted")
    assert all(len(line) <= 100 for line in lines) and lines[-1].endswith("…")  # fitted, payload cut


class ScriptedBackend:
    """A history that grows, then restarts (continue-as-new), then ends: what each poll returns."""

    def __init__(self, polls: list[tuple[str, list[HistoryEvent]]]) -> None:
        self.polls = polls
        self.i = -1

    def get(self, instance_id: str, *, fetch_payloads: bool = True) -> WorkflowState:
        self.i = min(self.i + 1, len(self.polls) - 1)
        now = datetime.now(timezone.utc)
        return WorkflowState(instance_id, "w", WorkflowStatus[self.polls[self.i][0]], now, now)

    def history(self, instance_id: str) -> list[HistoryEvent]:
        return self.polls[self.i][1]


def test_the_follower_prints_each_event_once_and_starts_over_after_continue_as_new():
    from wf.cli.live import HistoryFollower

    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def ev(kind: str, secs: int) -> HistoryEvent:
        return HistoryEvent(-1, kind, t0 + timedelta(seconds=secs))

    gen1 = [ev("ExecutionStarted", 0), ev("TimerCreated", 1), ev("TimerFired", 2)]
    gen2 = [ev("ExecutionStarted", 3), ev("TimerCreated", 4), ev("ExecutionCompleted", 5)]
    backend = ScriptedBackend([("PENDING", []), ("RUNNING", gen1[:1]), ("RUNNING", gen1[:1]), ("RUNNING", gen1),
                               ("RUNNING", gen2[:2]), ("COMPLETED", gen2)])
    follower = HistoryFollower(backend, "i", None, pause=lambda s: None)  # type: ignore[arg-type]
    batches = list(follower.batches())
    assert batches == [gen1[:1], gen1[1:], gen2[:2], gen2[2:]]
    assert follower.final is not None and follower.final.runtime_status == WorkflowStatus.COMPLETED
    assert follower.restarts == 1


# ---------------------------------------------------------------------------------- the spinner


def test_wait_at_a_terminal_shows_a_spinner_with_the_status_and_what_it_waits_for(db, backend, worker_proc):
    backend.start("waiter", instance_id="s1")
    backend.close()
    worker_proc()
    child = spawn(db, "wait", "s1")
    expect_text(child, r"s1 RUNNING \S+ · waits for event 'go', since ")
    assert run_wf(db, "raise-event", "s1/go").returncode == 0
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and re.search(r"Status\s+COMPLETED", ANSI.sub("", child.before))


def test_run_wait_at_a_terminal_shows_the_spinner_too(db, worker_proc):
    worker_proc()
    child = spawn(db, "run", "sleepy", "-x", "2", "--wait")
    expect_text(child, r"RUNNING \S+ · waits for activity 'nap', attempt 1, running on worker")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_wait_off_a_terminal_prints_no_spinner(db, backend):
    backend.start("waiter", instance_id="s2")
    backend.close()
    r = run_wf(db, "wait", "s2", "--timeout", "1200ms")  # long enough for the spinner's first redraws
    assert r.returncode == 124 and r.stdout == ""
    assert "timed out" in one_error_line(r.stderr)  # the only thing on stderr


def test_quiet_wait_at_a_terminal_prints_no_spinner(db, backend):
    backend.start("waiter", instance_id="s3")
    backend.close()
    for args in (("wait", "s3", "-q"), ("-q", "wait", "s3")):  # wait's own -q, and the global one
        child = spawn(db, *args, "--timeout", "1500ms")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 124
        lines = [ANSI.sub("", line) for line in child.before.splitlines() if line.strip()]
        assert len(lines) == 1 and re.fullmatch(r"Error: timed out after \S+ waiting for s3 \(still PENDING\); "
                                                r"'wf wait s3' waits again", lines[0]), lines


# ---------------------------------------------------------------------------------- wf serve


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    def __init__(self, db: str, log: str) -> None:
        self.proc: subprocess.Popen | None = None
        self.log = open(log, "ab")  # a file, not a pipe nobody reads: its request log cannot block it
        for _ in range(3):  # a freed port may be taken again before wf serve binds it: try others
            port, grpc_port = free_port(), free_port()
            self.proc = subprocess.Popen([WF_EXE, "--db", db, "serve", "--port", str(port), "--grpc-port",
                                          str(grpc_port), "--no-ui", "--app", APP_SPEC], env=wf_env(db),
                                         stdout=self.log, stderr=subprocess.STDOUT)
            self.http, self.grpc = f"http://127.0.0.1:{port}", f"grpc://127.0.0.1:{grpc_port}"
            if self._up():
                return
            self.stop()
            self.log = open(log, "ab")
        pytest.fail("wf serve did not come up")

    def _up(self) -> bool:
        import httpx

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc is not None and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.http}/healthz", timeout=1).status_code == 200:
                    return True
            except httpx.TransportError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 20)
        self.log.close()


@pytest.fixture
def serve(tmp_path):
    s = Serve(str(tmp_path / "serve.db"), str(tmp_path / "serve.log"))
    yield s
    s.stop()
