"""Checkout against the real order stack (inventory + order + writer, tests/order): the cart's
coupon reaches the order, which prices it itself in the catalog currency, so the order's total
is the cart's total in that currency whatever the cart's display currency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import grpc
import pytest
import pytest_asyncio

from servers.common.coupons import Coupon, CouponBook, CouponKind
from servers.order.domain import DOMAIN
from shop.cart.v1 import cart_pb2 as pb
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2 as inv
from tests.cart.conftest import CartUnderTest, cart_settings, start_cart
from tests.cart.test_service import USER, amount, filled
from tests.helpers import error_reason
from tests.order.conftest import OrderStack, order_dsn, order_stack

pytestmark = pytest.mark.asyncio
__all__ = ["order_dsn", "order_stack"]  # fixtures used here


@pytest_asyncio.fixture
async def shop(order_stack: OrderStack) -> AsyncIterator[CartUnderTest]:
    settings = cart_settings(order_stack.inventory_address, order_stack.order_address)
    under_test = await start_cart(settings, order_stack.inventory)
    yield under_test
    await under_test.close()


async def with_coupon(shop: CartUnderTest, code: str) -> pb.ApplyCouponResponse:
    token = await filled(shop)  # 3 mugs (29.70) and a phone (699.00)
    reply: pb.ApplyCouponResponse = await shop.stub.ApplyCoupon(
        pb.ApplyCouponRequest(user_id=USER, cart_token=token, coupon_code=code)
    )
    return reply


def same_money(order_amount: common_pb2.Money, cart_amount: common_pb2.Money) -> bool:
    return (order_amount.currency_code, amount(order_amount)) == (
        cart_amount.currency_code,
        amount(cart_amount),
    )


@pytest.mark.parametrize("code", ["WELCOME10", "SAVE5", "MUGFREE"])
async def test_the_order_total_is_the_cart_total_shown(shop: CartUnderTest, code: str) -> None:
    shown = await with_coupon(shop, code)
    assert amount(shown.cart.discount) > 0
    checkout = await shop.stub.Checkout(
        pb.CheckoutRequest(user_id=USER, cart_token=shown.cart_token)
    )
    order = checkout.order
    assert same_money(order.total, shown.cart.total)
    assert same_money(order.discount, shown.cart.discount)
    assert order.coupon_code == code
    for order_line, cart_line in zip(order.lines, shown.cart.lines, strict=True):
        assert same_money(order_line.line_discount, cart_line.line_discount)
    retried = await shop.stub.Checkout(
        pb.CheckoutRequest(user_id=USER, cart_token=shown.cart_token)
    )
    assert retried.order == order  # replayed: same order, no second reservation


async def test_the_order_is_in_the_catalog_currency_whatever_the_display_currency(
    shop: CartUnderTest,
) -> None:
    shown = await with_coupon(shop, "WELCOME10")
    in_usd = await shop.stub.Quote(
        pb.QuoteRequest(user_id=USER, cart_token=shown.cart_token, currency_code="USD")
    )
    assert in_usd.cart.total.currency_code == "USD"
    checkout = await shop.stub.Checkout(
        pb.CheckoutRequest(user_id=USER, cart_token=in_usd.cart_token)
    )
    assert checkout.order.total.currency_code == "EUR"
    assert same_money(checkout.order.total, shown.cart.total)  # the EUR total the cart showed
    assert amount(checkout.order.total) == Decimal("655.83")  # 728.70 - (2.97 + 69.90)


async def test_a_coupon_expired_since_it_was_applied_is_refused_not_dropped(
    shop: CartUnderTest, order_stack: OrderStack
) -> None:
    shown = await with_coupon(shop, "WELCOME10")
    order_stack.desk.coupons = CouponBook(
        [Coupon("WELCOME10", CouponKind.PERCENT, percent=Decimal(10), expires_at=1.0)], DOMAIN
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await shop.stub.Checkout(pb.CheckoutRequest(user_id=USER, cart_token=shown.cart_token))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(refused.value) == "COUPON_EXPIRED"
    stock = await order_stack.inventory_stub.BatchGetStock(
        inv.BatchGetStockRequest(skus=["SKU-MUG", "SKU-PHONE-X1"])
    )
    assert [s.reserved for s in stock.stocks] == [0, 0]
