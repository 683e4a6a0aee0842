import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from shop.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProviderStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROVIDER_STATUS_UNSPECIFIED: _ClassVar[ProviderStatus]
    PROVIDER_STATUS_SUCCEEDED: _ClassVar[ProviderStatus]
    PROVIDER_STATUS_FAILED: _ClassVar[ProviderStatus]

class PaymentOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_OUTCOME_UNSPECIFIED: _ClassVar[PaymentOutcome]
    PAYMENT_OUTCOME_APPLIED: _ClassVar[PaymentOutcome]
    PAYMENT_OUTCOME_FAILED_RECORDED: _ClassVar[PaymentOutcome]
    PAYMENT_OUTCOME_REJECTED: _ClassVar[PaymentOutcome]
PROVIDER_STATUS_UNSPECIFIED: ProviderStatus
PROVIDER_STATUS_SUCCEEDED: ProviderStatus
PROVIDER_STATUS_FAILED: ProviderStatus
PAYMENT_OUTCOME_UNSPECIFIED: PaymentOutcome
PAYMENT_OUTCOME_APPLIED: PaymentOutcome
PAYMENT_OUTCOME_FAILED_RECORDED: PaymentOutcome
PAYMENT_OUTCOME_REJECTED: PaymentOutcome

class Payment(_message.Message):
    __slots__ = ("provider", "payment_id", "order_id", "amount", "provider_status", "outcome", "outcome_reason", "record_id", "create_time")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_STATUS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_REASON_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    provider: str
    payment_id: str
    order_id: int
    amount: _common_pb2.Money
    provider_status: ProviderStatus
    outcome: PaymentOutcome
    outcome_reason: str
    record_id: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, provider: _Optional[str] = ..., payment_id: _Optional[str] = ..., order_id: _Optional[int] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., provider_status: _Optional[_Union[ProviderStatus, str]] = ..., outcome: _Optional[_Union[PaymentOutcome, str]] = ..., outcome_reason: _Optional[str] = ..., record_id: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class HandleCallbackRequest(_message.Message):
    __slots__ = ("provider", "payment_id", "order_id", "amount", "status", "timestamp", "signature")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    provider: str
    payment_id: str
    order_id: int
    amount: _common_pb2.Money
    status: ProviderStatus
    timestamp: _timestamp_pb2.Timestamp
    signature: str
    def __init__(self, provider: _Optional[str] = ..., payment_id: _Optional[str] = ..., order_id: _Optional[int] = ..., amount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., status: _Optional[_Union[ProviderStatus, str]] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., signature: _Optional[str] = ...) -> None: ...

class HandleCallbackResponse(_message.Message):
    __slots__ = ("payment",)
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    payment: Payment
    def __init__(self, payment: _Optional[_Union[Payment, _Mapping]] = ...) -> None: ...

class GetPaymentRequest(_message.Message):
    __slots__ = ("provider", "payment_id")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    provider: str
    payment_id: str
    def __init__(self, provider: _Optional[str] = ..., payment_id: _Optional[str] = ...) -> None: ...

class GetPaymentResponse(_message.Message):
    __slots__ = ("payment",)
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    payment: Payment
    def __init__(self, payment: _Optional[_Union[Payment, _Mapping]] = ...) -> None: ...
