"""The edge gate (mesh.gate): while a SKU is sold out, a PlaceOrder naming it in `x-shop-sku`
is answered SOLD_OUT by the edge Envoy itself, the order sidecar never sees it, the answer is the
one the services give; stock coming back opens the gate, and a traffic shift keeps it."""

from __future__ import annotations

import pathlib
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator

import grpc
import pytest
from google.rpc.error_details_pb2 import ErrorInfo

from mesh import admin, gate, render, shift
from mesh.resolved import running
from mesh.topology import Topology
from servers.common.status import decode_details
from shop.inventory.v1 import inventory_pb2 as inv
from shop.inventory.v1 import inventory_pb2_grpc
from shop.order.v1 import order_pb2 as orders
from shop.order.v1 import order_pb2_grpc
from tests.meshup import shopmesh_up

SKU = "SKU-MUG"


def test_shed_routes_answer_with_the_services_own_status() -> None:
    routes = gate.shed_routes(["SKU-B", "SKU-A"])
    assert [r["name"] for r in routes][:2] == ["gate.PlaceOrder.SKU-A", "gate.Reserve.SKU-A"]
    added = routes[0]["response_headers_to_add"]
    headers = {h["header"]["key"]: h["header"]["value"] for h in added}
    assert headers["grpc-status"] == "9"
    assert headers["grpc-message"] == "SKU-A is sold out"
    assert routes[0]["match"]["headers"][0] == {
        "name": "x-shop-sku",
        "string_match": {"exact": "SKU-A"},
    }
    assert gate.shed_routes([]) == []


def test_envoy_accepts_an_edge_config_with_a_closed_gate(
    base_topology: Topology, tmp_path: pathlib.Path
) -> None:
    units = render.render(base_topology, str(tmp_path), ["SKU-MUG", "SKU-CAMERA"])
    edge = next(u for u in units if u.name == "edge")
    first = edge.routes["edge"]["virtual_hosts"][0]["routes"][0]
    assert first["name"] == "gate.PlaceOrder.SKU-CAMERA"
    render.write(base_topology, tmp_path)
    render.write_routes(edge, tmp_path, base_topology.config_version)
    checked = subprocess.run(
        [admin.envoy_binary(), "--mode", "validate", "-c", str(tmp_path / "edge.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr[-2000:]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pathlib.Path]:
    """`shopmesh up` with inventory and order on free ports (embedded Redis, SQLite)."""
    folder = tmp_path_factory.mktemp("gate")
    with shopmesh_up(folder, "--services", "inventory,order", timeout_s=120) as run_dir:
        yield run_dir


def _until(check: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _place(channel: grpc.Channel, hint: bool) -> grpc.RpcError | None:
    stub = order_pb2_grpc.OrderServiceStub(channel)
    request = orders.PlaceOrderRequest(
        request_id=uuid.uuid4().hex,
        user_id=f"u{uuid.uuid4().hex[:8]}",
        lines=[orders.PlaceOrderLine(sku=SKU, quantity=1)],
    )
    try:
        stub.PlaceOrder(request, timeout=5, metadata=[("x-shop-sku", SKU)] if hint else None)
    except grpc.RpcError as error:
        return error
    return None


def _order_app_requests(run_dir: pathlib.Path) -> int:
    order = next(s for s in running(run_dir).services if s.name == "order")
    sidecar = order.versions[0].instances[0].admin
    found = admin.stats(sidecar, r"^cluster\.local-app\.upstream_rq_total$")
    return sum(found.values())


def _sold_out_at_edge(channel: grpc.Channel, run_dir: pathlib.Path) -> bool:
    """A hinted PlaceOrder is refused SOLD_OUT and the order service never saw it."""
    before = _order_app_requests(run_dir)
    error = _place(channel, hint=True)
    refused = error is not None and error.code() is grpc.StatusCode.FAILED_PRECONDITION
    return refused and _order_app_requests(run_dir) == before


@pytest.mark.slow
def test_a_sold_out_sku_is_answered_at_the_edge_until_stock_comes_back(
    mesh: pathlib.Path,
) -> None:
    topology = running(mesh)
    with grpc.insecure_channel(f"127.0.0.1:{topology.edge.port}") as channel:
        stock = inventory_pb2_grpc.InventoryServiceStub(channel)
        stock.SetStock(inv.SetStockRequest(sku=SKU, available=0), timeout=5)
        _until(lambda: gate.load(mesh / "envoy") == [SKU], "the gate to close")
        _until(lambda: _sold_out_at_edge(channel, mesh), "the edge to answer SOLD_OUT")

        before = _order_app_requests(mesh)
        errors = [_place(channel, hint=True) for _ in range(20)]
        assert _order_app_requests(mesh) == before  # not one reached the order service
        for error in errors:
            assert error is not None and error.code() is grpc.StatusCode.FAILED_PRECONDITION
            assert error.details() == f"{SKU} is sold out"
            infos = [d for d in decode_details(error) if isinstance(d, ErrorInfo)]
            assert [(i.reason, i.metadata["sku"]) for i in infos] == [("SOLD_OUT", SKU)]

        # gRPC-Web (the browser's protocol) gets the same answer in the reply headers
        web = urllib.request.Request(
            f"http://127.0.0.1:{topology.edge.port}/shop.order.v1.OrderService/PlaceOrder",
            data=b"\x00\x00\x00\x00\x00",
            headers={"content-type": "application/grpc-web+proto", "x-shop-sku": SKU},
        )
        with urllib.request.urlopen(web, timeout=5) as reply:
            assert reply.headers["grpc-status"] == "9"

        # without the hint the request goes on, and the order service refuses it itself
        unhinted = _place(channel, hint=False)
        assert unhinted is not None and unhinted.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert _order_app_requests(mesh) > before

        # a traffic shift rewrites the edge's routes and keeps the gate closed
        updated, _ = shift.apply(topology, mesh / "envoy", "inventory", {"v1": 50, "v2": 50})
        assert _sold_out_at_edge(channel, mesh)
        assert updated.config_version > topology.config_version

        stock.Restock(inv.RestockRequest(sku=SKU, quantity=5), timeout=5)
        _until(lambda: gate.load(mesh / "envoy") == [], "the gate to open")
        _until(lambda: _place(channel, hint=True) is None, "an order to go through")
