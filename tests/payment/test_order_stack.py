"""The paid path against the real order stack (inventory + order + writer, tests/order): 50
concurrent identical callbacks make one PAID transition and 50 identical answers; amount
mismatch, unknown and already-paid orders are recorded REJECTED and change nothing; kill -9 of
the gateway process between claim and outcome, restart and retry still pays exactly once."""

from __future__ import annotations

import asyncio
import decimal
import pathlib
import time
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from servers.common import sql
from servers.payment.domain import RecoveryPoint
from servers.payment.records import SqlPaymentRecords
from shop.inventory.v1 import inventory_pb2 as inv
from shop.order.v1 import order_pb2 as opb
from shop.payment.v1 import payment_pb2 as pb
from shop.payment.v1 import payment_pb2_grpc
from tests.order.conftest import OrderStack, isolated_dsn, start_order_stack
from tests.payment.conftest import (
    PaymentUnderTest,
    callback,
    payment_settings,
    start_payment,
    stop_payment,
)
from tests.payment.processes import (
    call_until_answered,
    gateway_env,
    spawn_gateway,
    wait_for_point,
)

pytestmark = pytest.mark.asyncio
SKU = "SKU-MUG"


@pytest_asyncio.fixture
async def stack(
    redis_client: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    database_dsn: str,
    tmp_path: pathlib.Path,
) -> AsyncIterator[OrderStack]:
    kind = "mariadb" if database_dsn.startswith("mysql") else "sqlite"
    async with isolated_dsn(kind, tmp_path) as dsn:
        started = await start_order_stack(redis_client, redis_url, f"{key_prefix}-o", dsn)
        yield started
        await started.stop()


@pytest_asyncio.fixture
async def gateway(
    stack: OrderStack,
    redis_client: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    database: sql.Database,
    database_dsn: str,
) -> AsyncIterator[PaymentUnderTest]:
    settings = payment_settings(redis_url, key_prefix, database_dsn, stack.order_address)
    under_test = await start_payment(settings, redis_client, database)
    yield under_test
    await stop_payment(under_test)


async def _place(stack: OrderStack, quantity: int = 1) -> opb.Order:
    request = opb.PlaceOrderRequest(
        request_id=f"r-{uuid.uuid4().hex[:8]}",
        user_id=f"u-{uuid.uuid4().hex[:8]}",
        lines=[opb.PlaceOrderLine(sku=SKU, quantity=quantity)],
    )
    return (await stack.order_stub.PlaceOrder(request)).order


def _amount(order: opb.Order) -> str:
    total = order.total
    return str(decimal.Decimal(total.units) + decimal.Decimal(total.nanos).scaleb(-9))


async def _order(stack: OrderStack, order_id: int) -> opb.Order:
    return (await stack.order_stub.GetOrder(opb.GetOrderRequest(order_id=order_id))).order


async def _stock(stack: OrderStack) -> inv.Stock:
    return (await stack.inventory_stub.GetStock(inv.GetStockRequest(sku=SKU))).stock


async def test_fifty_concurrent_identical_callbacks_pay_once_and_answer_identically(
    stack: OrderStack, gateway: PaymentUnderTest
) -> None:
    order = await _place(stack, quantity=2)
    before = await _stock(stack)
    request = callback("storm-1", order.order_id, _amount(order))
    answers = await asyncio.gather(*(call_until_answered(gateway.stub, request) for _ in range(50)))
    encoded = {answer.SerializeToString() for answer, _aborted in answers}
    assert len(answers) == 50 and len(encoded) == 1
    (answer, _aborted) = answers[0]
    assert answer.payment.outcome == pb.PAYMENT_OUTCOME_APPLIED
    paid = await _order(stack, order.order_id)
    assert paid.status == opb.ORDER_STATUS_PAID and paid.payment_id == "storm-1"
    assert paid.version == order.version + 1  # exactly one transition
    after = await _stock(stack)
    assert (after.sold - before.sold, before.reserved - after.reserved) == (2, 2)
    assert gateway.gateway.stats.processed == 1


@pytest.mark.parametrize(
    ("case", "reason"),
    [("mismatch", "AMOUNT_MISMATCH"), ("unknown", "ORDER_NOT_FOUND"), ("paid", "ALREADY_PAID")],
)
async def test_refused_payments_are_recorded_rejected_and_change_nothing(
    stack: OrderStack, gateway: PaymentUnderTest, case: str, reason: str
) -> None:
    order = await _place(stack)
    if case == "paid":
        await gateway.stub.HandleCallback(callback("first", order.order_id, _amount(order)))
    order_id = order.order_id if case != "unknown" else order.order_id + 12345
    amount = "0.01" if case == "mismatch" else _amount(order)
    before = await _order(stack, order.order_id)
    answer = await gateway.stub.HandleCallback(callback("second", order_id, amount))
    replay = await gateway.stub.HandleCallback(callback("second", order_id, amount))
    assert answer.payment.outcome == pb.PAYMENT_OUTCOME_REJECTED
    assert answer.payment.outcome_reason == reason
    assert replay.SerializeToString() == answer.SerializeToString()
    assert await _order(stack, order.order_id) == before


