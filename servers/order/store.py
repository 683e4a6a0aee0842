"""The orders' hot state in Redis: request-id claims, order hashes, partitioned streams.

Every key of one order partition carries the hash tag `{<prefix>-p<n>}`, so each Lua script
touches one Redis Cluster slot; request-id claims and per-user indexes are single keys.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from servers.common.redis import load_script
from servers.order.domain import Order, Status

_LUA = pathlib.Path(__file__).with_name("lua")
GROUP = "writers"


@dataclass(frozen=True, slots=True)
class PartitionKeys:
    stream: str
    backlog: str
    due: str
    commits: str
    fails: str
    dead: str
    tag: str

    def order(self, order_id: int) -> str:
        return f"{self.tag}:o:{order_id}"


@dataclass(frozen=True, slots=True)
class Claim:
    """Who holds a request id: the order it became and the fingerprint of its content."""

    order_id: int
    fingerprint: str


class OrderKeys:
    def __init__(self, prefix: str, partitions: int) -> None:
        self.prefix = prefix
        self.partitions = partitions

    def partition_of(self, order_id: int) -> int:
        # Low bits of a Snowflake id are the sequence: they spread consecutive orders evenly.
        return order_id % self.partitions

    def partition(self, index: int) -> PartitionKeys:
        tag = f"{self.prefix}:{{{self.prefix}-p{index}}}"
        return PartitionKeys(
            f"{tag}:stream",
            f"{tag}:backlog",
            f"{tag}:due",
            f"{tag}:commits",
            f"{tag}:fails",
            f"{tag}:dead",
            tag,
        )

    def of_order(self, order_id: int) -> PartitionKeys:
        return self.partition(self.partition_of(order_id))

    def request(self, request_id: str) -> str:
        return f"{self.prefix}:req:{request_id}"

    def user(self, user_id: str) -> str:
        return f"{self.prefix}:user:{user_id}"


def _member(order_id: int) -> str:
    # Zero-padded so the lexicographic order of a user's index is the id (= time) order.
    return f"{order_id:020d}"


class RedisOrderStore:
    def __init__(self, client: aioredis.Redis, keys: OrderKeys) -> None:
        self._redis = client
        self.keys = keys
        self._place = load_script(client, _LUA / "place.lua")
        self._transition = load_script(client, _LUA / "transition.lua")

    async def ensure_groups(self) -> None:
        for index in range(self.keys.partitions):
            try:
                await self._redis.xgroup_create(
                    self.keys.partition(index).stream, GROUP, id="0", mkstream=True
                )
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def backlog(self) -> int:
        """Entries appended but not yet acknowledged by a writer, over all partitions."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for index in range(self.keys.partitions):
                pipe.get(self.keys.partition(index).backlog)
            replies = await pipe.execute()
        return sum(int(r) for r in replies if r is not None)

    async def claim(self, request_id: str, claim: Claim, ttl_s: int) -> Claim | None:
        """Take `request_id` for a new order; returns the existing claim if someone holds it."""
        key = self.keys.request(request_id)
        value = f"{claim.order_id}|{claim.fingerprint}"
        if await self._redis.set(key, value, nx=True, ex=ttl_s):
            return None
        return await self.claim_of(request_id)

    async def claim_of(self, request_id: str) -> Claim | None:
        raw = await self._redis.get(self.keys.request(request_id))
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        order_id, _, fingerprint = text.partition("|")
        return Claim(int(order_id), fingerprint)

    async def keep_claim(self, request_id: str, ttl_s: int) -> None:
        await self._redis.expire(self.keys.request(request_id), ttl_s)

    async def drop_claim(self, request_id: str, order_id: int) -> None:
        """Free a request id whose order was refused, unless it already names another order."""
        claim = await self.claim_of(request_id)
        if claim is not None and claim.order_id == order_id:
            await self._redis.delete(self.keys.request(request_id))

    async def place(self, order: Order) -> bool:
        """Hot state + stream entry (one script, one slot) and the user's index, in one trip."""
        part = self.keys.of_order(order.order_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            await self._place(
                keys=[part.order(order.order_id), part.stream, part.backlog, part.due],
                args=[
                    order.order_id,
                    order.to_json(),
                    order.status.value,
                    order.version,
                    order.payment_deadline_ms,
                ],
                client=pipe,
            )
            pipe.zadd(self.keys.user(order.user_id), {_member(order.order_id): 0})
            reply, _ = await pipe.execute()
        return bool(reply == b"OK")

    async def transition(
        self, before: Order, after: Order, event: str, keep_terminal_s: int
    ) -> tuple[str, Order | None]:
        """CAS `before` -> `after`: ("OK", None), ("CONFLICT", current) or ("NOT_FOUND", None)."""
        part = self.keys.of_order(before.order_id)
        reply = await self._transition(
            keys=[part.order(before.order_id), part.stream, part.backlog, part.due, part.commits],
            args=[
                before.order_id,
                before.status.value,
                before.version,
                after.status.value,
                after.version,
                after.to_json(),
                event,
                keep_terminal_s if after.status in {Status.COMPLETED, Status.CANCELLED} else 0,
                after.updated_ms,
            ],
        )
        outcome = reply[0].decode()
        current = Order.from_json(reply[1]) if outcome == "CONFLICT" else None
        return outcome, current

    async def get(self, order_id: int) -> Order | None:
        raw = await self._redis.hget(self.keys.of_order(order_id).order(order_id), "doc")
        return None if raw is None else Order.from_json(raw)

    async def get_many(self, order_ids: Sequence[int]) -> list[Order | None]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for order_id in order_ids:
                pipe.hget(self.keys.of_order(order_id).order(order_id), "doc")
            replies = await pipe.execute()
        return [None if raw is None else Order.from_json(raw) for raw in replies]

    async def user_orders(self, user_id: str, before: int | None, count: int) -> list[int]:
        """A user's order ids, newest first, below `before` when given."""
        top = f"({_member(before)}" if before is not None else "+"
        members = await self._redis.zrevrangebylex(
            self.keys.user(user_id), top, "-", start=0, num=count
        )
        return [int(m) for m in members]

    async def due(self, partition: int, now_ms: int, count: int) -> list[int]:
        """Orders of a partition whose payment deadline has passed."""
        ids = await self._redis.zrangebyscore(
            self.keys.partition(partition).due, "-inf", now_ms, start=0, num=count
        )
        found: list[bytes] = cast(list[bytes], ids)
        return [int(i) for i in found]

    async def uncommitted(self, partition: int, before_ms: int, count: int) -> list[int]:
        """Paid orders whose stock commit has not been confirmed since `before_ms`."""
        ids = await self._redis.zrangebyscore(
            self.keys.partition(partition).commits, "-inf", before_ms, start=0, num=count
        )
        return [int(i) for i in cast(list[bytes], ids)]

    async def committed(self, order_id: int) -> None:
        await self._redis.zrem(self.keys.of_order(order_id).commits, str(order_id))

    async def forget_due(self, order_id: int) -> None:
        await self._redis.zrem(self.keys.of_order(order_id).due, str(order_id))
