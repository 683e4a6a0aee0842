"""Invariant 3 under a flash sale: 10,000 concurrent buyers for 500 units -> exactly 500 orders in
SQL, none twice, books clean; and the same when the writer is SIGKILLed between its commit and
its acknowledgement, then restarted."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import grpc
import pytest
from google.rpc import error_details_pb2

from servers.order.reconcile import reconcile
from servers.order.store import OrderKeys
from shop.inventory.v1 import inventory_pb2 as inv
from shop.order.v1 import order_pb2 as pb
from tests.helpers import error_reason, status_details
from tests.order.conftest import OrderStack, start_order_stack

BUYERS = 10_000
UNITS = 500
SKU = "SKU-MUG"


async def _stampede(stack: OrderStack, tag: str) -> tuple[list[int], int]:
    """Every buyer presses buy at once; returns the accepted order ids and the SOLD_OUT count."""
    await stack.inventory_stub.SetStock(inv.SetStockRequest(sku=SKU, available=UNITS))

    async def buy(i: int) -> int | str:
        """One buyer, behaving as a client should: told to come back (the placement cap's
        RESOURCE_EXHAUSTED + RetryInfo), it retries the same request id after the delay."""
        request = pb.PlaceOrderRequest(
            request_id=f"{tag}-{i}", user_id=f"u{i}", lines=[pb.PlaceOrderLine(sku=SKU, quantity=1)]
        )
        for _attempt in range(200):
            try:
                reply = await stack.order_stub.PlaceOrder(request, timeout=60)
            except grpc.aio.AioRpcError as err:
                if err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    return f"{err.code().name}:{error_reason(err)}"
                await asyncio.sleep(_retry_delay(err))
                continue
            return int(reply.order.order_id)
        return "GAVE_UP"

    outcomes = await asyncio.gather(*(buy(i) for i in range(BUYERS)))
    accepted = [o for o in outcomes if isinstance(o, int)]
    refusals = [o for o in outcomes if isinstance(o, str)]
    assert set(refusals) <= {"FAILED_PRECONDITION:SOLD_OUT"}, set(refusals)
    return accepted, len(refusals)


def _retry_delay(err: grpc.aio.AioRpcError) -> float:
    for detail in status_details(err):
        if isinstance(detail, error_details_pb2.RetryInfo):
            return detail.retry_delay.seconds + detail.retry_delay.nanos / 1e9
    raise AssertionError("RESOURCE_EXHAUSTED without RetryInfo")


async def _assert_books(stack: OrderStack, accepted: list[int]) -> None:
    assert len(accepted) == UNITS and len(set(accepted)) == UNITS
    rows = await stack.db.fetch_all("SELECT order_id FROM orders")
    assert sorted(int(r[0]) for r in rows) == sorted(accepted)
    stock = (await stack.inventory_stub.GetStock(inv.GetStockRequest(sku=SKU))).stock
    assert (stock.available, stock.reserved, stock.sold) == (0, UNITS, 0)
    keys = OrderKeys(stack.settings.key_prefix, stack.settings.partitions)
    report = await reconcile(stack.redis, stack.db, stack.inventory.settings.key_prefix, keys, 0)
    assert report.clean, report.render()
    assert report.checked["hot_orders"] == UNITS and report.checked["sql_orders"] == UNITS


@pytest.mark.slow
@pytest.mark.asyncio
async def test_ten_thousand_buyers_for_500_units(order_stack: OrderStack) -> None:
    accepted, sold_out = await _stampede(order_stack, "flash")
    assert sold_out == BUYERS - UNITS
    await order_stack.wait_written(UNITS)
    await _assert_books(order_stack, accepted)


def _writer_env(stack: OrderStack, crash_after: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORDER_", "MYSQL_"))}
    dsn = stack.writer_settings.dsn
    if dsn.startswith("sqlite:///"):
        env["ORDER_SQLITE_PATH"] = dsn.removeprefix("sqlite:///")
    else:
        env["MYSQL_DSN"] = dsn
    env |= {
        "REDIS_URL": stack.writer_settings.redis_url,
        "ORDER_KEY_PREFIX": stack.settings.key_prefix,
        "ORDER_PARTITIONS": str(stack.settings.partitions),
        "ORDER_BATCH_SIZE": "50",
        "ORDER_CLAIM_IDLE_MS": "300",
        "ORDER_WRITER_CRASH_AFTER_COMMITS": str(crash_after),
        "SHOPMESH_LOG_LEVEL": "WARNING",
    }
    return env


@pytest.mark.slow
@pytest.mark.asyncio
async def test_writer_killed_between_commit_and_ack_loses_and_duplicates_nothing(
    redis_client, redis_url: str, key_prefix: str, order_dsn: str
) -> None:
    stack = await start_order_stack(
        redis_client, redis_url, key_prefix, order_dsn, with_writer=False
    )
    try:
        accepted, _ = await _stampede(stack, "crash")
        assert await stack.desk.store.backlog() == UNITS
        command = [sys.executable, "-m", "servers.order.writer"]
        crashing = await asyncio.create_subprocess_exec(*command, env=_writer_env(stack, 2))
        assert await asyncio.wait_for(crashing.wait(), 60) == -9  # SIGKILL at the fault point
        committed = await stack.sql_count()
        assert 0 < committed < UNITS
        assert await stack.desk.store.backlog() > UNITS - committed  # committed, never acked
        started = time.monotonic()
        healthy = await asyncio.create_subprocess_exec(*command, env=_writer_env(stack, 0))
        try:
            await stack.wait_written(UNITS, timeout_s=60)
        finally:
            healthy.terminate()
            await asyncio.wait_for(healthy.wait(), 10)
        assert time.monotonic() - started < 30
        await _assert_books(stack, accepted)
    finally:
        await stack.stop()
