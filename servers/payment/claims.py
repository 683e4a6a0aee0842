"""The Redis fast path: a Bloom filter of every key seen and a claim hash per key with a TTL.

Redis is only an accelerator: its answers are trusted for "already done" (the stored response
is the one SQL holds) and for "in flight", but every new claim is confirmed by SQL, so a Redis
that lost its data (flush, failover) costs speed, never correctness.

The Bloom filter rotates: one bitmap per window (the SQL retention period), and a key counts as
seen if the current or the previous window's bitmap has it. Bitmaps expire after two windows, so
the filter stays sized for the keys of one window instead of filling up forever; a key older
than that is also gone from SQL, and a callback that old is new again by design.

Keys are hash-tagged by shard, `<prefix>:{<shard>}:...`, so each script touches one Redis
Cluster slot; the shard is a CRC of the idempotency key.
"""

from __future__ import annotations

import enum
import pathlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from servers.payment.domain import BloomShape

_LUA = pathlib.Path(__file__).with_name("lua")


class ClaimStatus(enum.Enum):
    NEW = "NEW"  # Bloom says never seen; we hold the claim
    CLAIMED = "CLAIMED"  # maybe seen (claim expired, or a Bloom false positive); we hold it
    DONE = "DONE"  # finished; `response` is the stored answer
    BUSY = "BUSY"  # someone else holds a live claim
    TAKEOVER = "TAKEOVER"  # the holder's lock went stale; we hold it now


@dataclass(frozen=True, slots=True)
class Claim:
    status: ClaimStatus
    payload_hash: str = ""
    response: bytes = b""
    retry_ms: int = 0

    @property
    def held(self) -> bool:
        return self.status in {ClaimStatus.NEW, ClaimStatus.CLAIMED, ClaimStatus.TAKEOVER}


def item_of(key: tuple[str, str]) -> str:
    provider, payment_id = key
    return f"{len(provider)}:{provider}:{payment_id}"


def _script(client: aioredis.Redis, name: str) -> AsyncScript:
    # Lua has no includes: the shared Bloom helpers are prepended to the script text.
    library = (_LUA / "bloom_lib.lua").read_text()
    return client.register_script(library + "\n" + (_LUA / name).read_text())


class RedisClaims:
    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        shape: BloomShape,
        shards: int = 1,
        window_ms: int = 0,
    ) -> None:
        """`window_ms` 0: one bitmap forever (no rotation)."""
        self._redis = client
        self._prefix = prefix
        self.shape = shape
        self._shards = shards
        self._window_ms = window_ms
        self._claim = _script(client, "claim.lua")
        self._batch = _script(client, "bloom_batch.lua")
        self._finish = client.register_script((_LUA / "finish.lua").read_bytes())
        self._release = client.register_script((_LUA / "release.lua").read_bytes())

    def _tag(self, item: str) -> str:
        shard = zlib.crc32(item.encode()) % self._shards
        return f"{self._prefix}:{{{shard}}}"

    def bloom_key(self, shard: int, now_ms: int = 0) -> str:
        """The bitmap of `shard` for the window holding `now_ms`."""
        return f"{self._prefix}:{{{shard}}}:bloom:{self._epoch(now_ms)}"

    def _epoch(self, now_ms: int) -> int:
        return now_ms // self._window_ms if self._window_ms else 0

    def claim_key(self, key: tuple[str, str]) -> str:
        item = item_of(key)
        return f"{self._tag(item)}:claim:{item}"

    async def claim(
        self,
        key: tuple[str, str],
        payload_hash: str,
        owner: str,
        now_ms: int,
        lock_timeout_ms: int,
        ttl_ms: int,
    ) -> Claim:
        item = item_of(key)
        tag = self._tag(item)
        epoch = self._epoch(now_ms)
        reply = await self._claim(
            keys=[f"{tag}:bloom:{epoch}", f"{tag}:bloom:{epoch - 1}", f"{tag}:claim:{item}"],
            args=[
                item,
                self.shape.bits,
                self.shape.hashes,
                owner,
                payload_hash,
                now_ms,
                lock_timeout_ms,
                ttl_ms,
                2 * self._window_ms,
            ],
        )
        status = ClaimStatus(reply[0].decode())
        if status is ClaimStatus.DONE:
            return Claim(status, reply[1].decode(), bytes(reply[2] or b""))
        if status is ClaimStatus.BUSY:
            return Claim(status, reply[1].decode(), retry_ms=int(reply[2]))
        return Claim(status, reply[1].decode() if len(reply) > 1 else payload_hash)

    async def finish(
        self, key: tuple[str, str], payload_hash: str, response: bytes, ttl_ms: int
    ) -> None:
        await self._finish(keys=[self.claim_key(key)], args=[payload_hash, response, ttl_ms])

    async def release(self, key: tuple[str, str], owner: str) -> None:
        await self._release(keys=[self.claim_key(key)], args=[owner])

    async def bloom_batch(
        self, mode: str, items: Sequence[str], shard: int = 0, now_ms: int = 0
    ) -> int:
        """Add (`mode="add"`) or test (`"check"`) many items in one shard's current bitmap;
        returns how many were (maybe) present. For bulk loads, measurements and benchmarks."""
        args: list[str | int] = [mode, self.shape.bits, self.shape.hashes, *items]
        return int(await self._batch(keys=[self.bloom_key(shard, now_ms)], args=args))
