"""`make bench-payment`: payment callbacks against the framework limit, in one run.

Each case at 64 requests in flight from a generator in its own process:
  echo      a bare grpc.aio echo server answering HandleCallback-sized bodies (framework limit)
  unique    every callback new: verify, Bloom + claim, SQL insert / decision / outcome, answer
  storm     a duplicate storm, 90 % replays of finished callbacks and 10 % new ones
Callbacks report failed payments, so no order service is involved: the order call is
ConfirmPayment's cost, measured by the order benchmark. The gateway runs in this process (the
load comes from another) so its counters give the share of replays answered from Redis alone.
Also reported: Bloom filter bytes per million keys at the configured false-positive target.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import tempfile
import time
import uuid
from dataclasses import dataclass

import redis.asyncio as aioredis

from bench import loadgen, procs
from bench.echo import METHOD as ECHO_METHOD
from bench.report import emit
from servers.common import sql
from servers.common.server import start
from servers.common.settings import ServerSettings
from servers.payment.__main__ import PaymentSettings, create_app
from servers.payment.domain import BloomShape
from servers.payment.sign import signed_request

CALLBACK = "/shop.payment.v1.PaymentService/HandleCallback"
SECRET = "bench-secret"
SEEDED = 2_000  # finished callbacks the storm replays
MAX_REQUESTS = 60_000


def _nonce() -> str:
    return os.environ.get("BENCH_NONCE", "n")


def _body(payment_id: str, i: int) -> bytes:
    request = signed_request(
        SECRET, "bench", payment_id, 1 + i, "12.34", "EUR", "PROVIDER_STATUS_FAILED"
    )
    return request.SerializeToString()


def unique_callback(i: int) -> bytes:
    return _body(f"{_nonce()}-u{i}", i)


def storm_callback(i: int) -> bytes:
    if i % 10 == 0:
        return _body(f"{_nonce()}-n{i}", i)
    seeded = i % SEEDED
    return _body(f"{_nonce()}-s{seeded}", seeded)


def echo_payload(i: int) -> bytes:
    return unique_callback(i)


async def _database(dsn: str, nonce: str) -> tuple[str, str]:
    """A database of the run's own: (dsn, name to drop, '' for SQLite)."""
    if not dsn.startswith("mysql"):
        path = pathlib.Path(tempfile.mkdtemp(prefix="bench-payment-")) / "payment.db"
        return f"sqlite:///{path}", ""
    name = f"shopmesh_bench_{nonce}"
    admin = await sql.connect(dsn)
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    return dsn.rsplit("/", 1)[0] + f"/{name}", name


async def _drop(base_dsn: str, name: str) -> None:
    if name:
        admin = await sql.connect(base_dsn)
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.close()


async def _seed(address: str) -> None:
    """Finish the callbacks the storm replays, before it starts."""
    import grpc

    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(CALLBACK)
        for first in range(0, SEEDED, 100):
            seeded = range(first, min(first + 100, SEEDED))
            await asyncio.gather(*(call(_body(f"{_nonce()}-s{k}", k)) for k in seeded))


@dataclass
class _Cases:
    unique: loadgen.LoadResult
    storm: loadgen.LoadResult
    redis_share: float
    bloom_bytes: int
    processed: int
    dialect: str


async def _gateway_cases(args: argparse.Namespace, prefix: str) -> _Cases:
    dsn, dropped = await _database(args.dsn, _nonce())
    settings = PaymentSettings(
        server=ServerSettings(service="payment", port=0, redis_url=args.redis_url, metrics_port=-1),
        database_dsn=dsn,
        secrets={"bench": (SECRET,)},
        key_prefix=prefix,
        bloom_expected=args.bloom_expected,
    )
    app, gateway = await create_app(settings)
    running = await start(app, settings.server)
    spec = {"in_flight": args.in_flight, "duration_s": args.duration, "max_requests": MAX_REQUESTS}
    try:
        await _seed(running.address)
        unique = await asyncio.to_thread(
            loadgen.run,
            loadgen.LoadSpec(running.address, CALLBACK, "bench.payment:unique_callback", **spec),
        )
        before = (gateway.stats.redis_replays, gateway.stats.sql_replays)
        storm = await asyncio.to_thread(
            loadgen.run,
            loadgen.LoadSpec(running.address, CALLBACK, "bench.payment:storm_callback", **spec),
        )
        redis_replays = gateway.stats.redis_replays - before[0]
        sql_replays = gateway.stats.sql_replays - before[1]
        client = aioredis.Redis.from_url(args.redis_url)
        bloom_key = gateway.bloom_key(time.time_ns() // 1_000_000)
        bloom_bytes = int(await client.strlen(bloom_key))
        await client.aclose()
        processed = gateway.stats.processed
    finally:
        await running.stop(0)
        await _drop(args.dsn, dropped)
    share = redis_replays / max(1, redis_replays + sql_replays)
    return _Cases(unique, storm, share, bloom_bytes, processed, "mysql" if dropped else "sqlite")


def main(argv: list[str]) -> int:
    parser = loadgen.rpc_bench_parser("bench payment", __doc__, rounds=False)
    parser.add_argument(
        "--dsn",
        default=os.environ.get("MYSQL_DSN", "sqlite"),
        help="mysql://... (a database of the run's own is created there) or sqlite (default)",
    )
    parser.add_argument("--bloom-expected", type=int, default=10_000_000)
    parser.add_argument("--bloom-fp", type=float, default=0.0001)
    args = parser.parse_args(argv)
    os.environ["BENCH_NONCE"] = uuid.uuid4().hex[:8]
    prefix = f"benchpay{_nonce()}"
    echo_port = procs.free_port()
    with procs.running(procs.python("bench.echo", str(echo_port)), echo_port):
        echo = loadgen.run(
            loadgen.LoadSpec(
                f"127.0.0.1:{echo_port}",
                ECHO_METHOD,
                "bench.payment:echo_payload",
                in_flight=args.in_flight,
                duration_s=args.duration,
            )
        )
    started = time.perf_counter()
    import uvloop

    cases = uvloop.run(_gateway_cases(args, prefix))
    procs.forget_keys(args.redis_url, prefix)
    unique, storm = cases.unique, cases.storm
    per_million = BloomShape.for_keys(1_000_000, args.bloom_fp).bytes
    rows = [
        echo.row("echo", echo.rps),
        unique.row(f"unique callbacks ({cases.dialect})", echo.rps),
        storm.row(f"duplicate storm 90% replays ({cases.dialect})", echo.rps),
    ]
    summary: dict[str, float | int] = {
        "echo_rps": round(echo.rps, 1),
        "unique_rps": round(unique.rps, 1),
        "storm_rps": round(storm.rps, 1),
        "unique_vs_echo": round(unique.rps / echo.rps, 3),
        "storm_vs_echo": round(storm.rps / echo.rps, 3),
        "unique_p99_ms": round(unique.latency_ms["p99"], 2),
        "storm_p99_ms": round(storm.latency_ms["p99"], 2),
        "redis_share_of_replays": round(cases.redis_share, 4),
        "bloom_bytes_per_million": per_million,
        "bloom_bytes_measured": cases.bloom_bytes,
    }
    extra = {
        "in_flight": args.in_flight,
        "duration_s": args.duration,
        "bloom_expected": args.bloom_expected,
        "bloom_fp": args.bloom_fp,
        "processed": cases.processed,
        "gateway_seconds": round(time.perf_counter() - started, 1),
    }
    emit("payment", rows, summary, extra)
    return 0 if unique.ok > 0 and storm.ok > 0 else 1
