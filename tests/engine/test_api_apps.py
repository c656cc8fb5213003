"""App ids: one store serves several apps; a runtime runs only its own app's instances."""

from __future__ import annotations

import pytest

import wf
from wf_testing import completed_output, stays

pytestmark = pytest.mark.timeout(30)

S = wf.WorkflowStatus


def test_two_apps_on_one_store_run_only_their_own(make_app):
    ran_by: list[tuple[str, str]] = []

    def build(tag):
        def same(ctx, inp):
            if False:
                yield
            if not ctx.is_replaying:
                ran_by.append((tag, ctx.instance_id))
            return tag

        return same

    a = make_app(start=False, app_id="app-a")
    a.runtime.register_workflow(build("A"), name="same")
    a.start()
    b = make_app(start=False, app_id="app-b")
    b.runtime.register_workflow(build("B"), name="same")
    b.start()

    a_ids = [a.schedule("same", i) for i in range(5)]
    b_ids = [b.schedule("same", i) for i in range(5)]
    for iid in a_ids:
        assert completed_output(a.wait(iid)) == "A"
    for iid in b_ids:
        assert completed_output(b.wait(iid)) == "B"
    assert sorted(ran_by) == sorted([("A", i) for i in a_ids] + [("B", i) for i in b_ids])
    assert a.client.get_workflow_state(a_ids[0]).app_id == "app-a"


def test_instance_of_another_app_is_not_run(make_app):
    def only_b(ctx, inp):
        if False:
            yield
        return "ran"

    # runtime of app "b" knows only_b; a client of app "a" schedules only_b for app "a"
    b = make_app([only_b], app_id="b")
    a_client = wf.WorkflowClient(db=b.db, app_id="a")
    iid = a_client.schedule_new_workflow("only_b", input=1)
    stays(
        lambda: a_client.get_workflow_state(iid).runtime_status == S.PENDING,
        0.5,
        what="app a's instance not picked up by app b's runtime",
    )
    # the same workflow for app b runs
    st = b.run("only_b", 1)
    assert completed_output(st) == "ran"
    # an app a runtime that knows the workflow picks it up
    a = make_app([only_b], app_id="a")
    assert completed_output(a.wait(iid)) == "ran"


def test_list_is_scoped_to_the_app(make_app):
    def w(ctx, inp):
        if False:
            yield
        return inp

    a = make_app([w], app_id="a")
    b = make_app([w], app_id="b")
    a_ids = {a.schedule(w, 1) for _ in range(2)}
    b_ids = {b.schedule(w, 2) for _ in range(3)}
    for iid in a_ids:
        a.wait(iid)
    for iid in b_ids:
        b.wait(iid)
    assert {s.instance_id for s in a.client.list_workflows()} == a_ids
    assert {s.instance_id for s in b.client.list_workflows()} == b_ids
    assert all(s.app_id == "a" for s in a.client.list_workflows())


def test_default_app_id(make_app):
    def w(ctx, inp):
        if False:
            yield
        return inp

    app = make_app([w])
    st = app.run(w, 1)
    assert st.app_id == "default"
