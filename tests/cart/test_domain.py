"""Cart rules without a server: changing lines, limits, validation, the checkout id."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servers.cart.domain import MAX_LINES, MAX_QUANTITY, Cart, CartLine, validate
from servers.common.errors import InvalidArgument, NotFound

SKUS = st.sampled_from([f"SKU-{i}" for i in range(12)])
lines = st.lists(st.tuples(SKUS, st.integers(1, 100)), max_size=12)


def build(pairs: list[tuple[str, int]]) -> Cart:
    cart = Cart(bytes(16))
    for sku, quantity in pairs:
        cart = cart.add(sku, quantity)
    return cart


@given(
    pairs=lines,
    sku=st.sampled_from([f"NEW-{i}" for i in range(3)]),
    quantity=st.integers(1, MAX_QUANTITY),
)
def test_adding_then_removing_a_line_gives_back_an_equal_cart(
    pairs: list[tuple[str, int]], sku: str, quantity: int
) -> None:
    cart = build(pairs)
    assert cart.add(sku, quantity).remove(sku) == cart


@given(pairs=lines)
def test_lines_stay_distinct_and_quantities_add_up(pairs: list[tuple[str, int]]) -> None:
    cart = build(pairs)
    assert len({line.sku for line in cart.lines}) == len(cart.lines)
    for sku in {sku for sku, _ in pairs}:
        assert cart.quantity_of(sku) == sum(q for s, q in pairs if s == sku)
    assert cart.item_count == sum(q for _, q in pairs)


def test_lines_keep_the_order_they_were_added_in() -> None:
    cart = build([("B", 1), ("A", 2), ("B", 3)])
    assert cart.lines == (CartLine("B", 4), CartLine("A", 2))
    assert cart.update("B", 7).lines == (CartLine("B", 7), CartLine("A", 2))


def test_a_line_cannot_exceed_the_quantity_limit() -> None:
    cart = build([("A", MAX_QUANTITY - 1)])
    assert cart.add("A", 1).quantity_of("A") == MAX_QUANTITY
    with pytest.raises(InvalidArgument) as caught:
        cart.add("A", 2)
    assert caught.value.violations[0].field == "quantity"


def test_the_cart_holds_at_most_a_hundred_lines() -> None:
    cart = build([(f"S{i}", 1) for i in range(MAX_LINES)])
    assert cart.add("S0", 1).quantity_of("S0") == 2  # adding to an existing line still works
    with pytest.raises(InvalidArgument) as caught:
        cart.add("ONE-TOO-MANY", 1)
    assert caught.value.violations[0].field == "sku"


@pytest.mark.parametrize("change", [lambda c: c.update("X", 1), lambda c: c.remove("X")])
def test_changing_a_line_not_in_the_cart_is_not_found(change: object) -> None:
    with pytest.raises(NotFound) as caught:
        change(build([("A", 1)]))  # type: ignore[operator]
    assert (caught.value.resource_type, caught.value.resource_name) == ("cart line", "X")


def test_checkout_id_depends_on_cart_id_user_and_content_only() -> None:
    cart = build([("A", 1), ("B", 2)])
    same_content = build([("B", 2), ("A", 1)])
    assert cart.request_id("u1") == same_content.request_id("u1")
    assert cart.request_id("u1") == cart.with_currency("USD").request_id("u1")
    # the coupon is part of the order (PlaceOrder prices it), so it is part of the content
    coupon = cart.with_coupon("X")
    assert coupon.request_id("u1") not in {
        cart.request_id("u1"),
        cart.with_coupon("Y").request_id("u1"),
    }
    assert coupon.request_id("u1") == coupon.with_currency("USD").request_id("u1")
    assert cart.request_id("u1") != cart.request_id("u2")
    assert cart.request_id("u1") != cart.add("A", 1).request_id("u1")
    assert cart.request_id("u1") != Cart(bytes([1] * 16), cart.lines).request_id("u1")
    assert cart.emptied().cart_id != cart.cart_id
    assert len(cart.request_id("u1")) <= 128


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [
        ({"user_id": ""}, ["user_id"]),
        ({"user_id": "u" * 129}, ["user_id"]),
        ({"user_id": "u\n1"}, ["user_id"]),
        ({"user_id": "u1", "sku": ""}, ["sku"]),
        ({"user_id": "u1", "sku": "bad sku"}, ["sku"]),
        ({"user_id": "u1", "sku": "S" * 65}, ["sku"]),
        ({"user_id": "u1", "sku": "A", "quantity": 0}, ["quantity"]),
        ({"user_id": "u1", "sku": "A", "quantity": -3}, ["quantity"]),
        ({"user_id": "u1", "sku": "A", "quantity": MAX_QUANTITY + 1}, ["quantity"]),
        ({"user_id": "", "sku": "", "quantity": 0}, ["user_id", "sku", "quantity"]),
    ],
)
def test_validation_names_every_bad_field(kwargs: dict[str, object], fields: list[str]) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate(**kwargs)  # type: ignore[arg-type]
    assert [v.field for v in caught.value.violations] == fields
