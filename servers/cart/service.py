"""CartService servicer: decode the request, call the CartDesk, encode the priced cart."""

from __future__ import annotations

import functools
from decimal import Decimal

import grpc

from servers.cart.desk import CartDesk
from servers.cart.pricing import PricedCart, PricedLine, StockState
from servers.common import money
from shop.cart.v1 import cart_pb2 as pb
from shop.cart.v1 import cart_pb2_grpc
from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2

_STOCK_STATE = {
    StockState.UNKNOWN: common_pb2.STOCK_STATE_UNSPECIFIED,
    StockState.IN_STOCK: common_pb2.STOCK_STATE_IN_STOCK,
    StockState.LOW: common_pb2.STOCK_STATE_LOW,
    StockState.SOLD_OUT: common_pb2.STOCK_STATE_SOLD_OUT,
}
_NANOS = Decimal(1_000_000_000)


class CartService(cart_pb2_grpc.CartServiceServicer):
    def __init__(self, desk: CartDesk[order_pb2.Order]) -> None:
        self._desk = desk

    async def GetCart(
        self, request: pb.GetCartRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCartResponse:
        view = await self._desk.get(request.user_id, request.cart_token)
        return pb.GetCartResponse(cart_token=view.token, cart=encode_cart(view.cart))

    async def AddItem(
        self, request: pb.AddItemRequest, context: grpc.aio.ServicerContext
    ) -> pb.AddItemResponse:
        view = await self._desk.add(
            request.user_id, request.cart_token, request.sku, request.quantity
        )
        return pb.AddItemResponse(cart_token=view.token, cart=encode_cart(view.cart))

    async def UpdateItem(
        self, request: pb.UpdateItemRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateItemResponse:
        view = await self._desk.update(
            request.user_id, request.cart_token, request.sku, request.quantity
        )
        return pb.UpdateItemResponse(cart_token=view.token, cart=encode_cart(view.cart))

    async def RemoveItem(
        self, request: pb.RemoveItemRequest, context: grpc.aio.ServicerContext
    ) -> pb.RemoveItemResponse:
        view = await self._desk.remove(request.user_id, request.cart_token, request.sku)
        return pb.RemoveItemResponse(cart_token=view.token, cart=encode_cart(view.cart))

    async def ApplyCoupon(
        self, request: pb.ApplyCouponRequest, context: grpc.aio.ServicerContext
    ) -> pb.ApplyCouponResponse:
        view = await self._desk.apply_coupon(
            request.user_id, request.cart_token, request.coupon_code
        )
        return pb.ApplyCouponResponse(cart_token=view.token, cart=encode_cart(view.cart))

    async def Quote(
        self, request: pb.QuoteRequest, context: grpc.aio.ServicerContext
    ) -> pb.QuoteResponse:
        view, conversion = await self._desk.quote(
            request.user_id, request.cart_token, request.currency_code
        )
        return pb.QuoteResponse(
            cart_token=view.token, cart=encode_cart(view.cart), rate=str(conversion.rate)
        )

    async def Checkout(
        self, request: pb.CheckoutRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckoutResponse:
        order, token = await self._desk.checkout(request.user_id, request.cart_token)
        return pb.CheckoutResponse(order=order, cart_token=token)


def _set_money(target: common_pb2.Money, minor: int, currency: str) -> None:
    target.currency_code = currency
    target.units, target.nanos = money.split(minor, currency)


def _set_exact(target: common_pb2.Money, value: Decimal, currency: str) -> None:
    """A unit price may be finer than the minor unit (it is rounded per line, not per unit);
    the rate table's decimal limit keeps it within Money's nanos."""
    units = int(value)
    target.currency_code = currency
    target.units = units
    target.nanos = int((value - units) * _NANOS)


@functools.lru_cache(maxsize=8192)
def _encode_line(line: PricedLine, currency: str) -> pb.CartLine:
    """One priced line as a message. Pure, and carts repeat lines (the same SKU, quantity and
    price on every GetCart of a cart, and across buyers of a popular item), so it is cached;
    appending a cached message copies it in C."""
    out = pb.CartLine(
        sku=line.sku, title=line.title, quantity=line.quantity, stock_state=_STOCK_STATE[line.stock]
    )
    _set_exact(out.unit_price, line.unit_price, currency)
    _set_money(out.line_subtotal, line.subtotal, currency)
    _set_money(out.line_discount, line.discount, currency)
    _set_money(out.line_total, line.total, currency)
    return out


def encode_cart(cart: PricedCart) -> pb.Cart:
    # Built in place (sub-message fields) rather than from keyword arguments, which copy every
    # nested Money: GetCart/AddItem encode a whole cart on every call.
    currency = cart.currency
    encoded = pb.Cart(coupon_code=cart.coupon, currency_code=currency, item_count=cart.item_count)
    lines = encoded.lines
    for line in cart.lines:
        lines.append(_encode_line(line, currency))
    _set_money(encoded.subtotal, cart.subtotal, currency)
    _set_money(encoded.discount, cart.discount, currency)
    _set_money(encoded.total, cart.total, currency)
    return encoded
