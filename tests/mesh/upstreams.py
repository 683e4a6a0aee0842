"""Small real gRPC upstreams for the mesh tests: they implement the real proto services and count
what reaches them, so tests can assert how many attempts Envoy made and where they went."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.order.v1 import order_pb2, order_pb2_grpc

INVENTORY = inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name
ORDER = order_pb2.DESCRIPTOR.services_by_name["OrderService"].full_name


@dataclass
class Behaviour:
    """What the upstream does: fail the first `fail_first` calls (or all with `always_fail`)
    with UNAVAILABLE, sleep `delay_s` first; `seen_deadlines` records time_remaining()."""

    label: str = "v1"
    fail_first: int = 0
    always_fail: bool = False
    delay_s: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    seen_deadlines: list[float] = field(default_factory=list)
    cancelled: int = 0

    async def enter(self, method: str, context: grpc.aio.ServicerContext) -> None:
        self.calls[method] += 1
        remaining = context.time_remaining()
        if remaining is not None:
            self.seen_deadlines.append(remaining)
        if self.delay_s:
            try:
                await asyncio.sleep(self.delay_s)
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        if self.always_fail or self.calls[method] <= self.fail_first:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{self.label} is flaky")


class FakeInventory(inventory_pb2_grpc.InventoryServiceServicer):
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour

    async def GetProduct(
        self, request: inventory_pb2.GetProductRequest, context: grpc.aio.ServicerContext
    ) -> inventory_pb2.GetProductResponse:
        await self.behaviour.enter("GetProduct", context)
        product = inventory_pb2.Product(sku=request.sku, title=self.behaviour.label)
        return inventory_pb2.GetProductResponse(product=product)

    async def Restock(
        self, request: inventory_pb2.RestockRequest, context: grpc.aio.ServicerContext
    ) -> inventory_pb2.RestockResponse:
        await self.behaviour.enter("Restock", context)
        return inventory_pb2.RestockResponse()


class FakeOrder(order_pb2_grpc.OrderServiceServicer):
    """PlaceOrder follows the behaviour; GetOrder fans out to inventory through `inventory_target`
    (the sidecar's outbound listener) with the caller's remaining deadline, like a real service."""

    def __init__(self, behaviour: Behaviour, inventory_target: str = "") -> None:
        self.behaviour = behaviour
        self.inventory_target = inventory_target

    async def PlaceOrder(
        self, request: order_pb2.PlaceOrderRequest, context: grpc.aio.ServicerContext
    ) -> order_pb2.PlaceOrderResponse:
        await self.behaviour.enter("PlaceOrder", context)
        return order_pb2.PlaceOrderResponse()

    async def GetOrder(
        self, request: order_pb2.GetOrderRequest, context: grpc.aio.ServicerContext
    ) -> order_pb2.GetOrderResponse:
        await self.behaviour.enter("GetOrder", context)
        remaining = context.time_remaining()
        async with grpc.aio.insecure_channel(self.inventory_target) as channel:
            stub = inventory_pb2_grpc.InventoryServiceStub(channel)
            try:
                await stub.GetProduct(
                    inventory_pb2.GetProductRequest(sku="sku-1"), timeout=remaining
                )
            except grpc.aio.AioRpcError as err:
                await context.abort(err.code(), f"inventory: {err.details()}")
        return order_pb2.GetOrderResponse()


@dataclass
class Upstream:
    server: grpc.aio.Server
    port: int
    behaviour: Behaviour
    health: health.aio.HealthServicer
    service: str

    async def stop(self) -> None:
        await self.server.stop(0)


async def serve(servicer: FakeInventory | FakeOrder) -> Upstream:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    if isinstance(servicer, FakeInventory):
        inventory_pb2_grpc.add_InventoryServiceServicer_to_server(servicer, server)
        name = INVENTORY
    else:
        order_pb2_grpc.add_OrderServiceServicer_to_server(servicer, server)
        name = ORDER
    checker = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await checker.set(name, health_pb2.HealthCheckResponse.SERVING)
    await checker.set("", health_pb2.HealthCheckResponse.SERVING)
    return Upstream(server, port, servicer.behaviour, checker, name)
