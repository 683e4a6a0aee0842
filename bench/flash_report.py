"""The flash-sale report: outcomes, throughput and latency of the sale next to the echo limit,
h2load and the row-lock strategy; the invariants; the slowest hop's profile; the exit code."""

from __future__ import annotations

import argparse
from typing import Any

from bench import baselines, loadgen, report

P99_TARGET_MS = 100.0
ECHO_SHARE_TARGET = 0.40


def outcome_counts(codes: dict[str, int]) -> dict[str, int]:
    """won / sold_out / limit / shed (edge rate limit, backlog cap: RESOURCE_EXHAUSTED) /
    overflow (an Envoy circuit breaker tripped), and every other answer as errors by code."""
    found = {"won": 0, "sold_out": 0, "limit": 0, "shed": 0, "overflow": 0}
    for label, n in codes.items():
        code, _, reason = label.partition(":")
        if reason == "ENVOY_OVERLOADED":
            found["overflow"] += n
            continue
        key = {
            "OK": "won",
            "FAILED_PRECONDITION": {"SOLD_OUT": "sold_out", "LIMIT_EXCEEDED": "limit"}.get(reason),
            "RESOURCE_EXHAUSTED": "shed",
        }.get(code)
        name = key if isinstance(key, str) else f"error_{label}"
        found[name] = found.get(name, 0) + n
    return found


def served_rps(result: loadgen.LoadResult) -> float:
    """Answers per second that came from the services: shed and overflow answers excluded."""
    counts = outcome_counts(result.codes)
    served = result.completed - counts["shed"] - counts["overflow"]
    return served / result.seconds if result.seconds else 0.0


def _row(case: str, result: loadgen.LoadResult | None, echo_rps: float) -> dict[str, Any]:
    if result is None:
        return {"case": case}
    return {
        "case": case,
        "rps": round(result.rps, 1),
        "vs_echo": round(result.rps / echo_rps, 3) if echo_rps else "-",
        "p50_ms": round(result.latency_ms["p50"], 2),
        "p99_ms": round(result.latency_ms["p99"], 2),
        "p999_ms": round(result.latency_ms["p999"], 2),
        "ok": result.ok,
        "not_ok": result.completed - result.ok,
        "gen_cpu": f"{result.generator_cpu_share:.0%}",
    }


def _h2_row(case: str, h2: dict[str, Any] | None, echo_rps: float) -> dict[str, Any]:
    if not h2:
        return {"case": case, "rps": "h2load missing (apt-get install nghttp2-client)"}
    share = round(h2["rps"] / echo_rps, 3) if echo_rps else "-"
    return {"case": case, "rps": round(h2["rps"], 1), "vs_echo": share}


def _rows(found: dict[str, Any], echo_rps: float) -> list[dict[str, Any]]:
    rows = []
    if "echo" in found:
        rows.append(_row("echo limit, bare grpc.aio (ours)", found["echo"]["ours"], echo_rps))
        rows.append(
            _h2_row("echo limit, bare grpc.aio (h2load)", found["echo"]["h2load"], echo_rps)
        )
    if "independent" in found:
        rows.append(
            _row("sold-out PlaceOrder on order app (ours)", found["independent"]["ours"], echo_rps)
        )
        rows.append(
            _h2_row(
                "sold-out PlaceOrder on order app (h2load)",
                found["independent"]["h2load"],
                echo_rps,
            )
        )
    if found.get("rowlock"):
        lock = found["rowlock"]
        rows.append(
            {
                "case": "MariaDB row lock per buyer, SQL from the bench (no gRPC hop)",
                "rps": round(lock["buyers_per_s"], 1),
                "ok": lock["wins"],
                "vs_echo": round(lock["buyers_per_s"] / echo_rps, 3) if echo_rps else "-",
            }
        )
    if "probe" in found:
        rows.append(_row("probe: flash sale, closed loop (max)", found["probe"], echo_rps))
    sale = found["sale"]
    label = (
        f"flash sale, open loop @ {sale['rate']:,.0f}/s"
        if sale["rate"]
        else "flash sale, closed loop"
    )
    rows.append(_row(label, sale["result"], echo_rps))
    return rows


