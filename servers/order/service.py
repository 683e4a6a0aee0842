"""OrderService servicer: decode the request, call the OrderDesk, encode the answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from google.protobuf import timestamp_pb2

from servers.common import money
from servers.common.validation import Violations
from servers.order.desk import OrderDesk
from servers.order.domain import Order, PlaceCommand, RequestedLine, Status, check_reason
from servers.order.inventory import DeadlineExpired
from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2 as pb
from shop.order.v1 import order_pb2_grpc

_STATUS = {
    Status.PENDING_PAYMENT: pb.ORDER_STATUS_PENDING_PAYMENT,
    Status.PAID: pb.ORDER_STATUS_PAID,
    Status.SHIPPED: pb.ORDER_STATUS_SHIPPED,
    Status.COMPLETED: pb.ORDER_STATUS_COMPLETED,
    Status.CANCELLED: pb.ORDER_STATUS_CANCELLED,
}


class OrderService(order_pb2_grpc.OrderServiceServicer):
    def __init__(self, desk: OrderDesk) -> None:
        self._desk = desk

    async def PlaceOrder(
        self, request: pb.PlaceOrderRequest, context: grpc.aio.ServicerContext
    ) -> pb.PlaceOrderResponse:
        command = PlaceCommand(
            request_id=request.request_id,
            user_id=request.user_id,
            lines=tuple(RequestedLine(li.sku, li.quantity) for li in request.lines),
            coupon_code=request.coupon_code,
        )
        try:
            order, replayed = await self._desk.place(command)
        except DeadlineExpired as exc:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, f"inventory: {exc}")
        return pb.PlaceOrderResponse(order=encode(order), replayed=replayed)

    async def GetOrder(
        self, request: pb.GetOrderRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetOrderResponse:
        return pb.GetOrderResponse(order=encode(await self._desk.require(request.order_id)))

    async def ListOrders(
        self, request: pb.ListOrdersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListOrdersResponse:
        orders, token = await self._desk.list(
            request.user_id, request.page_size, request.page_token
        )
        return pb.ListOrdersResponse(orders=[encode(o) for o in orders], next_page_token=token)

    async def CancelOrder(
        self, request: pb.CancelOrderRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelOrderResponse:
        reason = check_reason(request.reason) or "cancelled by the user"
        order = await self._desk.cancel(request.order_id, reason)
        return pb.CancelOrderResponse(order=encode(order))

    async def ConfirmPayment(
        self, request: pb.ConfirmPaymentRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfirmPaymentResponse:
        violations = Violations()
        violations.identifier("payment_id", request.payment_id)
        if not request.HasField("amount"):
            violations.add("amount", "is required")
        violations.raise_if_any()
        amount = request.amount
        paid = money.join(amount.units, amount.nanos, amount.currency_code, "amount")
        order, replayed = await self._desk.confirm(
            request.order_id, request.payment_id, paid, amount.currency_code
        )
        return pb.ConfirmPaymentResponse(order=encode(order), replayed=replayed)

    async def ShipOrder(
        self, request: pb.ShipOrderRequest, context: grpc.aio.ServicerContext
    ) -> pb.ShipOrderResponse:
        return pb.ShipOrderResponse(order=encode(await self._desk.ship(request.order_id)))

    async def CompleteOrder(
        self, request: pb.CompleteOrderRequest, context: grpc.aio.ServicerContext
    ) -> pb.CompleteOrderResponse:
        return pb.CompleteOrderResponse(order=encode(await self._desk.complete(request.order_id)))

    async def WatchOrder(
        self, request: pb.WatchOrderRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.WatchOrderResponse]:
        async for order in self._desk.watch(request.order_id):
            yield pb.WatchOrderResponse(order=encode(order))


def _money(minor: int, currency: str) -> common_pb2.Money:
    units, nanos = money.split(minor, currency)
    return common_pb2.Money(currency_code=currency, units=units, nanos=nanos)


def _timestamp(ms: int) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMilliseconds(ms)
    return stamp


def encode(order: Order) -> pb.Order:
    lines = [
        pb.OrderLine(
            sku=li.sku,
            title=li.title,
            quantity=li.quantity,
            unit_price=_money(li.unit_minor, order.currency),
            line_total=_money(li.total_minor, order.currency),
            line_discount=_money(li.discount_minor, order.currency),
        )
        for li in order.lines
    ]
    return pb.Order(
        order_id=order.order_id,
        request_id=order.request_id,
        user_id=order.user_id,
        lines=lines,
        total=_money(order.total_minor, order.currency),
        status=_STATUS[order.status],
        version=order.version,
        payment_id=order.payment_id,
        create_time=_timestamp(order.created_ms),
        update_time=_timestamp(order.updated_ms),
        payment_deadline=_timestamp(order.payment_deadline_ms),
        cancel_reason=order.cancel_reason,
        discount=_money(order.discount_minor, order.currency),
        coupon_code=order.coupon_code,
    )
