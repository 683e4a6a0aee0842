"""Coupons in PlaceOrder over real RPCs: the order service prices the discount itself (from its
coupon book, never from the client), persists it in Redis and SQL (SQLite and MariaDB), refuses
unknown or expired coupons before reserving, and keeps coupons in the replay fingerprint."""

from __future__ import annotations

import pathlib

import grpc
import pytest
from google.rpc import error_details_pb2

from servers.common import money, sql
from servers.common.coupons import Coupon, CouponBook, CouponKind
from servers.order.domain import DOMAIN
from servers.order.sqlstore import MIGRATIONS, SQLOrderRecords
from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2 as pb
from tests.helpers import error_reason, status_details, violated_fields
from tests.order.conftest import OrderStack, isolated_dsn
from tests.order.test_place import levels

pytestmark = pytest.mark.asyncio
LINES = (("SKU-BOTTLE", 2), ("SKU-MUG", 1))  # 2 x 24.90 + 9.90 = 59.70 EUR


def request(request_id: str, coupon: str = "") -> pb.PlaceOrderRequest:
    return pb.PlaceOrderRequest(
        request_id=request_id,
        user_id="u1",
        lines=[pb.PlaceOrderLine(sku=s, quantity=q) for s, q in LINES],
        coupon_code=coupon,
    )


def minor(amount: common_pb2.Money) -> int:
    return money.join(amount.units, amount.nanos, amount.currency_code, "amount")


@pytest.mark.parametrize(
    ("coupon", "line_discounts"),
    [
        ("welcome10", [498, 99]),  # 10 % of 49.80 and of 9.90, each rounded once
        ("SAVE5", [417, 83]),  # 5.00 split 4980:990 by largest remainder (417.08 / 82.91)
        ("MUGFREE", [0, 990]),  # only the mug is eligible
        ("PHONES15", [0, 0]),  # no eligible line: no discount, the code is still recorded
    ],
)
async def test_coupon_discounts_the_order_and_sql_keeps_it(
    order_stack: OrderStack, coupon: str, line_discounts: list[int]
) -> None:
    placed = (await order_stack.order_stub.PlaceOrder(request("c1", coupon))).order
    discount = sum(line_discounts)
    assert [minor(li.line_discount) for li in placed.lines] == line_discounts
    assert [minor(li.line_total) for li in placed.lines] == [4980, 990]
    assert (minor(placed.discount), minor(placed.total)) == (discount, 5970 - discount)
    assert placed.total.currency_code == placed.discount.currency_code == "EUR"
    assert placed.coupon_code == coupon.upper()
    await order_stack.wait_written(1)
    rows = await order_stack.db.fetch_all(
        "SELECT total_minor, discount_minor, coupon_code FROM orders WHERE order_id = %s",
        (placed.order_id,),
    )
    assert [tuple(r) for r in rows] == [(5970 - discount, discount, coupon.upper())]
    from_sql = await order_stack.desk.records.get(placed.order_id)
    assert from_sql is not None
    assert (from_sql.discount_minor, from_sql.total_minor) == (discount, 5970 - discount)
    assert [li.discount_minor for li in from_sql.lines] == line_discounts
    assert from_sql.coupon_code == coupon.upper()


async def test_payment_must_match_the_discounted_total(order_stack: OrderStack) -> None:
    placed = (await order_stack.order_stub.PlaceOrder(request("p1", "WELCOME10"))).order
    list_price = common_pb2.Money(currency_code="EUR", units=59, nanos=700_000_000)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await order_stack.order_stub.ConfirmPayment(
            pb.ConfirmPaymentRequest(order_id=placed.order_id, payment_id="x", amount=list_price)
        )
    assert error_reason(refused.value) == "AMOUNT_MISMATCH"
    paid = await order_stack.order_stub.ConfirmPayment(
        pb.ConfirmPaymentRequest(order_id=placed.order_id, payment_id="y", amount=placed.total)
    )
    assert paid.order.status == pb.ORDER_STATUS_PAID


