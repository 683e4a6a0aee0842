"""Order rules: validation of new orders, the order document, and the one transition table.

No gRPC and no storage here: the desk (use cases) and the stores build on these values.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from servers.common.coupons import Coupon, check_code, discount_lines
from servers.common.errors import PreconditionFailed
from servers.common.validation import Violations

DOMAIN = "order.shopmesh"
INVENTORY_DOMAIN = "inventory.shopmesh"
MAX_LINES = 50
MAX_QUANTITY = 10_000
MAX_REASON = 256
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


class Status(enum.Enum):
    PENDING_PAYMENT = "PENDING_PAYMENT"
    PAID = "PAID"
    SHIPPED = "SHIPPED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


class Event(enum.Enum):
    PAY = "PAY"
    SHIP = "SHIP"
    COMPLETE = "COMPLETE"
    CANCEL = "CANCEL"
    EXPIRE = "EXPIRE"  # the payment timeout


# The whole state machine: any (status, event) pair missing here is illegal.
TRANSITIONS: Mapping[tuple[Status, Event], Status] = {
    (Status.PENDING_PAYMENT, Event.PAY): Status.PAID,
    (Status.PENDING_PAYMENT, Event.CANCEL): Status.CANCELLED,
    (Status.PENDING_PAYMENT, Event.EXPIRE): Status.CANCELLED,
    (Status.PAID, Event.SHIP): Status.SHIPPED,
    (Status.SHIPPED, Event.COMPLETE): Status.COMPLETED,
}
TERMINAL = frozenset({Status.COMPLETED, Status.CANCELLED})


def next_status(current: Status, event: Event, order_id: int) -> Status:
    """The status `event` moves an order in `current` to; ILLEGAL_TRANSITION otherwise."""
    target = TRANSITIONS.get((current, event))
    if target is None:
        raise PreconditionFailed(
            "ILLEGAL_TRANSITION",
            DOMAIN,
            f"order {order_id} is {current.value}; {event.value} is not allowed",
            {"order_id": str(order_id), "status": current.value, "event": event.value},
        )
    return target


@dataclass(frozen=True, slots=True)
class RequestedLine:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class PlaceCommand:
    request_id: str
    user_id: str
    lines: tuple[RequestedLine, ...]
    coupon_code: str = ""

    def validate(self) -> PlaceCommand:
        """Every field checked at once, so one INVALID_ARGUMENT names every bad field."""
        violations = Violations()
        violations.identifier("request_id", self.request_id)
        violations.identifier("user_id", self.user_id)
        if not self.lines:
            violations.add("lines", "must have at least one line")
        elif len(self.lines) > MAX_LINES:
            violations.add("lines", f"must have at most {MAX_LINES} lines (got {len(self.lines)})")
        else:
            seen: set[str] = set()
            for i, line in enumerate(self.lines):
                if violations.sku(f"lines[{i}].sku", line.sku) and line.sku in seen:
                    violations.add(f"lines[{i}].sku", f"duplicates SKU {line.sku!r}")
                seen.add(line.sku)
                violations.in_range(f"lines[{i}].quantity", line.quantity, 1, MAX_QUANTITY)
        check_code(violations, self.coupon_code)
        violations.raise_if_any()
        return self

    def fingerprint(self) -> str:
        """What makes two requests with one request_id the same request. Without a coupon it is
        what it was before coupons existed, so claims made before the change still match."""
        parts: list[Any] = [self.user_id, sorted((li.sku, li.quantity) for li in self.lines)]
        if self.coupon_code:
            parts.append(self.coupon_code.upper())
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class PricedLine:
    sku: str
    title: str
    quantity: int
    unit_minor: int
    discount_minor: int = 0

    @property
    def total_minor(self) -> int:
        """The line's list total, before its discount."""
        return self.unit_minor * self.quantity


def apply_coupon(lines: Sequence[PricedLine], coupon: Coupon) -> tuple[PricedLine, ...]:
    """`lines` with their share of `coupon`'s discount, by the rules the cart shows (the lines
    are priced in the catalog currency, so no conversion)."""
    totals = [line.total_minor for line in lines]
    shares = discount_lines(coupon, [line.sku for line in lines], totals)
    return tuple(
        replace(line, discount_minor=share) for line, share in zip(lines, shares, strict=True)
    )


