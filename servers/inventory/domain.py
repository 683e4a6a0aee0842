"""Inventory rules: the catalog, stock levels, reservations and their validation. No gRPC here."""

from __future__ import annotations

import base64
import binascii
import enum
import json
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass

from servers.common.errors import InvalidArgument, NotFound, PreconditionFailed
from servers.common.validation import Violations

DOMAIN = "inventory.shopmesh"
MAX_LINES = 50
MAX_LINE_QUANTITY = 10_000
MAX_STOCK = 1_000_000_000
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
MAX_BATCH = 100


class StockState(enum.Enum):
    IN_STOCK = "in_stock"
    LOW = "low"
    SOLD_OUT = "sold_out"


class ReservationState(enum.Enum):
    RESERVED = "R"
    COMMITTED = "C"
    RELEASED = "X"


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    title: str
    description: str
    price_minor: int
    currency: str
    image_path: str
    initial_stock: int
    per_user_limit: int = 0


@dataclass(frozen=True, slots=True)
class SaleConfig:
    """Per-user limit (0: none) and sale window in epoch ms (0: open-ended on that side)."""

    per_user_limit: int = 0
    start_ms: int = 0
    end_ms: int = 0

    def validate(self) -> SaleConfig:
        violations = Violations()
        violations.in_range("sale.per_user_limit", self.per_user_limit, 0, MAX_LINE_QUANTITY)
        if self.start_ms < 0 or self.end_ms < 0:
            violations.add("sale", "times must not be before 1970")
        if self.end_ms and self.start_ms and self.end_ms <= self.start_ms:
            violations.add("sale.end_time", "must be after sale.start_time")
        violations.raise_if_any()
        return self


@dataclass(frozen=True, slots=True)
class StockLevel:
    """A SKU's counters; `initial == available + reserved + sold` is invariant 1."""

    sku: str
    initial: int
    available: int
    reserved: int
    sold: int
    sale: SaleConfig
    generation: int = 0

    def state(self, low_threshold: int) -> StockState:
        if self.available <= 0:
            return StockState.SOLD_OUT
        if self.available <= low_threshold:
            return StockState.LOW
        return StockState.IN_STOCK

    @property
    def balanced(self) -> bool:
        return self.available >= 0 and self.initial == self.available + self.reserved + self.sold


@dataclass(frozen=True, slots=True)
class ReservationLine:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class LineRecord:
    """One SKU's part of a reservation as stored: `<state>|<quantity>|<expires ms>|<user>`."""

    state: ReservationState
    quantity: int
    expire_ms: int
    user_id: str

    @classmethod
    def parse(cls, raw: bytes | str) -> LineRecord:
        text = raw.decode() if isinstance(raw, bytes) else raw
        state, quantity, expire_ms, user_id = text.split("|", 3)
        return cls(ReservationState(state), int(quantity), int(expire_ms), user_id)


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_id: str
    user_id: str
    lines: tuple[ReservationLine, ...]
    state: ReservationState
    expire_ms: int


@dataclass(frozen=True, slots=True)
class ReserveCommand:
    reservation_id: str
    user_id: str
    lines: tuple[ReservationLine, ...]
    ttl_s: float | None

    def validate(self, max_ttl_s: float) -> ReserveCommand:
        violations = Violations()
        violations.identifier("reservation_id", self.reservation_id)
        violations.identifier("user_id", self.user_id)
        check_lines(violations, "lines", self.lines)
        if self.ttl_s is not None and not 1 <= self.ttl_s <= max_ttl_s:
            violations.add("ttl", f"must be between 1 s and {max_ttl_s:g} s")
        violations.raise_if_any()
        return self


def check_lines(violations: Violations, field: str, lines: Sequence[ReservationLine]) -> None:
    """1 to 50 lines, distinct valid SKUs, quantities 1 to 10,000."""
    if not lines:
        violations.add(field, "must have at least one line")
    elif len(lines) > MAX_LINES:
        violations.add(field, f"must have at most {MAX_LINES} lines (got {len(lines)})")
        return
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if violations.sku(f"{field}[{index}].sku", line.sku) and line.sku in seen:
            violations.add(f"{field}[{index}].sku", f"duplicate SKU {line.sku!r}")
        seen.add(line.sku)
        violations.in_range(f"{field}[{index}].quantity", line.quantity, 1, MAX_LINE_QUANTITY)


