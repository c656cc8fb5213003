"""HttpBackend against a Dapr sidecar mocked with respx: the exact request and response shapes of
Dapr's workflow HTTP API (v1.0 and v1.0-beta1), its errors, and what the backend does with them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import respx

import wf
from wf.backends.http import HttpBackend
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

pytestmark = pytest.mark.timeout(30)

URL = "http://dapr.test:3500"
TOKEN = "sidecar-Token-91b"
WF = f"{URL}/v1.0/workflows/dapr"
BETA = f"{URL}/v1.0-beta1/workflows/dapr"

# GET /v1.0/metadata of a Dapr 1.14 sidecar: no "wf" section, so no extensions.
DAPR_METADATA = {
    "id": "orders",
    "runtimeVersion": "1.14.4",
    "enabledFeatures": [],
    "actors": [{"type": "dapr.internal.default.orders.workflow", "count": 1},
               {"type": "dapr.internal.default.orders.activity", "count": 0}],
    "components": [{"name": "statestore", "type": "state.redis", "version": "v1",
                    "capabilities": ["ETAG", "TRANSACTIONAL", "ACTOR"]}],
    "extended": {"appCommand": "python app.py", "appPID": "4242", "cliPID": "4211", "daprRuntimeVersion": "1.14.4"},
    "subscriptions": [],
    "httpEndpoints": [],
    "appConnectionProperties": {"port": 5000, "protocol": "http", "channelAddress": "127.0.0.1",
                                "health": {"healthProbeInterval": "5s", "healthProbeTimeout": "500ms",
                                           "healthThreshold": 3}},
    "workflows": {"connectedWorkers": 1},
}


def dapr_state(iid: str = "order-1", status: str = "RUNNING", **props: str) -> dict:
    """A GetWorkflowResponse as Dapr's sidecar writes it (protojson: nanosecond timestamps)."""
    properties = {"dapr.workflow.input": '{"id":"order-1","amount":1500}', "dapr.workflow.custom_status": ""}
    properties.update(props)
    return {
        "instanceID": iid,
        "workflowName": "approval_workflow",
        "createdAt": "2024-05-01T12:00:00.123456789Z",
        "lastUpdatedAt": "2024-05-01T12:00:03.5Z",
        "runtimeStatus": status,
        "properties": properties,
    }


def not_found(iid: str) -> httpx.Response:
    return httpx.Response(404, json={
        "errorCode": "ERR_INSTANCE_ID_NOT_FOUND",
        "message": f"unable to find workflow with the provided instance ID: {iid}",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "domain": "dapr.io",
                     "metadata": None, "reason": "DAPR_WORKFLOW_INSTANCE_ID_NOT_FOUND"}],
    })


@pytest.fixture
def sidecar():
    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{URL}/v1.0/metadata").respond(200, json=DAPR_METADATA)
        yield mock


@pytest.fixture
def backend():
    b = HttpBackend(URL, token=TOKEN, app_id="default", timeout=5)
    yield b
    b.close()


# ------------------------------------------------------------------------------------ start


def test_start_posts_the_raw_input_and_returns_the_instance_id(sidecar, backend):
    route = sidecar.post(f"{WF}/approval_workflow/start").respond(202, json={"instanceID": "abc123"})
    iid = backend.start("approval_workflow", input='{"amount": 1500}')
    assert iid == "abc123"
    req = route.calls.last.request
    assert req.content == b'{"amount": 1500}'
    assert req.headers["dapr-api-token"] == TOKEN
    assert "instanceID" not in req.url.params


def test_start_with_an_id_that_does_not_exist_looks_first_then_starts(sidecar, backend):
    sidecar.get(f"{WF}/order-1").mock(return_value=not_found("order-1"))
    route = sidecar.post(f"{WF}/approval_workflow/start").respond(202, json={"instanceID": "order-1"})
    assert backend.start("approval_workflow", input="1", instance_id="order-1") == "order-1"
    assert route.calls.last.request.url.params["instanceID"] == "order-1"
    assert route.calls.last.request.content == b"1"


