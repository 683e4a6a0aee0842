"""A real cart server on port 0, talking to a real inventory server (real Redis) over gRPC."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import grpc
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from servers.cart.__main__ import CartSettings, create_app
from servers.cart.catalog import CatalogRules
from servers.cart.desk import CartDesk
from servers.cart.keys import Keyring
from servers.common.server import RunningServer, start
from servers.common.settings import ServerSettings
from shop.cart.v1 import cart_pb2_grpc
from shop.order.v1 import order_pb2
from tests.inventory.conftest import InventoryUnderTest, inventory_settings, start_inventory


def new_key() -> bytes:
    return secrets.token_bytes(32)


def key_text(kid: str, key: bytes) -> str:
    return f"{kid}={base64.b64encode(key).decode()}"


@dataclass
class CartUnderTest:
    running: RunningServer
    desk: CartDesk[order_pb2.Order]
    channel: grpc.aio.Channel
    stub: cart_pb2_grpc.CartServiceStub
    settings: CartSettings
    inventory: InventoryUnderTest

    async def close(self) -> None:
        await self.channel.close()
        await self.running.stop(0)


def cart_settings(inventory_address: str, order_address: str, **changes: object) -> CartSettings:
    server = ServerSettings(service="cart", port=0, metrics_port=-1)
    settings = CartSettings(
        server=server,
        keyring=Keyring.from_pairs([("t1", new_key())]),
        inventory_target=inventory_address,
        order_target=order_address,
        catalog=CatalogRules(refresh_s=30.0, miss_refresh_s=0.0, stock_max_age_s=1.0),
    )
    return replace(settings, **changes)  # type: ignore[arg-type]


async def start_cart(settings: CartSettings, inventory: InventoryUnderTest) -> CartUnderTest:
    app, desk = await create_app(settings)
    running = await start(app, settings.server)
    channel = grpc.aio.insecure_channel(running.address)
    stub = cart_pb2_grpc.CartServiceStub(channel)
    return CartUnderTest(running, desk, channel, stub, settings, inventory)


@pytest_asyncio.fixture
async def stock_server(
    redis_client: aioredis.Redis, redis_url: str, key_prefix: str
) -> AsyncIterator[InventoryUnderTest]:
    inventory = await start_inventory(inventory_settings(redis_url, key_prefix), redis_client)
    for _ in range(200):  # as tests/inventory does: stop only once the subscription is live
        if inventory.keeper.snapshot.enabled:
            break
        await asyncio.sleep(0.01)
    yield inventory
    await inventory.channel.close()
    await inventory.running.stop(0)


@pytest.fixture
def unused_address() -> str:
    """An address nothing listens on: order calls fail fast, as with the order service down."""
    from tests.services import free_port

    return f"127.0.0.1:{free_port()}"


@pytest_asyncio.fixture
async def cart(
    stock_server: InventoryUnderTest, unused_address: str
) -> AsyncIterator[CartUnderTest]:
    under_test = await start_cart(
        cart_settings(stock_server.running.address, unused_address), stock_server
    )
    yield under_test
    await under_test.close()


async def eventually(predicate: object, timeout_s: float = 3.0) -> None:
    """Wait for an async predicate to hold (used for background refreshes only)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while loop.time() < end:
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")
