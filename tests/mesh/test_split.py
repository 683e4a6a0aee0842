"""Weighted version splits and a live shift, observed through a real sidecar and real upstreams."""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc
import pytest

from mesh import admin, shift
from mesh.topology import Topology
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from tests.mesh.conftest import EnvoyMesh, with_apps
from tests.mesh.upstreams import Behaviour, FakeInventory, serve
from tests.services import free_port

pytestmark = pytest.mark.asyncio


async def _split(stub: inventory_pb2_grpc.InventoryServiceStub, calls: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    request = inventory_pb2.GetProductRequest(sku="sku-1")

    async def worker(n: int) -> None:
        for _ in range(n):
            reply = await stub.GetProduct(request, timeout=5)
            seen[reply.product.title] += 1

    await asyncio.gather(*(worker(calls // 32) for _ in range(32)))
    return seen


async def test_split_follows_weights_and_shift_applies_live_without_errors(
    envoy_mesh: EnvoyMesh, base_topology: Topology
) -> None:
    v1 = await serve(FakeInventory(Behaviour(label="v1")))
    v2 = await serve(FakeInventory(Behaviour(label="v2")))
    try:
        topology = with_apps(
            base_topology,
            {"inventory": {"v1": [v1.port], "v2": [v2.port]}, "order": {"v1": [free_port()]}},
            weights={"inventory": {"v1": 90, "v2": 10}},
        )
        await envoy_mesh.astart(topology, ["inventory-v1-0", "inventory-v2-0", "order-v1-0"])
        port = topology.service("order").versions[0].instances[0].outbound["inventory"]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = inventory_pb2_grpc.InventoryServiceStub(channel)
            before = await _split(stub, 2016)
            assert abs(before["v1"] / before.total() - 0.90) <= 0.03
            assert before.total() == 2016

            # keep calling while the weights change: not one call may fail
            stop = asyncio.Event()
            during: Counter[str] = Counter()

            async def traffic() -> None:
                request = inventory_pb2.GetProductRequest(sku="sku-1")
                while not stop.is_set():
                    reply = await stub.GetProduct(request, timeout=5)
                    during[reply.product.title] += 1

            runners = [asyncio.create_task(traffic()) for _ in range(8)]
            await asyncio.sleep(0.2)
            _, applied = await asyncio.to_thread(
                shift.apply,
                topology,
                envoy_mesh.folder,
                "inventory",
                {"v1": 10, "v2": 90},
                {"order-v1-0"},
            )
            await asyncio.sleep(0.2)
            stop.set()
            await asyncio.gather(*runners)  # any failed call raises here
            assert during.total() > 0
            assert set(applied) == {"order-v1-0"}
            assert applied["order-v1-0"] < 2.0
            assert admin.route_versions(envoy_mesh.admin_port("order-v1-0")) == {
                "outbound-inventory": str(topology.config_version + 1)
            }
            after = await _split(stub, 2016)
            assert abs(after["v2"] / after.total() - 0.90) <= 0.03
    finally:
        await v1.stop()
        await v2.stop()
