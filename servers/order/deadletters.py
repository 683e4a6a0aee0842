"""`shopmesh orders dead-letters`: list the stream entries the writer gave up on, and replay them.

`list` prints each dead letter (partition, id, order, error); `replay [ID ...]` appends the
entries (all, or the named ones) back to their partition stream, where the writer upserts them
again (idempotently), and removes them from the dead-letter stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis

from servers.common.settings import EnvReader
from servers.order.store import OrderKeys


@dataclass(frozen=True, slots=True)
class DeadLetter:
    partition: int
    entry_id: str
    kind: str
    doc: str
    error: str

    @property
    def order_id(self) -> str:
        try:
            return str(json.loads(self.doc)["id"])
        except (ValueError, KeyError, TypeError):
            return "?"


async def list_dead(client: aioredis.Redis, keys: OrderKeys) -> list[DeadLetter]:
    found = []
    for index in range(keys.partitions):
        entries = cast(
            list[tuple[bytes, dict[bytes, bytes]]], await client.xrange(keys.partition(index).dead)
        )
        for eid, fields in entries:
            found.append(
                DeadLetter(
                    index,
                    eid.decode(),
                    fields.get(b"kind", b"").decode(),
                    fields.get(b"doc", b"").decode(),
                    fields.get(b"error", b"").decode(),
                )
            )
    return found


async def replay(client: aioredis.Redis, keys: OrderKeys, only: set[str] | None = None) -> int:
    """Put dead letters back on their streams; returns how many were replayed."""
    replayed = 0
    for letter in await list_dead(client, keys):
        if only is not None and letter.entry_id not in only:
            continue
        part = keys.partition(letter.partition)
        async with client.pipeline(transaction=True) as pipe:
            pipe.xadd(part.stream, {"kind": letter.kind, "doc": letter.doc})
            pipe.incr(part.backlog)
            pipe.xdel(part.dead, letter.entry_id)
            await pipe.execute()
        replayed += 1
    return replayed


def cli_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="shopmesh orders dead-letters", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="action")
    sub.add_parser("list", help="print every dead letter")
    again = sub.add_parser("replay", help="append dead letters back to their streams")
    again.add_argument("ids", nargs="*", help="dead-letter entry ids (default: all)")
    args = parser.parse_args(argv or ["list"])
    env = EnvReader()
    keys = OrderKeys(
        env.text("ORDER_KEY_PREFIX", "ord"), env.integer("ORDER_PARTITIONS", 4, minimum=1)
    )

    async def main() -> int:
        client = aioredis.Redis.from_url(env.text("REDIS_URL", "redis://127.0.0.1:6379/0"))
        try:
            if args.action == "replay":
                count = await replay(client, keys, set(args.ids) if args.ids else None)
                print(f"replayed {count} dead letter(s)")
                return 0
            letters = await list_dead(client, keys)
            for d in letters:
                print(
                    f"p{d.partition} {d.entry_id} order={d.order_id} kind={d.kind} error={d.error}"
                )
            print(f"{len(letters)} dead letter(s)")
            return 0
        finally:
            await client.aclose()

    return asyncio.run(main())
