"""What `shopmesh up` runs, in start order: a pure function of the topology and the run settings,
so the process list (names, commands, environments, health checks) is testable without running."""

from __future__ import annotations

import pathlib
import secrets
import sys
from dataclasses import dataclass, field

from mesh import admin, render
from mesh.topology import Service, Topology

REPO = pathlib.Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Step:
    """One process. `grpc_health` is an address polled with grpc.health.v1; `admin` an Envoy
    admin port polled on /ready; neither means "alive after a short settle"."""

    name: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    grpc_health: str = ""
    admin: int = 0


@dataclass(frozen=True, slots=True)
class RunSettings:
    run_dir: pathlib.Path
    redis_url: str
    mysql_dsn: str = ""


def available_services(repo: pathlib.Path = REPO) -> set[str]:
    """Services whose package exists: the mesh runs what has been written so far."""
    return {
        p.parent.name for p in (repo / "servers").glob("*/__main__.py") if p.parent.name != "common"
    }


def start_order(topology: Topology) -> list[Service]:
    """Callees before callers, so every sidecar finds its peers up at its first health check."""
    ordered: list[Service] = []
    pending = list(topology.services)
    while pending:
        ready = [s for s in pending if all(c in {o.name for o in ordered} for c in s.calls)]
        if not ready:
            raise ValueError("the topology has a call cycle")
        ordered += ready
        pending = [s for s in pending if s not in ready]
    return ordered


def payment_secrets(run_dir: pathlib.Path) -> str:
    """A local dev provider secret, made once per run dir and reused across restarts."""
    path = run_dir / "payment-secrets"
    if not path.exists():
        path.write_text(f"dev={secrets.token_hex(24)}\n")
        path.chmod(0o600)
    return path.read_text().strip()


def _service_env(
    service: Service, outbound: dict[str, int], settings: RunSettings
) -> dict[str, str]:
    env = {
        f"{service.name.upper()}_{peer.upper()}_TARGET": f"127.0.0.1:{port}"
        for peer, port in outbound.items()
    }
    run_dir = settings.run_dir.resolve()
    if service.name in {"order", "payment"}:
        env[f"{service.name.upper()}_SQLITE_PATH"] = str(run_dir / f"{service.name}.db")
    if service.name == "cart":
        env["CART_KEYS_FILE"] = str(run_dir / "cart-keys")
    if service.name == "payment":
        env["PAYMENT_PROVIDER_SECRETS"] = payment_secrets(run_dir)
    return env


def _common_env(settings: RunSettings) -> dict[str, str]:
    env = {"REDIS_URL": settings.redis_url, "SHOPMESH_HOST": "127.0.0.1"}
    if settings.mysql_dsn:
        env["MYSQL_DSN"] = settings.mysql_dsn
    return env


def service_steps(topology: Topology, service: Service, settings: RunSettings) -> list[Step]:
    steps = []
    for version in service.versions:
        for index, instance in enumerate(version.instances):
            name = render.sidecar_name(service.name, version.name, index)
            env = {
                **_common_env(settings),
                **_service_env(service, dict(instance.outbound), settings),
                "SHOPMESH_PORT": str(instance.app),
                "SHOPMESH_METRICS_PORT": str(instance.metrics),
                "SHOPMESH_VERSION": version.name,
                **version.env,
            }
            # the sidecar first: an app's health may depend on reaching its peers through it
            bootstrap = settings.run_dir.resolve() / "envoy" / f"{name}.yaml"
            steps.append(
                Step(f"{name}.envoy", tuple(admin.envoy_args(bootstrap)), admin=instance.admin)
            )
            argv = (sys.executable, "-m", f"servers.{service.name}")
            steps.append(Step(f"{name}.app", argv, env, grpc_health=f"127.0.0.1:{instance.app}"))
    if service.name == "order" and (REPO / "servers" / "order" / "writer.py").exists():
        first = steps[1].env
        env = {**first, "SHOPMESH_PORT": "0", "SHOPMESH_METRICS_PORT": "-1"}
        steps.append(Step("order.writer", (sys.executable, "-m", "servers.order.writer"), env))
    return steps


def plan(topology: Topology, settings: RunSettings, web_root: pathlib.Path) -> list[Step]:
    steps: list[Step] = []
    for service in start_order(topology):
        steps += service_steps(topology, service, settings)
    web = (
        sys.executable,
        "-m",
        "mesh.web",
        "--dir",
        str(web_root),
        "--port",
        str(topology.edge.web),
        "--run-dir",  # /mesh.json reads the weights and Envoy stats of this run
        str(settings.run_dir.resolve()),
    )
    steps.append(Step("web", web))
    edge = settings.run_dir.resolve() / "envoy" / "edge.yaml"
    steps.append(
        Step("edge.envoy", tuple(admin.envoy_args(edge, concurrency=2)), admin=topology.edge.admin)
    )
    inventory = next((s for s in topology.services if s.name == "inventory"), None)
    if inventory is not None:  # the gate reads stock from inventory's first sidecar
        target = f"127.0.0.1:{inventory.versions[0].instances[0].inbound}"
        run_dir = str(settings.run_dir.resolve())
        gate = (sys.executable, "-m", "mesh.gate", "--run-dir", run_dir, "--target", target)
        steps.append(Step("edge.gate", gate))
    return steps
