"""PaymentService servicer: decode the callback, call the gateway, return its stored bytes."""

from __future__ import annotations

import grpc
from google.protobuf import timestamp_pb2

from servers.common import money
from servers.common.validation import Violations
from servers.payment.domain import (
    MAX_PAYMENT_ID_LENGTH,
    MAX_PROVIDER_LENGTH,
    Outcome,
    PaymentRecord,
    ProviderStatus,
    parse_callback,
)
from servers.payment.gateway import PaymentGateway
from shop.common.v1 import common_pb2
from shop.payment.v1 import payment_pb2 as pb
from shop.payment.v1 import payment_pb2_grpc

_OUTCOME = {
    Outcome.APPLIED: pb.PAYMENT_OUTCOME_APPLIED,
    Outcome.FAILED_RECORDED: pb.PAYMENT_OUTCOME_FAILED_RECORDED,
    Outcome.REJECTED: pb.PAYMENT_OUTCOME_REJECTED,
}
_STATUS = {
    ProviderStatus.SUCCEEDED: pb.PROVIDER_STATUS_SUCCEEDED,
    ProviderStatus.FAILED: pb.PROVIDER_STATUS_FAILED,
}


def payment_message(record: PaymentRecord) -> pb.Payment:
    units, nanos = money.split(record.amount_minor, record.currency)
    created = timestamp_pb2.Timestamp()
    created.FromMilliseconds(record.created_ms)
    return pb.Payment(
        provider=record.provider,
        payment_id=record.payment_id,
        order_id=record.order_id,
        amount=common_pb2.Money(currency_code=record.currency, units=units, nanos=nanos),
        provider_status=_STATUS[record.status],
        outcome=_OUTCOME[record.outcome] if record.outcome else pb.PAYMENT_OUTCOME_UNSPECIFIED,
        outcome_reason=record.outcome_reason,
        record_id=record.record_id,
        create_time=created,
    )


def encode_response(record: PaymentRecord) -> bytes:
    """The answer to a callback, encoded once; replays send these very bytes."""
    return pb.HandleCallbackResponse(payment=payment_message(record)).SerializeToString()


class PaymentService(payment_pb2_grpc.PaymentServiceServicer):
    def __init__(self, gateway: PaymentGateway) -> None:
        self._gateway = gateway

    async def HandleCallback(
        self, request: pb.HandleCallbackRequest, context: grpc.aio.ServicerContext
    ) -> pb.HandleCallbackResponse:
        amount = request.amount
        callback = parse_callback(
            request.provider,
            request.payment_id,
            request.order_id,
            (amount.currency_code, amount.units, amount.nanos)
            if request.HasField("amount")
            else None,
            pb.ProviderStatus.Name(request.status)
            if request.status in pb.ProviderStatus.values()
            else "",
            (request.timestamp.seconds, request.timestamp.nanos)
            if request.HasField("timestamp")
            else None,
            request.signature,
        )
        stored = await self._gateway.handle(callback)
        # Parsing and re-serialising the stored bytes gives them back unchanged (no maps, no
        # unknown fields), so a replay is byte-for-byte the first answer.
        return pb.HandleCallbackResponse.FromString(stored)

    async def GetPayment(
        self, request: pb.GetPaymentRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetPaymentResponse:
        found = Violations()
        found.identifier("provider", request.provider, max_length=MAX_PROVIDER_LENGTH)
        found.identifier("payment_id", request.payment_id, max_length=MAX_PAYMENT_ID_LENGTH)
        found.raise_if_any()
        record = await self._gateway.get_payment((request.provider, request.payment_id))
        return pb.GetPaymentResponse(payment=payment_message(record))
