"""Wiring of the order service: settings from the environment, Redis, SQL, inventory, server.

Run with `python -m servers.order` (the gRPC OrderService and the payment-timeout canceller);
the stream -> SQL writer runs separately as `python -m servers.order.writer`.

ORDER_COUPONS_FILE is the coupon book (default servers/common/data/coupons.json, the cart's
default too): PlaceOrder computes discounts from it, so it must be the file the cart shows.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from servers.common import coupons, logs, sql
from servers.common import redis as shared_redis
from servers.common.channels import open_channel
from servers.common.server import Periodic, ServiceApp, run, serve_until_signalled
from servers.common.settings import EnvReader, ServerSettings
from servers.common.snowflake import Snowflake
from servers.common.soldout import SoldOutSnapshot, follow_stock_events, stock_back_channel
from servers.order.desk import DeskRules, OrderDesk
from servers.order.domain import DOMAIN
from servers.order.inventory import InventoryClient
from servers.order.service import OrderService
from servers.order.sqlstore import SQLOrderRecords, database_dsn
from servers.order.store import OrderKeys, RedisOrderStore
from shop.inventory.v1 import inventory_pb2_grpc
from shop.order.v1 import order_pb2, order_pb2_grpc

SERVICE_NAME = order_pb2.DESCRIPTOR.services_by_name["OrderService"].full_name


@dataclass(frozen=True, slots=True)
class OrderSettings:
    server: ServerSettings
    dsn: str = "sqlite:///.run/order.db"
    inventory_target: str = "127.0.0.1:50051"
    inventory_key_prefix: str = "inv"
    key_prefix: str = "ord"
    partitions: int = 4
    worker_id: int = 0
    sold_out_ttl_s: float = 2.0
    run_canceller: bool = True
    rules: DeskRules = field(default_factory=DeskRules)
    coupons_path: pathlib.Path = coupons.DEFAULT_FILE

    @classmethod
    def from_env(cls, env: EnvReader) -> OrderSettings:
        return cls(
            server=ServerSettings.from_env("order", env),
            dsn=database_dsn(env),
            inventory_target=env.text("ORDER_INVENTORY_TARGET", "127.0.0.1:50051"),
            inventory_key_prefix=env.text("INVENTORY_KEY_PREFIX", "inv"),
            key_prefix=env.text("ORDER_KEY_PREFIX", "ord"),
            partitions=env.integer("ORDER_PARTITIONS", 4, minimum=1),
            worker_id=env.integer("ORDER_WORKER_ID", 0, minimum=0),
            sold_out_ttl_s=env.number("ORDER_SOLD_OUT_TTL_S", 2.0, minimum=0),
            run_canceller=env.flag("ORDER_RUN_CANCELLER", True),
            rules=DeskRules(
                payment_timeout_s=env.number("ORDER_PAYMENT_TIMEOUT_S", 900.0, minimum=0.01),
                backlog_cap=env.integer("ORDER_BACKLOG_CAP", 10_000, minimum=1),
                timeout_scan_s=env.number("ORDER_TIMEOUT_SCAN_S", 1.0, minimum=0.01),
                max_placing=env.integer("ORDER_MAX_PLACING", 8, minimum=1),
            ),
            coupons_path=pathlib.Path(env.text("ORDER_COUPONS_FILE", str(coupons.DEFAULT_FILE))),
        )


def blocking_redis(url: str, max_connections: int = 256) -> aioredis.Redis:
    """A pool that makes callers wait for a free connection under a stampede rather than fail
    them (a plain pool raises MaxConnectionsError at its limit)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=5, socket_connect_timeout=2.0
    )
    return aioredis.Redis.from_pool(pool)


async def create_app(
    settings: OrderSettings,
    redis_client: aioredis.Redis | None = None,
    database: sql.Database | None = None,
) -> tuple[ServiceApp, OrderDesk]:
    """Build the order app; the desk is returned too, for tests and tools."""
    book = coupons.CouponBook.from_file(settings.coupons_path, DOMAIN, "ORDER_COUPONS_FILE")
    client = redis_client or blocking_redis(settings.server.redis_url)
    db = database or await sql.connect(settings.dsn)
    records = SQLOrderRecords(db)
    await records.migrate()
    store = RedisOrderStore(client, OrderKeys(settings.key_prefix, settings.partitions))
    await store.ensure_groups()
    channel = open_channel(settings.inventory_target, settings.server)
    snapshot = SoldOutSnapshot(settings.sold_out_ttl_s)
    inventory = InventoryClient(inventory_pb2_grpc.InventoryServiceStub(channel), snapshot)
    desk = OrderDesk(
        store, records, inventory, snapshot, Snowflake(settings.worker_id), settings.rules, book
    )
    servicer = OrderService(desk)

    async def close() -> None:
        await desk.drain()
        await channel.close()
        if database is None:
            await db.close()
        if redis_client is None:
            await client.aclose()

    channel_name = stock_back_channel(settings.inventory_key_prefix)
    background = [lambda: follow_stock_events(client, channel_name, snapshot)]
    timeouts = Periodic("payment-timeouts", desk.sweep_once, settings.rules.timeout_scan_s)
    app = ServiceApp(
        service_names=[SERVICE_NAME],
        register=lambda server: order_pb2_grpc.add_OrderServiceServicer_to_server(servicer, server),
        checks={"redis": lambda: shared_redis.ping(client), "sql": db.ping},
        background=background,
        periodic=[timeouts] if settings.run_canceller else [],
        on_stop=[close],
        dependency_errors={RedisConnectionError: "redis", RedisTimeoutError: "redis"},
    )
    return app, desk


async def _main() -> None:
    settings = OrderSettings.from_env(EnvReader())
    logs.configure_logging("order", settings.server.log_level)
    app, _desk = await create_app(settings)
    await serve_until_signalled(app, settings.server)


def main() -> None:
    run(_main)


if __name__ == "__main__":
    main()