def test_start_if_exists_is_emulated_against_a_sidecar(sidecar, backend):
    sidecar.get(f"{WF}/order-1").respond(200, json=dapr_state(status="RUNNING"))
    start = sidecar.post(f"{WF}/approval_workflow/start").respond(202, json={"instanceID": "order-1"})
    assert backend.start("approval_workflow", instance_id="order-1") == "order-1"  # return: nothing started
    assert not start.called
    with pytest.raises(AlreadyExistsError, match="already exists"):
        backend.start("approval_workflow", instance_id="order-1", if_exists="error")
    with pytest.raises(InvalidStateError, match="terminate it first"):
        backend.start("approval_workflow", instance_id="order-1", if_exists="replace")
    assert not start.called


def test_start_replace_purges_a_finished_instance_first(sidecar, backend):
    sidecar.get(f"{WF}/order-1").respond(200, json=dapr_state(status="COMPLETED"))
    purge = sidecar.post(f"{WF}/order-1/purge").respond(202)
    start = sidecar.post(f"{WF}/approval_workflow/start").respond(202, json={"instanceID": "order-1"})
    assert backend.start("approval_workflow", instance_id="order-1", if_exists="replace") == "order-1"
    assert purge.call_count == 1 and start.call_count == 1


def test_start_refuses_what_dapr_http_api_cannot_carry(sidecar, backend):
    start = sidecar.post(f"{WF}/x/start").respond(202, json={"instanceID": "x"})
    with pytest.raises(UnsupportedError, match="does not offer a start time"):
        backend.start("x", start_at=datetime.now(timezone.utc) + timedelta(hours=1))
    with pytest.raises(InvalidArgumentError):
        backend.start("x", instance_id="bad id")
    with pytest.raises(InvalidArgumentError):
        backend.start("a/b")
    assert not start.called


def test_start_already_exists_500_of_dapr_maps_to_already_exists(sidecar):
    b = HttpBackend(URL, timeout=5)
    sidecar.get(f"{WF}/o1").mock(return_value=not_found("o1"))
    sidecar.post(f"{WF}/w/start").respond(500, json={
        "errorCode": "ERR_START_WORKFLOW",
        "message": "error starting workflow 'w': an active workflow with ID 'o1' already exists"})
    with pytest.raises(AlreadyExistsError, match="already exists"):
        b.start("w", instance_id="o1")


# ------------------------------------------------------------------------------------ get


def test_get_reads_dapr_state_with_json_text_properties(sidecar, backend):
    sidecar.get(f"{WF}/order-1").respond(200, json=dapr_state(
        status="COMPLETED", **{"dapr.workflow.output": '{"status":"completed"}',
                               "dapr.workflow.custom_status": '"approved"'}))
    state = backend.get("order-1")
    assert state.instance_id == "order-1" and state.name == "approval_workflow"
    assert state.runtime_status == WorkflowStatus.COMPLETED
    assert state.created_at == datetime(2024, 5, 1, 12, 0, 0, 123456)  # naive UTC, as Dapr's states
    assert state.last_updated_at == datetime(2024, 5, 1, 12, 0, 3, 500000)
    assert json.loads(state.serialized_input) == {"id": "order-1", "amount": 1500}
    assert json.loads(state.serialized_output) == {"status": "completed"}
    assert state.serialized_custom_status == '"approved"'
    assert state.failure_details is None


def test_get_empty_properties_mean_none_and_failures_are_read(sidecar, backend):
    sidecar.get(f"{WF}/f1").respond(200, json=dapr_state("f1", "FAILED", **{
        "dapr.workflow.input": "",
        "dapr.workflow.failure.error_type": "ValueError",
        "dapr.workflow.failure.error_message": "amount must be positive"}))
    state = backend.get("f1")
    assert state.serialized_input is None and state.serialized_custom_status is None
    assert state.runtime_status == WorkflowStatus.FAILED
    assert state.failure_details.error_type == "ValueError"
    assert state.failure_details.message == "amount must be positive"
    with pytest.raises(wf.WorkflowFailedError, match="amount must be positive"):
        state.raise_if_failed()


