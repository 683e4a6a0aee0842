"""`shopmesh bench curve`: BRIEF.md's Double-11 day replayed through the edge, time-compressed
(24 h -> `--duration` s) and scaled so its 8,200 QPS peak becomes `--peak` (default: found by a
short open-loop ramp, less `--headroom`), mixing browse (ListProducts/GetProduct), cart (AddItem),
checkout (Checkout -> PlaceOrder) and flash-sale (PlaceOrder on a limited SKU) calls.

Reports offered vs achieved rate over time, latency over time (from each request's scheduled
send), shed load, and Little's-law concurrency (throughput x latency) beside the measured
in-flight count; then `shopmesh reconcile`. Exit 1 if an invariant broke.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import tempfile
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from bench import flash_sale, loadgen, meshrun, mix, report
from bench.schedule import Double11, Ramp, expected_count

SERVICES = "inventory,order,cart"


def find_peak(
    timeline: Sequence[Mapping[str, Any]], min_share: float = 0.9, max_p99_ms: float = 200.0
) -> float:
    """The highest offered rate of a ramp that was still served: achieved >= min_share of
    offered and p99 within bounds, in that window and every earlier one."""
    best = 0.0
    for row in timeline:
        offered = row["offered_rps"]
        if offered <= 0:
            continue
        if row["achieved_rps"] < min_share * offered or row["p99_ms"] > max_p99_ms:
            break
        best = max(best, offered)
    return best


def by_kind(codes: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """{"browse/OK": 5, "flash/RESOURCE_EXHAUSTED": 2} -> {"browse": {"OK": 5}, ...}."""
    found: dict[str, Counter[str]] = {}
    for label, n in codes.items():
        kind, _, outcome = label.rpartition("/")
        found.setdefault(kind or "-", Counter())[outcome] += n
    return {kind: dict(counter) for kind, counter in sorted(found.items())}


def _spec(args: argparse.Namespace, address: str, schedule: Any, label: str) -> loadgen.LoadSpec:
    return loadgen.LoadSpec(
        address, mix.PLACE, "bench.mix:request", warmup_s=0.0, schedule=schedule,
        max_requests=10**7, reasons=True, processes=args.processes, connections=args.connections,
        window_s=args.window, progress=label, timeout_s=args.timeout,
    )  # fmt: skip


def _prepare(args: argparse.Namespace, mesh: meshrun.Mesh, nonce: str, folder: pathlib.Path) -> int:
    inventory = mesh.address("app", "inventory")
    flash_sale.configure(inventory, args.flash_sku, args.units, 1)
    flash_sale.configure(inventory, args.checkout_sku, 10**6, 0)
    schedule = Double11(args.peak or args.ramp_to, args.duration)
    wanted = int(expected_count(schedule) * mix.MIX["checkout"] * 1.2) + 16
    carts = asyncio.run(
        mix.make_carts(mesh.address("app", "cart"), nonce, args.checkout_sku, min(wanted, 5000))
    )
    tokens = folder / "carts.json"
    tokens.write_text(json.dumps(carts))
    plan = {"nonce": nonce, "mix": mix.MIX, "flash_sku": args.flash_sku, "tokens": str(tokens)}
    os.environ["BENCH_MIX"] = json.dumps(plan)
    return len(carts)


def _summary(
    args: argparse.Namespace, peak: float, result: loadgen.LoadResult, checks: dict[str, Any]
) -> dict[str, Any]:
    rows = result.timeline
    offered = sum(r["offered_rps"] for r in rows) * args.window
    shed = sum(n for k, n in result.codes.items() if "RESOURCE_EXHAUSTED" in k)
    expected = ("/OK", "FAILED_PRECONDITION", "RESOURCE_EXHAUSTED")
    errors = sum(n for k, n in result.codes.items() if not any(e in k for e in expected))
    busy = [r for r in rows if r["in_flight"] > 0.5]
    ratio = sum(r["littles_law"] / r["in_flight"] for r in busy) / len(busy) if busy else 0.0
    return {
        "peak_rps": round(peak, 1), "duration_s": args.duration, "offered": int(offered),
        "answered": result.completed, "ok": result.ok, "shed": shed, "errors": errors,
        "max_offered_rps": round(max((r["offered_rps"] for r in rows), default=0), 1),
        "max_achieved_rps": round(max((r["achieved_rps"] for r in rows), default=0), 1),
        "p50_ms": round(result.latency_ms["p50"], 2), "p99_ms": round(result.latency_ms["p99"], 2),
        "p999_ms": round(result.latency_ms["p999"], 2),
        "littles_vs_in_flight": round(ratio, 3), "gen_cpu": round(result.generator_cpu_share, 3),
        "oversold": checks["oversold"], "reconcile_clean": int(checks["clean"]),
    }  # fmt: skip


def _checks(args: argparse.Namespace, mesh: meshrun.Mesh) -> dict[str, Any]:
    stock = flash_sale.stock_of(mesh.address("app", "inventory"), args.flash_sku)
    reconciled = meshrun.reconcile(mesh)
    over = max(0, int(stock.reserved + stock.sold) - args.units) + int(stock.available < 0)
    return {"oversold": over, "clean": reconciled.clean, "reconcile": reconciled.text.strip()}


def _run(args: argparse.Namespace, folder: pathlib.Path) -> int:
    nonce = uuid.uuid4().hex[:8]
    ramp: loadgen.LoadResult | None = None
    with meshrun.running(folder, SERVICES, {}, args.edge_rate_limit) as mesh:
        carts = _prepare(args, mesh, nonce, folder)
        address = mesh.address(args.via)
        warm = Ramp(args.ramp_from / 2, args.ramp_from / 2, 2.0)  # connections, pools, caches
        loadgen.run(_spec(args, address, warm, "warm-up"))
        peak = args.peak
        if not peak:
            ramp_plan = Ramp(args.ramp_from, args.ramp_to, args.ramp_s)
            ramp = loadgen.run(_spec(args, address, ramp_plan, "ramp"))
            knee = find_peak(ramp.timeline, max_p99_ms=args.knee_p99_ms) or args.ramp_from
            peak = knee * (1 - args.headroom)
        result = loadgen.run(_spec(args, address, Double11(peak, args.duration), "curve"))
        checks = _checks(args, mesh)
    summary = _summary(args, peak, result, checks)
    rows = [{"t_s": r["t_s"], "offered_rps": r["offered_rps"], "achieved_rps": r["achieved_rps"],
             "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "in_flight": r["in_flight"],
             "littles_law": r["littles_law"]} for r in result.timeline]  # fmt: skip
    extra = {
        "settings": vars(args), "mix": mix.MIX, "carts": carts, "by_kind": by_kind(result.codes),
        "outcomes": result.codes, "warnings": result.warnings, "reconcile": checks["reconcile"],
        "ramp": ramp.timeline if ramp else None, "timeline": result.timeline,
    }  # fmt: skip
    print()
    for line in result.warnings:
        print(f"WARNING: {line}")
    print(f"mix: {mix.MIX}; outcomes by kind: {extra['by_kind']}")
    print(checks["reconcile"])
    report.emit(args.name, rows, summary, extra)
    return 0 if checks["clean"] and checks["oversold"] == 0 else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shopmesh bench curve",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--duration", type=float, default=120.0, help="seconds the 24 h are replayed in")
    add("--peak", type=float, default=0.0, help="requests/s at the curve's top (0: find it)")
    add("--ramp-from", type=float, default=50.0)
    add("--ramp-to", type=float, default=2000.0)
    add("--knee-p99-ms", type=float, default=250.0, help="the ramp's knee: p99 above this")
    add("--ramp-s", type=float, default=15.0)
    add("--headroom", type=float, default=0.2, help="peak = ramp's knee x (1 - headroom)")
    add("--window", type=float, default=1.0, help="seconds per timeline window")
    add("--via", choices=["edge", "sidecar", "app"], default="edge")
    add("--units", type=int, default=1000, help="flash-sale SKU stock")
    add("--flash-sku", default="SKU-SNEAKER-LTD")
    add("--checkout-sku", default="SKU-MUG")
    add("--processes", type=int, default=1)
    add("--connections", type=int, default=2)
    add("--timeout", type=float, default=5.0)
    add("--edge-rate-limit", type=int, default=None, help="per-route RPS (default: topology's)")
    add("--name", default="curve")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-curve-") as tmp:
        return _run(args, pathlib.Path(tmp))
