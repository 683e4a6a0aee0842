"""`make bench-order` / `python -m bench order`: order intake against MariaDB, side by side.

In one run, on a fresh MariaDB database:
  raw_upsert   the writer's exact upserts from a plain Python loop, 200 rows a transaction
               (the database limit)
  writer       the stream -> SQL writer draining the same number of orders (target >= 60 %)
  rowlock      one MariaDB row-lock transaction per order on one hot SKU, 64 in flight
               (UPDATE stock ... WHERE qty >= 1, INSERT the order, COMMIT)
  ours         the same buyers through inventory's reserve script + the order stream append,
               64 in flight, the writer persisting; an order counts once it is in MariaDB
               (target >= 5x rowlock's winning orders/s); both checked for oversell.
  PlaceOrder   through gRPC (inventory, order and writer processes): the maximum rate, then an
               open-loop run at half of it with each order's accept -> persisted lag
               (target p99 <= 200 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

import redis.asyncio as aioredis
import uvloop

from bench import order_grpc, procs
from bench.report import emit
from servers.common import sql
from servers.common.snowflake import Snowflake
from servers.inventory.domain import Product
from servers.inventory.store import RedisStockStore
from servers.order.domain import Order, PricedLine, Status
from servers.order.sqlstore import SQLOrderRecords
from servers.order.store import OrderKeys, RedisOrderStore
from servers.order.writer import OrderWriter, WriterSettings

SKU = "SKU-BENCH"
IN_FLIGHT = 64


def _order(ids: Snowflake, i: int) -> Order:
    now = int(time.time() * 1000)
    return Order(
        ids.next_id(), f"b-{uuid.uuid4().hex[:8]}-{i}", f"u{i}",
        (PricedLine(SKU, "Bench item", 1, 990),), "EUR", Status.PENDING_PAYMENT, 1, now, now,
        now + 900_000,
    )  # fmt: skip


async def _fresh_db(base: str) -> tuple[str, sql.Database, sql.Database]:
    name = f"shopmesh_bench_{uuid.uuid4().hex[:8]}"
    admin = await sql.connect(base)
    await admin.execute(f"CREATE DATABASE {name}")
    db = await sql.MySQLDatabase.open(f"{base.rsplit('/', 1)[0]}/{name}", pool_size=IN_FLIGHT + 4)
    await SQLOrderRecords(db).migrate()
    return name, admin, db


async def _raw_upsert(db: sql.Database, count: int) -> float:
    records = SQLOrderRecords(db)
    ids = Snowflake(1)
    orders = [("placed", _order(ids, i)) for i in range(count)]
    started = time.perf_counter()
    for i in range(0, count, 200):
        async with db.transaction() as tx:
            await records.write(tx, orders[i : i + 200])
    return count / (time.perf_counter() - started)


async def _writer(client: aioredis.Redis, db: sql.Database, prefix: str, count: int) -> float:
    keys = OrderKeys(prefix, 4)
    store = RedisOrderStore(client, keys)
    await store.ensure_groups()
    ids = Snowflake(2)
    for i in range(0, count, 500):  # fill the streams first: we time the drain alone
        await asyncio.gather(*(store.place(_order(ids, j)) for j in range(i, min(i + 500, count))))
    settings = WriterSettings(key_prefix=prefix, partitions=4, consumer="bench")
    writer = OrderWriter(client, SQLOrderRecords(db), settings)
    started = time.perf_counter()
    task = asyncio.create_task(writer.run())
    while await store.backlog() > 0:  # noqa: ASYNC110 - polling Redis is the measurement
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return count / elapsed


async def _rowlock(db: sql.Database, buyers: int, units: int) -> dict[str, Any]:
    await db.execute("CREATE TABLE bench_stock (sku VARCHAR(64) PRIMARY KEY, qty BIGINT NOT NULL)")
    await db.execute("INSERT INTO bench_stock VALUES (%s, %s)", (SKU, units))
    ids = Snowflake(3)
    queue = iter(range(buyers))
    wins = 0

    async def worker() -> None:
        nonlocal wins
        for i in queue:
            order = _order(ids, i)
            async with db.transaction() as tx:
                took = await tx.execute(
                    "UPDATE bench_stock SET qty = qty - 1 WHERE sku = %s AND qty >= 1", (SKU,)
                )
                if took:
                    await SQLOrderRecords(db).write(tx, [("placed", order)])
                    wins += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    elapsed = time.perf_counter() - started
    left = int((await db.fetch_all("SELECT qty FROM bench_stock"))[0][0])
    rows = await SQLOrderRecords(db).count()
    oversold = rows - (units - left) if left >= 0 else -left
    return {"wins": wins, "seconds": elapsed, "wins_per_s": wins / elapsed, "oversold": oversold}


async def _ours(
    client: aioredis.Redis,
    db: sql.Database,
    prefix: str,
    buyers: int,
    units: int,
    env: dict[str, str],
) -> dict[str, Any]:
    stock = RedisStockStore(client, f"{prefix}i")
    await stock.seed(Product(SKU, "Bench item", "", 990, "EUR", "", units))
    keys = OrderKeys(f"{prefix}o", 4)
    orders = RedisOrderStore(client, keys)
    await orders.ensure_groups()
    ids = Snowflake(4)
    queue = iter(range(buyers))
    wins = 0
    sold_out = False  # the process-local sold-out snapshot: hopeless buyers cost nothing

    async def worker() -> None:
        nonlocal wins, sold_out
        for i in queue:
            if sold_out:
                continue
            order = _order(ids, i)
            now = order.created_ms
            outcome = await stock.reserve_line(
                str(order.order_id), order.user_id, SKU, 1, now, now + 900_000
            )
            sold_out = outcome.available == 0
            if outcome.status == "OK":
                await orders.place(order)
                wins += 1

    # the writer runs as it does in production: its own process, draining the streams
    writer_env = {**env, "ORDER_KEY_PREFIX": keys.prefix, "ORDER_PARTITIONS": "4"}
    with procs.running(procs.python("servers.order.writer"), None, writer_env):
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        while await SQLOrderRecords(db).count() < wins:  # noqa: ASYNC110 - as above, SQL
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
    (level,) = await stock.stock([SKU])
    assert level is not None
    oversold = max(0, wins - units) + (0 if level.balanced and level.available >= 0 else 1)
    return {"wins": wins, "seconds": elapsed, "wins_per_s": wins / elapsed, "oversold": oversold}


async def _run(args: argparse.Namespace) -> int:
    client = aioredis.Redis.from_pool(
        aioredis.BlockingConnectionPool.from_url(args.redis_url, max_connections=IN_FLIGHT + 16)
    )
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    name, admin, db = await _fresh_db(args.mysql_dsn)
    try:
        raw = await _raw_upsert(db, args.rows)
        await db.execute("DELETE FROM orders")
        drained = await _writer(client, db, f"{prefix}w", args.rows)
        await db.execute("DELETE FROM orders")
        locked = await _rowlock(db, args.buyers, args.units)
        await db.execute("DELETE FROM orders")
        dsn = f"{args.mysql_dsn.rsplit('/', 1)[0]}/{name}"
        env = {"REDIS_URL": args.redis_url, "MYSQL_DSN": dsn, "SHOPMESH_LOG_LEVEL": "WARNING"}
        ours = await _ours(client, db, prefix, args.buyers, args.units, env)
        await db.execute("DELETE FROM orders")
        placed = await asyncio.to_thread(order_grpc.run, args.redis_url, dsn, args.grpc_seconds)
    finally:
        await db.close()
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.close()
        await client.aclose()
        await asyncio.to_thread(procs.forget_keys, args.redis_url, prefix)
    rows = [
        {"case": "raw_upsert", "rows_per_s": raw},
        {"case": "writer", "rows_per_s": drained, "share_of_raw": drained / raw},
        {"case": "rowlock", **locked},
        {"case": "ours", **ours, "x_rowlock": ours["wins_per_s"] / locked["wins_per_s"]},
        {"case": "PlaceOrder gRPC, max (64 in flight)", "rps": placed["peak"].rps,
         "ok": placed["peak"].ok, "p99_ms": placed["peak"].latency_ms["p99"]},
        {"case": "PlaceOrder gRPC, open loop at half", "rps": placed["steady"].rps,
         "ok": placed["steady"].ok, "p99_ms": placed["steady"].latency_ms["p99"],
         "lag_p50_ms": placed["lag_p50_ms"], "lag_p99_ms": placed["lag_p99_ms"],
         "persisted": placed["persisted"]},
    ]  # fmt: skip
    summary = {
        "writer_rows_s": round(drained, 1),
        "raw_rows_s": round(raw, 1),
        "writer_share": round(drained / raw, 3),
        "ours_wins_s": round(ours["wins_per_s"], 1),
        "rowlock_wins_s": round(locked["wins_per_s"], 1),
        "x_rowlock": round(ours["wins_per_s"] / locked["wins_per_s"], 2),
        "oversold": int(ours["oversold"] + locked["oversold"]),
        "place_order_max_rps": round(placed["peak"].rps, 1),
        "place_order_half_rps": round(placed["steady"].rps, 1),
        "lag_p50_ms": round(placed["lag_p50_ms"], 1),
        "lag_p99_ms": round(placed["lag_p99_ms"], 1),
        # persisted also counts the generator's warm-up second, which `ok` leaves out
        "lost": max(0, int(placed["steady"].ok - placed["persisted"])),
    }
    emit("order", rows, summary, {"buyers": args.buyers, "units": args.units, "rows": args.rows})
    return 0 if summary["oversold"] == 0 and summary["lost"] == 0 else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench order", description=__doc__)
    parser.add_argument("--mysql-dsn", default="mysql://root@127.0.0.1:3306/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rows", type=int, default=20_000, help="orders for the writer runs")
    parser.add_argument("--buyers", type=int, default=30_000)
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--grpc-seconds", type=float, default=5.0, help="per PlaceOrder run")
    return uvloop.run(_run(parser.parse_args(argv)))
