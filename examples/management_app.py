"""A small order-management service written on wf.WorkflowClient, over a remote engine.

It starts the approval workflow of examples/approval.py for an order, reads its status, approves
(or rejects) it with the "approval_decision" event, cancels (terminates) it and purges it. The
client talks to whatever engine WF_URL names: `wf serve`, or a Dapr sidecar running the same
workflow (the purge of a sidecar's instance works too; nothing here needs wf's extensions).

    export WF_API_TOKEN=s3cret
    wf serve --app examples/approval.py:wfr &                       # the engine, with its workers
    WF_URL=http://127.0.0.1:3500 uvicorn examples.management_app:app --port 8000
    curl -X POST localhost:8000/orders -H 'content-type: application/json' -d '{"id": "1001", "amount": 1500}'
    curl localhost:8000/orders/1001
    curl -X POST localhost:8000/orders/1001/approve -H 'content-type: application/json' -d '{"approved": true}'
    curl -X POST localhost:8000/orders/1001/cancel; curl -X DELETE localhost:8000/orders/1001

Needs the `server` extra (FastAPI).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel, Field

import wf

WORKFLOW = "approval_workflow"  # registered by examples/approval.py


class Order(BaseModel):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,58}$", description="order id; the instance is order-<id>")
    amount: float = Field(gt=0)


class Decision(BaseModel):
    approved: bool
    reason: str | None = None


class Cancel(BaseModel):
    reason: str = "cancelled"


def instance_id(order_id: str) -> str:
    return f"order-{order_id}"


def order_view(state: wf.WorkflowState) -> dict[str, Any]:
    return {
        "order_id": state.instance_id.removeprefix("order-"),
        "instance_id": state.instance_id,
        "status": state.runtime_status.name,
        "created_at": state.created_at.isoformat(),
        "order": json.loads(state.serialized_input) if state.serialized_input else None,
        "result": json.loads(state.serialized_output) if state.serialized_output else None,
        "error": state.failure_details.message if state.failure_details else None,
    }


def create_app(client: wf.WorkflowClient | None = None) -> FastAPI:
    """The service; `client` defaults to WorkflowClient() (WF_URL / WF_API_TOKEN, or the profile)."""
    client = client if client is not None else wf.WorkflowClient()
    app = FastAPI(title="orders", description="Order approvals on a durable workflow engine")

    def state_of(order_id: str) -> wf.WorkflowState:
        state = client.get_workflow_state(instance_id(order_id))
        if state is None:
            raise HTTPException(404, f"no order {order_id}")
        return state

    def call(fn, *args: Any, **kwargs: Any) -> Any:
        """The engine's refusals as HTTP answers."""
        try:
            return fn(*args, **kwargs)
        except wf.NotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        except (wf.InvalidStateError, wf.AlreadyExistsError) as exc:
            raise HTTPException(409, str(exc)) from None
        except wf.WfError as exc:
            raise HTTPException(502, f"workflow engine: {exc}") from None

    @app.post("/orders", status_code=201)
    def start_order(order: Order) -> dict[str, Any]:
        """Start the approval workflow for an order (idempotent: a repeat returns the same one)."""
        iid = call(client.schedule_new_workflow, WORKFLOW, input=order.model_dump(), instance_id=instance_id(order.id))
        return order_view(state_of(order.id)) | {"instance_id": iid}

    @app.get("/orders/{order_id}")
    def get_order(order_id: str) -> dict[str, Any]:
        return order_view(call(state_of, order_id))

    @app.post("/orders/{order_id}/approve", status_code=202)
    def decide(order_id: str, decision: Decision) -> dict[str, Any]:
        """Deliver the person's decision to the waiting workflow."""
        call(client.raise_workflow_event, instance_id(order_id), "approval_decision", data=decision.model_dump())
        return {"order_id": order_id, "decision": decision.model_dump()}

    @app.post("/orders/{order_id}/cancel")
    def cancel(order_id: str, body: Cancel | None = None) -> dict[str, Any]:
        reason = (body or Cancel()).reason
        call(client.terminate_workflow, instance_id(order_id), output={"status": "cancelled", "reason": reason})
        return order_view(call(state_of, order_id))

    @app.delete("/orders/{order_id}", status_code=204)
    def purge(order_id: str) -> Response:
        """Forget a finished order (its history and child workflows too)."""
        call(client.purge_workflow, instance_id(order_id))
        return Response(status_code=204)

    return app


app = create_app()  # the client connects on first use, so importing this module is cheap
