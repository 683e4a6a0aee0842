from google.api import annotations_pb2 as _annotations_pb2
from shop.common.v1 import common_pb2 as _common_pb2
from shop.order.v1 import order_pb2 as _order_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CartLine(_message.Message):
    __slots__ = ("sku", "title", "quantity", "unit_price", "line_subtotal", "line_discount", "line_total", "stock_state")
    SKU_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    LINE_SUBTOTAL_FIELD_NUMBER: _ClassVar[int]
    LINE_DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    LINE_TOTAL_FIELD_NUMBER: _ClassVar[int]
    STOCK_STATE_FIELD_NUMBER: _ClassVar[int]
    sku: str
    title: str
    quantity: int
    unit_price: _common_pb2.Money
    line_subtotal: _common_pb2.Money
    line_discount: _common_pb2.Money
    line_total: _common_pb2.Money
    stock_state: _common_pb2.StockState
    def __init__(self, sku: _Optional[str] = ..., title: _Optional[str] = ..., quantity: _Optional[int] = ..., unit_price: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., line_subtotal: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., line_discount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., line_total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., stock_state: _Optional[_Union[_common_pb2.StockState, str]] = ...) -> None: ...

class Cart(_message.Message):
    __slots__ = ("lines", "coupon_code", "currency_code", "subtotal", "discount", "total", "item_count")
    LINES_FIELD_NUMBER: _ClassVar[int]
    COUPON_CODE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    SUBTOTAL_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    lines: _containers.RepeatedCompositeFieldContainer[CartLine]
    coupon_code: str
    currency_code: str
    subtotal: _common_pb2.Money
    discount: _common_pb2.Money
    total: _common_pb2.Money
    item_count: int
    def __init__(self, lines: _Optional[_Iterable[_Union[CartLine, _Mapping]]] = ..., coupon_code: _Optional[str] = ..., currency_code: _Optional[str] = ..., subtotal: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., discount: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., total: _Optional[_Union[_common_pb2.Money, _Mapping]] = ..., item_count: _Optional[int] = ...) -> None: ...

class GetCartRequest(_message.Message):
    __slots__ = ("user_id", "cart_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CART_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    cart_token: str
    def __init__(self, user_id: _Optional[str] = ..., cart_token: _Optional[str] = ...) -> None: ...

class GetCartResponse(_message.Message):
    __slots__ = ("cart_token", "cart")
    CART_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CART_FIELD_NUMBER: _ClassVar[int]
    cart_token: str
    cart: Cart
    def __init__(self, cart_token: _Optional[str] = ..., cart: _Optional[_Union[Cart, _Mapping]] = ...) -> None: ...

class AddItemRequest(_message.Message):
    __slots__ = ("user_id", "cart_token", "sku", "quantity")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CART_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    cart_token: str
    sku: str
    quantity: int
    def __init__(self, user_id: _Optional[str] = ..., cart_token: _Optional[str] = ..., sku: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class AddItemResponse(_message.Message):
    __slots__ = ("cart_token", "cart")
    CART_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CART_FIELD_NUMBER: _ClassVar[int]
    cart_token: str
    cart: Cart
    def __init__(self, cart_token: _Optional[str] = ..., cart: _Optional[_Union[Cart, _Mapping]] = ...) -> None: ...

class UpdateItemRequest(_message.Message):
    __slots__ = ("user_id", "cart_token", "sku", "quantity")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CART_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    cart_token: str
    sku: str
    quantity: int
    def __init__(self, user_id: _Optional[str] = ..., cart_token: _Optional[str] = ..., sku: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class UpdateItemResponse(_message.Message):
    __slots__ = ("cart_token", "cart")
    CART_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CART_FIELD_NUMBER: _ClassVar[int]
    cart_token: str
    cart: Cart
    def __init__(self, cart_token: _Optional[str] = ..., cart: _Optional[_Union[Cart, _Mapping]] = ...) -> None: ...

class RemoveItemRequest(_message.Message):
    __slots__ = ("user_id", "cart_token", "sku")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CART_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    cart_token: str
    sku: str
    def __init__(self, user_id: _Optional[str] = ..., cart_token: _Optional[str] = ..., sku: _Optional[str] = ...) -> None: ...

class RemoveItemResponse(_message.Message):
    __slots__ = ("cart_token", "cart")
    CART_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CART_FIELD_NUMBER: _ClassVar[int]
    cart_token: str
    cart: Cart
    def __init__(self, cart_token: _Optional[str] = ..., cart: _Optional[_Union[Cart, _Mapping]] = ...) -> None: ...

class ApplyCouponRequest(_message.Message):
    __slots__ = ("user_id", "cart_token", "coupon_code")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CART_TOKEN_FIELD_NUMBER: _ClassVar[int]
    COUPON_CODE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    cart_token: str
    coupon_code: str
    def __init__(self, user_id: _Optional[str] = ..., cart_token: _Optional[str] = ..., coupon_code: _Optional[str] = ...) -> None: ...

class ApplyCouponResponse(_message.Message):
    __slots__ = ("cart_token", "cart")
    CART_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CART_FIELD_NUMBER: _ClassVar[int]
    cart_token: str
    cart: Cart
    def __init__(self, cart_token: _Optional[str] = ..., cart: _Optional[_Union[Cart, _Mapping]] = ...) -> None: ...

class QuoteRequest(_message.Message):
    __slots__ = ("user_id", "cart_token", "currency_code")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CART_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    cart_token: str
    currency_code: str
    def __init__(self, user_id: _Optional[str] = ..., cart_token: _Optional[str] = ..., currency_code: _Optional[str] = ...) -> None: ...

class QuoteResponse(_message.Message):
    __slots__ = ("cart_token", "cart", "rate")
    CART_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CART_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    cart_token: str
    cart: Cart
    rate: str
    def __init__(self, cart_token: _Optional[str] = ..., cart: _Optional[_Union[Cart, _Mapping]] = ..., rate: _Optional[str] = ...) -> None: ...

class CheckoutRequest(_message.Message):
    __slots__ = ("user_id", "cart_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CART_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    cart_token: str
    def __init__(self, user_id: _Optional[str] = ..., cart_token: _Optional[str] = ...) -> None: ...

class CheckoutResponse(_message.Message):
    __slots__ = ("order", "cart_token")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    CART_TOKEN_FIELD_NUMBER: _ClassVar[int]
    order: _order_pb2.Order
    cart_token: str
    def __init__(self, order: _Optional[_Union[_order_pb2.Order, _Mapping]] = ..., cart_token: _Optional[str] = ...) -> None: ...
