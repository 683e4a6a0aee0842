"""`shopmesh`: run the shop locally and operate it."""

from __future__ import annotations

import argparse
import os
import pathlib
import signal
import sys
import time

from mesh.embedded import port_is_free, start_redis
from mesh.launcher import ProcessGroup, python_module, wait_healthy


def _up(args: argparse.Namespace) -> int:
    run_dir = pathlib.Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    group = ProcessGroup(run_dir)
    stop = {"now": False}

    def request_stop(_signum: int, _frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        redis_url = os.environ.get("REDIS_URL", "")
        if not redis_url:
            print(f"==> starting embedded Redis on :{args.redis_port} (data in {run_dir}/redis)")
            process = start_redis(run_dir, args.redis_port)
            group.adopt("redis", process, run_dir / "logs" / "redis.log")
            redis_url = f"redis://127.0.0.1:{args.redis_port}/0"
        else:
            print(f"==> using Redis at {redis_url}")
        for port in (args.inventory_port, args.inventory_metrics_port):
            if not port_is_free(port):
                raise OSError(f"port {port} is already in use (inventory)")
        print(f"==> starting inventory on 127.0.0.1:{args.inventory_port}")
        env = {
            "REDIS_URL": redis_url,
            "SHOPMESH_PORT": str(args.inventory_port),
            "SHOPMESH_METRICS_PORT": str(args.inventory_metrics_port),
        }
        member = group.spawn("inventory", python_module("servers.inventory"), env)
        wait_healthy(f"127.0.0.1:{args.inventory_port}", member)
        _print_endpoints(args, run_dir)
        while not stop["now"]:
            dead = group.first_dead()
            if dead is not None:
                print(f"!! {dead.name} exited (code {dead.process.returncode}); see {dead.log}")
                return 1
            time.sleep(0.2)
        return 0
    except (OSError, RuntimeError) as exc:
        print(f"shopmesh up: {exc}", file=sys.stderr)
        return 1
    finally:
        print("==> stopping everything")
        group.stop()


def _print_endpoints(args: argparse.Namespace, run_dir: pathlib.Path) -> None:
    port = args.inventory_port
    print()
    print("  service     gRPC              metrics")
    print(
        f"  inventory   127.0.0.1:{port}   http://127.0.0.1:{args.inventory_metrics_port}/metrics"
    )
    print()
    print(f"  try:  grpcurl -plaintext 127.0.0.1:{port} list")
    print(
        f"        grpcurl -plaintext -d '{{\"page_size\": 3}}' 127.0.0.1:{port}"
        " shop.inventory.v1.InventoryService/ListProducts"
    )
    print(f"  logs: {run_dir}/logs    (Ctrl-C stops everything)")
    print(flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shopmesh", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run the shop on this machine until Ctrl-C")
    up.add_argument("--run-dir", default=".run", help="logs and embedded data (default .run)")
    up.add_argument("--redis-port", type=int, default=6390)
    up.add_argument("--inventory-port", type=int, default=50051)
    up.add_argument("--inventory-metrics-port", type=int, default=9151)
    up.set_defaults(handler=_up)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
