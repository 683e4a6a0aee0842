"""Stock in Redis: one hash slot per SKU (keys hash-tagged `{sku}`), every change a Lua script."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import redis.asyncio as aioredis

from servers.common.batching import Batcher
from servers.common.redis import load_script
from servers.common.soldout import stock_back_channel
from servers.inventory.domain import LineRecord, Product, SaleConfig, StockLevel

_LUA = pathlib.Path(__file__).with_name("lua")
# Concurrent Reserve calls on one SKU share a script call of at most this many reservations.
RESERVE_BATCH = 64
# ... and, while the process is busy with concurrent callers, a batch waits up to this long for
# more (servers/common/batching.py): on 2 cores it lifted Reserve from 0.35 to about 0.8 of a
# bare echo server's rate. 0 turns the wait off.
RESERVE_LINGER_S = 0.004
_ReserveArgs = tuple[str, str, int, int, int]  # id, user, quantity, now ms, expires ms
_FIELDS = ("initial", "available", "reserved", "sold", "limit", "start_ms", "end_ms", "gen")


@dataclass(frozen=True, slots=True)
class LineOutcome:
    """What the reserve script said for one SKU: OK, REPLAY, or a refusal status."""

    status: str
    available: int
    generation: int
    record: LineRecord | None = None
    detail: str = ""


class StockStore(Protocol):
    async def seed(self, product: Product) -> None: ...
    async def reserve_line(
        self,
        reservation_id: str,
        user_id: str,
        sku: str,
        quantity: int,
        now_ms: int,
        expire_ms: int,
    ) -> LineOutcome: ...
    async def release_line(self, reservation_id: str, sku: str, keep_until_ms: int) -> str: ...
    async def commit_line(self, reservation_id: str, sku: str, keep_until_ms: int) -> str: ...
    async def lookup(self, reservation_id: str, skus: Sequence[str]) -> list[LineRecord | None]: ...
    async def stock(self, skus: Sequence[str]) -> list[StockLevel | None]: ...
    async def adjust(self, sku: str, mode: str, *values: int) -> StockLevel | None: ...
    async def expire(self, sku: str, now_ms: int, batch: int, keep_until_ms: int) -> int: ...
    async def purge(self, sku: str, now_ms: int, batch: int) -> int: ...


class RedisStockStore:
    """StockStore on one Redis (or a Redis Cluster: each script touches one SKU's slot)."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str = "inv",
        reserve_linger_s: float = RESERVE_LINGER_S,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._reserve_linger_s = reserve_linger_s
        self.channel = stock_back_channel(prefix)
        self._reserve = load_script(client, _LUA / "reserve.lua")
        self._release = load_script(client, _LUA / "release.lua")
        self._commit = load_script(client, _LUA / "commit.lua")
        self._adjust = load_script(client, _LUA / "adjust.lua")
        self._purge = load_script(client, _LUA / "purge.lua")
        self._reserve_batches: dict[str, Batcher[_ReserveArgs, LineOutcome]] = {}

    def _keys(self, sku: str) -> tuple[str, str, str, str, str]:
        base = f"{self._prefix}:{{{sku}}}"
        return f"{base}:stock", f"{base}:users", f"{base}:res", f"{base}:exp", f"{base}:done"

    async def seed(self, product: Product) -> None:
        await self.adjust(product.sku, "seed", product.initial_stock, product.per_user_limit)

    async def reserve_line(
        self,
        reservation_id: str,
        user_id: str,
        sku: str,
        quantity: int,
        now_ms: int,
        expire_ms: int,
    ) -> LineOutcome:
        batcher = self._reserve_batches.get(sku)
        if batcher is None:
            batcher = Batcher(
                partial(self._reserve_batch, sku),
                max_batch=RESERVE_BATCH,
                linger_s=self._reserve_linger_s,
            )
            self._reserve_batches[sku] = batcher
        return await batcher.submit((reservation_id, user_id, quantity, now_ms, expire_ms))

    async def _reserve_batch(self, sku: str, items: list[_ReserveArgs]) -> list[LineOutcome]:
        """One script call for every reservation of `sku` that arrived together (one slot)."""
        stock, users, res, exp, _done = self._keys(sku)
        reply = await self._reserve(
            keys=[stock, users, res, exp], args=[value for item in items for value in item]
        )
        return [_outcome(reply[i : i + 4]) for i in range(0, len(reply), 4)]

    async def release_line(self, reservation_id: str, sku: str, keep_until_ms: int) -> str:
        reply = await self._release(
            keys=list(self._keys(sku)),
            args=["one", reservation_id, 1, self.channel, sku, keep_until_ms],
        )
        return str(reply[0].decode())

    async def commit_line(self, reservation_id: str, sku: str, keep_until_ms: int) -> str:
        stock, _users, res, exp, done = self._keys(sku)
        reply = await self._commit(
            keys=[stock, res, exp, done], args=[reservation_id, keep_until_ms]
        )
        return str(reply.decode())

    async def lookup(self, reservation_id: str, skus: Sequence[str]) -> list[LineRecord | None]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for sku in skus:
                pipe.hget(self._keys(sku)[2], reservation_id)
            replies = await pipe.execute()
        return [LineRecord.parse(raw) if raw else None for raw in replies]

    async def stock(self, skus: Sequence[str]) -> list[StockLevel | None]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for sku in skus:
                pipe.hmget(self._keys(sku)[0], _FIELDS)
            replies = await pipe.execute()
        return [_level(sku, reply) for sku, reply in zip(skus, replies, strict=True)]

    async def adjust(self, sku: str, mode: str, *values: int) -> StockLevel | None:
        reply = await self._adjust(
            keys=[self._keys(sku)[0]], args=[mode, *values, self.channel, sku]
        )
        return _level(sku, reply)

    async def expire(self, sku: str, now_ms: int, batch: int, keep_until_ms: int) -> int:
        reply = await self._release(
            keys=list(self._keys(sku)),
            args=["expired", now_ms, batch, self.channel, sku, keep_until_ms],
        )
        return sum(1 for status in reply if status == b"OK")

    async def purge(self, sku: str, now_ms: int, batch: int) -> int:
        _stock, _users, res, _exp, done = self._keys(sku)
        return int(await self._purge(keys=[res, done], args=[now_ms, batch]))


def _outcome(reply: Sequence[bytes]) -> LineOutcome:
    status = reply[0].decode()
    record = LineRecord.parse(reply[3]) if status in {"OK", "REPLAY"} else None
    detail = reply[3].decode() if status == "LIMIT_EXCEEDED" else ""
    return LineOutcome(status, int(reply[1]), int(reply[2]), record, detail)


def _level(sku: str, reply: Sequence[bytes | None]) -> StockLevel | None:
    if not reply or reply[1] is None:
        return None
    values = [int(v) if v is not None else 0 for v in reply]
    initial, available, reserved, sold, limit, start_ms, end_ms, generation = values
    return StockLevel(
        sku, initial, available, reserved, sold, SaleConfig(limit, start_ms, end_ms), generation
    )
