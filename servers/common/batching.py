"""Group commit for hot keys: concurrent calls folded into one backend call.

While a batch is with the backend, new items wait and leave together in the next one, so under
load one round trip carries many items, and with one caller nothing waits at all (the first
item leaves on the next turn of the event loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    """Runs `run(items)` on batches of submitted items; `run` returns one result per item."""

    def __init__(
        self,
        run: Callable[[list[Item]], Awaitable[Sequence[Result]]],
        *,
        max_batch: int = 64,
        max_in_flight: int = 1,
    ) -> None:
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be at least 1")
        self._run = run
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._drainers = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Result:
        """The result of `item`; a caller who leaves early does not stop its batch."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._drainers < self._max_in_flight:
            self._drainers += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._run_batch(batch)
        except BaseException:  # cancelled (shutdown): nobody would serve the waiting items
            if self._drainers == 1:
                _settle(self._pending, None)
                self._pending.clear()
            raise
        finally:
            self._drainers -= 1

    async def _run_batch(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch of {len(batch)} got {len(results)} results")
        except Exception as exc:  # every waiter of the batch gets the backend's error
            _settle(batch, exc)
            return
        except BaseException:
            _settle(batch, None)
            raise
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


def _settle(waiting: list[tuple[Any, asyncio.Future[Any]]], error: Exception | None) -> None:
    """End every waiter still waiting: with `error`, or cancelled when there is none."""
    for _, future in waiting:
        if future.done():
            continue
        if error is None:
            future.cancel()
        else:
            future.set_exception(error)
