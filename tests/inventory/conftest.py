"""A real inventory server on port 0 against real Redis, in its own key namespace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import grpc
import pytest_asyncio
import redis.asyncio as aioredis

from servers.common.server import RunningServer, start
from servers.common.settings import ServerSettings
from servers.inventory.__main__ import InventorySettings, create_app
from servers.inventory.keeper import KeeperRules, StockKeeper
from shop.inventory.v1 import inventory_pb2_grpc


@dataclass
class InventoryUnderTest:
    running: RunningServer
    keeper: StockKeeper
    channel: grpc.aio.Channel
    stub: inventory_pb2_grpc.InventoryServiceStub
    settings: InventorySettings


def inventory_settings(redis_url: str, key_prefix: str, **rules: float) -> InventorySettings:
    server = ServerSettings(service="inventory", port=0, redis_url=redis_url, metrics_port=-1)
    return InventorySettings(
        server=server, key_prefix=key_prefix, rules=replace(KeeperRules(), **rules)
    )


async def start_inventory(
    settings: InventorySettings, client: aioredis.Redis
) -> InventoryUnderTest:
    app, keeper = await create_app(settings, client)
    running = await start(app, settings.server)
    channel = grpc.aio.insecure_channel(running.address)
    stub = inventory_pb2_grpc.InventoryServiceStub(channel)
    return InventoryUnderTest(running, keeper, channel, stub, settings)


@pytest_asyncio.fixture
async def inventory(
    redis_client: aioredis.Redis, redis_url: str, key_prefix: str
) -> AsyncIterator[InventoryUnderTest]:
    under_test = await start_inventory(inventory_settings(redis_url, key_prefix), redis_client)
    for _ in range(100):  # wait for the stock-back subscription so the snapshot is live
        if under_test.keeper.snapshot.enabled:
            break
        import asyncio

        await asyncio.sleep(0.01)
    yield under_test
    await under_test.channel.close()
    await under_test.running.stop(0)