def test_get_without_payloads_drops_them(sidecar, backend):
    sidecar.get(f"{WF}/order-1").respond(200, json=dapr_state(**{"dapr.workflow.output": "1"}))
    state = backend.get("order-1", fetch_payloads=False)
    assert state.serialized_input is None and state.serialized_output is None


def test_get_of_a_missing_instance_is_none(sidecar, backend):
    sidecar.get(f"{WF}/ghost").mock(return_value=not_found("ghost"))
    assert backend.get("ghost") is None


def test_get_of_a_missing_instance_on_an_old_sidecar_is_none_too(sidecar, backend):
    """Dapr 1.10/1.11 answered a missing instance with a 500 ERR_GET_WORKFLOW and words."""
    sidecar.get(f"{WF}/ghost").respond(500, json={
        "errorCode": "ERR_GET_WORKFLOW",
        "message": "error while getting workflow info on instance 'ghost': no such instance exists"})
    assert backend.get("ghost") is None


def test_unknown_runtime_status_is_a_clear_error(sidecar, backend):
    sidecar.get(f"{WF}/odd").respond(200, json=dapr_state("odd", "EXPLODED"))
    with pytest.raises(WfError, match="unknown runtime status 'EXPLODED'"):
        backend.get("odd")


# ------------------------------------------------------------------------------------ management


def test_raise_event_posts_the_data_to_the_event_route(sidecar, backend):
    route = sidecar.post(f"{WF}/order-1/raiseEvent/approval_decision").respond(202)
    backend.raise_event("order-1", "approval_decision", '{"approved": true}')
    assert route.calls.last.request.content == b'{"approved": true}'


def test_raise_event_to_a_missing_instance_is_not_found(sidecar, backend):
    sidecar.post(f"{WF}/ghost/raiseEvent/go").mock(return_value=not_found("ghost"))
    with pytest.raises(NotFoundError, match="no workflow instance 'ghost'"):
        backend.raise_event("ghost", "go", None)


@pytest.mark.parametrize("op,route", [("suspend", "pause"), ("resume", "resume"), ("terminate", "terminate")])
def test_pause_resume_terminate_post_to_their_routes(sidecar, backend, op, route):
    r = sidecar.post(f"{WF}/order-1/{route}").respond(202, content=b"{}")
    getattr(backend, op)("order-1")
    assert r.call_count == 1
    assert r.calls.last.request.content == b""  # Dapr reads a body as its own request message


def test_purge_returns_one_against_a_sidecar(sidecar, backend):
    r = sidecar.post(f"{WF}/order-1/purge").respond(202)
    assert backend.purge("order-1") == 1
    assert r.call_count == 1


def test_terminate_output_and_non_recursive_are_refused_against_a_sidecar(sidecar, backend):
    r = sidecar.post(f"{WF}/order-1/terminate").respond(202)
    with pytest.raises(UnsupportedError, match="terminate output"):
        backend.terminate("order-1", output='"bye"')
    with pytest.raises(UnsupportedError, match="non-recursive"):
        backend.terminate("order-1", recursive=False)
    assert not r.called


def test_a_management_call_in_the_wrong_state_shows_the_engine_code_and_message(sidecar, backend):
    sidecar.post(f"{WF}/done/pause").respond(500, json={
        "errorCode": "ERR_PAUSE_WORKFLOW",
        "message": "error pausing workflow done: cannot suspend a workflow in the COMPLETED state"})
    with pytest.raises(WfError) as info:
        backend.suspend("done")
    assert "ERR_PAUSE_WORKFLOW" in str(info.value) and "COMPLETED state" in str(info.value)
    assert info.value.code == "ERR_PAUSE_WORKFLOW" and info.value.exit_code == 1


# ------------------------------------------------------------------------------------ versions


def test_falls_back_to_v1_beta1_when_v1_has_no_route(sidecar, backend):
    v1 = sidecar.get(f"{WF}/order-1").respond(404, text="404 page not found")
    beta = sidecar.get(f"{BETA}/order-1").respond(200, json=dapr_state())
    beta_pause = sidecar.post(f"{BETA}/order-1/pause").respond(202)
    assert backend.get("order-1").runtime_status == WorkflowStatus.RUNNING
    backend.suspend("order-1")  # remembered: straight to beta1
    assert v1.call_count == 1 and beta.call_count == 1 and beta_pause.call_count == 1


