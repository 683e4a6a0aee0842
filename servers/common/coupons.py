"""Coupons, shared by the cart (which shows a discount) and the order service (which charges it).

coupons.json: {"coupons": [{"code", "kind": "percent"|"fixed", "percent": "10",
  "amount_minor": 500, "min_spend_minor": 0, "skus": [], "expires_at": "2027-01-01T00:00:00Z"}]}
Amounts are integers of the catalog currency's minor unit.

The one rounding rule: ROUND_HALF_UP to the minor unit of the currency priced in, applied once
per line to each computed amount (a percentage discount = line subtotal x percent). A fixed
discount is converted once, then split across the eligible lines in proportion to their
subtotals by the largest-remainder method, so the split always adds up to the discount exactly.
Both services run the same `discount_lines`, so an order placed in the catalog currency carries
exactly the discount the cart showed for it in that currency.
"""

from __future__ import annotations

import datetime
import enum
import json
import pathlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any

from servers.common.errors import PreconditionFailed
from servers.common.settings import SettingsError
from servers.common.validation import Violations

ROUNDING = ROUND_HALF_UP
PRECISION = 60  # far beyond any amount x rate we form, so only the explicit rounding rounds
DEFAULT_FILE = pathlib.Path(__file__).with_name("data") / "coupons.json"
MAX_CODE_LENGTH = 32


class CouponKind(enum.Enum):
    PERCENT = "percent"
    FIXED = "fixed"


@dataclass(frozen=True, slots=True)
class Coupon:
    """`percent` for PERCENT (0 < p <= 100); `amount_minor` (catalog currency) for FIXED;
    `min_spend_minor` is compared with the eligible lines' subtotal in the catalog currency;
    empty `skus` means every line; `expires_at` is epoch seconds, 0 for never."""

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


def check_code(violations: Violations, code: str) -> None:
    """Empty is allowed (no coupon); otherwise a short printable code."""
    if len(code) > MAX_CODE_LENGTH:
        violations.add("coupon_code", f"must be at most {MAX_CODE_LENGTH} characters")
    elif code and not code.isprintable():
        violations.add("coupon_code", "must not contain control characters")


def round_minor(value: Decimal) -> int:
    """`value` (in minor units) rounded once, by the one rounding rule."""
    with localcontext() as context:
        context.prec = PRECISION
        return int(value.quantize(Decimal(1), rounding=ROUNDING))


def _same(base_minor: int) -> int:
    return base_minor


def discount_lines(
    coupon: Coupon,
    skus: Sequence[str],
    base_subtotals: Sequence[int],
    subtotals: Sequence[int] | None = None,
    convert: Callable[[int], int] = _same,
) -> list[int]:
    """Each line's share of `coupon`'s discount, in the minor units of `subtotals` (the line
    subtotals in the currency priced in; None = the catalog currency, `base_subtotals`).
    `convert` turns a catalog-currency amount into that currency (rounded once). All lines get 0
    when the minimum spend is not met or no line is eligible."""
    priced = base_subtotals if subtotals is None else subtotals
    eligible = [coupon.covers(sku) for sku in skus]
    spend = sum(base for base, ok in zip(base_subtotals, eligible, strict=True) if ok)
    if not any(eligible) or spend < coupon.min_spend_minor:
        return [0] * len(priced)
    if coupon.kind is CouponKind.PERCENT:
        share = coupon.percent / 100
        return [
            round_minor(subtotal * share) if ok else 0
            for subtotal, ok in zip(priced, eligible, strict=True)
        ]
    weights = [subtotal if ok else 0 for subtotal, ok in zip(priced, eligible, strict=True)]
    amount = min(convert(coupon.amount_minor), sum(weights))
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


class CouponBook:
    """Coupons by code (codes are case-insensitive). `domain` is the ErrorInfo domain of the
    service that refuses a code (e.g. "cart.shopmesh")."""

    def __init__(self, coupons: Sequence[Coupon], domain: str) -> None:
        self._by_code = {coupon.code.upper(): coupon for coupon in coupons}
        self.domain = domain

    @classmethod
    def from_file(cls, path: pathlib.Path, domain: str, setting: str) -> CouponBook:
        """Load the book; a broken file is a SettingsError naming `setting` (the variable)."""
        try:
            entries = json.loads(path.read_text(), parse_float=Decimal)["coupons"]
            return cls([_coupon(entry) for entry in entries], domain)
        except (OSError, ValueError, KeyError, TypeError, InvalidOperation) as exc:
            raise SettingsError(f"{setting}={path}: {exc}") from None

    def find(self, code: str) -> Coupon | None:
        return self._by_code.get(code.upper())

    def usable(self, code: str, now: float) -> Coupon:
        """The coupon for `code`, or COUPON_INVALID / COUPON_EXPIRED."""
        coupon = self.find(code)
        if coupon is None:
            raise PreconditionFailed(
                "COUPON_INVALID", self.domain, f"no coupon {code!r}", {"coupon_code": code}
            )
        if coupon.expired(now):
            raise PreconditionFailed(
                "COUPON_EXPIRED",
                self.domain,
                f"coupon {code!r} has expired",
                {"coupon_code": code},
            )
        return coupon


def _coupon(entry: dict[str, Any]) -> Coupon:
    kind = CouponKind(entry["kind"])
    percent = Decimal(str(entry.get("percent", "0")))
    if kind is CouponKind.PERCENT and not Decimal(0) < percent <= 100:
        raise ValueError(f"coupon {entry['code']}: percent must be in (0, 100]")
    amount = int(entry.get("amount_minor", 0))
    if kind is CouponKind.FIXED and amount <= 0:
        raise ValueError(f"coupon {entry['code']}: amount_minor must be positive")
    expires = entry.get("expires_at", "")
    return Coupon(
        code=str(entry["code"]).upper(),
        kind=kind,
        percent=percent,
        amount_minor=amount,
        min_spend_minor=int(entry.get("min_spend_minor", 0)),
        skus=frozenset(entry.get("skus", [])),
        expires_at=datetime.datetime.fromisoformat(expires).timestamp() if expires else 0.0,
    )
