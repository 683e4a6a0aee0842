"""InventoryService servicer: decode the request, call the StockKeeper, encode the answer."""

from __future__ import annotations

import grpc
from google.protobuf import timestamp_pb2

from servers.common import money
from servers.inventory.domain import (
    Product,
    Reservation,
    ReservationLine,
    ReservationState,
    ReserveCommand,
    SaleConfig,
    StockLevel,
    StockState,
)
from servers.inventory.keeper import StockKeeper
from shop.common.v1 import common_pb2
from shop.inventory.v1 import inventory_pb2 as pb
from shop.inventory.v1 import inventory_pb2_grpc

_STOCK_STATE = {
    StockState.IN_STOCK: common_pb2.STOCK_STATE_IN_STOCK,
    StockState.LOW: common_pb2.STOCK_STATE_LOW,
    StockState.SOLD_OUT: common_pb2.STOCK_STATE_SOLD_OUT,
}
_RESERVATION_STATE = {
    ReservationState.RESERVED: pb.RESERVATION_STATE_RESERVED,
    ReservationState.COMMITTED: pb.RESERVATION_STATE_COMMITTED,
    ReservationState.RELEASED: pb.RESERVATION_STATE_RELEASED,
}


class InventoryService(inventory_pb2_grpc.InventoryServiceServicer):
    def __init__(self, keeper: StockKeeper, low_stock_threshold: int) -> None:
        self._keeper = keeper
        self._low = low_stock_threshold

    async def ListProducts(
        self, request: pb.ListProductsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListProductsResponse:
        products, token = self._keeper.catalog.page(request.page_size, request.page_token)
        levels = await self._keeper.stock([p.sku for p in products]) if products else []
        encoded = [self._product(p, level) for p, level in zip(products, levels, strict=True)]
        return pb.ListProductsResponse(products=encoded, next_page_token=token)

    async def GetProduct(
        self, request: pb.GetProductRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetProductResponse:
        product = self._keeper.product(request.sku)
        (level,) = await self._keeper.stock([product.sku])
        return pb.GetProductResponse(product=self._product(product, level))

    async def GetStock(
        self, request: pb.GetStockRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetStockResponse:
        (level,) = await self._keeper.stock([self._keeper.product(request.sku).sku])
        return pb.GetStockResponse(stock=self._stock(level))

    async def BatchGetStock(
        self, request: pb.BatchGetStockRequest, context: grpc.aio.ServicerContext
    ) -> pb.BatchGetStockResponse:
        levels = await self._keeper.stock(list(request.skus))
        return pb.BatchGetStockResponse(stocks=[self._stock(level) for level in levels])

    async def SetStock(
        self, request: pb.SetStockRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetStockResponse:
        level = await self._keeper.set_stock(request.sku, request.available)
        return pb.SetStockResponse(stock=self._stock(level))

    async def Restock(
        self, request: pb.RestockRequest, context: grpc.aio.ServicerContext
    ) -> pb.RestockResponse:
        level = await self._keeper.restock(request.sku, request.quantity)
        return pb.RestockResponse(stock=self._stock(level))

    async def ConfigureSale(
        self, request: pb.ConfigureSaleRequest, context: grpc.aio.ServicerContext
    ) -> pb.ConfigureSaleResponse:
        sale = request.sale
        config = SaleConfig(
            per_user_limit=sale.per_user_limit,
            start_ms=sale.start_time.ToMilliseconds() if sale.HasField("start_time") else 0,
            end_ms=sale.end_time.ToMilliseconds() if sale.HasField("end_time") else 0,
        )
        level = await self._keeper.configure_sale(request.sku, config)
        return pb.ConfigureSaleResponse(stock=self._stock(level))

    async def Reserve(
        self, request: pb.ReserveRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReserveResponse:
        command = ReserveCommand(
            reservation_id=request.reservation_id,
            user_id=request.user_id,
            lines=tuple(ReservationLine(line.sku, line.quantity) for line in request.lines),
            ttl_s=request.ttl.ToTimedelta().total_seconds() if request.HasField("ttl") else None,
        )
        reservation, replayed = await self._keeper.reserve(command)
        return pb.ReserveResponse(reservation=_reservation(reservation), replayed=replayed)

    async def Release(
        self, request: pb.ReleaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReleaseResponse:
        reservation = await self._keeper.release(request.reservation_id, list(request.skus))
        return pb.ReleaseResponse(reservation=_reservation(reservation))

    async def Commit(
        self, request: pb.CommitRequest, context: grpc.aio.ServicerContext
    ) -> pb.CommitResponse:
        reservation = await self._keeper.commit(request.reservation_id, list(request.skus))
        return pb.CommitResponse(reservation=_reservation(reservation))

    def _product(self, product: Product, level: StockLevel) -> pb.Product:
        units, nanos = money.split(product.price_minor, product.currency)
        return pb.Product(
            sku=product.sku,
            title=product.title,
            description=product.description,
            price=common_pb2.Money(currency_code=product.currency, units=units, nanos=nanos),
            image_path=product.image_path,
            stock_state=_STOCK_STATE[level.state(self._low)],
        )

    def _stock(self, level: StockLevel) -> pb.Stock:
        sale = pb.SaleConfig(per_user_limit=level.sale.per_user_limit)
        if level.sale.start_ms:
            sale.start_time.CopyFrom(_timestamp(level.sale.start_ms))
        if level.sale.end_ms:
            sale.end_time.CopyFrom(_timestamp(level.sale.end_ms))
        return pb.Stock(
            sku=level.sku,
            initial=level.initial,
            available=level.available,
            reserved=level.reserved,
            sold=level.sold,
            state=_STOCK_STATE[level.state(self._low)],
            sale=sale,
        )


def _timestamp(ms: int) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromMilliseconds(ms)
    return stamp


def _reservation(reservation: Reservation) -> pb.Reservation:
    return pb.Reservation(
        reservation_id=reservation.reservation_id,
        user_id=reservation.user_id,
        lines=[
            pb.ReservationLine(sku=line.sku, quantity=line.quantity) for line in reservation.lines
        ],
        state=_RESERVATION_STATE[reservation.state],
        expire_time=_timestamp(reservation.expire_ms),
    )
