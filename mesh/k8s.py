"""Kubernetes Deployments/Services plus Istio VirtualService/DestinationRule from the same
topology and the same per-RPC policy as the Envoy rendering (tests compare them field by field)."""

from __future__ import annotations

import pathlib
from typing import Any

import yaml

from mesh import envoy_parts as parts
from mesh.policy import method_policies
from mesh.topology import Service, Topology

Json = dict[str, Any]
GRPC_PORT = 50051
IMAGE = "shopmesh:latest"


def _labels(service: Service, version: str | None = None) -> dict[str, str]:
    labels = {"app": service.name}
    if version:
        labels["version"] = version
    return labels


def deployment(service: Service, version_name: str) -> Json:
    version = service.version(version_name)
    env = [
        {"name": "SHOPMESH_PORT", "value": str(GRPC_PORT)},
        {"name": "SHOPMESH_HOST", "value": "0.0.0.0"},
        {"name": "SHOPMESH_VERSION", "value": version.name},
        # in the cluster the Istio sidecar intercepts calls to the peer's Service name
        *(
            {"name": f"{service.name.upper()}_{p.upper()}_TARGET", "value": f"{p}:{GRPC_PORT}"}
            for p in service.calls
        ),
        *({"name": k, "value": v} for k, v in sorted(version.env.items())),
    ]
    container = {
        "name": service.name,
        "image": IMAGE,
        "args": ["python", "-m", f"servers.{service.name}"],
        "ports": [{"name": "grpc", "containerPort": GRPC_PORT}],
        "env": env,
        "readinessProbe": {"grpc": {"port": GRPC_PORT, "service": service.full_name}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"{service.name}-{version.name}",
            "labels": _labels(service, version.name),
        },
        "spec": {
            "replicas": len(version.instances),
            "selector": {"matchLabels": _labels(service, version.name)},
            "template": {
                "metadata": {"labels": _labels(service, version.name)},
                "spec": {"containers": [container]},
            },
        },
    }


def k8s_service(service: Service) -> Json:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service.name, "labels": _labels(service)},
        "spec": {
            "selector": _labels(service),
            "ports": [
                {"name": "grpc", "port": GRPC_PORT, "targetPort": GRPC_PORT, "appProtocol": "grpc"}
            ],
        },
    }


def destination_rule(service: Service) -> Json:
    policy = service.policy
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": service.name},
        "spec": {
            "host": service.name,
            "trafficPolicy": {
                "connectionPool": {
                    "tcp": {"maxConnections": policy.max_connections},
                    "http": {
                        "http2MaxRequests": policy.max_requests,
                        "http1MaxPendingRequests": policy.max_pending,
                        "maxRetries": policy.max_retries,
                    },
                },
                "outlierDetection": {
                    "consecutive5xxErrors": policy.consecutive_5xx,
                    "consecutiveGatewayErrors": policy.consecutive_5xx,
                    "interval": parts.seconds(policy.outlier_interval_s),
                    "baseEjectionTime": parts.seconds(policy.base_ejection_s),
                    "maxEjectionPercent": policy.max_ejection_percent,
                },
            },
            "subsets": [{"name": v.name, "labels": {"version": v.name}} for v in service.versions],
        },
    }


def virtual_service(service: Service) -> Json:
    http = []
    for method in method_policies(service):
        retry = parts.retry_policy(method, service.policy)
        timeouts = parts.route_timeouts(method, service.policy)
        retries: Json = {"attempts": retry["num_retries"], "retryOn": retry["retry_on"]}
        if "per_try_timeout" in retry:
            retries["perTryTimeout"] = retry["per_try_timeout"]
        http.append(
            {
                "name": method.method,
                "match": [{"uri": {"exact": method.path}}],
                "route": [
                    {"destination": {"host": service.name, "subset": v.name}, "weight": v.weight}
                    for v in service.versions
                ],
                "timeout": timeouts["timeout"],
                "retries": retries,
            }
        )
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": service.name},
        "spec": {"hosts": [service.name], "http": http},
    }


def manifests(service: Service) -> list[Json]:
    return [
        *(deployment(service, v.name) for v in service.versions),
        k8s_service(service),
        destination_rule(service),
        virtual_service(service),
    ]


def write(topology: Topology, out: pathlib.Path) -> list[pathlib.Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for service in topology.services:
        path = out / f"{service.name}.yaml"
        path.write_text(yaml.safe_dump_all(manifests(service), sort_keys=False, width=100))
        written.append(path)
    return written
