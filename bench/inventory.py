"""`make bench-inventory`: Reserve against the framework and Redis limits, side by side.

In one run, each at 64 requests in flight from a generator in its own process:
  echo      a bare grpc.aio echo server (the framework limit)
  lua       the reserve script called straight from Python (the Redis limit)
  reserve   Reserve on the inventory service with stock available
  sold_out  Reserve on a sold-out SKU (answered by the process-local snapshot)
then inventory's RSS after at least 100,000 reservations. Echo, reserve and sold_out run in
`--rounds` interleaved rounds, the fastest of each kept (bench.loadgen.interleaved).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pathlib
import time
import uuid

import grpc
import redis.asyncio as aioredis

from bench import loadgen, procs
from bench.echo import METHOD as ECHO_METHOD
from bench.report import emit
from shop.inventory.v1 import inventory_pb2 as pb
from shop.inventory.v1 import inventory_pb2_grpc

RESERVE = "/shop.inventory.v1.InventoryService/Reserve"
HOT_SKU = "SKU-MUG"
SOLD_OUT_SKU = "SKU-CAMERA"
_LUA = pathlib.Path(__file__).resolve().parents[1] / "servers" / "inventory" / "lua" / "reserve.lua"


def _nonce() -> str:
    return os.environ.get("BENCH_NONCE", "n")


def reserve_available(i: int) -> bytes:
    line = pb.ReservationLine(sku=HOT_SKU, quantity=1)
    request = pb.ReserveRequest(reservation_id=f"{_nonce()}-a{i}", user_id=f"u{i}", lines=[line])
    return request.SerializeToString()


def reserve_sold_out(i: int) -> bytes:
    line = pb.ReservationLine(sku=SOLD_OUT_SKU, quantity=1)
    request = pb.ReserveRequest(reservation_id=f"{_nonce()}-s{i}", user_id=f"u{i}", lines=[line])
    return request.SerializeToString()


def echo_payload(i: int) -> bytes:
    return reserve_available(i)  # the same bytes on the wire as a Reserve


async def _lua_driver(url: str, prefix: str, in_flight: int, duration_s: float) -> dict[str, float]:
    client = aioredis.Redis.from_url(url, max_connections=in_flight + 4)
    script = client.register_script(_LUA.read_bytes())
    base = f"{prefix}:{{{HOT_SKU}}}"
    await client.hset(
        f"{base}:stock", mapping={"initial": 10**9, "available": 10**9, "reserved": 0, "sold": 0}
    )
    keys = [f"{base}:stock", f"{base}:users", f"{base}:res", f"{base}:exp"]
    samples: list[float] = []
    counter = 0
    stop_at = time.perf_counter() + 1.0 + duration_s
    measure_from = stop_at - duration_s

    async def worker() -> None:
        nonlocal counter
        while (now := time.perf_counter()) < stop_at:
            counter += 1
            await script(keys=keys, args=[f"l{counter}", f"u{counter}", 1, 0, 10**13])
            if now >= measure_from:
                samples.append((time.perf_counter() - now) * 1000)

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    await client.aclose()
    figures = loadgen.percentiles(samples)
    figures["rps"] = len(samples) / duration_s
    return figures


def _lua_child(
    url: str,
    prefix: str,
    in_flight: int,
    duration_s: float,
    queue: multiprocessing.Queue[dict[str, float]],
) -> None:
    import uvloop

    queue.put(uvloop.run(_lua_driver(url, prefix, in_flight, duration_s)))


def _run_lua(url: str, prefix: str, in_flight: int, duration_s: float) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[dict[str, float]] = context.Queue()
    child = context.Process(target=_lua_child, args=(url, prefix, in_flight, duration_s, queue))
    child.start()
    result = queue.get(timeout=duration_s + 60)
    child.join(10)
    return result


def _prepare(address: str) -> None:
    with grpc.insecure_channel(address) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        stub.SetStock(pb.SetStockRequest(sku=HOT_SKU, available=10**9))
        stub.SetStock(pb.SetStockRequest(sku=SOLD_OUT_SKU, available=0))
        try:
            stub.Reserve(
                pb.ReserveRequest(
                    reservation_id="prime",
                    user_id="p",
                    lines=[pb.ReservationLine(sku=SOLD_OUT_SKU, quantity=1)],
                )
            )
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION  # now in the snapshot


def _reserved(address: str) -> int:
    with grpc.insecure_channel(address) as channel:
        stock = inventory_pb2_grpc.InventoryServiceStub(channel).GetStock(
            pb.GetStockRequest(sku=HOT_SKU)
        )
    return int(stock.stock.reserved)


def main(argv: list[str]) -> int:
    parser = loadgen.rpc_bench_parser("bench inventory", __doc__, rounds=True)
    args = parser.parse_args(argv)
    nonce = uuid.uuid4().hex[:8]
    os.environ["BENCH_NONCE"] = nonce
    prefix = f"bench{nonce}"
    spec = {"in_flight": args.in_flight, "duration_s": args.duration}
    echo_port, inventory_port = procs.free_port(), procs.free_port()
    lua = _run_lua(args.redis_url, prefix + "lua", args.in_flight, args.duration)
    env = {
        "REDIS_URL": args.redis_url,
        "SHOPMESH_PORT": str(inventory_port),
        "SHOPMESH_METRICS_PORT": "-1",
        "INVENTORY_KEY_PREFIX": prefix,
        "SHOPMESH_LOG_LEVEL": "WARNING",
    }
    address = f"127.0.0.1:{inventory_port}"
    with (
        procs.running(procs.python("bench.echo", str(echo_port)), echo_port),
        procs.running(procs.python("servers.inventory"), inventory_port, env) as server,
    ):
        _prepare(address)
        echo_address = f"127.0.0.1:{echo_port}"
        best = loadgen.fastest(
            loadgen.interleaved(
                {
                    "echo": loadgen.LoadSpec(
                        echo_address, ECHO_METHOD, "bench.inventory:echo_payload", **spec
                    ),
                    "reserve": loadgen.LoadSpec(
                        address, RESERVE, "bench.inventory:reserve_available", **spec
                    ),
                    "sold_out": loadgen.LoadSpec(
                        address, RESERVE, "bench.inventory:reserve_sold_out", **spec
                    ),
                },
                args.rounds,
                # reservation ids of their own each round (a repeated id would be a replay)
                lambda k: os.environ.__setitem__("BENCH_NONCE", f"{nonce}r{k}"),
            )
        )
        echo, reserve, sold_out = best["echo"], best["reserve"], best["sold_out"]
        missing = 100_000 - _reserved(address)
        if missing > 0:  # top up to 100,000 reservations before measuring memory
            os.environ["BENCH_NONCE"] += "f"
            loadgen.run(
                loadgen.LoadSpec(
                    address,
                    RESERVE,
                    "bench.inventory:reserve_available",
                    in_flight=args.in_flight,
                    duration_s=600,
                    warmup_s=0,
                    max_requests=missing,
                )
            )
        reservations = _reserved(address)
        rss = procs.rss_mb(server.pid)
    rows = [
        echo.row("echo", echo.rps),
        {
            "case": "lua (redis direct)",
            "rps": lua["rps"],
            "p50_ms": lua["p50"],
            "p99_ms": lua["p99"],
            "vs_echo": lua["rps"] / echo.rps if echo.rps else 0.0,
        },
        reserve.row("reserve (stock available)", echo.rps),
        sold_out.row("reserve (sold out, snapshot)", echo.rps),
    ]
    summary: dict[str, float | int] = {
        "echo_rps": round(echo.rps, 1),
        "lua_rps": round(lua["rps"], 1),
        "reserve_rps": round(reserve.rps, 1),
        "sold_out_rps": round(sold_out.rps, 1),
        "reserve_vs_echo": round(reserve.rps / echo.rps, 3),
        "sold_out_vs_echo": round(sold_out.rps / echo.rps, 3),
        "reserve_p99_ms": round(reserve.latency_ms["p99"], 2),
        "sold_out_p99_ms": round(sold_out.latency_ms["p99"], 2),
        "reservations": reservations,
        "rss_mb": round(rss, 1),
    }
    procs.forget_keys(args.redis_url, prefix)
    emit(
        "inventory",
        rows,
        summary,
        {"in_flight": args.in_flight, "duration_s": args.duration, "rounds": args.rounds},
    )
    ok = reserve.ok > 0 and sold_out.codes.get("FAILED_PRECONDITION", 0) > 0
    return 0 if ok else 1
