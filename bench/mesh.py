"""What an Envoy hop costs: the same echo RPC direct, through one sidecar, and edge + sidecar,
with the project's generator (closed loop, 64 in flight) and, as a cross-check, h2load posting a
framed gRPC body. Envoy RSS and CPU per request are reported beside the RPS.

`python -m bench mesh [--duration S] [--in-flight N]` (h2load comes from Debian's nghttp2-client).
"""

from __future__ import annotations

import argparse
import contextlib
import pathlib
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bench import loadgen, procs, report
from mesh import admin, render
from mesh import envoy_parts as parts

ECHO = "/bench.Echo/Echo"
FAN_OUT = "edge+sidecar > app > sidecar+sidecar"
H2_CASES = ("direct", "one sidecar")
PAYLOAD = b"x" * 64


def echo_request(_index: int) -> bytes:
    return PAYLOAD


def _hop(name: str, admin_port: int, *pairs: tuple[int, int]) -> dict[str, Any]:
    """An Envoy whose listeners (listen, upstream) each proxy every RPC to one upstream, shaped
    like a rendered sidecar (HTTP/2 both ways, a router, no access log)."""
    listeners, clusters = [], []
    for index, (listen, upstream) in enumerate(pairs):
        cluster = {**parts.local_app_cluster(upstream), "name": f"up{index}"}
        cluster["load_assignment"] = {**cluster["load_assignment"], "cluster_name": f"up{index}"}
        route = render.route_config(
            f"r{index}", [{"match": {"prefix": "/"}, "route": {"cluster": f"up{index}"}}]
        )
        config = {"route_config": route, "access_log": []}
        listeners.append(render.listener(f"l{index}", listen, config))
        clusters.append(cluster)
    return render.bootstrap(name, "bench", admin_port, listeners, clusters)


@contextlib.contextmanager
def _envoy(folder: pathlib.Path, config: dict[str, Any], admin_port: int) -> Iterator[int]:
    path = folder / f"{config['node']['id']}.yaml"
    path.write_text(render.dump(config))
    with (folder / f"{path.stem}.log").open("ab") as log:
        process = admin.start_envoy(path, log)
    try:
        admin.wait_ready(admin_port, process)
        yield process.pid
    finally:
        admin.stop(process)


def _h2load(port: int, seconds: float, in_flight: int, folder: pathlib.Path) -> float | None:
    binary = shutil.which("h2load")
    if binary is None:
        return None
    body = folder / "echo.bin"
    body.write_bytes(struct.pack(">BI", 0, len(PAYLOAD)) + PAYLOAD)
    args = [binary, "-D", str(max(1, round(seconds))), "--warm-up-time", "1", "-c", "1",
            "-m", str(in_flight), "-d", str(body), "-H", "content-type: application/grpc",
            "-H", "te: trailers", f"http://127.0.0.1:{port}{ECHO}"]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 30, check=False)
    found = re.search(r"finished in .*?, ([\d.]+) req/s", done.stdout)
    return float(found.group(1)) if found else None


def _rss(pid: int) -> dict[str, float]:
    """Total RSS and its private part: most of an Envoy's RSS is the file-backed binary, shared
    by every Envoy on the machine, so the private (anonymous) part is what each one adds."""
    fields = {}
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in {"VmRSS", "RssAnon"}:
            fields[key] = int(value.split()[0]) / 1024
    return {"total_mb": round(fields["VmRSS"], 1), "private_mb": round(fields["RssAnon"], 1)}


def _load(port: int, args: argparse.Namespace) -> loadgen.LoadResult:
    spec = loadgen.LoadSpec(
        f"127.0.0.1:{port}", ECHO, "bench.mesh:echo_request", args.in_flight, args.duration
    )
    return loadgen.run(spec)


def _row(case: str, result: loadgen.LoadResult, direct: float, h2: float | None) -> dict[str, Any]:
    return {
        "case": case,
        "rps": round(result.rps),
        "of_direct": f"{result.rps / direct:.0%}" if direct else "-",
        "p50_ms": round(result.latency_ms["p50"], 2),
        "p99_ms": round(result.latency_ms["p99"], 2),
        "errors": result.completed - result.ok,
        "h2load_rps": round(h2) if h2 else "-",
        "gen_cpu": f"{result.generator_cpu_share:.0%}",
    }


@dataclass
class _Stack:
    """Every process of the run, started once; `targets` maps a case to the port it is called on."""

    targets: dict[str, int]
    pids: dict[str, int]