def test_an_instance_404_does_not_fall_back(sidecar, backend):
    sidecar.post(f"{WF}/ghost/resume").mock(return_value=not_found("ghost"))
    beta = sidecar.post(f"{BETA}/ghost/resume").respond(202)
    with pytest.raises(NotFoundError):
        backend.resume("ghost")
    assert not beta.called


def test_no_workflow_api_at_all_is_a_clear_error(sidecar, backend):
    sidecar.get(f"{WF}/x").respond(404, text="404 page not found")
    sidecar.get(f"{BETA}/x").respond(404, text="404 page not found")
    with pytest.raises(UnsupportedError, match="no workflow HTTP API"):
        backend.get("x")


# ------------------------------------------------------------------------------------ extensions


@pytest.mark.parametrize("call,what", [
    (lambda b: list(b.list()), "listing"),
    (lambda b: b.history("order-1"), "history"),
    (lambda b: b.purge_many(ListFilter()), "bulk purge"),
    (lambda b: b.count(ListFilter()), "bulk purge"),
])
def test_extensions_are_refused_against_a_sidecar(sidecar, backend, call, what):
    with pytest.raises(UnsupportedError) as info:
        call(backend)
    assert f"the engine's HTTP API at {URL} does not offer {what}" in str(info.value)
    assert info.value.exit_code == 1
    assert backend.capabilities().engine == "dapr" and not backend.capabilities().list


def test_metadata_is_asked_once(sidecar, backend):
    for _ in range(3):
        with pytest.raises(UnsupportedError):
            backend.history("x")
    assert sidecar.routes[0].call_count == 1


# ------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_say_to_check_the_token_and_never_show_it(sidecar, backend, status):
    sidecar.get(f"{WF}/order-1").respond(status, text="invalid api token")
    with pytest.raises(AuthError) as info:
        backend.get("order-1")
    msg = str(info.value)
    assert "check the API token" in msg and TOKEN not in msg and URL in msg
    assert info.value.exit_code == 1
    assert TOKEN not in repr(backend)


def test_connection_refused_names_the_url_and_retries_reads_only(sidecar, monkeypatch):
    monkeypatch.setattr("wf.backends.http.time.sleep", lambda s: None)
    b = HttpBackend("http://user:pw@dapr.test:3500", token=TOKEN, timeout=5)
    get = sidecar.get(f"{WF}/order-1").mock(side_effect=httpx.ConnectError("Connection refused"))
    pause = sidecar.post(f"{WF}/order-1/pause").mock(side_effect=httpx.ConnectError("Connection refused"))
    with pytest.raises(ConnectionFailedError) as info:
        b.get("order-1")
    assert "cannot reach the engine at http://dapr.test:3500" in str(info.value)
    assert "pw" not in str(info.value) and TOKEN not in str(info.value)
    assert get.call_count == 3
    with pytest.raises(ConnectionFailedError):
        b.suspend("order-1")
    assert pause.call_count == 1


def test_timeouts_name_the_url_and_a_write_may_have_applied(sidecar, backend, monkeypatch):
    monkeypatch.setattr("wf.backends.http.time.sleep", lambda s: None)
    sidecar.get(f"{WF}/slow").mock(side_effect=httpx.ReadTimeout("timed out"))
    sidecar.post(f"{WF}/slow/terminate").mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(ConnectionFailedError, match=f"the engine at {URL} did not answer within 5s"):
        backend.get("slow")
    with pytest.raises(ConnectionFailedError, match="may or may not have been applied"):
        backend.terminate("slow")


def test_a_read_is_retried_on_503_then_succeeds(sidecar, backend, monkeypatch):
    monkeypatch.setattr("wf.backends.http.time.sleep", lambda s: None)
    route = sidecar.get(f"{WF}/order-1").mock(side_effect=[
        httpx.Response(503, text="unavailable"), httpx.Response(200, json=dapr_state())])
    assert backend.get("order-1").runtime_status == WorkflowStatus.RUNNING
    assert route.call_count == 2


