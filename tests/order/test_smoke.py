"""Placing, reading and persisting one order through the real stack, on SQLite and MariaDB."""

from __future__ import annotations

import pytest

from shop.inventory.v1 import inventory_pb2 as inv
from shop.order.v1 import order_pb2 as pb
from tests.order.conftest import OrderStack


@pytest.mark.asyncio
async def test_place_then_read_then_persist(order_stack: OrderStack) -> None:
    request = pb.PlaceOrderRequest(
        request_id="r-1",
        user_id="u-1",
        lines=[pb.PlaceOrderLine(sku="SKU-MUG", quantity=3)],
    )
    placed = (await order_stack.order_stub.PlaceOrder(request)).order
    assert placed.status == pb.ORDER_STATUS_PENDING_PAYMENT
    assert placed.total.units == 29 and placed.total.nanos == 700_000_000
    got = await order_stack.order_stub.GetOrder(pb.GetOrderRequest(order_id=placed.order_id))
    assert got.order == placed
    stock = await order_stack.inventory_stub.GetStock(inv.GetStockRequest(sku="SKU-MUG"))
    assert stock.stock.reserved == 3
    assert await order_stack.wait_written(1) == 1
