"""PlaceOrder over real RPCs: replays, the sold-out snapshot, bad input, the backlog cap and a
slow inventory past the caller's deadline."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
from google.rpc import error_details_pb2

from servers.common.errors import PreconditionFailed
from servers.order.writer import create_writer
from shop.inventory.v1 import inventory_pb2 as inv
from shop.inventory.v1 import inventory_pb2_grpc
from shop.order.v1 import order_pb2 as pb
from tests.helpers import error_reason, status_details, violated_fields
from tests.order.conftest import OrderStack, isolated_dsn, start_order_stack
from tests.order.slowproxy import SlowProxy

SKU = "SKU-BOTTLE"  # 3,000 units, no per-user limit


def order_request(
    request_id: str, *lines: tuple[str, int], user: str = "u1"
) -> pb.PlaceOrderRequest:
    return pb.PlaceOrderRequest(
        request_id=request_id,
        user_id=user,
        lines=[pb.PlaceOrderLine(sku=s, quantity=q) for s, q in lines],
    )


async def levels(stack: OrderStack, *skus: str) -> list[tuple[int, int]]:
    reply = await stack.inventory_stub.BatchGetStock(inv.BatchGetStockRequest(skus=list(skus)))
    return [(s.available, s.reserved) for s in reply.stocks]


@pytest.mark.asyncio
async def test_replay_returns_the_first_order_and_reserves_once(order_stack: OrderStack) -> None:
    request = order_request("same", (SKU, 2), ("SKU-MUG", 1))
    first = await order_stack.order_stub.PlaceOrder(request)
    again = await order_stack.order_stub.PlaceOrder(request)
    assert (first.replayed, again.replayed) == (False, True)
    assert again.order == first.order
    assert await levels(order_stack, SKU, "SKU-MUG") == [(2998, 2), (19999, 1)]
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await order_stack.order_stub.PlaceOrder(order_request("same", (SKU, 3)))
    assert reused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(reused.value) == "REQUEST_ID_REUSED"
    assert await levels(order_stack, SKU) == [(2998, 2)]


@pytest.mark.asyncio
async def test_concurrent_replays_make_one_order(order_stack: OrderStack) -> None:
    request = order_request("burst", (SKU, 1))
    outcomes = await asyncio.gather(
        *(order_stack.order_stub.PlaceOrder(request) for _ in range(30)), return_exceptions=True
    )
    ok = [o for o in outcomes if isinstance(o, pb.PlaceOrderResponse)]
    busy = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert ok and {o.order.order_id for o in ok} == {ok[0].order.order_id}
    # "in flight, retry" (ABORTED), or turned away by the placement cap before its claim was
    # even looked at (RESOURCE_EXHAUSTED): both come with RetryInfo, neither made an order
    retry_later = {grpc.StatusCode.ABORTED, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert all(e.code() in retry_later for e in busy)
    assert await levels(order_stack, SKU) == [(2999, 1)]
    assert await order_stack.wait_written(1) == 1


@pytest.mark.asyncio
async def test_sold_out_is_answered_without_a_hop_until_stock_comes_back(
    order_stack: OrderStack,
) -> None:
    stub = order_stack.order_stub
    await order_stack.inventory_stub.SetStock(inv.SetStockRequest(sku=SKU, available=1))
    winner = (await stub.PlaceOrder(order_request("w", (SKU, 1)))).order
    with pytest.raises(grpc.aio.AioRpcError) as first:
        await stub.PlaceOrder(order_request("l1", (SKU, 1)))
    assert error_reason(first.value) == "SOLD_OUT"  # inventory said so; the snapshot learns
    assert order_stack.desk.snapshot.is_sold_out(SKU)
    info = next(
        d for d in status_details(first.value) if isinstance(d, error_details_pb2.ErrorInfo)
    )
    assert info.domain == "inventory.shopmesh" and info.metadata["sku"] == SKU
    await stub.CancelOrder(pb.CancelOrderRequest(order_id=winner.order_id))
    await order_stack.desk.drain()  # the release publishes stock-back: the mark goes
    for _ in range(100):
        if not order_stack.desk.snapshot.is_sold_out(SKU):
            break
        await asyncio.sleep(0.01)
    assert not order_stack.desk.snapshot.is_sold_out(SKU)
    assert (await stub.PlaceOrder(order_request("l2", (SKU, 1)))).order.order_id


@pytest.mark.asyncio
async def test_known_sold_out_needs_no_inventory_at_all(order_stack: OrderStack) -> None:
    stub = order_stack.order_stub
    await order_stack.inventory_stub.SetStock(inv.SetStockRequest(sku=SKU, available=0))
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.PlaceOrder(order_request("a", (SKU, 1)))
    await order_stack.inventory.running.server.stop(0)  # inventory is gone now
    started = time.perf_counter()
    with pytest.raises(grpc.aio.AioRpcError) as hopeless:
        await stub.PlaceOrder(order_request("b", (SKU, 1)))
    assert error_reason(hopeless.value) == "SOLD_OUT"
    assert time.perf_counter() - started < 0.5


BAD = [
    (order_request("r"), ["lines"]),
    (order_request("r", (SKU, 0)), ["lines[0].quantity"]),
    (order_request("r", (SKU, -1)), ["lines[0].quantity"]),
    (order_request("r", *[(f"SKU-{i}", 1) for i in range(51)]), ["lines"]),
    (order_request("r", (SKU, 1), (SKU, 1)), ["lines[1].sku"]),
    (order_request("r" * 129, (SKU, 1)), ["request_id"]),
    (order_request("r", (SKU, 1), user="u" * 129), ["user_id"]),
    (order_request("r", ("SKU-MUG", 1), ("bad sku!", 1)), ["lines[1].sku"]),
]


@pytest.mark.asyncio
async def test_bad_input_is_refused_and_reserves_nothing(order_stack: OrderStack) -> None:
    before = await levels(order_stack, SKU, "SKU-MUG")
    for request, fields in BAD:
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await order_stack.order_stub.PlaceOrder(request)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violated_fields(bad.value) == fields
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await order_stack.order_stub.PlaceOrder(order_request("r", ("SKU-MUG", 1), ("SKU-NOPE", 1)))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as zero:
        await order_stack.order_stub.GetOrder(pb.GetOrderRequest(order_id=0))
    assert violated_fields(zero.value) == ["order_id"]
    assert await levels(order_stack, SKU, "SKU-MUG") == before
    assert await order_stack.desk.store.backlog() == 0


@pytest.mark.asyncio
async def test_full_backlog_fails_fast_and_reserves_nothing(
    redis_client: aioredis.Redis, redis_url: str, key_prefix: str, order_dsn: str
) -> None:
    stack = await start_order_stack(
        redis_client, redis_url, key_prefix, order_dsn, with_writer=False, backlog_cap=5
    )
    try:
        for i in range(5):
            await stack.order_stub.PlaceOrder(order_request(f"b{i}", (SKU, 1)))
        started = time.perf_counter()
        with pytest.raises(grpc.aio.AioRpcError) as full:
            await stack.order_stub.PlaceOrder(order_request("b5", (SKU, 1)))
        assert time.perf_counter() - started < 0.25
        assert full.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert any(isinstance(d, error_details_pb2.RetryInfo) for d in status_details(full.value))
        assert await levels(stack, SKU) == [(2995, 5)]
        # Once the writer drains the backlog, orders are taken again.
        writer_stack_task = asyncio.create_task(_drain(stack))
        await stack.wait_written(5)
        writer_stack_task.cancel()
        assert (await stack.order_stub.PlaceOrder(order_request("b5", (SKU, 1)))).order.order_id
    finally:
        await stack.stop()


async def _drain(stack: OrderStack) -> None:
    writer = await create_writer(stack.writer_settings, stack.servers_redis, stack.db)
    await writer.run()


@contextlib.asynccontextmanager
async def slow_reserve_stack(
    redis_client: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    tmp_path: pathlib.Path,
    delay_s: float,
    **options: Any,
) -> AsyncIterator[OrderStack]:
    """An order stack (SQLite) whose calls to inventory pass a proxy that answers Reserve
    `delay_s` late; everything is stopped afterwards, however the test ends."""
    async with isolated_dsn("sqlite", tmp_path) as dsn:
        base = await start_order_stack(redis_client, redis_url, key_prefix, dsn, **options)
        proxy: SlowProxy | None = None
        channel: grpc.aio.Channel | None = None
        try:
            proxy = await SlowProxy(base.inventory_address, {"Reserve"}, delay_s).start()
            channel = grpc.aio.insecure_channel(proxy.address)
            base.desk.inventory._stub = inventory_pb2_grpc.InventoryServiceStub(channel)
            yield base
        finally:
            if channel is not None:
                await channel.close()
            if proxy is not None:
                await proxy.stop()
            await base.stop()


@pytest.mark.asyncio
async def test_slow_inventory_past_the_deadline_leaves_nothing_held(
    redis_client: aioredis.Redis, redis_url: str, key_prefix: str, tmp_path
) -> None:
    # Order talks to inventory through a proxy that answers Reserve a second late.
    async with slow_reserve_stack(redis_client, redis_url, key_prefix, tmp_path, 1.0) as base:
        started = time.perf_counter()
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await base.order_stub.PlaceOrder(order_request("slow", (SKU, 4)), timeout=0.5)
        elapsed = time.perf_counter() - started
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert elapsed < 0.6, elapsed  # deadline + 100 ms
        await base.desk.drain()  # the compensating release
        await base.inventory.keeper.sweep_once()
        assert await levels(base, SKU) == [(3000, 0)]
        assert await base.desk.store.backlog() == 0
        assert await base.desk.store.claim_of("slow") is None  # the client may retry


@pytest.mark.asyncio
async def test_a_caller_leaving_after_the_order_is_recorded_keeps_it(
    order_stack: OrderStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invariant 3 under a lost reply: the deadline passes after the hot state and stream entry
    were written but before PlaceOrder answered. The order must stand (claim kept, stock held),
    so the client's retry replays it instead of placing a second one."""
    store = order_stack.desk.store
    real_place = store.place

    async def place_then_stall(order: object) -> bool:
        recorded = await real_place(order)  # type: ignore[arg-type]
        await asyncio.sleep(0.6)  # the reply is "lost" past the caller's deadline
        return recorded

    monkeypatch.setattr(store, "place", place_then_stall)
    request = order_request("lost-reply", (SKU, 1))
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await order_stack.order_stub.PlaceOrder(request, timeout=0.3)
    assert gone.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    monkeypatch.setattr(store, "place", real_place)
    await asyncio.sleep(0.5)  # the recording finishes on its own
    await order_stack.desk.drain()
    retry = await order_stack.order_stub.PlaceOrder(request)
    assert retry.replayed
    assert await levels(order_stack, SKU) == [(2999, 1)]
    assert await order_stack.wait_written(1) == 1