def test_a_write_is_not_retried_on_503(sidecar, backend):
    route = sidecar.post(f"{WF}/order-1/resume").respond(503, json={"errorCode": "ERR_RESUME_WORKFLOW",
                                                                    "message": "backend busy"})
    with pytest.raises(WfError, match="503"):
        backend.resume("order-1")
    assert route.call_count == 1


def test_a_response_that_is_not_json_is_a_clear_error(sidecar, backend):
    sidecar.get(f"{WF}/order-1").respond(200, content=b"<html>\x00not json")
    with pytest.raises(WfError, match="not JSON"):
        backend.get("order-1")


def test_bad_urls_and_timeouts_are_usage_errors():
    with pytest.raises(InvalidArgumentError, match="invalid URL"):
        HttpBackend("localhost:3500")
    with pytest.raises(InvalidArgumentError, match="invalid timeout"):
        HttpBackend(URL, timeout=0)


# ------------------------------------------------------------------------------------ wait


def test_wait_polls_until_the_instance_finishes(sidecar, backend, monkeypatch):
    sleeps: list[float] = []
    monkeypatch.setattr("wf.backends.http.time.sleep", sleeps.append)
    sidecar.get(f"{WF}/order-1").mock(side_effect=[
        httpx.Response(200, json=dapr_state(status="PENDING")),
        httpx.Response(200, json=dapr_state(status="RUNNING")),
        httpx.Response(200, json=dapr_state(status="RUNNING")),
        httpx.Response(200, json=dapr_state(status="COMPLETED", **{"dapr.workflow.output": "42"})),
    ])
    state = backend.wait("order-1", timeout=30)
    assert state.serialized_output == "42"
    assert len(sleeps) == 3 and sleeps[0] == 0.05 and sleeps[1] > sleeps[0] and max(sleeps) <= 1.0


def test_wait_for_start_and_timeout_and_not_found(sidecar, backend):
    sidecar.get(f"{WF}/order-1").respond(200, json=dapr_state(status="RUNNING"))
    assert backend.wait("order-1", until="start", timeout=5).runtime_status == WorkflowStatus.RUNNING
    with pytest.raises(TimeoutError, match="RUNNING"):
        backend.wait("order-1", timeout=0.2)
    sidecar.get(f"{WF}/ghost").mock(return_value=not_found("ghost"))
    with pytest.raises(NotFoundError):
        backend.wait("ghost", timeout=1)


# ------------------------------------------------------------------------------------ wf serve's extensions


WF_METADATA = {
    "id": "default", "runtimeVersion": "wf-0.1.0", "enabledFeatures": [],
    "wf": {"engine": "wf", "version": "0.1.0", "appID": "default",
           "extensions": ["list", "history", "bulkPurge", "startTime", "ifExists", "terminateOutput",
                          "terminateRecursive", "appID", "fetchPayloads"]},
}


@pytest.fixture
def wfserve():
    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{URL}/v1.0/metadata").respond(200, json=WF_METADATA)
        yield mock


def test_list_follows_continuation_tokens_and_sends_filters(wfserve, monkeypatch):
    monkeypatch.setattr("wf.backends.http.LIST_PAGE", 2)
    b = HttpBackend(URL, app_id="billing", timeout=5)
    pages = [
        httpx.Response(200, json={"instances": [dapr_state("a"), dapr_state("b")], "continuationToken": "t1"}),
        httpx.Response(200, json={"instances": [dapr_state("c")], "continuationToken": None}),
    ]
    route = wfserve.get(WF).mock(side_effect=pages)
    flt = ListFilter(statuses=(WorkflowStatus.RUNNING, WorkflowStatus.FAILED), name="approval_workflow",
                     created_after=datetime(2024, 1, 1, tzinfo=timezone.utc))
    ids = [s.instance_id for s in b.list(flt)]
    assert ids == ["a", "b", "c"]
    first, second = (c.request.url.params for c in route.calls)
    assert first.get_list("status") == ["RUNNING", "FAILED"] and first["name"] == "approval_workflow"
    assert first["createdAfter"] == "2024-01-01T00:00:00.000Z" and first["appID"] == "billing"
    assert "continuationToken" not in first and second["continuationToken"] == "t1"


