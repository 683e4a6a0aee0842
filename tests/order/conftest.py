"""A real order stack for tests: inventory + order server (gRPC, port 0) + an in-process writer.

Other areas (cart, payment, e2e) import this; the signature of `start_order_stack` is stable:

    from tests.order.conftest import start_order_stack, isolated_dsn

    async with isolated_dsn("sqlite", tmp_path) as dsn:          # or "mariadb"
        stack = await start_order_stack(redis_client, redis_url, key_prefix, dsn)
        try:
            reply = await stack.order_stub.PlaceOrder(...)          # order_pb2 messages
            await stack.inventory_stub.SetStock(...)                # inventory_pb2 messages
            await stack.wait_written(1)                             # rows in SQL
        finally:
            await stack.stop()

`stack.order_address` / `stack.inventory_address` are `127.0.0.1:<port>` for your own channels.
Keyword options (all optional): `payment_timeout_s`, `backlog_cap`, `partitions`, `batch_size`,
`batch_wait_ms`, `claim_idle_ms`, `with_writer` (False: no writer task, entries stay in the
stream), `inventory_target` (point order at e.g. a proxy instead of the inventory server),
`inventory_rules` (KeeperRules fields, e.g. `{"sweep_interval_s": 0.05}`).

Redis keys live under `key_prefix` (inventory) and `<key_prefix>-ord` (order); `stop()` deletes
both. Fixtures here: `order_dsn` (a fresh SQLite file and a fresh MariaDB database, skipped
without MariaDB on a dev box) and `order_stack` (a started stack on that DSN).
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from servers.common import sql
from servers.common.server import RunningServer, start
from servers.common.settings import ServerSettings
from servers.order.__main__ import OrderSettings, create_app
from servers.order.desk import DeskRules, OrderDesk
from servers.order.writer import OrderWriter, WriterSettings, create_writer
from shop.inventory.v1 import inventory_pb2_grpc
from shop.order.v1 import order_pb2_grpc
from tests.inventory.conftest import InventoryUnderTest, inventory_settings, start_inventory
from tests.services import mysql_dsn, require


@dataclass
class OrderStack:
    inventory: InventoryUnderTest
    order: RunningServer
    desk: OrderDesk
    writer: OrderWriter | None
    writer_task: asyncio.Task[None] | None
    db: sql.Database
    settings: OrderSettings
    writer_settings: WriterSettings
    redis: aioredis.Redis
    servers_redis: aioredis.Redis
    channel: grpc.aio.Channel
    order_stub: order_pb2_grpc.OrderServiceStub
    inventory_stub: inventory_pb2_grpc.InventoryServiceStub

    @property
    def order_address(self) -> str:
        return self.order.address

    @property
    def inventory_address(self) -> str:
        return self.inventory.running.address

    async def sql_count(self) -> int:
        rows = await self.db.fetch_all("SELECT COUNT(*) FROM orders")
        return int(rows[0][0])

    async def wait_written(self, count: int, timeout_s: float = 20.0) -> int:
        """Wait until SQL holds at least `count` orders and the backlog is empty."""
        deadline = time.monotonic() + timeout_s
        while True:
            rows = await self.sql_count()
            if rows >= count and await self.desk.store.backlog() == 0:
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"only {rows} of {count} orders reached SQL in {timeout_s}s")
            await asyncio.sleep(0.02)

    async def stop_writer(self) -> None:
        if self.writer_task is not None:
            self.writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.writer_task
            self.writer_task = None

    async def stop(self) -> None:
        """Stop everything; each step is bounded so a stuck shutdown fails loudly, by name."""
        steps = [
            ("writer", lambda: self.stop_writer()),
            ("order channel", lambda: self.channel.close()),
            ("order server", lambda: self.order.stop(0)),
            ("inventory channel", lambda: self.inventory.channel.close()),
            ("inventory server", lambda: self.inventory.running.stop(0)),
            ("database", lambda: self.db.close()),
            ("redis keys", lambda: self._forget_keys()),
            ("servers' redis", lambda: self.servers_redis.aclose()),
        ]
        for name, step in steps:
            try:
                await asyncio.wait_for(step(), 15)
            except TimeoutError:
                raise AssertionError(f"stopping the order stack hung at: {name}") from None

    async def _forget_keys(self) -> None:
        for prefix in (self.inventory.settings.key_prefix, self.settings.key_prefix):
            keys = [k async for k in self.redis.scan_iter(match=f"{prefix}*", count=1000)]
            for i in range(0, len(keys), 500):
                await self.redis.delete(*keys[i : i + 500])


async def start_order_stack(
    redis_client: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    dsn: str,
    **options: Any,
) -> OrderStack:
    """Start inventory, the order server and (unless with_writer=False) a writer task."""
    # The servers get a client of their own with a *blocking* pool: under a stampede, calls wait
    # for a free connection instead of failing (redis-py's default pool refuses past 100).
    servers_client = blocking_client(redis_url)
    rules = options.get("inventory_rules", {})
    inventory = await start_inventory(
        inventory_settings(redis_url, key_prefix, **rules), servers_client
    )
    order_prefix = f"{key_prefix}-ord"
    partitions = int(options.get("partitions", 2))
    settings = OrderSettings(
        server=ServerSettings(service="order", port=0, redis_url=redis_url, metrics_port=-1),
        dsn=dsn,
        inventory_target=options.get("inventory_target", inventory.running.address),
        inventory_key_prefix=key_prefix,
        key_prefix=order_prefix,
        partitions=partitions,
        rules=DeskRules(
            payment_timeout_s=float(options.get("payment_timeout_s", 900.0)),
            backlog_cap=int(options.get("backlog_cap", 10_000)),
            timeout_scan_s=float(options.get("timeout_scan_s", 0.05)),
            max_placing=int(options.get("max_placing", 8)),
        ),
    )
    db = await sql.connect(dsn)
    app, desk = await create_app(settings, servers_client, db)
    running = await start(app, settings.server)
    writer_settings = WriterSettings(
        redis_url=redis_url,
        dsn=dsn,
        key_prefix=order_prefix,
        partitions=partitions,
        batch_size=int(options.get("batch_size", 200)),
        batch_wait_ms=int(options.get("batch_wait_ms", 20)),
        claim_idle_ms=int(options.get("claim_idle_ms", 1_000)),
        consumer=f"test-{uuid.uuid4().hex[:6]}",
    )
    writer, task = None, None
    if options.get("with_writer", True):
        writer = await create_writer(writer_settings, servers_client, db)
        task = asyncio.create_task(writer.run())
    channel = grpc.aio.insecure_channel(running.address)
    stack = OrderStack(
        inventory,
        running,
        desk,
        writer,
        task,
        db,
        settings,
        writer_settings,
        redis_client,
        servers_client,
        channel,
        order_pb2_grpc.OrderServiceStub(channel),
        inventory.stub,
    )
    await _until(lambda: inventory.keeper.snapshot.enabled and desk.snapshot.enabled)
    return stack


def blocking_client(redis_url: str, max_connections: int = 64) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        redis_url, max_connections=max_connections, timeout=10
    )
    return aioredis.Redis.from_pool(pool)


async def _until(condition: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("stack did not become ready")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def isolated_dsn(kind: str, directory: pathlib.Path) -> AsyncIterator[str]:
    """A DSN of an empty database of its own: a new SQLite file, or `CREATE DATABASE
    shopmesh_t_<hex>` on MariaDB (dropped afterwards; skips/fails without MariaDB, see require)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / f'order-{uuid.uuid4().hex[:8]}.db'}"
        return
    base = mysql_dsn()
    require(base is not None, "MariaDB is not reachable (set MYSQL_DSN or run one on :3306)")
    assert base is not None
    name = f"shopmesh_t_{uuid.uuid4().hex[:12]}"
    admin = await sql.connect(base)
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{base.rsplit('/', 1)[0]}/{name}"
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.close()


@pytest_asyncio.fixture(params=["sqlite", "mariadb"])
async def order_dsn(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> AsyncIterator[str]:
    async with isolated_dsn(request.param, tmp_path) as dsn:
        yield dsn


@pytest_asyncio.fixture
async def order_stack(
    redis_client: aioredis.Redis, redis_url: str, key_prefix: str, order_dsn: str
) -> AsyncIterator[OrderStack]:
    stack = await start_order_stack(redis_client, redis_url, key_prefix, order_dsn)
    yield stack
    await stack.stop()
