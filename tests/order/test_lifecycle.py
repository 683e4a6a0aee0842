"""The state machine over real RPCs: every (status, event) pair, payment confirmation, cancel
and payment timeout returning stock exactly once, reads, lists and watches."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable

import grpc
import pytest

from servers.common.errors import PreconditionFailed
from servers.order.domain import Event, Status
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2 as inv
from shop.order.v1 import order_pb2 as pb
from tests.helpers import error_reason
from tests.order.conftest import OrderStack, start_order_stack

SKU = "SKU-KETTLE"  # 69.90 EUR, no per-user limit
PRICE = common_pb2.Money(currency_code="EUR", units=69, nanos=900_000_000)
# How to reach each status from a fresh order, and what each event is as an RPC.
PATHS = {
    Status.PENDING_PAYMENT: [],
    Status.PAID: [Event.PAY],
    Status.SHIPPED: [Event.PAY, Event.SHIP],
    Status.COMPLETED: [Event.PAY, Event.SHIP, Event.COMPLETE],
    Status.CANCELLED: [Event.CANCEL],
}
LEGAL = {
    (Status.PENDING_PAYMENT, Event.PAY): pb.ORDER_STATUS_PAID,
    (Status.PENDING_PAYMENT, Event.CANCEL): pb.ORDER_STATUS_CANCELLED,
    (Status.PENDING_PAYMENT, Event.EXPIRE): pb.ORDER_STATUS_CANCELLED,
    (Status.PAID, Event.SHIP): pb.ORDER_STATUS_SHIPPED,
    (Status.SHIPPED, Event.COMPLETE): pb.ORDER_STATUS_COMPLETED,
}


async def place(stack: OrderStack, request_id: str, quantity: int = 1) -> pb.Order:
    request = pb.PlaceOrderRequest(
        request_id=request_id,
        user_id="buyer",
        lines=[pb.PlaceOrderLine(sku=SKU, quantity=quantity)],
    )
    return (await stack.order_stub.PlaceOrder(request)).order


async def apply(stack: OrderStack, order_id: int, event: Event, payment: str = "pay-1") -> pb.Order:
    stub = stack.order_stub
    if event is Event.PAY:
        request = pb.ConfirmPaymentRequest(order_id=order_id, payment_id=payment, amount=PRICE)
        return (await stub.ConfirmPayment(request)).order
    if event is Event.SHIP:
        return (await stub.ShipOrder(pb.ShipOrderRequest(order_id=order_id))).order
    if event is Event.COMPLETE:
        return (await stub.CompleteOrder(pb.CompleteOrderRequest(order_id=order_id))).order
    if event is Event.CANCEL:
        return (await stub.CancelOrder(pb.CancelOrderRequest(order_id=order_id))).order
    await stack.desk.cancel(order_id, "payment timeout", Event.EXPIRE)  # the canceller's path
    return (await stub.GetOrder(pb.GetOrderRequest(order_id=order_id))).order


async def refusal(call: Awaitable[object]) -> tuple[str, str]:
    """(code, reason) of a refused RPC, or of the domain error the canceller's path raises."""
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code().name, error_reason(err)
    except PreconditionFailed as err:
        return "FAILED_PRECONDITION", err.reason
    raise AssertionError("the call was not refused")


async def stock(stack: OrderStack) -> tuple[int, int, int]:
    level = (await stack.inventory_stub.GetStock(inv.GetStockRequest(sku=SKU))).stock
    return level.available, level.reserved, level.sold


async def settled(stack: OrderStack) -> tuple[int, int, int]:
    await stack.desk.drain()  # commits / releases run just after the transition
    return await stock(stack)


@pytest.mark.asyncio
@pytest.mark.parametrize("status", list(Status), ids=lambda s: s.name)
async def test_every_event_from_each_status(order_stack: OrderStack, status: Status) -> None:
    for n, event in enumerate(Event):
        order = await place(order_stack, f"{status.name}-{n}")
        for step in PATHS[status]:
            await apply(order_stack, order.order_id, step)
        before = (
            await order_stack.order_stub.GetOrder(pb.GetOrderRequest(order_id=order.order_id))
        ).order
        stock_before = await settled(order_stack)
        if (status, event) in LEGAL:
            after = await apply(order_stack, order.order_id, event, payment="pay-1")
            assert after.status == LEGAL[(status, event)], event
            assert after.version == before.version + 1
            continue
        code, reason = await refusal(apply(order_stack, order.order_id, event, "pay-other"))
        assert code == "FAILED_PRECONDITION", event
        # Paying an order that another payment already paid says so more precisely.
        paid_before = before.payment_id != ""
        expected = "ALREADY_PAID" if event is Event.PAY and paid_before else "ILLEGAL_TRANSITION"
        assert reason == expected, event
        again = (
            await order_stack.order_stub.GetOrder(pb.GetOrderRequest(order_id=order.order_id))
        ).order
        assert again == before  # refused: nothing changed, not even the version
        assert await settled(order_stack) == stock_before


