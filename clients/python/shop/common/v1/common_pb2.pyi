from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class StockState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STOCK_STATE_UNSPECIFIED: _ClassVar[StockState]
    STOCK_STATE_IN_STOCK: _ClassVar[StockState]
    STOCK_STATE_LOW: _ClassVar[StockState]
    STOCK_STATE_SOLD_OUT: _ClassVar[StockState]
STOCK_STATE_UNSPECIFIED: StockState
STOCK_STATE_IN_STOCK: StockState
STOCK_STATE_LOW: StockState
STOCK_STATE_SOLD_OUT: StockState

class Money(_message.Message):
    __slots__ = ("currency_code", "units", "nanos")
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    NANOS_FIELD_NUMBER: _ClassVar[int]
    currency_code: str
    units: int
    nanos: int
    def __init__(self, currency_code: _Optional[str] = ..., units: _Optional[int] = ..., nanos: _Optional[int] = ...) -> None: ...
