"""Payloads through the engine in Dapr's encoding: autoobjects read as attributes, models rebuilt
from annotations, Dapr's JSON text, a value that is not JSON failing only its own instance."""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from types import SimpleNamespace

from pydantic import BaseModel

import wf
from wf_testing import completed_output


@dataclass
class Order:
    cost: float
    product: str


Job = namedtuple("Job", "job_id healthy")


class Request(BaseModel):
    order_id: str
    amount: float


class Verdict(BaseModel):
    order_id: str
    approved: bool


def price(ctx, order: Order):
    return {"seen": type(order).__name__, "total": order.cost * 2}


def judge(ctx, req: Request) -> Verdict:
    assert isinstance(req, Request)
    return Verdict(order_id=req.order_id, approved=req.amount <= 100)


def as_job(ctx, job):
    return Job(job.job_id, not job.healthy)


def shop(ctx: wf.DaprWorkflowContext, order: Order):
    priced = yield ctx.call_activity(price, input=order)   # a dataclass crosses as an autoobject
    ctx.set_custom_status(order)
    return {"product": order.product, "activity_saw": priced["seen"], "total": priced["total"]}


def review(ctx: wf.DaprWorkflowContext, req: Request):
    assert isinstance(req, Request)  # rebuilt from the annotation
    raw = yield ctx.call_activity(judge, input=req)
    verdict = Verdict.model_validate(raw)  # a model result arrives as a plain object, as in Dapr
    return verdict


def flip(ctx: wf.DaprWorkflowContext, job):
    again = yield ctx.call_activity(as_job, input=job)
    return [job.job_id, again.healthy, type(again).__name__]


def bad_output(ctx: wf.DaprWorkflowContext, _):
    return float("nan")


def test_a_dataclass_input_is_read_by_attribute_in_workflow_and_activity(make_app):
    app = make_app([shop], [price])
    state = app.run(shop, Order(12.5, "book"))
    assert completed_output(state) == {"product": "book", "activity_saw": "SimpleNamespace", "total": 25.0}
    assert state.serialized_input == '{"cost": 12.5, "product": "book", "__durabletask_autoobject__": true}'
    assert state.serialized_custom_status == state.serialized_input
    assert state.serialized_output == '{"product": "book", "activity_saw": "SimpleNamespace", "total": 25.0}'


def test_models_are_rebuilt_from_annotations_and_written_as_plain_json(make_app):
    app = make_app([review], [judge])
    state = app.run(review, Request(order_id="O-1", amount=42.0))
    assert state.serialized_input == '{"order_id": "O-1", "amount": 42.0}'
    assert state.serialized_output == '{"order_id": "O-1", "approved": true}'
    assert Verdict.model_validate_json(state.serialized_output).approved is True


def test_namedtuples_and_namespaces_round_trip_as_namespaces(make_app):
    app = make_app([flip], [as_job])
    assert completed_output(app.run(flip, Job("j1", True))) == ["j1", False, "SimpleNamespace"]
    assert completed_output(app.run(flip, SimpleNamespace(job_id="j2", healthy=False))) == ["j2", True,
                                                                                             "SimpleNamespace"]


def test_an_output_that_is_not_json_fails_its_instance_only(make_app):
    app = make_app([bad_output, flip], [as_job])
    state = app.run(bad_output, 1)
    assert state.runtime_status == wf.WorkflowStatus.FAILED
    assert "JSON" in state.failure_details.message
    assert completed_output(app.run(flip, Job("j3", True)))[0] == "j3"


def test_the_client_refuses_an_input_that_is_not_json_before_anything_is_stored(make_app):
    app = make_app([flip], [as_job])
    try:
        app.client.schedule_new_workflow(flip, input=float("inf"), instance_id="never")
    except wf.PayloadError as exc:
        assert isinstance(exc, TypeError)
    else:
        raise AssertionError("an infinite input was accepted")
    assert app.client.get_workflow_state("never") is None
