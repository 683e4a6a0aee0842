"""The cart message: cached line messages never leak between carts or currencies."""

from __future__ import annotations

from decimal import Decimal

from servers.cart.pricing import PricedCart, PricedLine, StockState
from servers.cart.service import encode_cart


def _cart(currency: str, quantity: int = 2) -> PricedCart:
    line = PricedLine("SKU-MUG", "Mug", quantity, Decimal("12.345"), 2469, 100, StockState.IN_STOCK)
    return PricedCart((line, line), "", currency, Decimal(1))


def test_equal_lines_encode_alike_and_a_change_of_currency_or_quantity_shows() -> None:
    first, again = encode_cart(_cart("EUR")), encode_cart(_cart("EUR"))
    assert first == again
    assert [li.line_total.units for li in first.lines] == [23, 23]
    assert first.lines[0].unit_price.nanos == 345_000_000
    assert {li.unit_price.currency_code for li in encode_cart(_cart("USD")).lines} == {"USD"}
    assert [li.quantity for li in encode_cart(_cart("EUR", 3)).lines] == [3, 3]


def test_changing_one_reply_does_not_change_the_next() -> None:
    reply = encode_cart(_cart("EUR"))
    reply.lines[0].title = "changed"
    reply.lines[0].line_total.units = 0
    fresh = encode_cart(_cart("EUR"))
    assert fresh.lines[0].title == "Mug" and fresh.lines[0].line_total.units == 23
