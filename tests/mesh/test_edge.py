"""The edge Envoy from outside: gRPC-Web with a CORS preflight, JSON transcoding, the rate limit,
x-envoy-* header stripping and the web frontend, against a real upstream behind a real sidecar."""

from __future__ import annotations

import asyncio
import json
import pathlib
import struct
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

import grpc
import pytest
import pytest_asyncio

from mesh import web
from mesh.topology import Topology
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from tests.mesh.conftest import EnvoyMesh, with_apps
from tests.mesh.upstreams import Behaviour, FakeInventory, Upstream, serve

pytestmark = pytest.mark.asyncio
GET_PRODUCT = "/shop.inventory.v1.InventoryService/GetProduct"


@dataclass
class Edge:
    topology: Topology
    upstream: Upstream
    base: str


@pytest_asyncio.fixture
async def edge(
    envoy_mesh: EnvoyMesh, base_topology: Topology, tmp_path: pathlib.Path
) -> AsyncIterator[Edge]:
    upstream = await serve(FakeInventory(Behaviour(label="from-v1")))
    topology = with_apps(base_topology, {"inventory": {"v1": [upstream.port]}})
    edge_settings = replace(
        topology.edge,
        rate_limit_tokens=40,
        rate_limit_per_s=1,
        route_limits={"inventory.GetStock": 3},
    )
    topology = replace(topology, edge=edge_settings)
    site = web.serve_in_thread(web.site_root(tmp_path, tmp_path / "no-dist"), topology.edge.web)
    try:
        await envoy_mesh.astart(topology, ["inventory-v1-0", "edge"])
        yield Edge(topology, upstream, f"http://127.0.0.1:{topology.edge.port}")
    finally:
        site.shutdown()
        site.server_close()
        await upstream.stop()


def _http(
    url: str, method: str = "GET", body: bytes | None = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, {k.lower(): v for k, v in reply.headers.items()}, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def _frames(body: bytes) -> list[tuple[int, bytes]]:
    frames, offset = [], 0
    while offset < len(body):
        flag, length = struct.unpack(">BI", body[offset : offset + 5])
        frames.append((flag, body[offset + 5 : offset + 5 + length]))
        offset += 5 + length
    return frames


async def test_grpc_web_call_and_cors_preflight_through_the_edge(edge: Edge) -> None:
    origin = {"Origin": "http://shop.example"}
    status, headers, _ = await asyncio.to_thread(
        _http,
        edge.base + GET_PRODUCT,
        "OPTIONS",
        **origin,
        **{
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-grpc-web,x-user-agent",
        },
    )
    assert status == 200
    assert headers["access-control-allow-origin"] == "http://shop.example"
    assert "x-grpc-web" in headers["access-control-allow-headers"]

    message = inventory_pb2.GetProductRequest(sku="sku-9").SerializeToString()
    framed = struct.pack(">BI", 0, len(message)) + message
    status, headers, body = await asyncio.to_thread(
        _http,
        edge.base + GET_PRODUCT,
        "POST",
        framed,
        **origin,
        **{"Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1"},
    )
    assert status == 200
    assert "grpc-status" in headers["access-control-expose-headers"]
    (data_flag, data), (trailer_flag, trailers) = _frames(body)
    assert (data_flag, trailer_flag) == (0, 0x80)
    reply = inventory_pb2.GetProductResponse.FromString(data)
    assert (reply.product.sku, reply.product.title) == ("sku-9", "from-v1")
    assert b"grpc-status:0" in trailers.replace(b" ", b"")


async def test_json_call_through_the_transcoder(edge: Edge) -> None:
    status, headers, body = await asyncio.to_thread(_http, edge.base + "/v1/products/sku-7")
    assert status == 200, body
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["product"]["sku"] == "sku-7"
    assert json.loads(body)["product"]["title"] == "from-v1"


async def test_web_frontend_is_served_on_root(edge: Edge) -> None:
    status, _, body = await asyncio.to_thread(_http, edge.base + "/")
    assert status == 200
    assert b"shopmesh is running" in body


async def test_outside_callers_cannot_steer_envoy_with_x_envoy_headers(edge: Edge) -> None:
    edge.upstream.behaviour.delay_s = 0.3
    async with grpc.aio.insecure_channel(edge.base.removeprefix("http://")) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        # honoured, this header would time the call out after 1 ms
        reply = await stub.GetProduct(
            inventory_pb2.GetProductRequest(sku="s"),
            timeout=5,
            metadata=(("x-envoy-upstream-rq-timeout-ms", "1"),),
        )
    assert reply.product.title == "from-v1"


async def _calls(
    edge: Edge, count: int, call: Callable[[inventory_pb2_grpc.InventoryServiceStub], Any]
) -> list[tuple[grpc.StatusCode, dict[str, Any]]]:
    """Each call's code and trailing metadata, `count` calls in a row through the edge."""
    results = []
    async with grpc.aio.insecure_channel(edge.base.removeprefix("http://")) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        for _ in range(count):
            try:
                await call(stub)
                results.append((grpc.StatusCode.OK, {}))
            except grpc.aio.AioRpcError as err:
                results.append((err.code(), dict(err.trailing_metadata() or ())))
    return results


async def test_rate_limit_per_route_answers_resource_exhausted(edge: Edge) -> None:
    results = await _calls(
        edge, 45, lambda stub: stub.GetProduct(inventory_pb2.GetProductRequest(sku="s"), timeout=5)
    )
    codes = [code for code, _ in results]
    assert codes.count(grpc.StatusCode.OK) <= 41  # 40 tokens, at most one refill
    assert codes[-1] == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert results[-1][1].get("retry-after") == "1"
    # another route has its own bucket
    status, _, _ = await asyncio.to_thread(_http, edge.base + "/v1/products")
    assert status != 429


async def test_a_route_limit_gives_that_route_a_smaller_bucket(edge: Edge) -> None:
    results = await _calls(
        edge, 8, lambda stub: stub.GetStock(inventory_pb2.GetStockRequest(sku="s"), timeout=5)
    )
    codes = [code for code, _ in results]
    refused = codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert refused >= 4 and codes[-1] == grpc.StatusCode.RESOURCE_EXHAUSTED  # 3 tokens, <=1 refill


async def test_edge_logs_json_and_serves_prometheus_stats_on_local_admin(
    edge: Edge, envoy_mesh: EnvoyMesh
) -> None:
    await asyncio.to_thread(_http, edge.base + "/v1/products/sku-3")
    admin_port = envoy_mesh.admin_port("edge")
    status, _, body = await asyncio.to_thread(
        _http, f"http://127.0.0.1:{admin_port}/stats/prometheus"
    )
    assert status == 200
    assert b"envoy_cluster_upstream_rq_total" in body
    assert envoy_mesh.units["edge"].bootstrap["admin"]["address"]["socket_address"]["address"] == (
        "127.0.0.1"
    )
    for _ in range(50):  # Envoy flushes access logs on a short timer
        lines = [
            json.loads(line) for line in envoy_mesh.log("edge").splitlines() if line[:1] == "{"
        ]
        if any(entry["path"] == "/v1/products/sku-3" for entry in lines):
            break
        await asyncio.sleep(0.1)
    entry = next(e for e in lines if e["path"] == "/v1/products/sku-3")
    assert (entry["http_status"], entry["upstream"]) == (200, "inventory-v1")
