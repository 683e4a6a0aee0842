"""`shopmesh bench flash-sale`: N buyers race for S units through the real mesh, then
`shopmesh reconcile` proves nothing was oversold, lost or over the per-user limit.

Open loop by default: buyers arrive at `--rate` per second (default: `--rate-share` of the
maximum a short closed-loop probe sale finds), latency counted from each buyer's scheduled
arrival. `--mode closed` runs the sale with a fixed number in flight instead. A share of buyers
(`--repeat`) press buy twice. In the same run, for scale: the bare grpc.aio echo limit (our
generator and h2load), our generator against h2load on one unary RPC (sold-out PlaceOrder on the
order app), and the MariaDB row-lock strategy. Exit 1 if any invariant broke.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pathlib
import socket
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import grpc

from bench import baselines, flash_report, loadgen, meshrun, profile
from shop.inventory.v1 import inventory_pb2 as inv
from shop.inventory.v1 import inventory_pb2_grpc
from shop.order.v1 import order_pb2 as pb

PLACE = "/shop.order.v1.OrderService/PlaceOrder"
SERVICES = "inventory,order"


def _plan() -> dict[str, Any]:
    return dict(json.loads(os.environ["BENCH_FLASH"]))


def buyer_of(i: int, repeat: float) -> int:
    """Request i's buyer: blocks of k new buyers, then the block's first buyer presses again."""
    if repeat <= 0:
        return i
    block = max(1, round(1 / repeat))
    group, slot = divmod(i, block + 1)
    return group * block + (0 if slot == block else slot)


def request_count(buyers: int, repeat: float) -> int:
    if repeat <= 0:
        return buyers
    block = max(1, round(1 / repeat))
    return buyers + buyers // block


def buy(i: int) -> bytes:
    plan = _plan()
    user = buyer_of(i, plan["repeat"])
    line = pb.PlaceOrderLine(sku=plan["sku"], quantity=1)
    request = pb.PlaceOrderRequest(
        request_id=f"{plan['nonce']}-{i}", user_id=f"{plan['nonce']}-u{user}", lines=[line]
    )
    return request.SerializeToString()


def hopeless(_i: int) -> bytes:
    """One sold-out PlaceOrder (the same bytes every time, as h2load sends)."""
    plan = _plan()
    line = pb.PlaceOrderLine(sku=plan["sku"], quantity=1)
    return pb.PlaceOrderRequest(request_id="h2", user_id="h2", lines=[line]).SerializeToString()


def echo_body(_i: int) -> bytes:
    return hopeless(0)


def _set_plan(**plan: Any) -> None:
    os.environ["BENCH_FLASH"] = json.dumps(plan)


def configure(address: str, sku: str, units: int, limit: int) -> None:
    """Stock and per-user limit through inventory's admin RPCs."""
    with grpc.insecure_channel(address) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        stub.SetStock(inv.SetStockRequest(sku=sku, available=units), timeout=10)
        sale = inv.SaleConfig(per_user_limit=limit)
        stub.ConfigureSale(inv.ConfigureSaleRequest(sku=sku, sale=sale), timeout=10)


def stock_of(address: str, sku: str) -> inv.Stock:
    with grpc.insecure_channel(address) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        stock: inv.Stock = stub.GetStock(inv.GetStockRequest(sku=sku), timeout=10).stock
        return stock


def sql_dsn(choice: str) -> str:
    """auto: MYSQL_DSN, else the local MariaDB if it answers, else SQLite in the run dir."""
    if choice != "auto":
        return choice
    if os.environ.get("MYSQL_DSN"):
        return os.environ["MYSQL_DSN"]
    try:
        with socket.create_connection(("127.0.0.1", 3306), timeout=0.5):
            return "mysql://root@127.0.0.1:3306/test"
    except OSError:
        return "sqlite"


def _sale_spec(
    args: argparse.Namespace, address: str, rate: float | None, label: str
) -> loadgen.LoadSpec:
    requests = request_count(args.buyers, args.repeat)
    common = {"max_requests": requests, "warmup_s": 0.0, "reasons": True, "progress": label,
              "processes": args.processes, "connections": args.connections,
              "timeout_s": args.timeout, "metadata": sku_hint(args, args.sku)}  # fmt: skip
    if rate is None:
        return loadgen.LoadSpec(address, PLACE, "bench.flash_sale:buy", args.in_flight,
                                duration_s=args.max_seconds, **common)  # fmt: skip
    return loadgen.LoadSpec(address, PLACE, "bench.flash_sale:buy", duration_s=requests / rate,
                            rate=rate, **common)  # fmt: skip


PROBE_BUYERS = 8_000


def sku_hint(args: argparse.Namespace, sku: str) -> tuple[tuple[str, str], ...]:
    """Buyers name their SKU in `x-shop-sku`, as the web page does, so that once it is sold out
    the edge gate (mesh/gate.py) answers them without a hop; `--no-sku-hint` measures without."""
    return (("x-shop-sku", sku),) if args.sku_hint else ()


