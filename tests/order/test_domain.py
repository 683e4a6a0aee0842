"""The order rules without a server: the transition table pair by pair, validation, documents."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servers.common.coupons import Coupon, CouponKind
from servers.common.errors import InvalidArgument, PreconditionFailed
from servers.order.domain import (
    Event,
    Order,
    PlaceCommand,
    PricedLine,
    RequestedLine,
    Status,
    apply_coupon,
    next_status,
)

P, PD, SH, CO, CA = (
    Status.PENDING_PAYMENT,
    Status.PAID,
    Status.SHIPPED,
    Status.COMPLETED,
    Status.CANCELLED,
)
# Written out independently of domain.TRANSITIONS so a wrong table entry fails here.
LEGAL = {
    (P, Event.PAY): PD,
    (P, Event.CANCEL): CA,
    (P, Event.EXPIRE): CA,
    (PD, Event.SHIP): SH,
    (SH, Event.COMPLETE): CO,
}
PAIRS = list(itertools.product(Status, Event))


@pytest.mark.parametrize(("status", "event"), PAIRS, ids=[f"{s.name}-{e.name}" for s, e in PAIRS])
def test_every_status_event_pair(status: Status, event: Event) -> None:
    if (status, event) in LEGAL:
        assert next_status(status, event, 7) is LEGAL[(status, event)]
    else:
        with pytest.raises(PreconditionFailed) as refused:
            next_status(status, event, 7)
        assert refused.value.reason == "ILLEGAL_TRANSITION"
        assert refused.value.metadata == {
            "order_id": "7",
            "status": status.name,
            "event": event.name,
        }


@given(st.lists(st.sampled_from(list(Event)), max_size=12))
def test_any_event_sequence_follows_the_table(events: list[Event]) -> None:
    """Walking any event sequence, each step is either the table's move or refused in place."""
    status = P
    for event in events:
        expected = LEGAL.get((status, event))
        try:
            moved = next_status(status, event, 1)
        except PreconditionFailed:
            assert expected is None
        else:
            assert moved is expected
            status = moved


def _command(*lines: tuple[str, int], request_id: str = "r", user_id: str = "u") -> PlaceCommand:
    return PlaceCommand(request_id, user_id, tuple(RequestedLine(s, q) for s, q in lines))


@pytest.mark.parametrize(
    ("command", "fields"),
    [
        (_command(), ["lines"]),
        (_command(("A", 0)), ["lines[0].quantity"]),
        (_command(("A", -3)), ["lines[0].quantity"]),
        (_command(("A", 10_001)), ["lines[0].quantity"]),
        (_command(("A", 1), ("A", 2)), ["lines[1].sku"]),
        (_command(*[(f"S{i}", 1) for i in range(51)]), ["lines"]),
        (_command(("bad sku", 1)), ["lines[0].sku"]),
        (_command(("A", 1), request_id="x" * 129), ["request_id"]),
        (_command(("A", 1), user_id=""), ["user_id"]),
    ],
)
def test_bad_commands_name_every_bad_field(command: PlaceCommand, fields: list[str]) -> None:
    with pytest.raises(InvalidArgument) as refused:
        command.validate()
    assert [v.field for v in refused.value.violations] == fields


def test_fingerprint_ignores_line_order_but_not_content() -> None:
    a = _command(("A", 1), ("B", 2))
    assert a.fingerprint() == _command(("B", 2), ("A", 1)).fingerprint()
    assert a.fingerprint() != _command(("A", 1), ("B", 3)).fingerprint()
    assert a.fingerprint() != _command(("A", 1), ("B", 2), user_id="v").fingerprint()


def test_order_document_round_trips_and_moves_one_version() -> None:
    order = Order(9, "r", "u", (PricedLine("A", "Ay", 2, 150),), "EUR", P, 1, 10, 10, 99)
    assert Order.from_json(order.to_json()) == order
    assert order.total_minor == 300
    paid = order.moved(PD, 20, payment_id="pay-1")
    assert (paid.status, paid.version, paid.payment_id, paid.updated_ms) == (PD, 2, "pay-1", 20)


def test_documents_written_before_coupons_still_read() -> None:
    old = (
        '{"id":5,"rid":"r","user":"u","lines":[["SKU-MUG","Mug",2,990]],"cur":"EUR",'
        '"status":"PENDING_PAYMENT","ver":1,"created":1,"updated":1,"due":2,"pay":"",'
        '"reason":"","fp":"f"}'
    )
    order = Order.from_json(old)
    assert (order.discount_minor, order.coupon_code, order.total_minor) == (0, "", 1980)
    assert Order.from_json(order.to_json()) == order


def test_coupon_lines_round_trip_and_total_is_net_of_discount() -> None:
    lines = apply_coupon(
        [PricedLine("A", "a", 3, 333), PricedLine("B", "b", 1, 5)],
        Coupon("TEN", CouponKind.PERCENT, percent=Decimal(10)),
    )
    assert [li.discount_minor for li in lines] == [100, 1]  # 99.9 and 0.5, half up
    order = Order(1, "r", "u", lines, "EUR", Status.PAID, 2, 1, 1, 2, coupon_code="TEN")
    assert (order.subtotal_minor, order.discount_minor, order.total_minor) == (1004, 101, 903)
    assert Order.from_json(order.to_json()) == order


def test_fingerprint_covers_the_coupon_and_is_unchanged_without_one() -> None:
    plain = _command(("A", 1))
    canon = json.dumps(["u", [["A", 1]]])
    assert plain.fingerprint() == hashlib.sha256(canon.encode()).hexdigest()[:32]
    coupon = replace(plain, coupon_code="ten")
    other = replace(plain, coupon_code="X")
    assert coupon.fingerprint() not in {plain.fingerprint(), other.fingerprint()}
    assert coupon.fingerprint() == replace(plain, coupon_code="TEN").fingerprint()
