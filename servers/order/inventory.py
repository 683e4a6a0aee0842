"""The order service's view of inventory: a cached catalog for prices and titles, and
reserve/release/commit calls that carry the caller's remaining deadline.

Inventory's errors come back as the same domain errors (SOLD_OUT keeps its generation), so the
order service answers with the reason inventory gave.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import duration_pb2

from servers.common import deadline, money
from servers.common.errors import (
    InvalidArgument,
    NotFound,
    PreconditionFailed,
)
from servers.common.soldout import SoldOutSnapshot
from servers.common.status import from_rpc_error
from servers.order.domain import PricedLine, RequestedLine
from shop.inventory.v1 import inventory_pb2 as inv
from shop.inventory.v1 import inventory_pb2_grpc

_log = logging.getLogger("shopmesh.order.inventory")


class DeadlineExpired(Exception):
    """The caller's deadline ran out (or it went away) while inventory was working."""


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    title: str
    unit_minor: int
    currency: str


class InventoryClient:
    def __init__(
        self,
        stub: inventory_pb2_grpc.InventoryServiceStub,
        snapshot: SoldOutSnapshot,
        *,
        call_timeout_s: float = 5.0,
        catalog_refresh_s: float = 60.0,
    ) -> None:
        self._stub = stub
        self._snapshot = snapshot
        self._timeout = call_timeout_s
        self._refresh_s = catalog_refresh_s
        self._catalog: dict[str, CatalogEntry] = {}
        self._loaded_at = -1e9

    async def load_catalog(self) -> None:
        """Fetch every product once, page by page (prices are never fetched per line)."""
        catalog: dict[str, CatalogEntry] = {}
        token = ""
        while True:
            reply = await self._call(
                self._stub.ListProducts, inv.ListProductsRequest(page_size=100, page_token=token)
            )
            for p in reply.products:
                minor = _minor(p.price.units, p.price.nanos, p.price.currency_code)
                catalog[p.sku] = CatalogEntry(p.title, minor, p.price.currency_code)
            token = reply.next_page_token
            if not token:
                break
        self._catalog = catalog
        self._loaded_at = time.monotonic()

    async def price(self, lines: Sequence[RequestedLine]) -> tuple[list[PricedLine], str]:
        """Price each line from the catalog; NOT_FOUND for a SKU inventory does not sell."""
        age = time.monotonic() - self._loaded_at
        missing = any(line.sku not in self._catalog for line in lines)
        if age > self._refresh_s or (missing and age > 1.0):  # misses refresh at most 1/s
            await self.load_catalog()
        priced = []
        for i, line in enumerate(lines):
            entry = self._catalog.get(line.sku)
            if entry is None:
                raise NotFound("product", line.sku, f"lines[{i}].sku: unknown SKU {line.sku!r}")
            priced.append(PricedLine(line.sku, entry.title, line.quantity, entry.unit_minor))
        currencies = {self._catalog[line.sku].currency for line in lines}
        if len(currencies) > 1:
            raise InvalidArgument.single("lines", "all lines must be priced in one currency")
        return priced, currencies.pop()

    async def reserve(
        self, reservation_id: str, user_id: str, lines: Sequence[PricedLine], ttl_s: float
    ) -> None:
        request = inv.ReserveRequest(
            reservation_id=reservation_id,
            user_id=user_id,
            lines=[inv.ReservationLine(sku=li.sku, quantity=li.quantity) for li in lines],
            ttl=duration_pb2.Duration(seconds=int(ttl_s)),
        )
        await self._call(self._stub.Reserve, request)

    async def release(self, reservation_id: str, skus: Sequence[str], timeout_s: float) -> None:
        """Return the stock (idempotent in inventory: units come back exactly once)."""
        request = inv.ReleaseRequest(reservation_id=reservation_id, skus=list(skus))
        await self._call(self._stub.Release, request, timeout_s)

    async def commit(self, reservation_id: str, skus: Sequence[str], timeout_s: float) -> None:
        request = inv.CommitRequest(reservation_id=reservation_id, skus=list(skus))
        await self._call(self._stub.Commit, request, timeout_s)

    async def _call(self, method: Any, request: Any, timeout_s: float | None = None) -> Any:
        timeout = timeout_s if timeout_s is not None else deadline.remaining(self._timeout)
        try:
            return await method(request, timeout=timeout)
        except grpc.aio.AioRpcError as err:
            raise self._translate(err) from None

    def _translate(self, err: grpc.aio.AioRpcError) -> Exception:
        if err.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
            return DeadlineExpired(str(err.details()))
        error = from_rpc_error(err, "inventory")
        if isinstance(error, PreconditionFailed) and error.reason == "SOLD_OUT":
            metadata = error.metadata
            if "generation" in metadata and "sku" in metadata:
                self._snapshot.mark_sold_out(metadata["sku"], int(metadata["generation"]))
        return error


def _minor(units: int, nanos: int, currency: str) -> int:
    return money.join(units, nanos, currency, "price")