async def test_a_discounted_order_is_paid_by_its_discounted_total_only(
    stack: OrderStack, gateway: PaymentUnderTest
) -> None:
    request = opb.PlaceOrderRequest(
        request_id=f"r-{uuid.uuid4().hex[:8]}",
        user_id=f"u-{uuid.uuid4().hex[:8]}",
        lines=[opb.PlaceOrderLine(sku=SKU, quantity=3)],
        coupon_code="WELCOME10",
    )
    order = (await stack.order_stub.PlaceOrder(request)).order
    assert (decimal.Decimal(_amount(order)), order.total.currency_code) == (
        decimal.Decimal("26.73"),  # 29.70 - 2.97
        "EUR",
    )
    list_price = await gateway.stub.HandleCallback(callback("list", order.order_id, "29.70"))
    assert list_price.payment.outcome == pb.PAYMENT_OUTCOME_REJECTED
    assert list_price.payment.outcome_reason == "AMOUNT_MISMATCH"
    assert (await _order(stack, order.order_id)).status == opb.ORDER_STATUS_PENDING_PAYMENT
    paid = await gateway.stub.HandleCallback(callback("net", order.order_id, _amount(order)))
    assert paid.payment.outcome == pb.PAYMENT_OUTCOME_APPLIED
    assert (await _order(stack, order.order_id)).status == opb.ORDER_STATUS_PAID


async def test_a_failed_payment_leaves_the_order_pending(
    stack: OrderStack, gateway: PaymentUnderTest
) -> None:
    order = await _place(stack)
    answer = await gateway.stub.HandleCallback(
        callback("declined", order.order_id, _amount(order), failed=True)
    )
    assert answer.payment.outcome == pb.PAYMENT_OUTCOME_FAILED_RECORDED
    assert (await _order(stack, order.order_id)).status == opb.ORDER_STATUS_PENDING_PAYMENT


@pytest.mark.slow
@pytest.mark.parametrize("point", [RecoveryPoint.STARTED, RecoveryPoint.ORDER_DONE])
async def test_kill_9_of_the_gateway_then_restart_and_retry_pays_exactly_once(
    stack: OrderStack,
    point: RecoveryPoint,
    redis_url: str,
    key_prefix: str,
    database_dsn: str,
    database: sql.Database,
    tmp_path: pathlib.Path,
) -> None:
    order = await _place(stack)
    request = callback("crash-pay", order.order_id, _amount(order))
    key = (request.provider, request.payment_id)
    env = gateway_env(
        redis_url, key_prefix, database_dsn, stack.order_address, PAYMENT_LOCK_TIMEOUT_S="2"
    )
    records = SqlPaymentRecords(database)
    log = tmp_path / "gateway.log"
    doomed = await spawn_gateway({**env, "PAYMENT_HOLD_AT": f"{point.value}:60"}, log)
    try:
        async with grpc.aio.insecure_channel(doomed.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            in_flight = asyncio.ensure_future(stub.HandleCallback(request, timeout=30))
            await wait_for_point(records, key, point)
            doomed.kill_9()
            with pytest.raises(grpc.aio.AioRpcError):
                await in_flight
    finally:
        doomed.stop()
    expected_status = (
        opb.ORDER_STATUS_PAID
        if point is RecoveryPoint.ORDER_DONE
        else opb.ORDER_STATUS_PENDING_PAYMENT
    )
    assert (await _order(stack, order.order_id)).status == expected_status
    orphan = await records.get(key)
    assert orphan is not None and not orphan.done
    restarted = await spawn_gateway(env, log)
    try:
        async with grpc.aio.insecure_channel(restarted.address) as channel:
            stub = payment_pb2_grpc.PaymentServiceStub(channel)
            answers = await asyncio.gather(*(call_until_answered(stub, request) for _ in range(5)))
            answered_ms = time.time_ns() // 1_000_000
    finally:
        restarted.stop()
    assert len({answer.SerializeToString() for answer, _ in answers}) == 1
    assert answers[0][0].payment.outcome == pb.PAYMENT_OUTCOME_APPLIED
    assert answers[0][0].payment.record_id == orphan.record_id  # resumed, not redone
    assert answered_ms >= orphan.locked_ms + 2_000  # the dead lock was honoured, then taken over
    paid = await _order(stack, order.order_id)
    assert paid.status == opb.ORDER_STATUS_PAID and paid.version == order.version + 1
