"""Redis connections and Lua scripts shared by the services."""

from __future__ import annotations

import pathlib

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript


def connect(url: str, *, max_connections: int = 256) -> aioredis.Redis:
    """Open a connection pool to the Redis at `url` (redis://, rediss:// or unix://)."""
    return aioredis.Redis.from_url(
        url,
        max_connections=max_connections,
        socket_connect_timeout=2.0,
        health_check_interval=30,
        decode_responses=False,
    )


def load_script(client: aioredis.Redis, path: pathlib.Path) -> AsyncScript:
    """Register a Lua script once; calls go by EVALSHA and reload it if Redis lost it."""
    return client.register_script(path.read_bytes())


async def ping(client: aioredis.Redis) -> None:
    """Health check: raises when Redis does not answer."""
    await client.ping()
