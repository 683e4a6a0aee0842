"""Shared fixtures: env isolation, real Redis, and real gRPC servers on port 0."""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from tests import loopguard
from tests.services import RedisService, find_redis

loopguard.install()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> object:
    """Collect garbage after each test, at a safe point. An object that leaked a socket is then
    reported against the test that made it, not whenever the collector next runs: run inside
    `compile()` (pytest's assertion rewriting, coverage's report), a ResourceWarning there
    breaks it with "AST constructor recursion depth mismatch" (CPython 3.11)."""
    result = yield
    gc.collect()
    return result


_ISOLATED_PREFIXES = ("SHOPMESH_", "INVENTORY_", "ORDER_", "CART_", "PAYMENT_", "OTEL_")


@pytest.fixture(autouse=True)
def _isolated_env() -> Iterator[None]:
    """Each test starts without our settings variables and leaves the environment as it found it."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith(_ISOLATED_PREFIXES):
            del os.environ[key]
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def redis_service() -> Iterator[RedisService]:
    service = find_redis()
    print(f"\n[shopmesh tests] Redis: {service.source} ({service.url})")
    yield service
    service.close()


@pytest.fixture
def redis_url(redis_service: RedisService) -> str:
    return redis_service.url


@pytest_asyncio.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def key_prefix() -> str:
    """A key namespace of this test's own, so tests never see each other's data."""
    return f"t{uuid.uuid4().hex[:12]}"
