"""The cart's currency rate table (the coupon book is shared: servers.common.coupons).

rates.json: {"base": "EUR", "rates": {"USD": "1.0842", ...}}, rates as decimal strings (at most
  six decimals); the base is the catalog currency. The rate file is re-read when it changes
  (checked at most once a second), so rates move without a restart; a broken file is logged
  and the last good table stays in force.
"""

from __future__ import annotations

import json
import logging
import pathlib
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from servers.cart.pricing import Conversion
from servers.common.errors import InvalidArgument
from servers.common.money import EXPONENTS
from servers.common.settings import SettingsError

_log = logging.getLogger("shopmesh.cart")
MAX_RATE_DECIMALS = 6  # with 2-3 decimal prices this keeps unit prices within Money's nanos


class RateTable:
    """Conversion rates from the catalog currency, reloaded when the file changes."""

    def __init__(
        self,
        path: pathlib.Path,
        check_every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = path
        self._check_every_s = check_every_s
        self._clock = clock
        self._stamp = self._file_stamp()
        self.base, self._rates = _load_rates(path)
        self._checked = clock()

    def conversion(self, target: str) -> Conversion:
        """The conversion to `target` ("" = the base), or INVALID_ARGUMENT when unsupported."""
        self._maybe_reload()
        currency = target or self.base
        rate = self._rates.get(currency)
        if rate is None:
            raise InvalidArgument.single(
                "currency_code",
                f"unsupported currency {currency!r}; supported: {', '.join(sorted(self._rates))}",
            )
        return Conversion(self.base, currency, rate)

    def _file_stamp(self) -> tuple[int, int]:
        stat = self._path.stat()
        return stat.st_mtime_ns, stat.st_size

    def _maybe_reload(self) -> None:
        now = self._clock()
        if now - self._checked < self._check_every_s:
            return
        self._checked = now
        try:
            stamp = self._file_stamp()
            if stamp == self._stamp:
                return
            base, rates = _load_rates(self._path)
        except (OSError, SettingsError) as exc:
            _log.warning("keeping the last good rate table: %s", exc)
            return
        self._stamp = stamp
        if base != self.base:
            _log.warning("rate table base changed from %s to %s: ignored", self.base, base)
            return
        self._rates = rates
        _log.info("rate table reloaded", extra={"currencies": len(rates)})


def _load_rates(path: pathlib.Path) -> tuple[str, dict[str, Decimal]]:
    try:
        data = json.loads(path.read_text(), parse_float=Decimal)
        base = str(data["base"])
        rates = {base: Decimal(1)}
        for code, raw in data["rates"].items():
            rates[str(code)] = _rate(str(code), raw)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, InvalidOperation) as exc:
        raise SettingsError(f"CART_RATES_FILE={path}: {exc}") from None
    unknown = sorted(code for code in rates if code not in EXPONENTS)
    if unknown:
        raise SettingsError(f"CART_RATES_FILE={path}: no minor-unit exponent for {unknown}")
    return base, rates


def _rate(code: str, raw: object) -> Decimal:
    rate = Decimal(str(raw))
    exponent = rate.as_tuple().exponent
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"rate of {code} must be a positive decimal")
    if isinstance(exponent, int) and exponent < -MAX_RATE_DECIMALS:
        raise ValueError(f"rate of {code} has more than {MAX_RATE_DECIMALS} decimals")
    return rate