def check_skus(field: str, skus: Sequence[str], *, maximum: int) -> None:
    violations = Violations()
    if not skus:
        violations.add(field, "must name at least one SKU")
    elif len(skus) > maximum:
        violations.add(field, f"must name at most {maximum} SKUs (got {len(skus)})")
    for index, sku in enumerate(skus[:maximum]):
        if violations.sku(f"{field}[{index}]", sku) and sku in skus[:index]:
            violations.add(f"{field}[{index}]", f"duplicate SKU {sku!r}")
    violations.raise_if_any()


def check_sku(sku: str) -> str:
    violations = Violations()
    violations.sku("sku", sku)
    violations.raise_if_any()
    return sku


def check_reference(reservation_id: str, skus: Sequence[str]) -> None:
    """Validate the (reservation id, SKUs) that Release and Commit take."""
    violations = Violations()
    violations.identifier("reservation_id", reservation_id)
    violations.raise_if_any()
    check_skus("skus", skus, maximum=MAX_LINES)


def sold_out(sku: str, generation: int | None = None) -> PreconditionFailed:
    """SOLD_OUT; `generation` (the SKU's stock generation Redis saw) lets a caller's own sold-out
    snapshot be invalidated by the same stock-back events as ours."""
    metadata = {"sku": sku}
    if generation is not None:
        metadata["generation"] = str(generation)
    return PreconditionFailed("SOLD_OUT", DOMAIN, f"{sku} is sold out", metadata)


def refusal(status: str, sku: str, detail: str = "") -> PreconditionFailed:
    """The error for a reserve script's refusal status."""
    if status == "SOLD_OUT":
        return sold_out(sku)
    if status == "LIMIT_EXCEEDED":
        message = f"the per-user limit of {sku} would be exceeded (already held: {detail})"
        return PreconditionFailed("LIMIT_EXCEEDED", DOMAIN, message, {"sku": sku, "held": detail})
    if status == "SALE_NOT_ACTIVE":
        return PreconditionFailed(
            "SALE_NOT_ACTIVE", DOMAIN, f"the sale of {sku} is not open", {"sku": sku}
        )
    if status == "RESERVATION_RELEASED":
        return PreconditionFailed(status, DOMAIN, "the reservation was released", {"sku": sku})
    if status == "RESERVATION_COMMITTED":
        return PreconditionFailed(
            status, DOMAIN, "the reservation's units are already sold", {"sku": sku}
        )
    return PreconditionFailed(
        "RESERVATION_MISMATCH",
        DOMAIN,
        "the reservation id was already used for another user or quantity",
        {"sku": sku},
    )


class Catalog:
    """The products on sale, loaded once from a JSON data file."""

    def __init__(self, products: Sequence[Product]) -> None:
        self._by_sku = {p.sku: p for p in products}
        self._ordered = sorted(self._by_sku)

    @classmethod
    def from_file(cls, path: pathlib.Path) -> Catalog:
        entries = json.loads(path.read_text())["products"]
        return cls([Product(**entry) for entry in entries])

    @property
    def skus(self) -> list[str]:
        return list(self._ordered)

    def get(self, sku: str) -> Product:
        product = self._by_sku.get(sku)
        if product is None:
            raise NotFound("product", sku)
        return product

    def page(self, page_size: int, page_token: str) -> tuple[list[Product], str]:
        violations = Violations()
        if page_size < 0 or page_size > MAX_PAGE_SIZE:
            violations.add("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
        after = _decode_token(page_token, violations)
        violations.raise_if_any()
        size = page_size or DEFAULT_PAGE_SIZE
        start = 0
        if after:
            start = next(
                (i for i, sku in enumerate(self._ordered) if sku > after), len(self._ordered)
            )
        chunk = self._ordered[start : start + size]
        more = start + size < len(self._ordered)
        token = base64.urlsafe_b64encode(f"after:{chunk[-1]}".encode()).decode() if more else ""
        return [self._by_sku[sku] for sku in chunk], token


def _decode_token(token: str, violations: Violations) -> str:
    if not token:
        return ""
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if not text.startswith("after:") or len(text) > 200:
        violations.add("page_token", "is not a token this service issued")
        return ""
    return text.removeprefix("after:")


def raise_invalid(field: str, description: str) -> None:
    raise InvalidArgument.single(field, description)
