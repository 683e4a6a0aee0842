"""The cart's use cases: open the token, apply the change, price, seal a new token.

Validation comes first and covers every field, then the token is opened; nothing is ever
stored, so a refused call changes nothing by construction. A coupon that has expired or left
the coupon book since it was applied, a display currency no longer in the rate table and a
line whose product inventory no longer sells are dropped when the cart is next priced, rather
than leaving the client with a cart it can never open again.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar

from servers.cart.catalog import Catalog
from servers.cart.domain import DOMAIN, Cart, CartLine, check_coupon_code, validate
from servers.cart.pricing import Conversion, PricedCart, Product, StockState, price_cart
from servers.cart.tables import RateTable
from servers.cart.tokens import TokenCodec
from servers.common.coupons import CouponBook
from servers.common.errors import InvalidArgument, PreconditionFailed
from servers.common.validation import Violations

MAX_ORDER_LINES = 50  # PlaceOrder's limit
_CURRENCY = re.compile(r"[A-Z]{3}")
_log = logging.getLogger("shopmesh.cart")

OrderT = TypeVar("OrderT")
OrderT_co = TypeVar("OrderT_co", covariant=True)


class OrderPort(Protocol[OrderT_co]):
    async def place(
        self, request_id: str, user_id: str, lines: Sequence[CartLine], coupon_code: str
    ) -> OrderT_co:
        """Place (or replay) the order of `request_id`; the order service prices it and applies
        `coupon_code` ("" for none) itself, in the catalog currency."""
        ...


@dataclass(frozen=True, slots=True)
class CartView:
    """A call's answer: the new token and the cart priced."""

    token: str
    cart: PricedCart


class CartDesk(Generic[OrderT]):
    def __init__(
        self,
        codec: TokenCodec,
        catalog: Catalog,
        coupons: CouponBook,
        rates: RateTable,
        orders: OrderPort[OrderT],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._codec = codec
        self._catalog = catalog
        self._coupons = coupons
        self._rates = rates
        self._orders = orders
        self._clock = clock

    async def get(self, user_id: str, token: str) -> CartView:
        validate(user_id)
        return await self._seal(self._open(token, user_id), user_id)

    async def add(self, user_id: str, token: str, sku: str, quantity: int) -> CartView:
        validate(user_id, sku=sku, quantity=quantity)
        cart = self._open(token, user_id)
        await self._catalog.products_for([sku])
        return await self._seal(cart.add(sku, quantity), user_id)

    async def update(self, user_id: str, token: str, sku: str, quantity: int) -> CartView:
        validate(user_id, sku=sku, quantity=quantity)
        cart = self._open(token, user_id)
        return await self._seal(cart.update(sku, quantity), user_id)

    async def remove(self, user_id: str, token: str, sku: str) -> CartView:
        validate(user_id, sku=sku)
        cart = self._open(token, user_id)
        return await self._seal(cart.remove(sku), user_id)

    async def apply_coupon(self, user_id: str, token: str, code: str) -> CartView:
        violations = Violations()
        violations.identifier("user_id", user_id)
        check_coupon_code(violations, code)
        violations.raise_if_any()
        cart = self._open(token, user_id)
        applied = self._coupons.usable(code, self._clock()).code if code else ""
        return await self._seal(cart.with_coupon(applied), user_id)

    async def quote(self, user_id: str, token: str, currency: str) -> tuple[CartView, Conversion]:
        violations = Violations()
        violations.identifier("user_id", user_id)
        if not _CURRENCY.fullmatch(currency):
            violations.add("currency_code", "must be a three-letter ISO 4217 code, e.g. USD")
        violations.raise_if_any()
        cart = self._open(token, user_id)
        conversion = self._rates.conversion(currency)
        view = await self._seal(cart.with_currency(currency), user_id)
        return view, conversion

    async def checkout(self, user_id: str, token: str) -> tuple[OrderT, str]:
        """Re-price against inventory now, then place one order under the cart's request id.

        Stock is not pre-checked here: inventory's reservation is the authority, and a retry
        of a checkout whose first answer was lost must replay that order even when it took
        the last unit, so a sold-out line is refused by PlaceOrder (SOLD_OUT, with the SKU).

        The coupon goes to PlaceOrder as the token holds it, even if it has expired since: the
        order service is the authority and refuses a stale one (COUPON_EXPIRED) for a new order,
        so the customer is never charged a total other than the one shown, while a retry of a
        checkout placed before the expiry replays its order instead of placing a second one."""
        validate(user_id)
        sealed = self._codec.decode(token, user_id)
        cart = self._usable(sealed)
        if not cart.lines:
            raise PreconditionFailed("CART_EMPTY", DOMAIN, "the cart is empty")
        if len(cart.lines) > MAX_ORDER_LINES:
            raise PreconditionFailed(
                "CART_TOO_LARGE",
                DOMAIN,
                f"one order holds at most {MAX_ORDER_LINES} lines; the cart has {len(cart.lines)}",
                {"max_lines": str(MAX_ORDER_LINES)},
            )
        products = await self._catalog.current([line.sku for line in cart.lines])
        self._price(cart, products, {})  # refuses a cart the current catalog cannot price
        ordered = cart.with_coupon(sealed.coupon)
        order = await self._orders.place(
            ordered.request_id(user_id), user_id, ordered.lines, ordered.coupon
        )
        return order, self._codec.encode(cart.emptied(), user_id)

    def _open(self, token: str, user_id: str) -> Cart:
        return self._usable(self._codec.decode(token, user_id))

    def _usable(self, cart: Cart) -> Cart:
        """`cart` without a coupon or currency that can no longer be used."""
        if cart.coupon:
            coupon = self._coupons.find(cart.coupon)
            if coupon is None or coupon.expired(self._clock()):
                cart = cart.with_coupon("")
        if cart.currency:
            try:
                self._rates.conversion(cart.currency)
            except InvalidArgument:
                cart = cart.with_currency("")
        return cart

    async def _seal(self, cart: Cart, user_id: str) -> CartView:
        skus = [line.sku for line in cart.lines]
        products = await self._catalog.products_for(skus, strict=False)
        if len(products) < len(skus):
            _log.info("dropping withdrawn products", extra={"skus": len(skus) - len(products)})
            cart = replace(cart, lines=tuple(line for line in cart.lines if line.sku in products))
        states = await self._catalog.stock_states(list(products)) if products else {}
        priced = self._price(cart, products, states)
        return CartView(self._codec.encode(cart, user_id), priced)

    def _price(
        self, cart: Cart, products: dict[str, Product], states: dict[str, StockState]
    ) -> PricedCart:
        conversion = self._rates.conversion(cart.currency)
        foreign = [p.sku for p in products.values() if p.currency != conversion.base]
        if foreign:
            raise PreconditionFailed(
                "CURRENCY_UNSUPPORTED",
                DOMAIN,
                f"{foreign[0]} is priced in a currency the rate table does not convert from",
                {"sku": foreign[0]},
            )
        coupon = self._coupons.find(cart.coupon) if cart.coupon else None
        return price_cart(cart, products, states, conversion, coupon)
