"""Group commit: concurrent submissions share backend calls, and every waiter gets an answer."""

from __future__ import annotations

import asyncio

import pytest

from servers.common.batching import Batcher


class Backend:
    def __init__(self, delay_s: float = 0.01) -> None:
        self.calls: list[list[int]] = []
        self.delay_s = delay_s
        self.fail: Exception | None = None

    async def run(self, items: list[int]) -> list[int]:
        self.calls.append(list(items))
        await asyncio.sleep(self.delay_s)
        if self.fail is not None:
            raise self.fail
        return [item * 10 for item in items]


@pytest.mark.asyncio
async def test_concurrent_items_share_calls_and_each_gets_its_own_result() -> None:
    backend = Backend()
    batcher = Batcher(backend.run, max_batch=16)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(100)))
    assert results == [i * 10 for i in range(100)]
    assert sorted(i for call in backend.calls for i in call) == list(range(100))
    assert all(len(call) <= 16 for call in backend.calls)
    assert len(backend.calls) == 7  # ceil(100 / 16): nothing waits for a batch to fill


@pytest.mark.asyncio
async def test_a_lone_item_goes_at_once() -> None:
    backend = Backend(delay_s=0)
    batcher = Batcher(backend.run)
    assert await asyncio.wait_for(batcher.submit(3), 1) == 30
    assert backend.calls == [[3]]


@pytest.mark.asyncio
async def test_items_arriving_during_a_call_leave_together_in_the_next() -> None:
    backend = Backend(delay_s=0.05)
    batcher = Batcher(backend.run)
    first = asyncio.ensure_future(batcher.submit(0))
    await asyncio.sleep(0.01)  # the first call is with the backend now
    rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 6)]
    assert await asyncio.gather(first, *rest) == [0, 10, 20, 30, 40, 50]
    assert backend.calls == [[0], [1, 2, 3, 4, 5]]


@pytest.mark.asyncio
async def test_a_backend_error_reaches_every_waiter_of_the_batch() -> None:
    backend = Backend()
    backend.fail = ConnectionError("backend down")
    batcher = Batcher(backend.run)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    backend.fail = None
    assert await batcher.submit(7) == 70  # the batcher keeps working afterwards


@pytest.mark.asyncio
async def test_a_caller_who_leaves_does_not_stop_the_others_batch() -> None:
    backend = Backend(delay_s=0.05)
    batcher = Batcher(backend.run)
    leaving = asyncio.ensure_future(batcher.submit(1))
    staying = asyncio.ensure_future(batcher.submit(2))
    await asyncio.sleep(0.01)
    leaving.cancel()
    assert await staying == 20
    assert backend.calls == [[1, 2]]  # the item was still sent: its effect may have happened


@pytest.mark.asyncio
async def test_a_wrong_number_of_results_is_an_error_not_a_shifted_answer() -> None:
    async def short(items: list[int]) -> list[int]:
        return items[:-1]

    batcher = Batcher(short)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


@pytest.mark.asyncio
async def test_waiters_are_cancelled_when_the_batch_task_is() -> None:
    started = asyncio.Event()

    async def hang(items: list[int]) -> list[int]:
        started.set()
        await asyncio.sleep(3600)
        return items

    batcher = Batcher(hang)
    waiters = [asyncio.ensure_future(batcher.submit(i)) for i in range(3)]
    await started.wait()
    later = asyncio.ensure_future(batcher.submit(9))  # queued behind the hanging call
    await asyncio.sleep(0)
    for task in asyncio.all_tasks():
        if task.get_coro().__qualname__.startswith("Batcher._drain"):  # type: ignore[union-attr]
            task.cancel()
    done, _ = await asyncio.wait([*waiters, later], timeout=1)
    assert len(done) == 4 and all(w.cancelled() for w in done)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Batcher(Backend().run, max_batch=0)