@pytest.mark.asyncio
async def test_confirm_payment_is_idempotent_and_checks_amount(order_stack: OrderStack) -> None:
    order = await place(order_stack, "pay", quantity=2)
    stub = order_stack.order_stub
    wrong = common_pb2.Money(currency_code="EUR", units=69, nanos=900_000_000)
    with pytest.raises(grpc.aio.AioRpcError) as mismatch:
        await stub.ConfirmPayment(
            pb.ConfirmPaymentRequest(order_id=order.order_id, payment_id="p1", amount=wrong)
        )
    assert error_reason(mismatch.value) == "AMOUNT_MISMATCH"
    first = await stub.ConfirmPayment(
        pb.ConfirmPaymentRequest(order_id=order.order_id, payment_id="p1", amount=order.total)
    )
    replay = await stub.ConfirmPayment(
        pb.ConfirmPaymentRequest(order_id=order.order_id, payment_id="p1", amount=order.total)
    )
    assert (first.replayed, replay.replayed) == (False, True)
    assert replay.order == first.order and first.order.status == pb.ORDER_STATUS_PAID
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await stub.ConfirmPayment(
            pb.ConfirmPaymentRequest(order_id=order.order_id, payment_id="p2", amount=order.total)
        )
    assert error_reason(other.value) == "ALREADY_PAID"
    assert await settled(order_stack) == (698, 0, 2)  # 700 in the catalog; 2 sold once
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.ConfirmPayment(
            pb.ConfirmPaymentRequest(order_id=12345, payment_id="p", amount=PRICE)
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.asyncio
async def test_concurrent_replays_of_one_payment_pay_once(order_stack: OrderStack) -> None:
    order = await place(order_stack, "race")
    request = pb.ConfirmPaymentRequest(order_id=order.order_id, payment_id="p", amount=PRICE)
    replies = await asyncio.gather(
        *(order_stack.order_stub.ConfirmPayment(request) for _ in range(20))
    )
    assert sorted(r.replayed for r in replies) == [False] + [True] * 19
    assert {r.order.version for r in replies} == {2}
    assert await settled(order_stack) == (699, 0, 1)


@pytest.mark.asyncio
async def test_cancel_returns_stock_once_even_when_raced(order_stack: OrderStack) -> None:
    order = await place(order_stack, "cancel", quantity=3)
    assert await stock(order_stack) == (697, 3, 0)
    request = pb.CancelOrderRequest(order_id=order.order_id, reason="changed my mind")
    outcomes = await asyncio.gather(
        *(order_stack.order_stub.CancelOrder(request) for _ in range(10)), return_exceptions=True
    )
    won = [o for o in outcomes if isinstance(o, pb.CancelOrderResponse)]
    assert len(won) == 1 and won[0].order.cancel_reason == "changed my mind"
    assert all(
        error_reason(o) == "ILLEGAL_TRANSITION"
        for o in outcomes
        if isinstance(o, grpc.aio.AioRpcError)
    )
    assert await settled(order_stack) == (700, 0, 0)


@pytest.mark.asyncio
async def test_payment_timeout_cancels_and_returns_stock_once(
    redis_client, redis_url: str, key_prefix: str, order_dsn: str
) -> None:
    stack = await start_order_stack(
        redis_client, redis_url, key_prefix, order_dsn, payment_timeout_s=0.3
    )
    try:
        expiring = await place(stack, "slow-payer", quantity=2)
        paid = await place(stack, "fast-payer", quantity=1)
        await apply(stack, paid.order_id, Event.PAY)
        assert await settled(stack) == (697, 2, 1)
        watch = stack.order_stub.WatchOrder(pb.WatchOrderRequest(order_id=expiring.order_id))
        seen = [r.order.status async for r in watch]  # ends at the terminal status
        assert seen == [pb.ORDER_STATUS_PENDING_PAYMENT, pb.ORDER_STATUS_CANCELLED]
        got = (
            await stack.order_stub.GetOrder(pb.GetOrderRequest(order_id=expiring.order_id))
        ).order
        assert got.cancel_reason == "payment timeout"
        await asyncio.sleep(0.3)  # more sweeps: nothing more comes back
        assert await stack.desk.expire_due() == 0
        assert await settled(stack) == (699, 0, 1)
        pay_late = pb.ConfirmPaymentRequest(
            order_id=expiring.order_id, payment_id="late", amount=got.total
        )
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await stack.order_stub.ConfirmPayment(pay_late)
        assert error_reason(late.value) == "ILLEGAL_TRANSITION"
        assert (
            await stack.order_stub.GetOrder(pb.GetOrderRequest(order_id=paid.order_id))
        ).order.status == pb.ORDER_STATUS_PAID
    finally:
        await stack.stop()


@pytest.mark.asyncio
async def test_list_orders_pages_newest_first_and_reads_from_sql(order_stack: OrderStack) -> None:
    ids = [(await place(order_stack, f"list-{i}")).order_id for i in range(5)]
    stub = order_stack.order_stub
    first = await stub.ListOrders(pb.ListOrdersRequest(user_id="buyer", page_size=3))
    assert [o.order_id for o in first.orders] == ids[::-1][:3] and first.next_page_token
    rest = await stub.ListOrders(
        pb.ListOrdersRequest(user_id="buyer", page_size=3, page_token=first.next_page_token)
    )
    assert [o.order_id for o in rest.orders] == ids[::-1][3:] and not rest.next_page_token
    await order_stack.wait_written(5)
    cold = await order_stack.desk.records.get(ids[0])  # what GetOrder falls back to
    hot = await order_stack.desk.store.get(ids[0])
    assert cold is not None and hot is not None
    assert cold == type(hot)(**{**{f: getattr(hot, f) for f in hot.__slots__}, "fingerprint": ""})
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub.ListOrders(pb.ListOrdersRequest(user_id="buyer", page_token="x!"))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_paths_cover_every_status() -> None:
    assert set(PATHS) == set(Status)
    assert all(isinstance(p, tuple) for p in itertools.product(Status, Event))