@pytest.mark.parametrize(
    ("coupon", "reason"), [("NOPE", "COUPON_INVALID"), ("SUMMER2020", "COUPON_EXPIRED")]
)
async def test_unknown_or_expired_coupon_is_refused_and_reserves_nothing(
    order_stack: OrderStack, coupon: str, reason: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await order_stack.order_stub.PlaceOrder(request("bad", coupon))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    details = status_details(refused.value)
    info = next(d for d in details if isinstance(d, error_details_pb2.ErrorInfo))
    assert (info.reason, info.domain) == (reason, DOMAIN)
    assert dict(info.metadata) == {"coupon_code": coupon}
    assert await levels(order_stack, "SKU-BOTTLE", "SKU-MUG") == [(3000, 0), (20000, 0)]
    assert await order_stack.desk.store.claim_of("bad") is None
    # the request id stays free: the same request without the coupon is placed
    placed = await order_stack.order_stub.PlaceOrder(request("bad"))
    assert not placed.replayed and minor(placed.order.discount) == 0


async def test_a_malformed_coupon_code_is_invalid_argument(order_stack: OrderStack) -> None:
    for code in ("X" * 33, "BAD\nCODE"):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await order_stack.order_stub.PlaceOrder(request("m", code))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violated_fields(refused.value) == ["coupon_code"]
    assert await levels(order_stack, "SKU-BOTTLE") == [(3000, 0)]


async def test_replay_with_another_coupon_is_request_id_reused(order_stack: OrderStack) -> None:
    stub = order_stack.order_stub
    first = await stub.PlaceOrder(request("r1", "WELCOME10"))
    again = await stub.PlaceOrder(request("r1", "welcome10"))  # codes are case-insensitive
    assert (again.replayed, again.order) == (True, first.order)
    for other in ("", "SAVE5"):
        with pytest.raises(grpc.aio.AioRpcError) as reused:
            await stub.PlaceOrder(request("r1", other))
        assert error_reason(reused.value) == "REQUEST_ID_REUSED"
    plain = await stub.PlaceOrder(request("r2"))
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await stub.PlaceOrder(request("r2", "WELCOME10"))
    assert error_reason(reused.value) == "REQUEST_ID_REUSED"
    assert not plain.replayed
    assert await levels(order_stack, "SKU-BOTTLE") == [(2996, 4)]  # two orders, reserved once each


async def test_a_replay_outlives_the_coupons_expiry(order_stack: OrderStack) -> None:
    """A retry of an order placed while its coupon was valid returns that order; a new order
    with the coupon is refused."""
    stub = order_stack.order_stub
    first = await stub.PlaceOrder(request("late", "WELCOME10"))
    order_stack.desk.coupons = CouponBook(
        [Coupon("WELCOME10", CouponKind.PERCENT, expires_at=1.0)], DOMAIN
    )
    again = await stub.PlaceOrder(request("late", "WELCOME10"))
    assert (again.replayed, again.order) == (True, first.order)
    with pytest.raises(grpc.aio.AioRpcError) as expired:
        await stub.PlaceOrder(request("later", "WELCOME10"))
    assert error_reason(expired.value) == "COUPON_EXPIRED"


@pytest.mark.parametrize("kind", ["sqlite", "mariadb"])
async def test_migration_002_keeps_old_orders_readable_and_runs_once(
    kind: str, tmp_path: pathlib.Path
) -> None:
    only_001 = tmp_path / "migrations"
    only_001.mkdir()
    (only_001 / "001_orders.sql").write_text((MIGRATIONS / "001_orders.sql").read_text())
    async with isolated_dsn(kind, tmp_path) as dsn:
        db = await sql.connect(dsn)
        try:
            assert await sql.migrate(db, only_001) == ["001_orders.sql"]
            await db.execute(
                "INSERT INTO orders VALUES (7, 'r', 'u', 'PAID', 2, 'EUR', 990, 'p', '', 1, 2, 3)"
            )
            await db.execute("INSERT INTO order_lines VALUES (7, 0, 'SKU-MUG', 'Mug', 1, 990)")
            records = SQLOrderRecords(db)
            assert await records.migrate() == ["002_discount.sql"]
            assert await records.migrate() == []
            old = await records.get(7)
            assert old is not None
            assert (old.discount_minor, old.coupon_code, old.total_minor) == (0, "", 990)
        finally:
            await db.close()
