"""PlaceOrder through gRPC for `bench order`: inventory, order and the writer as real processes
on a fresh MariaDB database; the maximum rate (closed loop), then an open-loop run at half of it
with the accept -> persisted lag of every accepted order.

The lag is measured from outside: a poller reads new rows of `orders` every few milliseconds and
notes when each order id first appears; lag = first seen - the order's created_ms (one clock,
one machine). The poll interval bounds the error from above.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc

from bench import loadgen, procs
from servers.common import sql
from servers.common.snowflake import EPOCH_MS, SEQUENCE_BITS, WORKER_BITS
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.order.v1 import order_pb2

PLACE_ORDER = "/shop.order.v1.OrderService/PlaceOrder"
SKU = "SKU-BOTTLE"
POLL_S = 0.005


def place_order(i: int) -> bytes:
    """A new buyer and request id per call, one unit of a SKU with ample stock."""
    nonce = os.environ.get("BENCH_NONCE", "n")
    request = order_pb2.PlaceOrderRequest(
        request_id=f"{nonce}-{i}",
        user_id=f"{nonce}-u{i}",
        lines=[order_pb2.PlaceOrderLine(sku=SKU, quantity=1)],
    )
    return request.SerializeToString()


@dataclass
class _Poller:
    """Notes the first time each order id is visible in SQL."""

    dsn: str
    seen: dict[int, tuple[int, float]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        asyncio.run(self._poll())

    async def _poll(self) -> None:
        db = await sql.connect(self.dsn)
        newest_created = 0
        try:
            while not self.stop.is_set():
                # ids are time-ordered: look back 2 s before the newest order seen so far
                low = max(0, newest_created - 2_000 - EPOCH_MS) << (WORKER_BITS + SEQUENCE_BITS)
                rows = await db.fetch_all(
                    "SELECT order_id, created_ms FROM orders WHERE order_id > %s", (low,)
                )
                now = time.time() * 1000
                for order_id, created_ms in rows:
                    if order_id not in self.seen:
                        self.seen[int(order_id)] = (int(created_ms), now)
                        newest_created = max(newest_created, int(created_ms))
                await asyncio.sleep(POLL_S)
        finally:
            await db.close()


@contextlib.contextmanager
def _polling(dsn: str) -> Iterator[_Poller]:
    poller = _Poller(dsn)
    thread = threading.Thread(target=poller.run, name="sql-poller", daemon=True)
    thread.start()
    try:
        yield poller
    finally:
        poller.stop.set()
        thread.join(10)


@contextlib.contextmanager
def _stack(redis_url: str, dsn: str) -> Iterator[str]:
    """inventory, order and the writer as processes; yields the order address."""
    prefix = f"benchorder{uuid.uuid4().hex[:6]}"
    inventory_port, order_port = procs.free_port(), procs.free_port()
    common = {
        "REDIS_URL": redis_url,
        "MYSQL_DSN": dsn,
        "SHOPMESH_METRICS_PORT": "-1",
        "SHOPMESH_LOG_LEVEL": "WARNING",
        "INVENTORY_KEY_PREFIX": f"{prefix}i",
        "ORDER_KEY_PREFIX": f"{prefix}o",
    }
    order_env = {
        **common,
        "SHOPMESH_PORT": str(order_port),
        "ORDER_INVENTORY_TARGET": f"127.0.0.1:{inventory_port}",
    }
    try:
        with (
            procs.running(
                procs.python("servers.inventory"),
                inventory_port,
                {**common, "SHOPMESH_PORT": str(inventory_port)},
            ),
            procs.running(procs.python("servers.order"), order_port, order_env),
            procs.running(procs.python("servers.order.writer"), None, common),
        ):
            with grpc.insecure_channel(f"127.0.0.1:{inventory_port}") as channel:
                stub = inventory_pb2_grpc.InventoryServiceStub(channel)
                stub.SetStock(inventory_pb2.SetStockRequest(sku=SKU, available=10**7), timeout=10)
            yield f"127.0.0.1:{order_port}"
    finally:  # once the processes are gone, so nothing writes the keys again
        procs.forget_keys(redis_url, prefix)


def run(redis_url: str, dsn: str, duration_s: float) -> dict[str, Any]:
    """Max PlaceOrder RPS, then RPS and accept -> persisted lag at half of it."""
    os.environ["BENCH_NONCE"] = uuid.uuid4().hex[:8]
    with _stack(redis_url, dsn) as address:
        peak = loadgen.run(
            loadgen.LoadSpec(address, PLACE_ORDER, "bench.order_grpc:place_order",
                             in_flight=64, duration_s=duration_s)
        )  # fmt: skip
        os.environ["BENCH_NONCE"] += "h"
        half = peak.ok / peak.seconds / 2 if peak.seconds else 0.0
        with _polling(dsn) as poller:
            start_ms = time.time() * 1000
            steady = loadgen.run(
                loadgen.LoadSpec(address, PLACE_ORDER, "bench.order_grpc:place_order",
                                 rate=max(1.0, half), duration_s=duration_s)
            )  # fmt: skip
            deadline = time.monotonic() + 10
            while len(_since(poller, start_ms)) < steady.ok and time.monotonic() < deadline:
                time.sleep(0.05)
        steady_lags = _since(poller, start_ms)
    lags = loadgen.percentiles(steady_lags)
    return {
        "peak": peak,
        "steady": steady,
        "half_rate": half,
        "lag_p50_ms": lags["p50"],
        "lag_p99_ms": lags["p99"],
        "persisted": len(steady_lags),
    }


def _since(poller: _Poller, start_ms: float) -> list[float]:
    """Lags of the orders accepted from `start_ms` on (the peak run's orders are older)."""
    return [seen - created for created, seen in list(poller.seen.values()) if created >= start_ms]
