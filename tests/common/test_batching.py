"""Group commit: concurrent submissions share backend calls, and every waiter gets an answer."""

from __future__ import annotations

import asyncio
import time

import pytest

from servers.common.batching import Batcher, ThreadLoad


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


def busy() -> float:
    return 1.0


def idle() -> float:
    return 0.0


async def arrivals(batcher: Batcher[int, int], count: int, gap_s: float) -> list[int]:
    """`count` concurrent callers, one arriving every `gap_s` (0: every turn of the loop)."""
    callers = []
    for i in range(count):
        callers.append(asyncio.ensure_future(batcher.submit(i)))
        await asyncio.sleep(gap_s)
    return await asyncio.gather(*callers)


@pytest.mark.asyncio
async def test_a_busy_process_holds_batches_back_for_concurrent_callers() -> None:
    backend = Backend(delay_s=0)
    batcher = Batcher(backend.run, linger_s=0.2, load=busy)
    assert await asyncio.gather(batcher.submit(-1), batcher.submit(-2)) == [-10, -20]
    backend.calls.clear()  # two callers at once: concurrency seen
    assert await arrivals(batcher, 10, 0.0) == [i * 10 for i in range(10)]
    # without the wait, a backend this fast would take them one by one
    assert len(backend.calls) <= 3
    assert (batcher.batches, batcher.items) == (len(backend.calls) + 1, 12)


@pytest.mark.asyncio
async def test_an_idle_process_sends_at_once_even_with_concurrent_callers() -> None:
    backend = Backend(delay_s=0)
    batcher = Batcher(backend.run, linger_s=0.2, load=idle)
    await asyncio.gather(batcher.submit(-1), batcher.submit(-2))
    backend.calls.clear()
    await arrivals(batcher, 10, 0.0)
    assert len(backend.calls) >= 8, backend.calls


@pytest.mark.asyncio
async def test_a_lone_sequential_caller_never_waits_even_when_busy() -> None:
    backend = Backend(delay_s=0)
    batcher = Batcher(backend.run, linger_s=0.2, load=busy)
    started = asyncio.get_running_loop().time()
    for i in range(20):
        assert await batcher.submit(i) == i * 10
    assert asyncio.get_running_loop().time() - started < 0.2  # not one linger of 0.2 s
    assert backend.calls == [[i] for i in range(20)]


@pytest.mark.asyncio
async def test_the_wait_ends_when_callers_stop_coming_or_the_batch_is_full() -> None:
    backend = Backend(delay_s=0)
    batcher = Batcher(backend.run, max_batch=4, linger_s=5.0, load=busy)
    started = asyncio.get_running_loop().time()
    # two at once show concurrency; then nobody comes for a step, so the batch goes
    assert await asyncio.gather(batcher.submit(1), batcher.submit(2)) == [10, 20]
    assert await arrivals(batcher, 8, 0.002) == [i * 10 for i in range(8)]
    assert asyncio.get_running_loop().time() - started < 1.0  # far from one 5 s linger
    assert all(len(call) <= 4 for call in backend.calls)


def test_thread_load_reads_the_share_of_time_on_cpu() -> None:
    load = ThreadLoad(window_s=0.05)
    load()
    spin_until = time.perf_counter() + 0.1
    while time.perf_counter() < spin_until:
        pass
    assert load() > 0.5
    time.sleep(0.1)
    assert load() < 0.5


def test_linger_must_not_be_negative() -> None:
    with pytest.raises(ValueError):
        Batcher(Backend().run, linger_s=-1)


@pytest.mark.asyncio
async def test_busy_starts_past_busy_share_and_ends_under_idle_share() -> None:
    share = [0.0]
    backend = Backend(delay_s=0)
    batcher = Batcher(
        backend.run, linger_s=0.2, busy_share=0.75, idle_share=0.5, load=lambda: share[0]
    )
    await asyncio.gather(batcher.submit(-1), batcher.submit(-2))  # concurrency seen

    async def calls_for(load: float) -> int:
        share[0] = load
        backend.calls.clear()
        await arrivals(batcher, 6, 0.0)
        return len(backend.calls)

    assert await calls_for(0.6) >= 5  # under busy_share: not yet busy, no waiting
    assert await calls_for(0.8) == 1  # busy: one shared call
    assert await calls_for(0.6) == 1  # still busy above idle_share
    assert await calls_for(0.4) >= 5  # idle again
