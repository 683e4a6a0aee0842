"""Retries, deadlines, outlier ejection and circuit breaking, through real Envoy sidecars."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import grpc
import pytest
from grpc_health.v1 import health_pb2

from mesh.topology import Policy, Topology
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.order.v1 import order_pb2, order_pb2_grpc
from tests.mesh.conftest import EnvoyMesh, with_apps
from tests.mesh.upstreams import Behaviour, FakeInventory, FakeOrder, serve
from tests.services import free_port

pytestmark = pytest.mark.asyncio


def _outbound(topology: Topology, caller: str, peer: str) -> str:
    instance = topology.service(caller).versions[0].instances[0]
    return f"127.0.0.1:{instance.outbound[peer]}"


async def _get_product(target: str) -> inventory_pb2.GetProductResponse:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        reply: inventory_pb2.GetProductResponse = await stub.GetProduct(
            inventory_pb2.GetProductRequest(sku="sku-1"), timeout=5.0
        )
        return reply


async def test_idempotent_rpc_is_retried_through_a_flaky_upstream(
    envoy_mesh: EnvoyMesh, base_topology: Topology
) -> None:
    flaky = await serve(FakeInventory(Behaviour(fail_first=2)))
    try:
        topology = with_apps(
            base_topology, {"inventory": {"v1": [flaky.port]}, "order": {"v1": [free_port()]}}
        )
        await envoy_mesh.astart(topology, ["inventory-v1-0", "order-v1-0"])
        reply = await _get_product(_outbound(topology, "order", "inventory"))
        assert reply.product.title == "v1"
        assert flaky.behaviour.calls["GetProduct"] == 3  # two UNAVAILABLE, then the retry won
        stats = envoy_mesh.stats("order-v1-0", r"cluster\.inventory-v1\.upstream_rq_retry$")
        assert stats["cluster.inventory-v1.upstream_rq_retry"] == 2
    finally:
        await flaky.stop()


async def test_place_order_is_never_retried_after_an_ambiguous_failure(
    envoy_mesh: EnvoyMesh, base_topology: Topology
) -> None:
    failing = await serve(FakeOrder(Behaviour(always_fail=True)))
    try:
        topology = with_apps(
            base_topology, {"order": {"v1": [failing.port]}, "payment": {"v1": [free_port()]}}
        )
        await envoy_mesh.astart(topology, ["order-v1-0", "payment-v1-0"])
        async with grpc.aio.insecure_channel(_outbound(topology, "payment", "order")) as channel:
            stub = order_pb2_grpc.OrderServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.PlaceOrder(order_pb2.PlaceOrderRequest(request_id="r1"), timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert failing.behaviour.calls["PlaceOrder"] == 1  # it may have run: never replayed
        stats = envoy_mesh.stats("payment-v1-0", r"cluster\.order-v1\.upstream_rq_retry$")
        assert stats["cluster.order-v1.upstream_rq_retry"] == 0
    finally:
        await failing.stop()


async def test_client_deadline_travels_edge_sidecar_app_sidecar_app(
    envoy_mesh: EnvoyMesh, base_topology: Topology
) -> None:
    inventory = await serve(FakeInventory(Behaviour()))
    order = FakeOrder(Behaviour())
    order_server = await serve(order)
    try:
        policy = replace(Policy(), per_try_timeout_s=0)  # only the client's deadline applies
        topology = with_apps(
            base_topology,
            {"inventory": {"v1": [inventory.port]}, "order": {"v1": [order_server.port]}},
            policy=policy,
        )
        order.inventory_target = _outbound(topology, "order", "inventory")
        await envoy_mesh.astart(topology, ["inventory-v1-0", "order-v1-0", "edge"])
        async with grpc.aio.insecure_channel(f"127.0.0.1:{topology.edge.port}") as channel:
            stub = order_pb2_grpc.OrderServiceStub(channel)
            await stub.GetOrder(order_pb2.GetOrderRequest(order_id=1), timeout=3.0)
            at_order, at_inventory = (
                order.behaviour.seen_deadlines[0],
                inventory.behaviour.seen_deadlines[0],
            )
            # never more than the caller gave (plus grpc-timeout's unit rounding), never much less
            assert 2.0 < at_order <= 3.05
            assert 1.5 < at_inventory <= at_order + 0.01  # grpc-timeout is coarse-grained

            # the deepest app is slow: the caller's deadline ends the whole chain, promptly
            inventory.behaviour.delay_s = 5.0
            started = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetOrder(order_pb2.GetOrderRequest(order_id=1), timeout=0.6)
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert time.monotonic() - started < 2.0
        for _ in range(100):  # the downstream handler was cancelled, not left running
            if inventory.behaviour.cancelled:
                break
            await asyncio.sleep(0.02)
        assert inventory.behaviour.cancelled == 1
    finally:
        await order_server.stop()
        await inventory.stop()


async def test_outlier_detection_ejects_an_instance_returning_unavailable(
    envoy_mesh: EnvoyMesh, base_topology: Topology
) -> None:
    good = await serve(FakeInventory(Behaviour(label="good")))
    bad = await serve(FakeInventory(Behaviour(label="bad", always_fail=True)))
    try:
        policy = replace(Policy(), consecutive_5xx=3, base_ejection_s=30)
        topology = with_apps(
            base_topology,
            {"inventory": {"v1": [good.port, bad.port]}, "order": {"v1": [free_port()]}},
            policy=policy,
        )
        await envoy_mesh.astart(topology, ["inventory-v1-0", "inventory-v1-1", "order-v1-0"])
        target = _outbound(topology, "order", "inventory")
        for _ in range(30):
            assert (await _get_product(target)).product.title == "good"  # retried elsewhere
        stats = envoy_mesh.stats("order-v1-0", r"cluster\.inventory-v1\.outlier_detection")
        assert stats["cluster.inventory-v1.outlier_detection.ejections_enforced_total"] >= 1
        assert stats["cluster.inventory-v1.outlier_detection.ejections_active"] == 1
        before = bad.behaviour.calls["GetProduct"]
        assert 3 <= before < 30
        for _ in range(20):
            await _get_product(target)
        assert bad.behaviour.calls["GetProduct"] == before  # ejected: no traffic reaches it
    finally:
        await good.stop()
        await bad.stop()


async def test_circuit_breaker_overflow_fails_fast(
    envoy_mesh: EnvoyMesh, base_topology: Topology
) -> None:
    slow = await serve(FakeInventory(Behaviour()))
    try:
        policy = replace(Policy(), max_requests=2, max_pending=1, per_try_timeout_s=0)
        topology = with_apps(
            base_topology,
            {"inventory": {"v1": [slow.port]}, "order": {"v1": [free_port()]}},
            policy=policy,
        )
        await envoy_mesh.astart(topology, ["inventory-v1-0", "order-v1-0"])
        target = _outbound(topology, "order", "inventory")
        async with grpc.aio.insecure_channel(target) as channel:
            stub = inventory_pb2_grpc.InventoryServiceStub(channel)

            async def one() -> tuple[grpc.StatusCode, float]:
                started = time.monotonic()
                try:
                    await stub.GetProduct(inventory_pb2.GetProductRequest(sku="s"), timeout=5)
                    return grpc.StatusCode.OK, time.monotonic() - started
                except grpc.aio.AioRpcError as err:
                    return err.code(), time.monotonic() - started

            assert (await one())[0] == grpc.StatusCode.OK  # the upstream connection is up
            slow.behaviour.delay_s = 1.5
            results = await asyncio.gather(*(one() for _ in range(8)))
        ok = [t for code, t in results if code == grpc.StatusCode.OK]
        shed = [t for code, t in results if code == grpc.StatusCode.UNAVAILABLE]
        assert len(ok) == 2 and len(shed) == 6
        assert max(shed) < 1.0 <= min(ok)  # the overflow did not wait for the slow upstream
        stats = envoy_mesh.stats("order-v1-0", r"cluster\.inventory-v1\..*overflow")
        assert stats["cluster.inventory-v1.upstream_rq_active_overflow"] == 6  # max_requests
    finally:
        await slow.stop()


async def test_active_health_checks_take_a_not_serving_instance_out(
    envoy_mesh: EnvoyMesh, base_topology: Topology
) -> None:
    first = await serve(FakeInventory(Behaviour(label="first")))
    second = await serve(FakeInventory(Behaviour(label="second")))
    try:
        policy = replace(Policy(), health_interval_s=0.2)
        topology = with_apps(
            base_topology,
            {"inventory": {"v1": [first.port, second.port]}, "order": {"v1": [free_port()]}},
            policy=policy,
        )
        await envoy_mesh.astart(topology, ["inventory-v1-0", "inventory-v1-1", "order-v1-0"])
        await second.health.set(second.service, health_pb2.HealthCheckResponse.NOT_SERVING)
        healthy = "cluster.inventory-v1.membership_healthy"
        for _ in range(100):
            if envoy_mesh.stats("order-v1-0", rf"{healthy}$")[healthy] == 1:
                break
            await asyncio.sleep(0.05)
        assert envoy_mesh.stats("order-v1-0", rf"{healthy}$")[healthy] == 1
        target = _outbound(topology, "order", "inventory")
        titles = {(await _get_product(target)).product.title for _ in range(20)}
        assert titles == {"first"}
    finally:
        await first.stop()
        await second.stop()
