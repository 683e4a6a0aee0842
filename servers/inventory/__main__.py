"""Wiring of the inventory service: settings from the environment, Redis, keeper, server.

Run with `python -m servers.inventory`; see README "Configuration" for the variables.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from servers.common import logs
from servers.common import redis as shared_redis
from servers.common.server import Periodic, ServiceApp, run, serve_until_signalled
from servers.common.settings import EnvReader, ServerSettings
from servers.common.soldout import SoldOutSnapshot, follow_stock_events
from servers.inventory.domain import Catalog
from servers.inventory.keeper import KeeperRules, StockKeeper
from servers.inventory.service import InventoryService
from servers.inventory.store import RESERVE_LINGER_S, RedisStockStore
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc

DEFAULT_CATALOG = pathlib.Path(__file__).with_name("data") / "catalog.json"
SERVICE_NAME = inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"].full_name


@dataclass(frozen=True, slots=True)
class InventorySettings:
    server: ServerSettings
    catalog_path: pathlib.Path = DEFAULT_CATALOG
    key_prefix: str = "inv"
    sold_out_ttl_s: float = 2.0
    low_stock_threshold: int = 10
    reserve_linger_s: float = RESERVE_LINGER_S
    rules: KeeperRules = field(default_factory=KeeperRules)

    @classmethod
    def from_env(cls, env: EnvReader) -> InventorySettings:
        return cls(
            server=ServerSettings.from_env("inventory", env),
            catalog_path=pathlib.Path(env.text("INVENTORY_CATALOG", str(DEFAULT_CATALOG))),
            key_prefix=env.text("INVENTORY_KEY_PREFIX", "inv"),
            sold_out_ttl_s=env.number("INVENTORY_SOLD_OUT_TTL_S", 2.0, minimum=0),
            low_stock_threshold=env.integer("INVENTORY_LOW_STOCK", 10, minimum=0),
            reserve_linger_s=env.number(
                "INVENTORY_RESERVE_LINGER_MS", RESERVE_LINGER_S * 1000, minimum=0
            )
            / 1000,
            rules=KeeperRules(
                default_ttl_s=env.number("INVENTORY_RESERVATION_TTL_S", 1_200.0, minimum=1),
                keep_finished_s=env.number("INVENTORY_KEEP_FINISHED_S", 7 * 86_400.0, minimum=60),
                sweep_interval_s=env.number("INVENTORY_SWEEP_INTERVAL_S", 1.0, minimum=0.01),
            ),
        )


async def create_app(
    settings: InventorySettings, client: aioredis.Redis | None = None
) -> tuple[ServiceApp, StockKeeper]:
    """Build the inventory app; the keeper is returned too, for tests and tools."""
    redis_client = client or shared_redis.connect(settings.server.redis_url)
    store = RedisStockStore(redis_client, settings.key_prefix, settings.reserve_linger_s)
    keeper = StockKeeper(
        Catalog.from_file(settings.catalog_path),
        store,
        SoldOutSnapshot(settings.sold_out_ttl_s),
        settings.rules,
    )
    await keeper.seed()
    servicer = InventoryService(keeper, settings.low_stock_threshold)

    async def close() -> None:
        if client is None:
            await redis_client.aclose()

    app = ServiceApp(
        service_names=[SERVICE_NAME],
        register=lambda server: inventory_pb2_grpc.add_InventoryServiceServicer_to_server(
            servicer, server
        ),
        checks={"redis": lambda: shared_redis.ping(redis_client)},
        background=[lambda: follow_stock_events(redis_client, store.channel, keeper.snapshot)],
        periodic=[Periodic("sweeper", keeper.sweep_once, settings.rules.sweep_interval_s)],
        on_stop=[close],
        dependency_errors={RedisConnectionError: "redis", RedisTimeoutError: "redis"},
    )
    return app, keeper


async def _main() -> None:
    settings = InventorySettings.from_env(EnvReader())
    logs.configure_logging("inventory", settings.server.log_level)
    app, _keeper = await create_app(settings)
    await serve_until_signalled(app, settings.server)


def main() -> None:
    run(_main)


if __name__ == "__main__":
    main()
