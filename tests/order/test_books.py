"""Reconcile and dead letters: a clean stack reconciles clean, each kind of break is reported
(CLI exit 1), and an entry SQL keeps refusing is dead-lettered, listed and replayed."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from servers.order import deadletters, reconcile
from servers.order.store import OrderKeys
from shop.inventory.v1 import inventory_pb2 as inv
from shop.order.v1 import order_pb2 as pb
from tests.order.conftest import OrderStack, start_order_stack

SKU = "SKU-CABLE"


def _cli_env(monkeypatch: pytest.MonkeyPatch, stack: OrderStack) -> None:
    dsn = stack.writer_settings.dsn
    if dsn.startswith("sqlite:///"):
        monkeypatch.delenv("MYSQL_DSN", raising=False)
        monkeypatch.setenv("ORDER_SQLITE_PATH", dsn.removeprefix("sqlite:///"))
    else:
        monkeypatch.setenv("MYSQL_DSN", dsn)
    monkeypatch.setenv("REDIS_URL", stack.writer_settings.redis_url)
    monkeypatch.setenv("ORDER_KEY_PREFIX", stack.settings.key_prefix)
    monkeypatch.setenv("ORDER_PARTITIONS", str(stack.settings.partitions))
    monkeypatch.setenv("INVENTORY_KEY_PREFIX", stack.inventory.settings.key_prefix)


async def _place(stack: OrderStack, request_id: str) -> pb.Order:
    request = pb.PlaceOrderRequest(
        request_id=request_id, user_id="u", lines=[pb.PlaceOrderLine(sku=SKU, quantity=2)]
    )
    return (await stack.order_stub.PlaceOrder(request)).order


@pytest.mark.asyncio
async def test_reconcile_is_clean_then_names_each_break(
    order_stack: OrderStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    orders = [await _place(order_stack, f"rc{i}") for i in range(3)]
    await order_stack.wait_written(3)
    _cli_env(monkeypatch, order_stack)
    assert await asyncio.to_thread(reconcile.cli_main, ["--settle-s", "0"]) == 0
    assert "reconcile: CLEAN" in capsys.readouterr().out
    # Break the books three ways: a unit out of thin air, a lost SQL row, a stock-less order.
    prefix = order_stack.inventory.settings.key_prefix
    await order_stack.redis.hincrby(f"{prefix}:{{{SKU}}}:stock", "available", 1)
    await order_stack.db.execute("DELETE FROM orders WHERE order_id = %s", (orders[0].order_id,))
    await order_stack.redis.hdel(f"{prefix}:{{{SKU}}}:res", str(orders[1].order_id))
    assert await asyncio.to_thread(reconcile.cli_main, ["--settle-s", "0"]) == 1
    out = capsys.readouterr().out
    assert f"stock {SKU}: initial" in out
    assert "1 accepted order(s) missing from SQL" in out
    assert f"order {orders[1].order_id} (PENDING_PAYMENT): {SKU} reservation is '-'" in out


@pytest.mark.asyncio
async def test_reconcile_reports_lag_not_loss_while_the_backlog_drains(
    redis_client: aioredis.Redis, redis_url: str, key_prefix: str, order_dsn: str
) -> None:
    stack = await start_order_stack(
        redis_client, redis_url, key_prefix, order_dsn, with_writer=False
    )
    try:
        await _place(stack, "lag")
        keys = OrderKeys(stack.settings.key_prefix, stack.settings.partitions)
        report = await reconcile.reconcile(stack.redis, stack.db, key_prefix, keys, 0)
        assert report.clean, report.render()
        assert report.notes == ["1 order(s) not in SQL yet; backlog 1"]
    finally:
        await stack.stop()


@pytest.mark.asyncio
async def test_an_entry_sql_refuses_is_dead_lettered_then_replayed(
    redis_client: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    order_dsn: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack = await start_order_stack(
        redis_client, redis_url, key_prefix, order_dsn, claim_idle_ms=50
    )
    try:
        await _place(stack, "ok")
        await stack.wait_written(1)
        # A schema problem: every write fails until an operator fixes it.
        await stack.db.execute("ALTER TABLE order_events RENAME TO order_events_away")
        stuck = await _place(stack, "stuck")
        part = stack.desk.store.keys.of_order(stuck.order_id)
        await stack.redis.xadd(part.stream, {"kind": "placed", "doc": "not json"})
        await stack.redis.incr(part.backlog)
        for _ in range(500):  # three attempts, then the dead letters; the backlog drains
            if await stack.desk.store.backlog() == 0:
                break
            await asyncio.sleep(0.02)
        assert await stack.sql_count() == 1
        _cli_env(monkeypatch, stack)
        assert await asyncio.to_thread(deadletters.cli_main, ["list"]) == 0
        out = capsys.readouterr().out
        assert "2 dead letter(s)" in out and f"order={stuck.order_id}" in out
        assert "undecodable entry" in out
        letters = await deadletters.list_dead(stack.redis, stack.desk.store.keys)
        wanted = next(d for d in letters if d.order_id == str(stuck.order_id))
        await stack.db.execute("ALTER TABLE order_events_away RENAME TO order_events")
        assert await asyncio.to_thread(deadletters.cli_main, ["replay", wanted.entry_id]) == 0
        await stack.wait_written(2)
        assert await stack.desk.records.get(stuck.order_id) is not None
        assert len(await deadletters.list_dead(stack.redis, stack.desk.store.keys)) == 1
    finally:
        await stack.stop()


@pytest.mark.asyncio
async def test_stock_is_untouched_by_reads(order_stack: OrderStack) -> None:
    await order_stack.inventory_stub.GetStock(inv.GetStockRequest(sku=SKU))
    keys = OrderKeys(order_stack.settings.key_prefix, order_stack.settings.partitions)
    report = await reconcile.reconcile(
        order_stack.redis, order_stack.db, order_stack.inventory.settings.key_prefix, keys, 0
    )
    assert report.clean and report.checked["skus"] == 24
