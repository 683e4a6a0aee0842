"""Exact cart pricing. Amounts are integers of a currency's minor unit; rates and unit prices
are Decimals; nothing is ever a float.

The one rounding rule: ROUND_HALF_UP to the minor unit of the display currency, applied once
per line to each computed amount (line subtotal = unit price x quantity x rate; a percentage
discount = line subtotal x percent). A fixed discount is converted once, then split across the
eligible lines in proportion to their subtotals by the largest-remainder method, so the split
always adds up to the discount exactly. Cart totals are plain sums of the line amounts, so
lines and totals reconcile by construction: total = subtotal - discount = sum of line totals.

Stacking: a cart holds at most one coupon; applying another replaces it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

from servers.cart.domain import Cart
from servers.common.money import exponent

ROUNDING = ROUND_HALF_UP
_PRECISION = 60  # far beyond any amount x rate we form, so only the explicit rounding rounds


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


class CouponKind(enum.Enum):
    PERCENT = "percent"
    FIXED = "fixed"


@dataclass(frozen=True, slots=True)
class Coupon:
    """`percent` for PERCENT (0 < p <= 100); `amount_minor` (catalog currency) for FIXED;
    `min_spend_minor` is compared with the eligible lines' subtotal in the catalog currency;
    empty `skus` means the whole cart; `expires_at` is epoch seconds, 0 for never."""

    code: str
    kind: CouponKind
    percent: Decimal = Decimal(0)
    amount_minor: int = 0
    min_spend_minor: int = 0
    skus: frozenset[str] = frozenset()
    expires_at: float = 0.0

    def expired(self, now: float) -> bool:
        return bool(self.expires_at) and now >= self.expires_at

    def covers(self, sku: str) -> bool:
        return not self.skus or sku in self.skus


@dataclass(frozen=True, slots=True)
class Conversion:
    """Display `target` = catalog `base` amount x `rate` (1 when they are the same)."""

    base: str
    target: str
    rate: Decimal

    def minor(self, base_minor: int) -> int:
        """A catalog-currency amount in the target's minor units, rounded once."""
        return round_minor(Decimal(base_minor) * self.rate * self._scale())

    def back(self, target_minor: int) -> int:
        """The inverse conversion (target -> catalog currency), rounded once."""
        with localcontext() as context:
            context.prec = _PRECISION
            return round_minor(Decimal(target_minor) / (self.rate * self._scale()))

    def unit_price(self, base_minor: int) -> Decimal:
        """The exact unit price in target major units (not rounded: rounding is per line)."""
        with localcontext() as context:
            context.prec = _PRECISION
            return (Decimal(base_minor).scaleb(-exponent(self.base)) * self.rate).normalize()

    def _scale(self) -> Decimal:
        return Decimal(1).scaleb(exponent(self.target) - exponent(self.base))


def round_minor(value: Decimal) -> int:
    with localcontext() as context:
        context.prec = _PRECISION
        return int(value.quantize(Decimal(1), rounding=ROUNDING))


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
        discounts = discount_lines(cart, products, subtotals, conversion, coupon)
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


def discount_lines(
    cart: Cart,
    products: dict[str, Product],
    subtotals: Sequence[int],
    conversion: Conversion,
    coupon: Coupon,
) -> list[int]:
    """Each line's share of the coupon's discount, in target minor units (0 when the coupon's
    minimum spend is not met or no line is eligible)."""
    eligible = [coupon.covers(line.sku) for line in cart.lines]
    base_spend = sum(
        products[line.sku].unit_minor * line.quantity
        for line, ok in zip(cart.lines, eligible, strict=True)
        if ok
    )
    if not any(eligible) or base_spend < coupon.min_spend_minor:
        return [0] * len(subtotals)
    if coupon.kind is CouponKind.PERCENT:
        share = coupon.percent / 100
        return [
            round_minor(subtotal * share) if ok else 0
            for subtotal, ok in zip(subtotals, eligible, strict=True)
        ]
    weights = [subtotal if ok else 0 for subtotal, ok in zip(subtotals, eligible, strict=True)]
    amount = min(conversion.minor(coupon.amount_minor), sum(weights))
    return split_proportionally(amount, weights)


def split_proportionally(amount: int, weights: Sequence[int]) -> list[int]:
    """Split `amount` (0 <= amount <= sum(weights)) by weight, in integers that sum to it:
    floors first, then one unit each to the largest remainders (earlier lines win ties)."""
    total = sum(weights)
    if total == 0 or amount == 0:
        return [0] * len(weights)
    shares = [amount * weight // total for weight in weights]
    remainders = [amount * weight % total for weight in weights]
    left = amount - sum(shares)
    order = sorted(range(len(weights)), key=lambda index: (-remainders[index], index))
    for index in order[:left]:
        shares[index] += 1
    return shares
