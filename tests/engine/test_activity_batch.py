"""A turn hands its claimed activities over in one batch (worker._start_activities): sync ones to the
activity threads, async ones to the event loop; the pool starts only the threads the batch needs."""

from __future__ import annotations

import threading

import pytest

import wf
from wf.engine.worker import _ActivityThreads
from wf_testing import completed_output, wait_until

pytestmark = pytest.mark.timeout(60)


def test_one_batch_mixes_sync_and_async_activities(make_app):
    def sync_inc(ctx, x):
        return x + 1

    async def async_double(ctx, x):
        return x * 2

    def fan(ctx, n):
        return (yield wf.when_all([ctx.call_activity(sync_inc if i % 2 else async_double, input=i)
                                   for i in range(n)]))

    app = make_app([fan], [sync_inc, async_double])
    assert completed_output(app.run(fan, 10)) == [i + 1 if i % 2 else i * 2 for i in range(10)]
    assert app.runtime._worker.activities_in_flight == 0


def test_the_pool_starts_only_the_threads_a_batch_needs():
    pool = _ActivityThreads(3)
    release = threading.Event()
    ran: list[int] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        release.wait(10)
        with lock:
            ran.append(i)

    try:
        pool.submit_many([(call, (i,)) for i in range(5)])
        assert pool._threads == 3  # capped at the pool's size; the other two wait in the queue
        release.set()
        wait_until(lambda: len(ran) == 5, what="all five calls ran")
        wait_until(lambda: pool._idle == 3, what="the three threads idle again")
        pool.submit_many([(call, (i,)) for i in range(5, 7)])
        wait_until(lambda: len(ran) == 7, what="the next batch ran")
        assert pool._threads == 3  # idle threads took it: none started
        assert sorted(ran) == list(range(7))
    finally:
        release.set()
        pool.shutdown()