@pytest.mark.asyncio
async def test_too_many_placements_at_once_are_shed_fast_holding_nothing(
    redis_client: aioredis.Redis, redis_url: str, key_prefix: str, tmp_path
) -> None:
    """While max_placing orders are in flight, another buyer is told to retry at once
    (RESOURCE_EXHAUSTED + RetryInfo) instead of queueing behind them."""
    async with slow_reserve_stack(
        redis_client, redis_url, key_prefix, tmp_path, 0.5, max_placing=2
    ) as base:

        async def buy(i: int) -> tuple[str, float, grpc.aio.AioRpcError | None]:
            started = time.perf_counter()
            try:
                await base.order_stub.PlaceOrder(order_request(f"busy-{i}", (SKU, 1)))
                return "OK", time.perf_counter() - started, None
            except grpc.aio.AioRpcError as err:
                return err.code().name, time.perf_counter() - started, err

        first = [asyncio.create_task(buy(i)) for i in range(2)]
        await asyncio.sleep(0.15)  # both are now waiting on the slow Reserve
        shed = await asyncio.gather(*(buy(i) for i in range(2, 6)))
        assert [code for code, _, _ in shed] == ["RESOURCE_EXHAUSTED"] * 4
        assert max(took for _, took, _ in shed) < 0.3
        error = shed[0][2]
        assert error is not None and error_reason(error) == "PLACING_BUSY"
        kinds = {type(d).__name__ for d in status_details(error)}
        assert "RetryInfo" in kinds
        assert [code for code, _, _ in await asyncio.gather(*first)] == ["OK", "OK"]
        assert await levels(base, SKU) == [(2998, 2)]  # the shed buyers hold nothing


@pytest.mark.asyncio
async def test_a_refusal_after_a_lost_reply_returns_the_held_stock(
    order_stack: OrderStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reserve is retried by the mesh: when the first attempt took the last unit but its reply
    was lost, the retry is refused (SOLD_OUT from the snapshot that attempt filled). The order
    is refused, and the unit the lost attempt held goes back at once, not after the sweep."""
    inventory = order_stack.desk.inventory
    real_reserve = inventory.reserve

    async def reserve_then_lose_the_reply(*args: Any, **kwargs: Any) -> None:
        await real_reserve(*args, **kwargs)
        raise PreconditionFailed("SOLD_OUT", "inventory.shopmesh", "sold out (retry)", {})

    monkeypatch.setattr(inventory, "reserve", reserve_then_lose_the_reply)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await order_stack.order_stub.PlaceOrder(order_request("lost-hold", (SKU, 2)))
    assert error_reason(refused.value) == "SOLD_OUT"
    await order_stack.desk.drain()
    assert await levels(order_stack, SKU) == [(3000, 0)]
    assert await order_stack.desk.store.claim_of("lost-hold") is None
