"""The cart's gRPC clients of inventory and order, and the translation of their errors.

Every call carries the caller's remaining deadline (`deadline.remaining`). A peer's status is
turned back into the domain error it came from, details included, so the cart's own
interceptor re-encodes it faithfully (a SOLD_OUT from order reaches the client as SOLD_OUT);
transport failures become UNAVAILABLE naming the dependency.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from servers.cart.catalog import StockInfo
from servers.cart.domain import CartLine
from servers.cart.pricing import Product, StockState
from servers.common import deadline, money
from servers.common.status import from_rpc_error
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.order.v1 import order_pb2, order_pb2_grpc

READ_TIMEOUT_S = 2.0
ORDER_TIMEOUT_S = 5.0
_PAGE = 100
_STATES = {
    common_pb2.STOCK_STATE_IN_STOCK: StockState.IN_STOCK,
    common_pb2.STOCK_STATE_LOW: StockState.LOW,
    common_pb2.STOCK_STATE_SOLD_OUT: StockState.SOLD_OUT,
}


class GrpcInventory:
    """InventoryPort over a channel (in the mesh, the local sidecar's outbound listener)."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = inventory_pb2_grpc.InventoryServiceStub(channel)

    async def products(self) -> list[Product]:
        found: list[Product] = []
        token = ""
        try:
            while True:
                request = inventory_pb2.ListProductsRequest(page_size=_PAGE, page_token=token)
                page = await self._stub.ListProducts(
                    request, timeout=deadline.remaining(READ_TIMEOUT_S)
                )
                found += [_product(item) for item in page.products]
                token = page.next_page_token
                if not token:
                    return found
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error, "inventory") from None

    async def stock(self, skus: Sequence[str]) -> dict[str, StockInfo]:
        request = inventory_pb2.BatchGetStockRequest(skus=list(skus))
        try:
            reply = await self._stub.BatchGetStock(
                request, timeout=deadline.remaining(READ_TIMEOUT_S)
            )
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error, "inventory") from None
        return {
            stock.sku: StockInfo(_STATES.get(stock.state, StockState.UNKNOWN), stock.available)
            for stock in reply.stocks
        }


def _product(item: inventory_pb2.Product) -> Product:
    price = item.price
    minor = money.join(price.units, price.nanos, price.currency_code, "price")
    return Product(item.sku, item.title, minor, price.currency_code)


class GrpcOrders:
    """Places orders through the order service."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = order_pb2_grpc.OrderServiceStub(channel)

    async def place(
        self, request_id: str, user_id: str, lines: Sequence[CartLine], coupon_code: str
    ) -> order_pb2.Order:
        request = order_pb2.PlaceOrderRequest(
            request_id=request_id,
            user_id=user_id,
            lines=[
                order_pb2.PlaceOrderLine(sku=line.sku, quantity=line.quantity) for line in lines
            ],
            coupon_code=coupon_code,
        )
        try:
            reply = await self._stub.PlaceOrder(
                request, timeout=deadline.remaining(ORDER_TIMEOUT_S)
            )
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error, "order") from None
        order: order_pb2.Order = reply.order
        return order