def _start_all(stack: contextlib.ExitStack, folder: pathlib.Path) -> _Stack:
    """echo; sidecar -> echo; edge -> sidecar; and the fan-out path edge2 -> relay's sidecar ->
    relay app -> relay's sidecar (outbound) -> echo's sidecar -> echo."""
    p = iter([procs.free_port() for _ in range(11)])
    echo, sidecar, sidecar_admin, edge, edge_admin = (next(p) for _ in range(5))
    relay, inbound, outbound, relay_admin, edge2, edge2_admin = (next(p) for _ in range(6))
    stack.enter_context(procs.running(procs.python("bench.echo", str(echo)), echo))
    pids = {
        "sidecar": stack.enter_context(
            _envoy(folder, _hop("sidecar", sidecar_admin, (sidecar, echo)), sidecar_admin)
        ),
        "edge": stack.enter_context(
            _envoy(folder, _hop("edge", edge_admin, (edge, sidecar)), edge_admin)
        ),
    }
    relay_args = procs.python("bench.mesh", "relay", str(relay), f"127.0.0.1:{outbound}")
    stack.enter_context(procs.running(relay_args, relay))
    relay_sidecar = _hop("relay-sidecar", relay_admin, (inbound, relay), (outbound, sidecar))
    stack.enter_context(_envoy(folder, relay_sidecar, relay_admin))
    stack.enter_context(_envoy(folder, _hop("edge2", edge2_admin, (edge2, inbound)), edge2_admin))
    targets = {"direct": echo, "one sidecar": sidecar, "edge + sidecar": edge, FAN_OUT: edge2}
    return _Stack(targets, pids)


def _median(results: list[loadgen.LoadResult]) -> loadgen.LoadResult:
    return sorted(results, key=lambda r: r.rps)[len(results) // 2]


def _cases(
    args: argparse.Namespace, folder: pathlib.Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    with contextlib.ExitStack() as stack:
        run = _start_all(stack, folder)
        # rounds interleave the cases so a noisy neighbour hits all of them alike; medians count
        found: dict[str, list[loadgen.LoadResult]] = {case: [] for case in run.targets}
        cpu_us: list[float] = []
        for _ in range(args.rounds):
            for case, port in run.targets.items():
                cpu0 = procs.cpu_seconds(run.pids["sidecar"])
                found[case].append(_load(port, args))
                if case == "one sidecar":
                    used = procs.cpu_seconds(run.pids["sidecar"]) - cpu0
                    cpu_us.append(used / max(found[case][-1].completed, 1) * 1e6)
        h2 = {c: _h2load(run.targets[c], args.duration, args.in_flight, folder) for c in H2_CASES}
        rss = {name: _rss(pid) for name, pid in run.pids.items()}
    results = {case: _median(values) for case, values in found.items()}
    direct = results["direct"].rps
    rows = [_row(case, result, direct, h2.get(case)) for case, result in results.items()]
    facts = {"hop_cpu_us": sorted(cpu_us)[len(cpu_us) // 2], "rss_mb": rss, "h2": h2}
    return rows, {"results": results, **facts}


async def _relay(port: int, target: str) -> None:
    """An app that answers Echo by calling Echo on `target` with the caller's deadline."""
    import grpc

    async with grpc.aio.insecure_channel(target) as channel:
        forward = channel.unary_unary(ECHO)

        async def handle(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            reply: bytes = await forward(request, timeout=context.time_remaining())
            return reply

        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        handler = grpc.unary_unary_rpc_method_handler(handle)
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("bench.Echo", {"Echo": handler})]
        )
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench mesh", description=__doc__)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per case")
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median kept)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-mesh-") as tmp:
        rows, facts = _cases(args, pathlib.Path(tmp))
    results = facts["results"]
    direct, hop, two = results["direct"], results["one sidecar"], results["edge + sidecar"]
    h2_direct, h2_hop = facts["h2"]["direct"], facts["h2"]["one sidecar"]
    summary: dict[str, float | int] = {
        "direct_rps": round(direct.rps),
        "sidecar_rps": round(hop.rps),
        "sidecar_share": round(hop.rps / direct.rps, 3) if direct.rps else 0,
        "edge_sidecar_share": round(two.rps / direct.rps, 3) if direct.rps else 0,
        "hop_cpu_us": round(facts["hop_cpu_us"]),
        "envoy_rss_mb_max": max(r["total_mb"] for r in facts["rss_mb"].values()),
        "envoy_private_mb_max": max(r["private_mb"] for r in facts["rss_mb"].values()),
    }
    if h2_direct and h2_hop:
        summary["h2load_sidecar_share"] = round(h2_hop / h2_direct, 3)
    extra = {"in_flight": args.in_flight, "rounds": args.rounds, "rss_mb": facts["rss_mb"]}
    report.emit("mesh", rows, summary, extra)
    passed = summary["sidecar_share"] >= 0.75 and summary["envoy_private_mb_max"] <= 60
    return 0 if passed else 1


if __name__ == "__main__":
    import sys

    import uvloop

    if sys.argv[1:2] != ["relay"]:
        raise SystemExit(
            "usage: python -m bench.mesh relay PORT TARGET (use `python -m bench mesh`)"
        )
    uvloop.run(_relay(int(sys.argv[2]), sys.argv[3]))
