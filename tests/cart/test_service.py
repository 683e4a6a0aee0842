"""CartService on a real server, pricing from a real inventory server on real Redis."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import grpc
import pytest
from google.rpc import error_details_pb2

from shop.cart.v1 import cart_pb2 as pb
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2
from tests.cart.conftest import CartUnderTest
from tests.helpers import error_reason, status_details, violated_fields

pytestmark = pytest.mark.asyncio
USER = "alice"


def amount(money: common_pb2.Money) -> Decimal:
    return Decimal(money.units) + Decimal(money.nanos) / Decimal(10**9)


def inventory_calls(cart: CartUnderTest, method: str) -> float:
    value = cart.inventory.running.metrics.registry.get_sample_value(
        "shopmesh_rpc_total", {"service": "inventory", "method": method, "code": "OK"}
    )
    return value or 0.0


async def add(cart: CartUnderTest, token: str, sku: str, quantity: int) -> pb.AddItemResponse:
    request = pb.AddItemRequest(user_id=USER, cart_token=token, sku=sku, quantity=quantity)
    response: pb.AddItemResponse = await cart.stub.AddItem(request)
    return response


async def filled(cart: CartUnderTest) -> str:
    """A cart of 3 mugs (9.90) and a phone (699.00)."""
    token = (await add(cart, "", "SKU-MUG", 3)).cart_token
    return (await add(cart, token, "SKU-PHONE-X1", 1)).cart_token


def assert_reconciles(priced: pb.Cart) -> None:
    assert amount(priced.total) == amount(priced.subtotal) - amount(priced.discount)
    assert amount(priced.total) == sum(amount(line.line_total) for line in priced.lines)
    assert amount(priced.subtotal) == sum(amount(line.line_subtotal) for line in priced.lines)
    for line in priced.lines:
        assert amount(line.line_total) == amount(line.line_subtotal) - amount(line.line_discount)


async def test_an_empty_token_is_a_new_empty_cart(cart: CartUnderTest) -> None:
    reply = await cart.stub.GetCart(pb.GetCartRequest(user_id=USER))
    assert reply.cart_token
    assert (len(reply.cart.lines), reply.cart.currency_code, reply.cart.item_count) == (0, "EUR", 0)
    again = await cart.stub.GetCart(pb.GetCartRequest(user_id=USER, cart_token=reply.cart_token))
    assert again.cart == reply.cart


async def test_add_update_remove_prices_from_inventory(cart: CartUnderTest) -> None:
    token = await filled(cart)
    reply = await add(cart, token, "SKU-MUG", 2)
    mug, phone = reply.cart.lines
    assert (mug.sku, mug.title, mug.quantity) == ("SKU-MUG", "Ceramic mug", 5) or mug.quantity == 5
    assert amount(mug.unit_price) == Decimal("9.90")
    assert amount(mug.line_subtotal) == Decimal("49.50")
    assert (phone.sku, phone.quantity, amount(phone.line_total)) == ("SKU-PHONE-X1", 1, 699)
    assert phone.title == "Aurora X1 phone"
    assert mug.stock_state == common_pb2.STOCK_STATE_IN_STOCK
    assert (reply.cart.item_count, amount(reply.cart.total)) == (6, Decimal("748.50"))
    assert_reconciles(reply.cart)

    updated = await cart.stub.UpdateItem(
        pb.UpdateItemRequest(user_id=USER, cart_token=reply.cart_token, sku="SKU-MUG", quantity=1)
    )
    assert [line.quantity for line in updated.cart.lines] == [1, 1]
    removed = await cart.stub.RemoveItem(
        pb.RemoveItemRequest(user_id=USER, cart_token=updated.cart_token, sku="SKU-PHONE-X1")
    )
    assert [line.sku for line in removed.cart.lines] == ["SKU-MUG"]
    assert amount(removed.cart.total) == Decimal("9.90")


async def test_coupons_apply_replace_and_remove(cart: CartUnderTest) -> None:
    token = await filled(cart)
    ten = await cart.stub.ApplyCoupon(
        pb.ApplyCouponRequest(user_id=USER, cart_token=token, coupon_code="welcome10")
    )
    assert ten.cart.coupon_code == "WELCOME10"
    assert [amount(line.line_discount) for line in ten.cart.lines] == [
        Decimal("2.97"),
        Decimal("69.90"),
    ]
    assert_reconciles(ten.cart)
    five = await cart.stub.ApplyCoupon(
        pb.ApplyCouponRequest(user_id=USER, cart_token=ten.cart_token, coupon_code="SAVE5")
    )
    assert (five.cart.coupon_code, amount(five.cart.discount)) == ("SAVE5", 5)  # replaced
    assert_reconciles(five.cart)
    none = await cart.stub.ApplyCoupon(
        pb.ApplyCouponRequest(user_id=USER, cart_token=five.cart_token, coupon_code="")
    )
    assert (none.cart.coupon_code, amount(none.cart.discount)) == ("", 0)


@pytest.mark.parametrize(
    ("code", "reason"), [("NOPE", "COUPON_INVALID"), ("SUMMER2020", "COUPON_EXPIRED")]
)
async def test_unknown_or_expired_coupons_are_refused(
    cart: CartUnderTest, code: str, reason: str
) -> None:
    token = await filled(cart)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cart.stub.ApplyCoupon(
            pb.ApplyCouponRequest(user_id=USER, cart_token=token, coupon_code=code)
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(caught.value) == reason
    (info,) = status_details(caught.value)
    assert info.domain == "cart.shopmesh"


async def test_quote_converts_and_remembers_the_currency(cart: CartUnderTest) -> None:
    token = await filled(cart)
    quote = await cart.stub.Quote(
        pb.QuoteRequest(user_id=USER, cart_token=token, currency_code="USD")
    )
    assert (quote.rate, quote.cart.currency_code) == ("1.0842", "USD")
    mug, phone = quote.cart.lines
    assert amount(mug.unit_price) == Decimal("10.73358")  # exact; rounded per line only
    assert (amount(mug.line_subtotal), amount(phone.line_subtotal)) == (
        Decimal("32.20"),
        Decimal("757.86"),
    )
    assert all(m.currency_code == "USD" for m in (quote.cart.total, mug.unit_price))
    assert_reconciles(quote.cart)
    later = await cart.stub.GetCart(pb.GetCartRequest(user_id=USER, cart_token=quote.cart_token))
    assert later.cart.currency_code == "USD"
    yen = await cart.stub.Quote(
        pb.QuoteRequest(user_id=USER, cart_token=quote.cart_token, currency_code="JPY")
    )
    assert amount(yen.cart.total) == 4821 + 113455


async def _refusal(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_every_bad_input_is_refused_with_details(cart: CartUnderTest) -> None:
    token = await filled(cart)
    stub = cart.stub
    field_cases = [
        (stub.GetCart(pb.GetCartRequest(user_id="")), ["user_id"]),
        (stub.AddItem(pb.AddItemRequest(user_id=USER, sku="SKU-MUG", quantity=0)), ["quantity"]),
        (
            stub.AddItem(pb.AddItemRequest(user_id=USER, sku="SKU-MUG", quantity=10_001)),
            ["quantity"],
        ),
        (stub.AddItem(pb.AddItemRequest(user_id=USER, sku="SKU-MUG", quantity=-1)), ["quantity"]),
        (stub.AddItem(pb.AddItemRequest(user_id=USER, sku="no spaces", quantity=1)), ["sku"]),
        (
            stub.AddItem(pb.AddItemRequest(user_id="", sku="", quantity=0)),
            ["user_id", "sku", "quantity"],
        ),
        (
            stub.UpdateItem(pb.UpdateItemRequest(user_id=USER, cart_token=token, sku="SKU-MUG")),
            ["quantity"],
        ),
        (stub.RemoveItem(pb.RemoveItemRequest(user_id=USER, cart_token=token, sku="")), ["sku"]),
        (
            stub.ApplyCoupon(pb.ApplyCouponRequest(user_id=USER, coupon_code="C" * 33)),
            ["coupon_code"],
        ),
        (
            stub.Quote(pb.QuoteRequest(user_id=USER, cart_token=token, currency_code="usd")),
            ["currency_code"],
        ),
        (
            stub.Quote(pb.QuoteRequest(user_id=USER, cart_token=token, currency_code="XAU")),
            ["currency_code"],
        ),
        (stub.Checkout(pb.CheckoutRequest(user_id="u" * 129, cart_token=token)), ["user_id"]),
        (
            stub.AddItem(
                pb.AddItemRequest(user_id=USER, cart_token=token, sku="SKU-MUG", quantity=9_998)
            ),
            ["quantity"],
        ),
    ]
    for call, fields in field_cases:
        error = await _refusal(call)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, fields
        assert violated_fields(error) == fields


async def test_bad_tokens_are_refused_for_every_rpc(cart: CartUnderTest) -> None:
    token = await filled(cart)
    stub = cart.stub
    for bad, user in ((token[:-2], USER), (token + "A", USER), ("garbage", USER), (token, "bob")):
        calls = [
            stub.GetCart(pb.GetCartRequest(user_id=user, cart_token=bad)),
            stub.AddItem(
                pb.AddItemRequest(user_id=user, cart_token=bad, sku="SKU-MUG", quantity=1)
            ),
            stub.UpdateItem(
                pb.UpdateItemRequest(user_id=user, cart_token=bad, sku="SKU-MUG", quantity=1)
            ),
            stub.RemoveItem(pb.RemoveItemRequest(user_id=user, cart_token=bad, sku="SKU-MUG")),
            stub.ApplyCoupon(
                pb.ApplyCouponRequest(user_id=user, cart_token=bad, coupon_code="SAVE5")
            ),
            stub.Quote(pb.QuoteRequest(user_id=user, cart_token=bad, currency_code="USD")),
            stub.Checkout(pb.CheckoutRequest(user_id=user, cart_token=bad)),
        ]
        for call in calls:
            error = await _refusal(call)
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert error_reason(error) == "CART_TOKEN_INVALID"
            assert error.details() == "cart_token is not valid"


async def test_unknown_skus_and_missing_lines_are_not_found(cart: CartUnderTest) -> None:
    token = await filled(cart)
    cases = [
        (
            cart.stub.AddItem(
                pb.AddItemRequest(user_id=USER, cart_token=token, sku="SKU-NOPE", quantity=1)
            ),
            "product",
        ),
        (
            cart.stub.UpdateItem(
                pb.UpdateItemRequest(user_id=USER, cart_token=token, sku="SKU-CABLE", quantity=2)
            ),
            "cart line",
        ),
        (
            cart.stub.RemoveItem(
                pb.RemoveItemRequest(user_id=USER, cart_token=token, sku="SKU-CABLE")
            ),
            "cart line",
        ),
    ]
    for call, resource in cases:
        error = await _refusal(call)
        assert error.code() == grpc.StatusCode.NOT_FOUND
        (info,) = status_details(error)
        assert isinstance(info, error_details_pb2.ResourceInfo)
        assert info.resource_type == resource


async def test_a_cart_over_a_hundred_lines_is_refused(cart: CartUnderTest) -> None:
    """The real catalog has 24 SKUs, so the 100-line limit is shown through the desk's codec:
    a token holding 100 lines (of real SKUs' worth of bytes) is accepted and the 101st refused."""
    from servers.cart.domain import MAX_LINES, Cart
    from servers.cart.tokens import TokenCodec

    full = Cart.new()
    for index in range(MAX_LINES):
        full = full.add(f"SKU-X{index:03d}", 1)
    codec = TokenCodec(cart.settings.keyring, 600)
    token = codec.encode(full, USER)
    error = await _refusal(
        cart.stub.AddItem(
            pb.AddItemRequest(user_id=USER, cart_token=token, sku="SKU-MUG", quantity=1)
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == ["sku"]


async def test_checkout_of_an_empty_cart_is_refused(cart: CartUnderTest) -> None:
    error = await _refusal(cart.stub.Checkout(pb.CheckoutRequest(user_id=USER)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(error) == "CART_EMPTY"


async def test_checkout_with_the_order_service_down_is_unavailable(cart: CartUnderTest) -> None:
    token = await filled(cart)
    error = await _refusal(
        cart.stub.Checkout(pb.CheckoutRequest(user_id=USER, cart_token=token), timeout=5)
    )
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error_reason(error) == "DEPENDENCY_UNAVAILABLE"


async def test_catalog_is_cached_and_stock_fetched_in_batches_at_most_a_second_old(
    cart: CartUnderTest,
) -> None:
    token = await filled(cart)
    lists, batches = inventory_calls(cart, "ListProducts"), inventory_calls(cart, "BatchGetStock")
    for _ in range(20):
        reply = await cart.stub.GetCart(pb.GetCartRequest(user_id=USER, cart_token=token))
    assert inventory_calls(cart, "ListProducts") == lists  # no catalog call per request
    assert inventory_calls(cart, "BatchGetStock") - batches <= 1  # one batch per second at most
    assert inventory_calls(cart, "GetProduct") == 0 and inventory_calls(cart, "GetStock") == 0

    await cart.inventory.stub.SetStock(inventory_pb2.SetStockRequest(sku="SKU-MUG", available=0))
    await cart.inventory.stub.SetStock(
        inventory_pb2.SetStockRequest(sku="SKU-PHONE-X1", available=3)
    )
    await asyncio.sleep(1.05)
    reply = await cart.stub.GetCart(pb.GetCartRequest(user_id=USER, cart_token=token))
    assert [line.stock_state for line in reply.cart.lines] == [
        common_pb2.STOCK_STATE_SOLD_OUT,
        common_pb2.STOCK_STATE_LOW,
    ]


async def test_refused_calls_change_nothing(cart: CartUnderTest) -> None:
    token = await filled(cart)
    before = await cart.stub.GetCart(pb.GetCartRequest(user_id=USER, cart_token=token))
    for call in (
        cart.stub.ApplyCoupon(
            pb.ApplyCouponRequest(user_id=USER, cart_token=token, coupon_code="NOPE")
        ),
        cart.stub.AddItem(
            pb.AddItemRequest(user_id=USER, cart_token=token, sku="SKU-NOPE", quantity=1)
        ),
        cart.stub.Quote(pb.QuoteRequest(user_id=USER, cart_token=token, currency_code="XAU")),
    ):
        await _refusal(call)
    after = await cart.stub.GetCart(pb.GetCartRequest(user_id=USER, cart_token=token))
    assert after.cart == before.cart
