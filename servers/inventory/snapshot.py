"""The process-local sold-out snapshot: hopeless requests are refused without touching Redis.

Every stock-back event (release, expiry, restock, set) bumps the SKU's generation in Redis and is
published with it. A SKU is marked sold out together with the generation the Redis script saw,
so an event that raced ahead of the marking (a higher generation already seen) cancels it, and
a later event clears it. Entries also expire after `ttl_s`, a bound on staleness should an event
be lost; while the subscription is down the snapshot answers nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable


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