@dataclass(frozen=True, slots=True)
class Order:
    """An order as kept in the hot state, streamed to the writer and projected into SQL."""

    order_id: int
    request_id: str
    user_id: str
    lines: tuple[PricedLine, ...]
    currency: str
    status: Status
    version: int
    created_ms: int
    updated_ms: int
    payment_deadline_ms: int
    payment_id: str = ""
    cancel_reason: str = ""
    fingerprint: str = ""
    coupon_code: str = ""

    @property
    def subtotal_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)

    @property
    def discount_minor(self) -> int:
        return sum(line.discount_minor for line in self.lines)

    @property
    def total_minor(self) -> int:
        """What the buyer pays: the line totals minus the discount."""
        return self.subtotal_minor - self.discount_minor

    @property
    def skus(self) -> list[str]:
        return [line.sku for line in self.lines]

    def moved(
        self, status: Status, now_ms: int, *, payment_id: str | None = None, cancel_reason: str = ""
    ) -> Order:
        """The order one transition later: new status, next version."""
        return replace(
            self,
            status=status,
            version=self.version + 1,
            updated_ms=now_ms,
            payment_id=self.payment_id if payment_id is None else payment_id,
            cancel_reason=cancel_reason or self.cancel_reason,
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.order_id,
                "rid": self.request_id,
                "user": self.user_id,
                "lines": [_line_doc(li) for li in self.lines],
                "cur": self.currency,
                "status": self.status.value,
                "ver": self.version,
                "created": self.created_ms,
                "updated": self.updated_ms,
                "due": self.payment_deadline_ms,
                "pay": self.payment_id,
                "reason": self.cancel_reason,
                "fp": self.fingerprint,
                "coupon": self.coupon_code,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Order:
        doc: dict[str, Any] = json.loads(raw)
        return cls(
            order_id=int(doc["id"]),
            request_id=str(doc["rid"]),
            user_id=str(doc["user"]),
            lines=tuple(_line(entry) for entry in doc["lines"]),
            currency=str(doc["cur"]),
            status=Status(doc["status"]),
            version=int(doc["ver"]),
            created_ms=int(doc["created"]),
            updated_ms=int(doc["updated"]),
            payment_deadline_ms=int(doc["due"]),
            payment_id=str(doc.get("pay", "")),
            cancel_reason=str(doc.get("reason", "")),
            fingerprint=str(doc.get("fp", "")),
            coupon_code=str(doc.get("coupon", "")),
        )


def _line_doc(line: PricedLine) -> list[Any]:
    doc: list[Any] = [line.sku, line.title, line.quantity, line.unit_minor]
    return [*doc, line.discount_minor] if line.discount_minor else doc


def _line(entry: Sequence[Any]) -> PricedLine:
    """A line of the JSON document; documents written before discounts have four fields."""
    discount = int(entry[4]) if len(entry) > 4 else 0
    return PricedLine(str(entry[0]), str(entry[1]), int(entry[2]), int(entry[3]), discount)


def check_order_id(order_id: int) -> int:
    violations = Violations()
    if order_id <= 0 or order_id >= 1 << 63:
        violations.add("order_id", "must be a positive 63-bit id")
    violations.raise_if_any()
    return order_id


def check_reason(reason: str) -> str:
    violations = Violations()
    if len(reason) > MAX_REASON:
        violations.add("reason", f"must be at most {MAX_REASON} characters")
    violations.raise_if_any()
    return reason


def check_page(user_id: str, page_size: int, page_token: str) -> tuple[int, int | None]:
    """(page size, id to list below) from a ListOrders request."""
    violations = Violations()
    violations.identifier("user_id", user_id)
    violations.in_range("page_size", page_size, 0, MAX_PAGE_SIZE)
    before: int | None = None
    if page_token:
        if page_token.isdigit() and len(page_token) <= 19:
            before = int(page_token)
        else:
            violations.add("page_token", "is not a token this service issued")
    violations.raise_if_any()
    return page_size or DEFAULT_PAGE_SIZE, before


def request_reused(request_id: str) -> PreconditionFailed:
    return PreconditionFailed(
        "REQUEST_ID_REUSED",
        DOMAIN,
        f"request_id {request_id!r} was used for a different order",
        {"request_id": request_id},
    )


def amount_mismatch(order: Order, paid_minor: int, currency: str) -> PreconditionFailed:
    return PreconditionFailed(
        "AMOUNT_MISMATCH",
        DOMAIN,
        f"order {order.order_id} totals {order.total_minor} {order.currency}",
        {
            "order_id": str(order.order_id),
            "expected_minor": str(order.total_minor),
            "expected_currency": order.currency,
            "paid_minor": str(paid_minor),
            "paid_currency": currency,
        },
    )


def already_paid(order: Order) -> PreconditionFailed:
    return PreconditionFailed(
        "ALREADY_PAID",
        DOMAIN,
        f"order {order.order_id} was paid by another payment",
        {"order_id": str(order.order_id)},
    )


def sold_out(sku: str, generation: int | None) -> PreconditionFailed:
    """The same SOLD_OUT inventory gives, answered from our own snapshot."""
    metadata = {"sku": sku}
    if generation is not None:
        metadata["generation"] = str(generation)
    return PreconditionFailed("SOLD_OUT", INVENTORY_DOMAIN, f"{sku} is sold out", metadata)


def skus_of(lines: Sequence[RequestedLine]) -> list[str]:
    return [line.sku for line in lines]
