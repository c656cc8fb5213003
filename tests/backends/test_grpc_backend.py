"""The gRPC engine against a stand-in Dapr sidecar (a real gRPC server on a loopback port, built on
the Dapr package's stubs): message shapes, Dapr's statuses and messages, paging, concurrency."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import grpc
import pytest
from sidecar_standin import TERMINAL, Served, Sidecar, served_sidecar
from sidecar_standin import S as St

from wf.backends import open_backend
from wf.backends.grpc import GrpcBackend, parse_url
from wf.model import (
    AlreadyExistsError,
    AuthError,
    ConnectionFailedError,
    InvalidArgumentError,
    InvalidStateError,
    ListFilter,
    NotFoundError,
    UnsupportedError,
    WfError,
    WorkflowStatus,
)

TOKEN = "s3cret-token"


@pytest.fixture
def sidecar():
    with served_sidecar(TOKEN) as sc:
        yield sc


@pytest.fixture
def backend(sidecar):
    b = GrpcBackend.from_url(sidecar.url, token=TOKEN, timeout=5)
    yield b
    b.close()


def test_urls():
    assert parse_url("grpc://127.0.0.1:50001") == ("127.0.0.1:50001", False)
    assert parse_url("grpcs://dapr.example.com") == ("dapr.example.com:443", True)
    assert parse_url("grpc://sidecar") == ("sidecar:50001", False)
    assert parse_url("GRPC://[::1]:6000/") == ("[::1]:6000", False)
    for bad in ("grpc://", "grpc://h:notaport", "grpc://h:1/path", "http://h:1", "grpc://u:pw@h:1"):
        with pytest.raises(InvalidArgumentError, match="expected grpc://HOST:PORT") as info:
            parse_url(bad)
        assert "pw" not in str(info.value)


def test_open_backend_picks_grpc_for_grpc_urls(sidecar):
    b = open_backend(url=sidecar.url.replace("grpc", "GRPC", 1), token=TOKEN, timeout=3)
    assert isinstance(b, GrpcBackend) and b.timeout == 3
    b.close()


def test_start_get_and_payloads(backend, sidecar):
    iid = backend.start("approval", input='{"amount": 5}', instance_id="order-1")
    assert iid == "order-1"
    s = backend.get("order-1")
    assert (s.name, s.runtime_status, s.serialized_input) == ("approval", WorkflowStatus.RUNNING, '{"amount": 5}')
    assert backend.get("order-1", fetch_payloads=False).serialized_input is None
    assert backend.get("nobody") is None
    generated = backend.start("approval")  # no id: a uuid4 hex, as the SDK makes
    assert len(generated) == 32 and sidecar.instances[generated].input is None


def test_start_time_is_sent(backend, sidecar):
    at = datetime.now(timezone.utc) + timedelta(hours=2)
    backend.start("report", instance_id="later", start_at=at)
    assert backend.get("later").runtime_status == WorkflowStatus.PENDING


def test_if_exists_is_emulated(backend, sidecar):
    backend.start("approval", instance_id="dup", input="1")
    assert backend.start("approval", instance_id="dup", input="2") == "dup"  # return: untouched
    assert sidecar.instances["dup"].input == "1"
    with pytest.raises(AlreadyExistsError, match="already exists"):
        backend.start("approval", instance_id="dup", if_exists="error")
    with pytest.raises(InvalidStateError, match="only a finished instance can be replaced"):
        backend.start("approval", instance_id="dup", if_exists="replace")
    sidecar.finish("dup", St.ORCHESTRATION_STATUS_COMPLETED)
    backend.start("approval", instance_id="dup", input="3", if_exists="replace")
    assert sidecar.instances["dup"].input == "3" and sidecar.instances["dup"].status == St.ORCHESTRATION_STATUS_RUNNING


def test_a_duplicate_live_id_started_meanwhile(backend, sidecar, monkeypatch):
    # Another client starts the id between our look and our start: Dapr's ALREADY_EXISTS.
    monkeypatch.setattr("wf.backends.grpc.emulate_if_exists", lambda backend, iid, mode: None)
    sidecar.add("race", "approval", St.ORCHESTRATION_STATUS_RUNNING)
    assert backend.start("approval", instance_id="race") == "race"
    with pytest.raises(AlreadyExistsError):
        backend.start("approval", instance_id="race", if_exists="error")


def test_management_calls_carry_reasons_outputs_and_flags(backend, sidecar):
    backend.start("approval", instance_id="m1")
    backend.suspend("m1", "vendor outage")
    assert backend.get("m1").runtime_status == WorkflowStatus.SUSPENDED
    backend.resume("m1", "vendor back")
    backend.raise_event("m1", "other", '{"x": 1}')
    backend.terminate("m1", output='{"by": "ops"}', recursive=False)
    s = backend.get("m1")
    assert s.runtime_status == WorkflowStatus.TERMINATED and s.serialized_output == '{"by": "ops"}'
    events = backend.history("m1")
    assert [e.event_type for e in events] == ["ExecutionStarted", "ExecutionSuspended", "ExecutionResumed",
                                              "EventRaised", "ExecutionTerminated", "ExecutionCompleted"]
    assert events[1].extra == {"reason": "vendor outage"} and events[2].extra == {"reason": "vendor back"}
    assert events[3].data == '{"x": 1}' and events[4].extra == {"recursive": False}
    assert backend.purge("m1") == 1
    assert backend.get("m1") is None


def test_dapr_unknown_instance_answers_become_not_found(backend):
    for call in (lambda: backend.raise_event("ghost", "e"), lambda: backend.suspend("ghost"),
                 lambda: backend.resume("ghost"), lambda: backend.terminate("ghost"),
                 lambda: backend.purge("ghost"), lambda: backend.history("ghost"),
                 lambda: backend.rerun("ghost", 0)):
        with pytest.raises(NotFoundError, match="no workflow instance 'ghost' in app 'default'"):
            call()


def test_purge_of_a_live_instance_and_force(backend, sidecar):
    sidecar.add("live", "job", St.ORCHESTRATION_STATUS_RUNNING)
    with pytest.raises(InvalidStateError, match="'live' has not finished .*add --force"):
        backend.purge("live")
    assert backend.purge("live", force=True) == 1


def test_token_missing_or_wrong_says_check_the_token(sidecar):
    for token in (None, "wrong"):
        b = GrpcBackend.from_url(sidecar.url, token=token, timeout=5)
        with pytest.raises(AuthError, match="check the token") as info:
            b.get("x1")
        assert "wrong" not in str(info.value)
        b.close()


def test_unreachable_engine_and_read_retries(monkeypatch):
    sleeps = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    b = GrpcBackend.from_url("grpc://127.0.0.1:9", timeout=2)  # nothing listens on port 9
    with pytest.raises(ConnectionFailedError, match=r"cannot reach the engine at grpc://127.0.0.1:9 .*--url"):
        b.get("x1")
    assert len(sleeps) == 2  # a read: three attempts
    sleeps.clear()
    with pytest.raises(ConnectionFailedError):
        b.suspend("x1")
    assert sleeps == []  # a write: sent once
    b.close()


def test_deadline_from_the_timeout(sidecar):
    sidecar.get_delay = 1.0
    b = GrpcBackend.from_url(sidecar.url, token=TOKEN, timeout=0.2)
    with pytest.raises(ConnectionFailedError, match=r"did not answer within 0.2s \(set WF_TIMEOUT"):
        b.get("x1")
    b.close()


def test_timeout_setting_reaches_the_deadline(sidecar, monkeypatch):
    monkeypatch.setenv("WF_TIMEOUT", "0.25")
    b = open_backend(url=sidecar.url, token=TOKEN)
    assert b.timeout == 0.25
    b.close()


def test_list_pages_over_thousands_of_ids(backend, sidecar):
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(2500):
        sidecar.add(f"i{i:05d}", "even" if i % 2 == 0 else "odd",
                    St.ORCHESTRATION_STATUS_COMPLETED if i % 3 else St.ORCHESTRATION_STATUS_RUNNING,
                    created=base + timedelta(seconds=i))
    ids = [s.instance_id for s in backend.list()]
    assert ids == sorted(sidecar.instances) and len(ids) == 2500  # every page, in the engine's order
    assert sidecar.calls["ListInstanceIDs"] == 3 and set(sidecar.page_sizes) == {1000}
    flt = ListFilter(statuses=(WorkflowStatus.RUNNING,), name="even",
                     created_after=base + timedelta(seconds=1000))
    got = list(backend.list(flt))
    want = [f"i{i:05d}" for i in range(1000, 2500) if i % 2 == 0 and i % 3 == 0]
    assert [s.instance_id for s in got] == want
    assert all(s.serialized_input is None for s in got)


def test_list_limit_stops_early(backend, sidecar):
    for i in range(3000):
        sidecar.add(f"i{i:05d}")
    sidecar.calls.clear()
    got = list(backend.list(limit=10))
    assert [s.instance_id for s in got] == [f"i{i:05d}" for i in range(10)]
    assert sidecar.calls["ListInstanceIDs"] == 1 and sidecar.calls["GetInstance"] == 10
    assert sidecar.page_sizes[-1] == 10  # a limit without filters asks for no more ids than it shows


def test_list_fetches_states_concurrently_with_a_bound(backend, sidecar):
    for i in range(200):
        sidecar.add(f"i{i:05d}")
    sidecar.get_delay = 0.02
    t0 = time.monotonic()
    assert len(list(backend.list())) == 200
    elapsed = time.monotonic() - t0
    assert 2 <= sidecar.max_in_flight <= 32
    assert elapsed < 200 * 0.02  # not one at a time


def test_list_streams_before_the_end(backend, sidecar):
    for i in range(1500):
        sidecar.add(f"i{i:05d}")
    it = backend.list()
    first = next(it)
    assert first.instance_id == "i00000" and sidecar.calls["ListInstanceIDs"] == 1  # the second page not yet read
    it.close()


def test_one_unreadable_instance_does_not_hide_the_others(backend, sidecar):
    for i in range(50):
        sidecar.add(f"i{i:05d}")
    sidecar.failing_ids = {"i00007", "i00030"}
    seen = []
    with pytest.raises(WfError, match=r"could not read 2 instances \(first: i00007: .*INTERNAL.*state store timeout"):
        for s in backend.list():
            seen.append(s.instance_id)
    assert len(seen) == 48 and "i00007" not in seen


def test_an_instance_purged_while_listing_is_skipped(backend, sidecar):
    for i in range(5):
        sidecar.add(f"i{i}")
    it = backend.list()
    assert next(it).instance_id == "i0"
    with sidecar.lock:
        del sidecar.instances["i4"]  # gone after its id was listed (its GetInstance may already be in flight)
    rest = [s.instance_id for s in it]
    assert rest in (["i1", "i2", "i3"], ["i1", "i2", "i3", "i4"])


def test_an_older_sidecar_without_list_says_so_in_one_line():
    sc = Sidecar(older=True)
    served = Served(sc)
    b = GrpcBackend.from_url(served.url)
    try:
        sc.add("a1")
        with pytest.raises(UnsupportedError, match="older than 1.17. Upgrade Dapr to 1.17 or later") as info:
            list(b.list())
        assert "\n" not in str(info.value)
        with pytest.raises(UnsupportedError, match="does not offer history over gRPC"):
            b.history("a1")
        assert b.get("a1").runtime_status == WorkflowStatus.COMPLETED  # nothing else breaks
        b.terminate("a1")
    finally:
        b.close()
        served.stop()


def test_bulk_purge_counts_purged_skipped_failed(backend, sidecar):
    old = datetime.now(timezone.utc) - timedelta(days=40)
    for i in range(120):
        sidecar.add(f"done{i:03d}", "job", St.ORCHESTRATION_STATUS_COMPLETED, updated=old)
    for i in range(10):
        sidecar.add(f"fail{i:03d}", "job", St.ORCHESTRATION_STATUS_FAILED, updated=old)
    sidecar.add("recent", "job", St.ORCHESTRATION_STATUS_COMPLETED)
    sidecar.add("live", "job", St.ORCHESTRATION_STATUS_RUNNING, updated=old)
    cutoff = datetime.now(timezone.utc) - timedelta(days=30)
    flt = ListFilter(completed_before=cutoff)
    assert backend.count(flt) == 130
    assert backend.purge_many(flt, dry_run=True) == 130 and len(sidecar.instances) == 132
    seen = []
    assert backend.purge_many(ListFilter(statuses=(WorkflowStatus.FAILED,), completed_before=cutoff),
                              progress=seen.append) == 10
    assert sum(seen) == 10 and backend.last_outcome.failed == 0
    n = backend.purge_many(flt)
    assert n == 120 and set(sidecar.instances) == {"recent", "live"}
    assert backend.purge_many(ListFilter(), force=True) == 2 and not sidecar.instances


def test_bulk_purge_keeps_going_past_failures(backend, sidecar):
    for i in range(40):
        sidecar.add(f"d{i:02d}")
    sidecar.failing_purges = {
        "d05": (grpc.StatusCode.INTERNAL, "state store write failed"),
        "d06": (grpc.StatusCode.INTERNAL, "state store write failed"),
        # purged with its parent meanwhile: Dapr's words for a missing instance
        "d07": (grpc.StatusCode.UNKNOWN, "failed to purge workflow state: failed to fetch workflow state: "
                "no such instance exists"),
    }
    assert backend.purge_many(ListFilter()) == 37
    out = backend.last_outcome
    assert (out.done, out.skipped, out.failed) == (37, 1, 2)
    assert out.reasons[0].startswith("d05: ") and "state store write failed" in out.reasons[0]


def test_rerun_over_grpc(backend, sidecar):
    inst = sidecar.add("src", "job", St.ORCHESTRATION_STATUS_COMPLETED)
    from sidecar_standin import hpb, now_ts

    inst.history.append(hpb.HistoryEvent(eventId=0, timestamp=now_ts(), taskScheduled=hpb.TaskScheduledEvent(name="a")))
    inst.history.append(hpb.HistoryEvent(eventId=1, timestamp=now_ts(), timerCreated=hpb.TimerCreatedEvent()))
    assert backend.rerun("src", 0, new_instance_id="copy") == "copy"
    assert [e.event_type for e in backend.history("copy")] == ["ExecutionStarted", "TaskScheduled"]
    with pytest.raises(AlreadyExistsError, match="'copy' has already been created"):
        backend.rerun("src", 0, new_instance_id="copy")
    with pytest.raises(NotFoundError, match="does not have history event with ID '9'"):
        backend.rerun("src", 9)
    with pytest.raises(InvalidStateError, match="cannot write input to timer event '1'"):
        backend.rerun("src", 1, input='"x"', overwrite_input=True)
    with pytest.raises(InvalidArgumentError, match="must differ"):
        backend.rerun("src", 0, new_instance_id="src")
    with pytest.raises(InvalidArgumentError, match="invalid event id -1"):
        backend.rerun("src", -1)
    sidecar.add("busy", "job", St.ORCHESTRATION_STATUS_RUNNING)
    with pytest.raises(InvalidStateError, match="'busy' has not finished .*wait for it to finish"):
        backend.rerun("busy", 0)


def test_wait_polls_until_finished(backend, sidecar):
    sidecar.add("w1", "job", St.ORCHESTRATION_STATUS_RUNNING)
    with pytest.raises(TimeoutError):
        backend.wait("w1", timeout=0.2)
    sidecar.finish("w1", St.ORCHESTRATION_STATUS_FAILED)
    assert backend.wait("w1", timeout=5).runtime_status == WorkflowStatus.FAILED
    with pytest.raises(NotFoundError):
        backend.wait("nobody", timeout=1)


def test_tls_uses_the_system_trust_store(tmp_path, monkeypatch):
    from wf.backends import grpc as gb

    pem = tmp_path / "ca.pem"
    pem.write_bytes(b"-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    assert gb.system_root_certificates() == pem.read_bytes()
    b = GrpcBackend.from_url("grpcs://127.0.0.1:9", timeout=1)
    assert b.tls and b.display_url == "grpcs://127.0.0.1:9"
    b.close()


def test_terminal_set_matches_dapr():
    assert {WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.TERMINATED, WorkflowStatus.CANCELED} == {
        __import__("wf.protocol.state", fromlist=["x"]).status_from_proto(s) for s in TERMINAL}


def test_repr_hides_the_token(sidecar):
    b = GrpcBackend.from_url(sidecar.url, token=TOKEN)
    assert TOKEN not in repr(b) and json.dumps(repr(b))


def test_bulk_purge_takes_its_selection_first(backend, sidecar):
    # The stand-in pages by offset, as some state stores do: purging while paging would skip ids.
    for i in range(2600):
        sidecar.add(f"p{i:05d}")
    assert backend.count(ListFilter()) == 2600
    calls = sidecar.calls["ListInstanceIDs"]
    sidecar.add("created-after-the-count")  # after the confirmation's count: not part of the selection
    assert backend.purge_many(ListFilter()) == 2600
    assert sidecar.calls["ListInstanceIDs"] == calls  # the count's selection was reused
    assert list(sidecar.instances) == ["created-after-the-count"]


def test_purge_of_every_finished_instance_reads_no_states(backend, sidecar):
    for i in range(300):
        sidecar.add(f"f{i:03d}")
    sidecar.add("live-1", "job", St.ORCHESTRATION_STATUS_RUNNING)
    sidecar.calls.clear()
    assert backend.purge_many(ListFilter()) == 300
    assert sidecar.calls["GetInstance"] == 0 and sidecar.calls["PurgeInstances"] == 301
    out = backend.last_outcome
    assert (out.done, out.skipped, out.failed) == (300, 1, 0)  # the live one: Dapr refuses, wf skips it
    assert list(sidecar.instances) == ["live-1"]
