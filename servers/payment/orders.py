"""The order service as the gateway sees it: one idempotent call, ConfirmPayment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import grpc
from google.rpc import error_details_pb2

from servers.common import deadline, money
from servers.common.errors import DependencyUnavailable
from servers.common.status import decode_details
from servers.payment.domain import Outcome
from shop.common.v1 import common_pb2
from shop.order.v1 import order_pb2, order_pb2_grpc

# Codes that mean the order service could not answer now (retry later); any other code is a
# final answer about this payment.
_RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
}


@dataclass(frozen=True, slots=True)
class OrderAnswer:
    outcome: Outcome
    reason: str = ""


class OrderPort(Protocol):
    async def confirm_payment(
        self, order_id: int, payment_id: str, amount_minor: int, currency: str
    ) -> OrderAnswer: ...


class GrpcOrderPort:
    """ConfirmPayment over gRPC; the payment id makes it safe to call again after a crash."""

    def __init__(self, channel: grpc.aio.Channel, timeout_s: float = 5.0) -> None:
        self._stub = order_pb2_grpc.OrderServiceStub(channel)
        self._timeout_s = timeout_s

    async def confirm_payment(
        self, order_id: int, payment_id: str, amount_minor: int, currency: str
    ) -> OrderAnswer:
        units, nanos = money.split(amount_minor, currency)
        request = order_pb2.ConfirmPaymentRequest(
            order_id=order_id,
            payment_id=payment_id,
            amount=common_pb2.Money(currency_code=currency, units=units, nanos=nanos),
        )
        try:
            await self._stub.ConfirmPayment(request, timeout=deadline.remaining(self._timeout_s))
        except grpc.aio.AioRpcError as exc:
            return _refusal(exc)
        return OrderAnswer(Outcome.APPLIED)


def _refusal(exc: grpc.aio.AioRpcError) -> OrderAnswer:
    code = exc.code()
    if code in _RETRYABLE:
        raise DependencyUnavailable("order", f"order service: {code.name}") from exc
    if code is grpc.StatusCode.NOT_FOUND:
        return OrderAnswer(Outcome.REJECTED, "ORDER_NOT_FOUND")
    if code is grpc.StatusCode.FAILED_PRECONDITION:
        return OrderAnswer(Outcome.REJECTED, _reason(exc) or "ORDER_NOT_PAYABLE")
    # INVALID_ARGUMENT and the like: the order service refuses this payment for good.
    return OrderAnswer(Outcome.REJECTED, f"ORDER_{code.name}")


def _reason(exc: grpc.aio.AioRpcError) -> str:
    details = decode_details(exc)
    return next((d.reason for d in details if isinstance(d, error_details_pb2.ErrorInfo)), "")