def probe_units(args: argparse.Namespace) -> int:
    units: int = args.units
    return max(1, round(units * PROBE_BUYERS / request_count(args.buyers, args.repeat)))


def _probe(args: argparse.Namespace, mesh: meshrun.Mesh, nonce: str) -> loadgen.LoadResult:
    """A short closed-loop sale of its own SKU: the maximum rate this machine answers buyers at.
    It has the main sale's units-to-buyers share, sized for PROBE_BUYERS buyers, so its mix of
    winning (slow) and hopeless (fast) answers is the sale's, not a burst of winners alone."""
    configure(mesh.address("app", "inventory"), args.probe_sku, probe_units(args), args.limit)
    _set_plan(nonce=f"{nonce}p", sku=args.probe_sku, repeat=args.repeat)
    spec = loadgen.LoadSpec(
        mesh.address(args.via),
        PLACE,
        "bench.flash_sale:buy",
        args.in_flight,
        args.probe_s,
        warmup_s=0.0,
        reasons=True,
        processes=args.processes,
        connections=args.connections,
        progress="probe (closed loop)",
        metadata=sku_hint(args, args.probe_sku),
    )
    return loadgen.run(spec)


def _independent(
    args: argparse.Namespace, mesh: meshrun.Mesh, folder: pathlib.Path
) -> dict[str, Any]:
    """Our generator and h2load, closed loop, on one unary RPC: a sold-out PlaceOrder straight
    to the order app (the server, not either tool, is the limit)."""
    address = mesh.address("app")
    spec = loadgen.LoadSpec(
        address, PLACE, "bench.flash_sale:hopeless", args.in_flight, args.baseline_s
    )
    # interleaved rounds, best of each: a busy neighbour then slows both tools alike
    ours: list[loadgen.LoadResult] = []
    h2: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        ours.append(loadgen.run(spec))
        found = baselines.h2load(
            address, PLACE, hopeless(0), args.baseline_s, args.in_flight, folder
        )
        h2 += [found] if found else []
    best_h2 = max(h2, key=lambda f: float(f["rps"])) if h2 else None
    return {"ours": max(ours, key=lambda r: r.rps), "h2load": best_h2}


@contextlib.contextmanager
def _database(dsn: str, nonce: str) -> Iterator[dict[str, str]]:
    """A MariaDB database of the run's own (dropped afterwards), or SQLite in the run dir."""
    if not dsn.startswith("mysql"):
        yield {}
        return
    from servers.common import sql

    name = f"shopmesh_bench_{nonce}"

    async def admin(statement: str) -> None:
        connection = await sql.connect(dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        yield {"MYSQL_DSN": f"{dsn.rsplit('/', 1)[0]}/{name}"}
    finally:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name}"))


def _warm_up(args: argparse.Namespace, mesh: meshrun.Mesh, nonce: str) -> None:
    """A second of sold-out orders on the sale's path: connections and pools open, code paths
    warm, before the clock of the sale starts (the probe, when it runs, does the same)."""
    _set_plan(nonce=nonce, sku=args.hopeless_sku, repeat=0.0)
    spec = loadgen.LoadSpec(
        mesh.address(args.via),
        PLACE,
        "bench.flash_sale:hopeless",
        args.in_flight,
        1.0,
        warmup_s=0.0,
        connections=args.connections,
    )
    loadgen.run(spec)


def _sale(args: argparse.Namespace, mesh: meshrun.Mesh, rate: float | None, nonce: str,
          folder: pathlib.Path) -> dict[str, Any]:  # fmt: skip
    _warm_up(args, mesh, nonce)
    configure(mesh.address("app", "inventory"), args.sku, args.units, args.limit)
    _set_plan(nonce=nonce, sku=args.sku, repeat=args.repeat)
    spec = _sale_spec(args, mesh.address(args.via), rate, "flash sale")
    pids = mesh.pids()
    before = profile.cpu_snapshot(pids)
    targets = {n: p for n, p in pids.items() if n in {"order-v1-0.app", "inventory-v1-0.app"}}
    seconds = spec.span_s if spec.open_loop else min(args.max_seconds, 30)
    with contextlib.ExitStack() as stack:
        if args.profile:
            for name, pid in targets.items():
                stack.enter_context(profile.sampling(pid, seconds, folder / f"{name}.txt"))
        result = loadgen.run(spec)
    cpu = profile.cpu_per_request(before, profile.cpu_snapshot(pids), result.completed)
    slowest = profile.slowest_python(cpu)
    hot = profile.hottest(folder / f"{slowest}.txt") if slowest else {}
    return {"result": result, "cpu": cpu, "slowest": slowest, "profile": hot, "rate": rate}