def test_list_stops_at_the_limit(wfserve):
    b = HttpBackend(URL, timeout=5)
    route = wfserve.get(WF).respond(200, json={"instances": [dapr_state("a"), dapr_state("b")],
                                               "continuationToken": "more"})
    assert [s.instance_id for s in b.list(None, limit=2)] == ["a", "b"]
    assert route.call_count == 1 and route.calls.last.request.url.params["limit"] == "2"


def test_history_and_bulk_purge_and_extras(wfserve):
    b = HttpBackend(URL, timeout=5)
    wfserve.get(f"{WF}/order-1/history").respond(200, json={"instanceID": "order-1", "events": [
        {"event_id": -1, "event_type": "ExecutionStarted", "timestamp": "2024-05-01T12:00:00.000Z",
         "name": "approval_workflow", "task_scheduled_id": None, "data": "1", "failure_details": None},
        {"event_id": -1, "event_type": "TaskFailed", "timestamp": "2024-05-01T12:00:01.000Z", "name": "pay",
         "task_scheduled_id": 0, "data": None,
         "failure_details": {"message": "boom", "error_type": "ValueError", "stack_trace": None}},
    ]})
    events = b.history("order-1")
    assert [e.event_type for e in events] == ["ExecutionStarted", "TaskFailed"]
    assert events[1].task_scheduled_id == 0 and events[1].failure_details.message == "boom"

    purge = wfserve.post(f"{WF}/purge").mock(side_effect=[
        httpx.Response(200, json={"dryRun": True, "matchingInstanceCount": 7}),
        httpx.Response(200, json={"deletedInstanceCount": 7}),
    ])
    cutoff = datetime(2024, 5, 1, tzinfo=timezone.utc)
    flt = ListFilter(statuses=(WorkflowStatus.FAILED,), completed_before=cutoff)
    assert b.count(flt) == 7
    seen: list[int] = []
    assert b.purge_many(flt, progress=seen.append) == 7 and seen == [7]
    bodies = [json.loads(c.request.content) for c in purge.calls]
    assert bodies[0] == {"status": ["FAILED"], "completedBefore": "2024-05-01T00:00:00.000Z", "force": False,
                         "dryRun": True}
    assert bodies[1]["dryRun"] is False

    term = wfserve.post(f"{WF}/order-1/terminate").respond(202)
    b.terminate("order-1", output='"bye"', recursive=False)
    assert term.calls.last.request.content == b'"bye"'
    assert term.calls.last.request.url.params["recursive"] == "false"

    start = wfserve.post(f"{WF}/w/start").respond(202, json={"instanceID": "s1"})
    b.start("w", instance_id="s1", if_exists="replace", start_at=datetime(2030, 1, 1, tzinfo=timezone.utc))
    params = start.calls.last.request.url.params
    assert params["ifExists"] == "replace" and params["startTime"] == "2030-01-01T00:00:00.000Z"
    assert b.capabilities().engine == "wf-serve" and b.capabilities().list


def test_workflow_client_over_a_mocked_sidecar(sidecar):
    sidecar.get(f"{WF}/order-9").mock(side_effect=[not_found("order-9"),
                                                   httpx.Response(200, json=dapr_state("order-9"))])
    start = sidecar.post(f"{WF}/approval_workflow/start").respond(202, json={"instanceID": "order-9"})
    event = sidecar.post(f"{WF}/order-9/raiseEvent/approval_decision").respond(202)
    with wf.WorkflowClient(url=URL, token=TOKEN) as client:
        iid = client.schedule_new_workflow("approval_workflow", input={"amount": 1500}, instance_id="order-9")
        assert iid == "order-9"
        assert json.loads(start.calls.last.request.content) == {"amount": 1500}
        assert client.get_workflow_state("order-9").runtime_status == WorkflowStatus.RUNNING
        client.raise_workflow_event("order-9", "approval_decision", data={"approved": True})
        assert json.loads(event.calls.last.request.content) == {"approved": True}
        with pytest.raises(UnsupportedError, match="does not offer listing"):
            list(client.list_workflows())