def _summary(args: argparse.Namespace, found: dict[str, Any], echo_rps: float) -> dict[str, Any]:
    sale: loadgen.LoadResult = found["sale"]["result"]
    outcomes = outcome_counts(sale.codes)
    checks = found["checks"]
    errors = sum(n for k, n in outcomes.items() if k.startswith("error_"))
    internal = sum(n for k, n in outcomes.items() if "INTERNAL" in k or "UNKNOWN" in k)
    fastest: loadgen.LoadResult = found.get("probe", sale)
    peak, served = fastest.rps, served_rps(fastest)
    summary: dict[str, Any] = {
        "buyers": args.buyers, "units": args.units, "requests": sale.completed,
        "won": outcomes["won"], "sold_out": outcomes["sold_out"], "limit": outcomes["limit"],
        "shed": outcomes["shed"], "overflow": outcomes["overflow"], "errors": errors,
        "internal": internal,
        "oversold": checks["oversold"], "lost": checks["lost"],
        "unconfirmed": checks["unconfirmed"],
        "sql_orders": checks["sql_orders"], "reconcile_clean": int(checks["reconcile_clean"]),
        "offered_rps": round(found["sale"]["rate"] or 0.0, 1), "sale_rps": round(sale.rps, 1),
        "max_rps": round(peak, 1), "max_served_rps": round(served, 1),
        "p50_ms": round(sale.latency_ms["p50"], 2), "p90_ms": round(sale.latency_ms["p90"], 2),
        "p99_ms": round(sale.latency_ms["p99"], 2),
        "p999_ms": round(sale.latency_ms["p999"], 2), "gen_cpu": round(sale.generator_cpu_share, 3),
        # how late the generator itself sent: a part of every latency above, on shared cores
        "send_lag_p99_ms": round(sale.send_lag_ms.get("p99", 0.0), 2),
    }  # fmt: skip
    if echo_rps:
        summary["echo_rps"] = round(echo_rps, 1)
        summary["max_vs_echo"] = round(peak / echo_rps, 3)
        summary["served_vs_echo"] = round(served / echo_rps, 3)
        h2 = found["echo"]["h2load"]
        if h2 and h2["rps"]:
            summary["h2load_echo_rps"] = round(h2["rps"], 1)
    if "independent" in found:
        h2 = found["independent"]["h2load"]
        ours = found["independent"]["ours"].rps
        summary["ours_vs_h2load"] = round(baselines.agreement(ours, h2 and h2["rps"]), 3)
    if found.get("rowlock"):
        summary["rowlock_rps"] = round(found["rowlock"]["buyers_per_s"], 1)
        summary["served_vs_rowlock"] = round(served / found["rowlock"]["buyers_per_s"], 2)
    return summary


def _targets(summary: dict[str, Any], half_rate: bool) -> dict[str, str]:
    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    found = {
        "zero oversell / lost orders": verdict(summary["oversold"] == 0 and summary["lost"] == 0),
        "reconcile clean": verdict(bool(summary["reconcile_clean"])),
        "zero INTERNAL / unexpected errors": verdict(summary["errors"] == 0),
    }
    if "max_vs_echo" in summary:
        found["served max rate >= 40 % of echo (shed excluded)"] = verdict(
            summary["served_vs_echo"] >= ECHO_SHARE_TARGET
        )
    if half_rate:
        found["p99 <= 100 ms at half the max rate"] = verdict(summary["p99_ms"] <= P99_TARGET_MS)
    if summary.get("ours_vs_h2load"):
        found["generator agrees with h2load within 10 %"] = verdict(
            abs(summary["ours_vs_h2load"] - 1) <= 0.10
        )
    return found


def invariants_hold(summary: dict[str, Any], won_main: int, units: int) -> bool:
    return bool(
        summary["reconcile_clean"]
        and summary["oversold"] == 0
        and summary["lost"] == 0
        and won_main <= units
    )


def emit_flash(args: argparse.Namespace, found: dict[str, Any]) -> int:
    echo_rps = found["echo"]["ours"].rps if "echo" in found else 0.0
    summary = _summary(args, found, echo_rps)
    sale: loadgen.LoadResult = found["sale"]["result"]
    half = args.mode == "open" and args.rate is None and abs(args.rate_share - 0.5) < 1e-9
    targets = _targets(summary, half)
    ok = invariants_hold(summary, summary["won"], args.units)
    summary["invariants_ok"] = int(ok)
    extra = {
        "settings": vars(args), "sql": found["sql"], "targets": targets,
        "outcomes": outcome_counts(sale.codes), "codes": sale.codes,
        "warnings": sale.warnings, "send_lag_ms": sale.send_lag_ms,
        "checks": found["checks"], "cpu_per_process": found["sale"]["cpu"],
        "slowest_hop": found["sale"]["slowest"], "slowest_hop_profile": found["sale"]["profile"],
        "timeline": sale.timeline, "histogram": sale.histogram,
    }  # fmt: skip
    rows = _rows(found, echo_rps)
    print()
    for line in sale.warnings:
        print(f"WARNING: {line}")
    print(found["checks"]["reconcile"])
    for name, verdict in targets.items():
        print(f"target: {name}: {verdict}")
    report.emit(args.name, rows, summary, extra)
    if not ok:
        print("flash-sale: an invariant broke (see above)")
    return 0 if ok else 1
