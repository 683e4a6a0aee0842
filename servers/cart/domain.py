"""The cart itself: lines, coupon and currency, the rules for changing them, and the id a
checkout is placed under. No gRPC and no crypto here; the token codec stores these values."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace

from servers.common import coupons
from servers.common.errors import InvalidArgument, NotFound
from servers.common.validation import Violations

DOMAIN = "cart.shopmesh"
MAX_LINES = 100
MAX_QUANTITY = 10_000
MAX_SKU_LENGTH = 64  # catalog SKUs are short; the cap keeps a full cart's token a few KB
CART_ID_BYTES = 16


@dataclass(frozen=True, slots=True)
class CartLine:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Cart:
    """A cart's content. `currency` is the display currency ("" means the catalog's own)."""

    cart_id: bytes
    lines: tuple[CartLine, ...] = ()
    coupon: str = ""
    currency: str = ""

    @classmethod
    def new(cls, currency: str = "") -> Cart:
        return cls(cart_id=secrets.token_bytes(CART_ID_BYTES), currency=currency)

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    def quantity_of(self, sku: str) -> int:
        return next((line.quantity for line in self.lines if line.sku == sku), 0)

    def add(self, sku: str, quantity: int) -> Cart:
        """Add units, to the existing line of `sku` if there is one (so lines stay distinct)."""
        held = self.quantity_of(sku)
        if held and held + quantity > MAX_QUANTITY:
            raise InvalidArgument.single(
                "quantity",
                f"the line would hold {held + quantity:,} units (at most {MAX_QUANTITY:,})",
            )
        if held:
            return self._set(sku, held + quantity)
        if len(self.lines) >= MAX_LINES:
            raise InvalidArgument.single("sku", f"the cart already has {MAX_LINES} lines")
        return replace(self, lines=(*self.lines, CartLine(sku, quantity)))

    def update(self, sku: str, quantity: int) -> Cart:
        self._require(sku)
        return self._set(sku, quantity)

    def remove(self, sku: str) -> Cart:
        self._require(sku)
        return replace(self, lines=tuple(line for line in self.lines if line.sku != sku))

    def with_coupon(self, code: str) -> Cart:
        return replace(self, coupon=code)

    def with_currency(self, currency: str) -> Cart:
        return replace(self, currency=currency)

    def emptied(self) -> Cart:
        """The cart after checkout: a fresh id (a later cart is a new purchase), same currency."""
        return Cart.new(self.currency)

    def request_id(self, user_id: str) -> str:
        """The PlaceOrder idempotency key: the same cart (id, lines and coupon) always gives the
        same key, so a retried checkout replays its order; any change of content gives another
        key. A cart without a coupon keeps the key it had before coupons reached the order."""
        digest = hashlib.sha256(b"shopmesh-cart-checkout\x00")
        digest.update(self.cart_id)
        digest.update(user_id.encode())
        for line in sorted(self.lines, key=lambda item: item.sku):
            digest.update(f"\x00{line.sku}\x00{line.quantity}".encode())
        if self.coupon:
            digest.update(f"\x00coupon\x00{self.coupon.upper()}".encode())
        return "cart-" + digest.hexdigest()[:40]

    def _require(self, sku: str) -> None:
        if not self.quantity_of(sku):
            raise NotFound("cart line", sku)

    def _set(self, sku: str, quantity: int) -> Cart:
        lines = tuple(CartLine(sku, quantity) if line.sku == sku else line for line in self.lines)
        return replace(self, lines=lines)


def check_user(violations: Violations, user_id: str) -> None:
    violations.identifier("user_id", user_id)


def check_sku(violations: Violations, sku: str) -> None:
    if violations.sku("sku", sku) and len(sku) > MAX_SKU_LENGTH:
        violations.add("sku", f"must be at most {MAX_SKU_LENGTH} characters")


def check_quantity(violations: Violations, quantity: int) -> None:
    violations.in_range("quantity", quantity, 1, MAX_QUANTITY)


def check_coupon_code(violations: Violations, code: str) -> None:
    """Empty is allowed (it removes the coupon); otherwise a short printable code."""
    coupons.check_code(violations, code)


def validate(user_id: str, *, sku: str | None = None, quantity: int | None = None) -> None:
    """Validate the common fields of a cart request, naming every bad one at once."""
    violations = Violations()
    check_user(violations, user_id)
    if sku is not None:
        check_sku(violations, sku)
    if quantity is not None:
        check_quantity(violations, quantity)
    violations.raise_if_any()
