"""Exact money: amounts are integers of a currency's minor unit, never floats.

The wire type (shop.common.v1.Money) holds units + nanos; these helpers convert between the two
using each currency's ISO 4217 exponent and refuse any amount finer than the minor unit.
"""

from __future__ import annotations

from servers.common.errors import InvalidArgument

# ISO 4217 minor-unit exponents of the currencies shopmesh prices in.
EXPONENTS: dict[str, int] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "CHF": 2,
    "CNY": 2,
    "CAD": 2,
    "AUD": 2,
    "SEK": 2,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "BHD": 3,
}
_NANOS = 1_000_000_000


def exponent(currency: str) -> int:
    try:
        return EXPONENTS[currency]
    except KeyError:
        raise InvalidArgument.single(
            "currency_code", f"unsupported currency {currency!r}"
        ) from None


def split(minor: int, currency: str) -> tuple[int, int]:
    """Minor units -> (units, nanos), both with the sign of the amount."""
    scale: int = 10 ** exponent(currency)
    sign = -1 if minor < 0 else 1
    whole, fraction = divmod(abs(minor), scale)
    return sign * whole, sign * fraction * (_NANOS // scale)


def join(units: int, nanos: int, currency: str, field: str = "amount") -> int:
    """(units, nanos) -> minor units; refuses mixed signs and sub-minor-unit amounts."""
    scale: int = 10 ** exponent(currency)
    if (units > 0 and nanos < 0) or (units < 0 and nanos > 0) or abs(nanos) >= _NANOS:
        raise InvalidArgument.single(
            field, "units and nanos must have the same sign, |nanos| < 1e9"
        )
    step = _NANOS // scale
    if nanos % step:
        raise InvalidArgument.single(field, f"is finer than the minor unit of {currency}")
    return units * scale + nanos // step
