"""`shopmesh status`: services, versions, weights, health and Envoy stats at a glance."""

from __future__ import annotations

import urllib.error

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh import admin, render
from mesh.topology import Service, Topology


def app_health(address: str, service: str) -> str:
    try:
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=1.0
            )
    except grpc.RpcError as err:
        return f"down ({err.code().name})"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def envoy_summary(admin_port: int, listener: str) -> str:
    try:
        stats = admin.stats(
            admin_port, rf"^(server\.state|http\.{listener}\.downstream_rq_(total|5xx))$"
        )
        versions = admin.route_versions(admin_port)
    except (OSError, urllib.error.URLError, ValueError):
        return "envoy not answering"
    state = {0: "LIVE", 1: "DRAINING", 2: "PRE_INIT", 3: "INIT"}.get(
        stats.get("server.state", -1), "?"
    )
    rq = stats.get(f"http.{listener}.downstream_rq_total", 0)
    errors = stats.get(f"http.{listener}.downstream_rq_5xx", 0)
    routes = ",".join(f"{k}@v{v}" for k, v in sorted(versions.items())) or "-"
    return f"{state} rq={rq} 5xx={errors} routes={routes}"


def _service_lines(service: Service) -> list[str]:
    lines = []
    for version in service.versions:
        for n, instance in enumerate(version.instances):
            name = render.sidecar_name(service.name, version.name, n)
            health = app_health(f"127.0.0.1:{instance.inbound}", service.full_name)
            envoy = envoy_summary(instance.admin, "inbound")
            lines.append(f"  {name:<16} {version.weight:>4}%  {health:<22} {envoy}")
    return lines


def report(topology: Topology) -> str:
    lines = [
        f"config version {topology.config_version}",
        f"  {'instance':<16} weight  {'health':<22} sidecar",
    ]
    for service in topology.services:
        lines += _service_lines(service)
    lines.append(f"  {'edge':<16} {'':>5}  {'':<22} {envoy_summary(topology.edge.admin, 'edge')}")
    return "\n".join(lines)
