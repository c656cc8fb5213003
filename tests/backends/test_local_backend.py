"""LocalBackend beyond what the client exercises: paging with a cursor, a thread-safe first open,
parent ids on listed states."""

from __future__ import annotations

import threading

import pytest

import wf
from wf.backends.local import LocalBackend
from wf_testing import wait_until


def test_pages_with_an_opaque_cursor_cover_every_instance_once(tmp_path):
    backend = LocalBackend(tmp_path / "p.db")
    ids = {backend.start("w", instance_id=f"i{n}") for n in range(23)}
    seen, cursor, pages = [], None, 0
    while True:
        states, cursor = backend.list_page(limit=5, cursor=cursor)
        seen.extend(s.instance_id for s in states)
        pages += 1
        if cursor is None:
            break
    assert pages == 5 and len(seen) == 23 and set(seen) == ids


def test_a_forged_cursor_is_a_usage_error(tmp_path):
    backend = LocalBackend(tmp_path / "c.db")
    backend.start("w", instance_id="one")
    with pytest.raises(wf.InvalidArgumentError, match="continuation token"):
        backend.list_page(limit=5, cursor="not-a-cursor")


def test_threads_racing_on_a_fresh_backend_open_one_store(tmp_path):
    backend = LocalBackend(tmp_path / "race.db")
    stores, barrier = [], threading.Barrier(8)

    def use(n: int) -> None:
        barrier.wait()
        backend.start("w", instance_id=f"t{n}")
        stores.append(backend.store())

    threads = [threading.Thread(target=use, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(s) for s in stores}) == 1
    assert len(list(backend.list())) == 8


def test_listed_children_name_their_parent(make_app):
    app = make_app()

    @app.workflow
    def child(ctx, x):
        return x

    @app.workflow
    def parent(ctx, _):
        return (yield ctx.call_child_workflow(child, input=1, instance_id="the-child"))

    app.start()
    app.run(parent, instance_id="the-parent")
    listed = {s.instance_id: s.parent_instance_id for s in app.client.list_workflows()}
    assert listed == {"the-parent": None, "the-child": "the-parent"}
    wait_until(lambda: app.client.get_workflow_state("the-child").parent_instance_id == "the-parent")
