"""What the cart knows of inventory, kept locally so a cart call rarely leaves the process.

* Products (titles, prices) are loaded with ListProducts and refreshed every `refresh_s`
  (that is their invalidation), at once when a SKU is unknown (at most every `miss_refresh_s`,
  so a new product shows up without a storm of calls for a bad SKU), and by every checkout.
* Stock states are cached per SKU for at most `stock_max_age_s`; the stale SKUs of a request go
  to inventory in one BatchGetStock, and concurrent requests share an in-flight fetch. When
  inventory cannot answer, the last state (or UNKNOWN) is shown rather than failing the cart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from servers.cart.pricing import Product, StockState
from servers.common.errors import DependencyUnavailable, NotFound

_log = logging.getLogger("shopmesh.cart")


@dataclass(frozen=True, slots=True)
class StockInfo:
    state: StockState
    available: int


class InventoryPort(Protocol):
    async def products(self) -> list[Product]:
        """The whole catalog (every page of ListProducts)."""
        ...

    async def stock(self, skus: Sequence[str]) -> dict[str, StockInfo]:
        """The stock of up to 100 SKUs in one call."""
        ...


@dataclass(frozen=True, slots=True)
class CatalogRules:
    refresh_s: float = 30.0
    miss_refresh_s: float = 1.0
    stock_max_age_s: float = 1.0


class Catalog:
    def __init__(
        self,
        port: InventoryPort,
        rules: CatalogRules,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._port = port
        self._rules = rules
        self._clock = clock
        self._products: dict[str, Product] = {}
        self._loaded_at = float("-inf")
        self._refreshing: asyncio.Task[None] | None = None
        self._stock: dict[str, tuple[float, StockState]] = {}
        self._fetching: dict[str, asyncio.Task[None]] = {}

    @property
    def loaded(self) -> bool:
        return bool(self._products)

    async def refresh(self) -> None:
        """Reload every product; concurrent callers share one reload."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._reload())
        await asyncio.shield(self._refreshing)

    async def _reload(self) -> None:
        products = await self._port.products()
        self._products = {product.sku: product for product in products}
        self._loaded_at = self._clock()

    async def products_for(self, skus: Sequence[str], *, strict: bool = True) -> dict[str, Product]:
        """The products of `skus`. Strict: NOT_FOUND names the first SKU inventory does not
        sell; otherwise such SKUs are left out (a product withdrawn since it was added)."""
        missing = [sku for sku in skus if sku not in self._products]
        if missing and self._clock() - self._loaded_at >= self._rules.miss_refresh_s:
            await self.refresh()
            missing = [sku for sku in missing if sku not in self._products]
        if missing and strict:
            raise NotFound("product", missing[0])
        return {sku: self._products[sku] for sku in skus if sku in self._products}

    async def stock_states(self, skus: Sequence[str]) -> dict[str, StockState]:
        """Stock states at most `stock_max_age_s` old, fetched in one batch when stale."""
        now = self._clock()
        stale = [
            sku
            for sku in dict.fromkeys(skus)
            if now - self._stamp(sku) >= self._rules.stock_max_age_s
        ]
        waits = {self._fetching[sku] for sku in stale if sku in self._fetching}
        fresh = [sku for sku in stale if sku not in self._fetching]
        if fresh:
            task = asyncio.create_task(self._fetch_states(fresh))
            for sku in fresh:
                self._fetching[sku] = task
            waits.add(task)
        if waits:
            await asyncio.gather(*(asyncio.shield(wait) for wait in waits))
        return {sku: self._stock.get(sku, (0.0, StockState.UNKNOWN))[1] for sku in skus}

    def _stamp(self, sku: str) -> float:
        entry = self._stock.get(sku)
        return float("-inf") if entry is None else entry[0]

    async def _fetch_states(self, skus: list[str]) -> None:
        try:
            infos = await self._port.stock(skus)
            stamp = self._clock()
            for sku in skus:
                state = infos[sku].state if sku in infos else StockState.UNKNOWN
                self._stock[sku] = (stamp, state)
        except (DependencyUnavailable, NotFound) as exc:
            # Show the last known state (or UNKNOWN) and try again after max age, not per call.
            _log.warning("stock lookup failed: %s", exc.message)
            stamp = self._clock()
            for sku in skus:
                self._stock[sku] = (stamp, self._stock.get(sku, (0.0, StockState.UNKNOWN))[1])
        finally:
            for sku in skus:
                self._fetching.pop(sku, None)

    async def current(self, skus: Sequence[str]) -> dict[str, Product]:
        """Prices straight from inventory (for checkout), refreshing the cache on the way."""
        await self.refresh()
        return await self.products_for(skus)
