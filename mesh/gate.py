"""The edge gate: hopeless requests stop at the first hop.

In a flash sale almost every buyer arrives after the last unit is gone. Each of those requests
would cost an edge hop, a sidecar hop and a Python handler only to hear SOLD_OUT. The gate
watches stock through inventory's public API (`BatchGetStock`, every `--interval-s`) and, while
a SKU has nothing available, adds edge routes that answer a `PlaceOrder` or `Reserve` naming that
SKU in the `x-shop-sku` header straight from Envoy: the same FAILED_PRECONDITION, message and
`ErrorInfo` (reason SOLD_OUT) the services give, with no hop behind the edge.

The header is a hint a client adds to single-SKU orders (the web sale page and the load
generator do). A request without it, or naming a SKU in stock, goes on as before, and the
services keep their own checks: a wrong hint can only get its sender a refusal the order would
have got anyway, or nothing. When stock comes back (a release, an expiry, a restock) the
routes go at the next poll. When inventory cannot be read the gate opens (no routes), and on
stop it leaves no routes behind.

The routes live in the edge's route file (RDS from the file system, like a traffic shift): the
gate rewrites it from the running topology plus the sold-out set it keeps in `gate.json`, and
`shopmesh shift` renders the same set, so neither undoes the other.

Run as `python -m mesh.gate --run-dir R --target HOST:PORT [--interval-s S]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import fcntl
import json
import logging
import pathlib
import signal
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import grpc

from mesh import render, resolved
from servers.common.status import to_grpc_status
from servers.inventory.domain import sold_out
from shop.inventory.v1 import inventory_pb2 as inv
from shop.inventory.v1 import inventory_pb2_grpc

Json = dict[str, Any]
SKU_HEADER = "x-shop-sku"
GATED = (
    "/shop.order.v1.OrderService/PlaceOrder",
    "/shop.inventory.v1.InventoryService/Reserve",
)
STATE_FILE = "gate.json"
_BATCH = 100  # BatchGetStock's most SKUs per call

_log = logging.getLogger("shopmesh.gate")


def shed_routes(skus: Iterable[str]) -> list[Json]:
    """Direct-response routes: a gated RPC naming a sold-out SKU gets SOLD_OUT from Envoy."""
    routes: list[Json] = []
    for sku in sorted(skus):
        status = to_grpc_status(sold_out(sku))
        headers = {
            "grpc-status": str(status.code.value[0]),
            "grpc-message": status.details,
            **{k: _header_value(k, v) for k, v in status.trailing_metadata},
        }
        for path in GATED:
            routes.append(
                {
                    "name": f"gate.{path.rsplit('/', 1)[1]}.{sku}",
                    "match": {
                        "path": path,
                        "headers": [{"name": SKU_HEADER, "string_match": {"exact": sku}}],
                    },
                    # 200 with grpc-status in the headers: a gRPC (and gRPC-Web) trailers-only reply
                    "direct_response": {"status": 200},
                    "response_headers_to_add": [
                        {
                            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                            "header": {"key": key, "value": value},
                        }
                        for key, value in headers.items()
                    ],
                }
            )
    return routes


def _header_value(key: str, value: str | bytes) -> str:
    if key.endswith("-bin"):
        raw = value if isinstance(value, bytes) else value.encode()
        return base64.b64encode(raw).decode().rstrip("=")
    return value if isinstance(value, str) else value.decode()


def load(envoy_dir: pathlib.Path) -> list[str]:
    """The SKUs the gate last closed (none when no gate runs)."""
    path = envoy_dir / STATE_FILE
    if not path.exists():
        return []
    return [str(sku) for sku in json.loads(path.read_text())["sold_out"]]


@contextlib.contextmanager
def routes_lock(run_dir: pathlib.Path) -> Iterator[None]:
    """Held by whoever rewrites the edge's routes (the gate, `shopmesh shift`), so neither
    writes from a topology or a sold-out set the other is changing."""
    path = run_dir / "envoy" / ".edge-routes.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def apply(run_dir: pathlib.Path, skus: Sequence[str]) -> None:
    """Save the sold-out set and rewrite the edge's routes with it (weights as last shifted)."""
    from mesh.edge import edge_unit

    envoy_dir = run_dir / "envoy"
    with routes_lock(run_dir):
        render.atomic_write(envoy_dir / STATE_FILE, json.dumps({"sold_out": sorted(skus)}))
        topology = resolved.running(run_dir)
        edge = edge_unit(topology, str(envoy_dir.resolve()), skus)
        render.write_routes(edge, envoy_dir, topology.config_version)


async def catalog(stub: inventory_pb2_grpc.InventoryServiceStub, timeout_s: float) -> list[str]:
    skus: list[str] = []
    token = ""
    while True:
        page = await stub.ListProducts(
            inv.ListProductsRequest(page_size=100, page_token=token), timeout=timeout_s
        )
        skus += [p.sku for p in page.products]
        token = page.next_page_token
        if not token:
            return skus


async def sold_out_now(
    stub: inventory_pb2_grpc.InventoryServiceStub, skus: Sequence[str], timeout_s: float
) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(skus), _BATCH):
        reply = await stub.BatchGetStock(
            inv.BatchGetStockRequest(skus=skus[i : i + _BATCH]), timeout=timeout_s
        )
        found |= {s.sku for s in reply.stocks if s.available <= 0}
    return found


async def watch(run_dir: pathlib.Path, target: str, interval_s: float, stop: asyncio.Event) -> None:
    """Keep the edge's gate in step with stock until `stop` is set; leaves it open."""
    closed: set[str] = set()
    apply(run_dir, [])
    timeout_s = max(1.0, interval_s * 5)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        skus: list[str] = []
        polls = 0
        while not stop.is_set():
            try:
                if not skus or polls % 100 == 0:
                    skus = await catalog(stub, timeout_s)
                now = await sold_out_now(stub, skus, timeout_s)
            except grpc.aio.AioRpcError as error:
                _log.warning("cannot read stock (%s): gate open", error.code().name)
                now = set()
            polls += 1
            if now != closed:
                apply(run_dir, sorted(now))
                _log.info("gate: sold out at the edge: %s", ", ".join(sorted(now)) or "none")
                closed = now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
    apply(run_dir, [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mesh.gate", description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", required=True, type=pathlib.Path)
    parser.add_argument("--target", required=True, help="inventory's address (host:port)")
    parser.add_argument("--interval-s", type=float, default=0.025)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await watch(args.run_dir, args.target, args.interval_s, stop)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
