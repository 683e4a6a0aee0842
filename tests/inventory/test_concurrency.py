"""Invariants 1 and 2 under a storm: 5,000 concurrent Reserve calls, 2,000 users, 100 units."""

from __future__ import annotations

import asyncio
import collections

import grpc
import pytest

from shop.inventory.v1 import inventory_pb2 as pb
from tests.helpers import error_reason
from tests.inventory.conftest import InventoryUnderTest
from tests.inventory.test_service import balanced, reserve_request, stock_of

pytestmark = pytest.mark.asyncio


async def test_5000_concurrent_reserves_sell_exactly_100(inventory: InventoryUnderTest) -> None:
    await inventory.stub.SetStock(pb.SetStockRequest(sku="SKU-SNEAKER-LTD", available=100))
    await inventory.stub.ConfigureSale(
        pb.ConfigureSaleRequest(sku="SKU-SNEAKER-LTD", sale=pb.SaleConfig(per_user_limit=1))
    )
    stop = asyncio.Event()
    unbalanced: list[pb.Stock] = []
    observations = 0

    async def watch_the_books() -> None:  # invariant 1 at every moment, not just at the end
        nonlocal observations
        while not stop.is_set():
            stock = await stock_of(inventory, "SKU-SNEAKER-LTD")
            observations += 1
            if not balanced(stock):
                unbalanced.append(stock)
            await asyncio.sleep(0.005)

    async def attempt(i: int) -> tuple[str, str]:
        user = f"user-{i % 2000}"
        try:
            reply = await inventory.stub.Reserve(
                reserve_request(f"storm-{i}", user, "SKU-SNEAKER-LTD")
            )
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error
            return error_reason(error), user
        assert reply.reservation.state == pb.RESERVATION_STATE_RESERVED
        return "WON", user

    watcher = asyncio.create_task(watch_the_books())
    outcomes = await asyncio.gather(*(attempt(i) for i in range(5000)))
    stop.set()
    await watcher
    counts = collections.Counter(outcome for outcome, _ in outcomes)
    winners = [user for outcome, user in outcomes if outcome == "WON"]
    assert counts["WON"] == 100
    assert set(counts) <= {"WON", "SOLD_OUT", "LIMIT_EXCEEDED"}
    assert len(set(winners)) == 100, "a user won twice despite the limit of 1"
    stock = await stock_of(inventory, "SKU-SNEAKER-LTD")
    assert (stock.available, stock.reserved) == (0, 100) and balanced(stock)
    assert observations > 0 and not unbalanced