def _checks(
    args: argparse.Namespace, mesh: meshrun.Mesh, won: int, won_total: int
) -> dict[str, Any]:
    stock = stock_of(mesh.address("app", "inventory"), args.sku)
    reconciled = meshrun.reconcile(mesh)
    held = int(stock.reserved + stock.sold)
    oversold = max(0, held - args.units) + (1 if stock.available < 0 else 0)
    sql_orders = reconciled.checked.get("sql_orders", -1)
    return {
        "reconcile_clean": reconciled.clean,
        "reconcile": reconciled.text.strip(),
        "oversold": oversold,
        "held_vs_won": held - won,  # units taken from stock that no OK answer accounts for
        "lost": max(0, won_total - sql_orders),
        # placed, but the buyer saw an error (e.g. a timeout): consistent books, an unsure buyer
        "unconfirmed": max(0, sql_orders - won_total),
        "sql_orders": sql_orders,
        "unsold": int(stock.available),
    }


def _run(args: argparse.Namespace, nonce: str, folder: pathlib.Path) -> int:
    dsn = sql_dsn(args.sql)
    found: dict[str, Any] = {"sql": "mariadb" if dsn.startswith("mysql") else "sqlite"}
    if args.baselines:
        _set_plan(nonce=nonce, sku=args.hopeless_sku, repeat=0.0)
        found["echo"] = baselines.echo_limit(
            hopeless(0), "bench.flash_sale:echo_body", args.baseline_s, args.in_flight, folder
        )
        found["rowlock"] = baselines.rowlock(dsn, min(args.buyers, args.rowlock_buyers), args.units)
    with (
        _database(dsn, nonce) as env,
        meshrun.running(folder, SERVICES, env, args.edge_rate_limit, args.place_rate_limit) as mesh,
    ):
        configure(mesh.address("app", "inventory"), args.hopeless_sku, 0, 0)
        if args.baselines:
            _set_plan(nonce=nonce, sku=args.hopeless_sku, repeat=0.0)
            found["independent"] = _independent(args, mesh, folder)
        rate = None
        if args.mode == "open":
            rate = args.rate
        if args.baselines or (rate is None and args.mode == "open"):
            found["probe"] = _probe(args, mesh, nonce)
            # half of what the services answered at: offering more only measures Envoy's 429s
            rate = rate or max(1.0, args.rate_share * flash_report.served_rps(found["probe"]))
        found["sale"] = _sale(args, mesh, None if args.mode == "closed" else rate, nonce, folder)
        won = found["sale"]["result"].ok
        won_total = won + (found["probe"].ok if "probe" in found else 0)
        found["checks"] = _checks(args, mesh, won, won_total)
    return flash_report.emit_flash(args, found)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shopmesh bench flash-sale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--buyers", type=int, default=100_000)
    add("--units", type=int, default=1_000)
    add("--limit", type=int, default=1, help="per-user purchase limit")
    add("--repeat", type=float, default=0.05, help="share of buyers who press buy twice")
    add("--mode", choices=["open", "closed"], default="open")
    add("--rate", type=float, default=None, help="buyers/s (open loop), default probe x share")
    add("--rate-share", type=float, default=0.5, help="share of the probe's served max to offer")
    add("--in-flight", type=int, default=64, help="closed loop: requests in flight")
    add("--via", choices=["edge", "sidecar", "app"], default="edge")
    add("--processes", type=int, default=1, help="generator processes")
    add("--connections", type=int, default=2, help="HTTP/2 connections")
    add("--timeout", type=float, default=5.0, help="per-request deadline (s)")
    add("--max-seconds", type=float, default=300.0, help="closed loop: stop after this long")
    add("--sku", default="SKU-SNEAKER-LTD")
    add("--probe-sku", default="SKU-CONSOLE")
    add("--hopeless-sku", default="SKU-CAMERA")
    add("--probe-s", type=float, default=5.0)
    add("--baseline-s", type=float, default=4.0)
    add("--rounds", type=int, default=2, help="interleaved rounds of ours vs h2load (best kept)")
    add("--rowlock-buyers", type=int, default=20_000)
    add("--edge-rate-limit", type=int, default=None, help="per-route RPS (default: topology's)")
    add("--place-rate-limit", type=int, default=None,
        help="PlaceOrder's edge RPS (default: topology's; 0: the per-route default)")  # fmt: skip
    add("--sql", default="auto", help="auto, sqlite, or a mysql:// DSN (a fresh database)")
    add("--no-sku-hint", dest="sku_hint", action="store_false", help="buyers send no x-shop-sku")
    add("--no-baselines", dest="baselines", action="store_false")
    add("--no-profile", dest="profile", action="store_false")
    add("--name", default="flash-sale")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    nonce = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="bench-flash-") as tmp:
        return _run(args, nonce, pathlib.Path(tmp))
