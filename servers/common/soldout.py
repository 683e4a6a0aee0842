"""The process-local sold-out snapshot: hopeless requests are refused without touching Redis.

Shared by inventory (which owns stock) and order (which answers SOLD_OUT without a hop).

Every stock-back event (release, expiry, restock, set) bumps the SKU's generation in Redis and is
published with it. A SKU is marked sold out together with the generation the Redis script saw,
so an event that raced ahead of the marking (a higher generation already seen) cancels it, and
a later event clears it. Entries also expire after `ttl_s`, a bound on staleness should an event
be lost; while the subscription is down the snapshot answers nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

_log = logging.getLogger("shopmesh.soldout")


class SoldOutSnapshot:
    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_s
        self._clock = clock
        self._sold_out: dict[str, tuple[int, float]] = {}
        self._latest_gen: dict[str, int] = {}
        self.enabled = False

    def is_sold_out(self, sku: str) -> bool:
        if not self.enabled:
            return False
        entry = self._sold_out.get(sku)
        if entry is None:
            return False
        if self._clock() >= entry[1]:
            del self._sold_out[sku]
            return False
        return True

    def generation(self, sku: str) -> int | None:
        """The generation a SKU was marked sold out at, if it is marked."""
        entry = self._sold_out.get(sku)
        return None if entry is None else entry[0]

    def mark_sold_out(self, sku: str, generation: int) -> None:
        """Record that Redis saw `sku` with no stock at `generation`."""
        if not self.enabled or self._latest_gen.get(sku, -1) > generation:
            return
        self._sold_out[sku] = (generation, self._clock() + self._ttl)

    def stock_back(self, sku: str, generation: int) -> None:
        """A stock-back event: clear the mark if it is older than `generation`."""
        if generation > self._latest_gen.get(sku, -1):
            self._latest_gen[sku] = generation
        entry = self._sold_out.get(sku)
        if entry is not None and entry[0] < generation:
            del self._sold_out[sku]

    def connected(self) -> None:
        """The event subscription is live: start answering from a clean slate."""
        self._sold_out.clear()
        self.enabled = True

    def disconnected(self) -> None:
        """The subscription dropped: events may be missed, so stop answering and forget."""
        self.enabled = False
        self._sold_out.clear()

    def __len__(self) -> int:
        return len(self._sold_out)


def stock_back_channel(inventory_prefix: str) -> str:
    """The pub/sub channel inventory publishes `"<sku> <generation>"` on when units come back."""
    return f"{inventory_prefix}:stock-back"


async def follow_stock_events(
    client: aioredis.Redis, channel: str, snapshot: SoldOutSnapshot
) -> None:
    """Feed stock-back events into `snapshot` until cancelled, resubscribing after losses."""
    while True:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel)
            snapshot.connected()
            async for message in pubsub.listen():
                sku, _, generation = message["data"].decode().rpartition(" ")
                snapshot.stock_back(sku, int(generation))
        except (RedisConnectionError, OSError) as exc:
            _log.warning("stock-back subscription lost; retrying", extra={"error": repr(exc)})
        finally:
            snapshot.disconnected()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pubsub.aclose(), 1.0)
        await asyncio.sleep(0.5)
