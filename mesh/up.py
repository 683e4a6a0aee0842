"""`shopmesh up`: Redis, SQL, every service instance and sidecar, the web server and the edge;
health waits, an endpoint table, logs under the run dir, and a clean reverse-order stop."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from mesh import admin, plan, render, web
from mesh.embedded import redis_server_binary, start_redis
from mesh.launcher import STATE_FILE, ProcessGroup, start_step, write_state
from mesh.ports import port_is_free
from mesh.resolved import RESOLVED, save
from mesh.topology import Topology


class StartError(RuntimeError):
    """A one-line reason `up` cannot start (port in use, missing binary, a child died)."""


@dataclass
class UpOptions:
    run_dir: pathlib.Path
    topology: Topology
    redis_url: str
    mysql_dsn: str


def preflight(options: UpOptions) -> None:
    """Fail before starting anything: missing binaries and busy ports, each named."""
    try:
        admin.envoy_binary()
        if not options.redis_url:
            redis_server_binary()
    except FileNotFoundError as exc:
        raise StartError(f"missing binary: {exc}") from None
    for port, owner in options.topology.labelled_ports():
        if owner == "embedded Redis" and options.redis_url:
            continue
        if not port_is_free(port):
            raise StartError(f"port {port} is already in use (needed for the {owner})")


def _prepare(options: UpOptions) -> None:
    run_dir = options.run_dir
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    render.write(options.topology, run_dir / "envoy")
    save(options.topology, run_dir / RESOLVED)
    names = {s.name for s in options.topology.services}
    keys = run_dir / "cart-keys"
    if "cart" in names and not keys.exists():
        print(f"==> generating a cart token key in {keys}")
        subprocess.run(
            [sys.executable, "-m", "servers.cart.keys", "generate", str(keys)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    if "payment" in names:
        provider, _, secret = plan.payment_secrets(run_dir).partition("=")
        print(
            f"==> payment provider {provider!r} dev secret: {secret} (in {run_dir}/payment-secrets)"
        )


def _start_redis(options: UpOptions, group: ProcessGroup) -> str:
    if options.redis_url:
        print(f"==> using Redis at {options.redis_url}")
        return options.redis_url
    port = options.topology.redis_port
    print(f"==> starting embedded Redis on :{port} (AOF in {options.run_dir}/redis)")
    process = start_redis(options.run_dir, port)
    group.adopt("redis", process, options.run_dir / "logs" / "redis.log")
    return f"redis://127.0.0.1:{port}/0"


def _start_all(options: UpOptions, group: ProcessGroup, stop: dict[str, bool]) -> bool:
    """Everything in plan order, each healthy before the next; False if asked to stop."""
    preflight(options)
    _prepare(options)
    redis_url = _start_redis(options, group)
    settings = plan.RunSettings(options.run_dir, redis_url, options.mysql_dsn)
    print(f"==> SQL: {'MYSQL_DSN' if options.mysql_dsn else f'SQLite in {options.run_dir}'}")
    root = web.site_root(options.run_dir)
    for step in plan.plan(options.topology, settings, root):
        if stop["now"]:
            return False
        print(f"==> starting {step.name}", flush=True)
        start_step(group, step)
        write_state(options.run_dir, group)
    return True


def run(options: UpOptions, ready_file: pathlib.Path | None = None) -> int:
    stop = {"now": False}

    def request_stop(_signum: int, _frame: object) -> None:
        if stop["now"]:
            raise KeyboardInterrupt  # a second Ctrl-C: stop waiting
        stop["now"] = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    group = ProcessGroup(options.run_dir)
    try:
        if not _start_all(options, group, stop):
            return 130
        print_endpoints(options)
        if ready_file is not None:
            ready_file.write_text(str(os.getpid()))
        while not stop["now"]:
            dead = group.first_dead()
            if dead is not None:
                print(f"!! {dead.name} exited (code {dead.process.returncode}); see {dead.log}")
                return 1
            time.sleep(0.2)
        return 0
    except (StartError, OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"shopmesh up: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        print("==> stopping everything (reverse order)", flush=True)
        group.stop()
        (options.run_dir / STATE_FILE).unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _endpoint_rows(topology: Topology) -> list[tuple[str, str, str]]:
    edge = topology.edge
    admin_url = f"http://127.0.0.1:{edge.admin}/"
    rows = [
        ("edge gRPC", f"127.0.0.1:{edge.port}", ""),
        ("edge gRPC-Web / JSON / web", f"http://127.0.0.1:{edge.port}/", ""),
        ("edge admin", admin_url, f"{admin_url}stats/prometheus"),
    ]
    for service in topology.services:
        for version in service.versions:
            for n, i in enumerate(version.instances):
                who = f"{service.name} {version.name}#{n} ({version.weight}%)"
                address = f"app 127.0.0.1:{i.app}  sidecar :{i.inbound}"
                rows.append((who, address, f"http://127.0.0.1:{i.metrics}/metrics"))
                sidecar = f"http://127.0.0.1:{i.admin}/"
                rows.append(("  sidecar admin", sidecar, f"{sidecar}stats/prometheus"))
    return rows


def print_endpoints(options: UpOptions) -> None:
    edge = options.topology.edge
    print()
    print(f"  {'endpoint':<30} {'address':<44} metrics")
    for name, address, metrics in _endpoint_rows(options.topology):
        print(f"  {name:<30} {address:<44} {metrics}")
    print()
    print(
        f"  try:  grpcurl -plaintext -protoset {options.run_dir}/envoy/shop.pb \\\n"
        f"          -d '{{\"page_size\": 3}}' \\"
    )
    print(f"          127.0.0.1:{edge.port} shop.inventory.v1.InventoryService/ListProducts")
    print(f"        curl -s http://127.0.0.1:{edge.port}/v1/products")
    print(f"        open http://127.0.0.1:{edge.port}/")
    print(f"  shift: shopmesh shift inventory v1=50 v2=50 --run-dir {options.run_dir}")
    print(f"  logs: {options.run_dir}/logs    (Ctrl-C or `shopmesh down` stops everything)")
    print(flush=True)
