"""Exact cart pricing. Amounts are integers of a currency's minor unit; rates and unit prices
are Decimals; nothing is ever a float.

The one rounding rule (servers.common.coupons): ROUND_HALF_UP to the minor unit of the display
currency, applied once per line to each computed amount (line subtotal = unit price x quantity x
rate; discounts as the shared coupon rules compute them). Cart totals are plain sums of the line
amounts, so lines and totals reconcile by construction: total = subtotal - discount = sum of
line totals. The order service applies the same rules to the order in the catalog currency.

Stacking: a cart holds at most one coupon; applying another replaces it.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from decimal import Decimal, localcontext

from servers.cart.domain import Cart
from servers.common.coupons import PRECISION, Coupon, discount_lines, round_minor
from servers.common.money import exponent


class StockState(enum.Enum):
    UNKNOWN = "unknown"
    IN_STOCK = "in_stock"
    LOW = "low"
    SOLD_OUT = "sold_out"


@dataclass(frozen=True, slots=True)
class Product:
    """A catalog entry as the cart sees it: the price in the catalog currency's minor units."""

    sku: str
    title: str
    unit_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class Conversion:
    """Display `target` = catalog `base` amount x `rate` (1 when they are the same)."""

    base: str
    target: str
    rate: Decimal

    def minor(self, base_minor: int) -> int:
        """A catalog-currency amount in the target's minor units, rounded once."""
        if self.target == self.base:  # the common case, exact in integers: no Decimal work
            return base_minor
        return round_minor(Decimal(base_minor) * self.rate * self._scale())

    def back(self, target_minor: int) -> int:
        """The inverse conversion (target -> catalog currency), rounded once."""
        with localcontext() as context:
            context.prec = PRECISION
            return round_minor(Decimal(target_minor) / (self.rate * self._scale()))

    def unit_price(self, base_minor: int) -> Decimal:
        """The exact unit price in target major units (not rounded: rounding is per line)."""
        return _unit_price(base_minor, self.base, self.rate)

    def _scale(self) -> Decimal:
        return Decimal(1).scaleb(exponent(self.target) - exponent(self.base))


@functools.lru_cache(maxsize=4096)  # a catalog has few distinct prices; carts repeat them
def _unit_price(base_minor: int, base: str, rate: Decimal) -> Decimal:
    with localcontext() as context:
        context.prec = PRECISION
        return (Decimal(base_minor).scaleb(-exponent(base)) * rate).normalize()


@dataclass(frozen=True, slots=True)
class PricedLine:
    sku: str
    title: str
    quantity: int
    unit_price: Decimal
    subtotal: int
    discount: int
    stock: StockState

    @property
    def total(self) -> int:
        return self.subtotal - self.discount


@dataclass(frozen=True, slots=True)
class PricedCart:
    lines: tuple[PricedLine, ...]
    coupon: str
    currency: str
    rate: Decimal

    @property
    def subtotal(self) -> int:
        return sum(line.subtotal for line in self.lines)

    @property
    def discount(self) -> int:
        return sum(line.discount for line in self.lines)

    @property
    def total(self) -> int:
        return sum(line.total for line in self.lines)

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)


def price_cart(
    cart: Cart,
    products: dict[str, Product],
    stock: dict[str, StockState],
    conversion: Conversion,
    coupon: Coupon | None,
) -> PricedCart:
    """Price every line of `cart` in `conversion.target`, then apply `coupon` (may be None)."""
    subtotals = [
        conversion.minor(products[line.sku].unit_minor * line.quantity) for line in cart.lines
    ]
    discounts = [0] * len(subtotals)
    if coupon is not None:
        discounts = discount_lines(
            coupon,
            [line.sku for line in cart.lines],
            [products[line.sku].unit_minor * line.quantity for line in cart.lines],
            subtotals,
            conversion.minor,
        )
    lines = tuple(
        PricedLine(
            sku=line.sku,
            title=products[line.sku].title,
            quantity=line.quantity,
            unit_price=conversion.unit_price(products[line.sku].unit_minor),
            subtotal=subtotal,
            discount=discount,
            stock=stock.get(line.sku, StockState.UNKNOWN),
        )
        for line, subtotal, discount in zip(cart.lines, subtotals, discounts, strict=True)
    )
    return PricedCart(lines, cart.coupon, conversion.target, conversion.rate)
