"""The stream -> SQL writer: drains each order partition in batches, upserts, then acknowledges.

One consumer group per partition stream; several writer processes may run. A batch is up to
`batch_size` entries or what arrived within `batch_wait_ms`; it is upserted in one transaction
and acknowledged only after the commit, so a crash between the two redelivers (the upserts make
that harmless). Entries idle past `claim_idle_ms` (a dead writer's) are taken over with
XAUTOCLAIM; an entry that keeps failing goes to the partition's dead-letter stream.

Run with `python -m servers.order.writer`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis

from servers.common import logs, sql
from servers.common import redis as shared_redis
from servers.common.redis import load_script
from servers.common.server import run
from servers.common.settings import EnvReader
from servers.order.domain import Order
from servers.order.sqlstore import SQLOrderRecords, database_dsn
from servers.order.store import GROUP, OrderKeys, PartitionKeys, RedisOrderStore

_log = logging.getLogger("shopmesh.order.writer")
_LUA = pathlib.Path(__file__).with_name("lua")
Entry = tuple[bytes, dict[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class WriterSettings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    dsn: str = "sqlite:///.run/order.db"
    key_prefix: str = "ord"
    partitions: int = 4
    batch_size: int = 200
    batch_wait_ms: int = 50
    claim_idle_ms: int = 5_000
    max_attempts: int = 3
    consumer: str = ""
    # Fault injection for the crash test: SIGKILL ourselves after this many commits, before
    # acknowledging them (0: never).
    crash_after_commits: int = 0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: EnvReader) -> WriterSettings:
        return cls(
            redis_url=env.text("REDIS_URL", "redis://127.0.0.1:6379/0"),
            dsn=database_dsn(env),
            key_prefix=env.text("ORDER_KEY_PREFIX", "ord"),
            partitions=env.integer("ORDER_PARTITIONS", 4, minimum=1),
            batch_size=env.integer("ORDER_BATCH_SIZE", 200, minimum=1),
            batch_wait_ms=env.integer("ORDER_BATCH_WAIT_MS", 50, minimum=1),
            claim_idle_ms=env.integer("ORDER_CLAIM_IDLE_MS", 5_000, minimum=1),
            max_attempts=env.integer("ORDER_MAX_ATTEMPTS", 3, minimum=1),
            consumer=env.text("ORDER_WRITER_NAME", f"{socket.gethostname()}-{os.getpid()}"),
            crash_after_commits=env.integer("ORDER_WRITER_CRASH_AFTER_COMMITS", 0, minimum=0),
            log_level=env.text("SHOPMESH_LOG_LEVEL", "INFO"),
        )


class OrderWriter:
    def __init__(
        self, client: aioredis.Redis, records: SQLOrderRecords, settings: WriterSettings
    ) -> None:
        self._redis = client
        self.records = records
        self.settings = settings
        self.keys = OrderKeys(settings.key_prefix, settings.partitions)
        self._consumer = settings.consumer or f"{socket.gethostname()}-{os.getpid()}"
        self._ack = load_script(client, _LUA / "ack.lua")
        self._dead = load_script(client, _LUA / "deadletter.lua")
        self.commits = 0
        self.written = 0

    async def run(self) -> None:
        """Drain every partition until cancelled."""
        await RedisOrderStore(self._redis, self.keys).ensure_groups()
        parts = [self.keys.partition(i) for i in range(self.keys.partitions)]
        await asyncio.gather(*(self._drain(part) for part in parts))

    async def _drain(self, part: PartitionKeys) -> None:
        next_claim = 0.0
        while True:
            try:
                entries: list[Entry] = []
                if time.monotonic() >= next_claim:
                    entries = await self._reclaim(part)
                    next_claim = time.monotonic() + self.settings.claim_idle_ms / 2000
                if not entries:
                    entries = await self._read(part)
                if entries:
                    await self.write(part, entries)
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("writer loop failed; retrying", extra={"stream": part.stream})
                await asyncio.sleep(0.5)

    async def _read(self, part: PartitionKeys) -> list[Entry]:
        """Up to batch_size entries: block for the first, then top up for batch_wait_ms."""
        size, wait_ms = self.settings.batch_size, self.settings.batch_wait_ms
        entries = await self._xread(part, size, block_ms=wait_ms)
        if entries and len(entries) < size:
            await asyncio.sleep(wait_ms / 1000)
            entries += await self._xread(part, size - len(entries), block_ms=None)
        return entries

    async def _xread(self, part: PartitionKeys, count: int, block_ms: int | None) -> list[Entry]:
        reply = await self._redis.xreadgroup(
            GROUP, self._consumer, {part.stream: ">"}, count=count, block=block_ms
        )
        streams = cast(list[tuple[bytes, list[Entry]]], reply or [])
        return [entry for _stream, items in streams for entry in items]

    async def _reclaim(self, part: PartitionKeys) -> list[Entry]:
        reply = await self._redis.xautoclaim(
            part.stream,
            GROUP,
            self._consumer,
            self.settings.claim_idle_ms,
            "0-0",
            count=self.settings.batch_size,
        )
        items: list[Entry] = reply[1]
        claimed = [(eid, fields) for eid, fields in items if fields]
        if claimed:
            _log.info(
                "reclaimed idle entries", extra={"count": len(claimed), "stream": part.stream}
            )
        return claimed

    async def write(self, part: PartitionKeys, entries: Sequence[Entry]) -> None:
        """Upsert a batch in one transaction, then ack; on failure retry entry by entry."""
        decoded, poison = _decode(entries)
        for eid, fields, error in poison:
            await self._dead_letter(part, eid, fields, error)
        if not decoded:
            return
        try:
            async with self.records.db.transaction() as tx:
                await self.records.write(tx, [(kind, order) for _e, kind, order in decoded])
        except Exception as exc:
            _log.warning("batch write failed; retrying one by one", extra={"error": repr(exc)})
            await self._one_by_one(part, decoded)
            return
        self._committed()
        await self._ack(
            keys=[part.stream, part.backlog, part.fails],
            args=[GROUP, *[e for e, _k, _o in decoded]],
        )
        self.written += len(decoded)

    def _committed(self) -> None:
        self.commits += 1
        if self.settings.crash_after_commits and self.commits >= self.settings.crash_after_commits:
            os.kill(os.getpid(), signal.SIGKILL)  # the crash test's fault point: after commit

    async def _one_by_one(
        self, part: PartitionKeys, decoded: Sequence[tuple[bytes, str, Order]]
    ) -> None:
        await self.records.db.ping()  # a database outage is not the entries' fault: back off
        for eid, kind, order in decoded:
            try:
                async with self.records.db.transaction() as tx:
                    await self.records.write(tx, [(kind, order)])
            except Exception as exc:
                attempts = int(await self._redis.hincrby(part.fails, eid.decode(), 1))
                if attempts >= self.settings.max_attempts:
                    fields = {b"kind": kind.encode(), b"doc": order.to_json().encode()}
                    await self._dead_letter(part, eid, fields, repr(exc))
                continue
            self._committed()
            await self._ack(keys=[part.stream, part.backlog, part.fails], args=[GROUP, eid])
            self.written += 1

    async def _dead_letter(
        self, part: PartitionKeys, eid: bytes, fields: dict[bytes, bytes], error: str
    ) -> None:
        _log.error("entry dead-lettered", extra={"entry": eid.decode(), "error": error})
        await self._dead(
            keys=[part.stream, part.backlog, part.fails, part.dead],
            args=[GROUP, eid, fields.get(b"kind", b""), fields.get(b"doc", b""), error[:500]],
        )


def _decode(
    entries: Sequence[Entry],
) -> tuple[list[tuple[bytes, str, Order]], list[tuple[bytes, dict[bytes, bytes], str]]]:
    good, poison = [], []
    for eid, fields in entries:
        try:
            good.append((eid, fields[b"kind"].decode(), Order.from_json(fields[b"doc"])))
        except Exception as exc:  # malformed entry: no retry will ever fix it
            poison.append((eid, fields, f"undecodable entry: {exc!r}"))
    return good, poison


async def create_writer(
    settings: WriterSettings,
    redis_client: aioredis.Redis | None = None,
    database: sql.Database | None = None,
) -> OrderWriter:
    """Build a writer (migrations applied); `await writer.run()` drains until cancelled."""
    client = redis_client or shared_redis.connect(settings.redis_url, max_connections=32)
    records = SQLOrderRecords(database or await sql.connect(settings.dsn))
    await records.migrate()
    return OrderWriter(client, records, settings)


async def _main() -> None:
    settings = WriterSettings.from_env(EnvReader())
    logs.configure_logging("order-writer", settings.log_level)
    writer = await create_writer(settings)
    task = asyncio.ensure_future(writer.run())
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    print(f"order writer {settings.consumer} draining {settings.partitions} partitions", flush=True)
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        await writer.records.db.close()


def main() -> None:
    run(_main)


if __name__ == "__main__":
    main()
