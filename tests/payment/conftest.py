"""A real payment gateway on port 0 against real Redis and a real SQL database (SQLite, and an
isolated MariaDB database per test when one is reachable)."""

from __future__ import annotations

import pathlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import grpc
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from servers.common import sql
from servers.common.server import RunningServer, start
from servers.common.settings import ServerSettings
from servers.payment.__main__ import PaymentSettings, create_app
from servers.payment.gateway import GatewayRules, PaymentGateway
from servers.payment.sign import signed_request
from shop.payment.v1 import payment_pb2 as pb
from shop.payment.v1 import payment_pb2_grpc
from tests.services import free_port, mysql_dsn, require

SECRETS = {"acme": ("acme-new-secret", "acme-old-secret"), "other": ("other-secret",)}


@dataclass
class PaymentUnderTest:
    running: RunningServer
    gateway: PaymentGateway
    channel: grpc.aio.Channel
    stub: payment_pb2_grpc.PaymentServiceStub
    settings: PaymentSettings


def payment_settings(
    redis_url: str,
    key_prefix: str,
    dsn: str,
    order_target: str = "",
    **rules: Any,
) -> PaymentSettings:
    server = ServerSettings(service="payment", port=0, redis_url=redis_url, metrics_port=-1)
    return PaymentSettings(
        server=server,
        database_dsn=dsn,
        # Nothing listens on a fresh free port: a success callback meets a down order service.
        order_target=order_target or f"127.0.0.1:{free_port()}",
        secrets=SECRETS,
        key_prefix=key_prefix,
        bloom_expected=10_000,
        rules=replace(GatewayRules(), **rules),
    )


async def start_payment(
    settings: PaymentSettings, client: aioredis.Redis, database: sql.Database
) -> PaymentUnderTest:
    app, gateway = await create_app(settings, client, database)
    running = await start(app, settings.server)
    channel = grpc.aio.insecure_channel(running.address)
    stub = payment_pb2_grpc.PaymentServiceStub(channel)
    return PaymentUnderTest(running, gateway, channel, stub, settings)


async def stop_payment(under_test: PaymentUnderTest) -> None:
    await under_test.channel.close()
    await under_test.running.stop(0)


def callback(
    payment_id: str,
    order_id: int = 42,
    amount: str = "12.34",
    *,
    provider: str = "acme",
    secret: str = "acme-new-secret",
    failed: bool = False,
    timestamp_s: int | None = None,
    currency: str = "EUR",
) -> pb.HandleCallbackRequest:
    status = "PROVIDER_STATUS_FAILED" if failed else "PROVIDER_STATUS_SUCCEEDED"
    stamp = int(time.time()) if timestamp_s is None else timestamp_s
    return signed_request(secret, provider, payment_id, order_id, amount, currency, status, stamp)


async def _mysql_database() -> AsyncIterator[str]:
    """A database of this test's own on the reachable MariaDB, dropped afterwards."""
    base = mysql_dsn()
    require(base is not None, "MariaDB/MySQL is not reachable (set MYSQL_DSN)")
    assert base is not None
    name = f"shopmesh_t_{uuid.uuid4().hex[:12]}"
    admin = await sql.connect(base)
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.close()


@pytest_asyncio.fixture(params=["sqlite", "mysql"])
async def database_dsn(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/payment.db"
        return
    async for dsn in _mysql_database():
        yield dsn


@pytest_asyncio.fixture
async def database(database_dsn: str) -> AsyncIterator[sql.Database]:
    db = await sql.connect(database_dsn)
    yield db
    await db.close()


@pytest_asyncio.fixture
async def payment(
    redis_client: aioredis.Redis,
    redis_url: str,
    key_prefix: str,
    database: sql.Database,
    database_dsn: str,
) -> AsyncIterator[PaymentUnderTest]:
    settings = payment_settings(redis_url, key_prefix, database_dsn, lock_timeout_s=30.0)
    under_test = await start_payment(settings, redis_client, database)
    yield under_test
    await stop_payment(under_test)
