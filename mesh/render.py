"""Render the topology into Envoy bootstraps plus file-based RDS route configs.

Layout of an output folder (`envoy/` in the repository, `<run_dir>/envoy` for `shopmesh up`):
  edge.yaml, <svc>-<ver>-<n>.yaml        static bootstraps (listeners, clusters, admin)
  rds/<envoy>/<route>.yaml               the weighted routes, a DiscoveryResponse each; Envoy
                                         watches the folder: an atomic rename applies a shift live
  shop.pb                                descriptor set for the edge's JSON transcoder
Paths inside the bootstraps start with `path_prefix`, so the checked-in copy stays portable.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from mesh import envoy_parts as parts
from mesh.topology import Instance, Service, Topology

Json = dict[str, Any]
DESCRIPTOR_FILE = "shop.pb"


@dataclass(frozen=True, slots=True)
class EnvoyUnit:
    """One Envoy process: its bootstrap, its dynamic route configs, and its admin port."""

    name: str
    admin: int
    bootstrap: Json
    routes: dict[str, Json]  # route config name -> RouteConfiguration


def sidecar_name(service: str, version: str, index: int) -> str:
    return f"{service}-{version}-{index}"


def rds_source(prefix: str, envoy: str, route: str) -> Json:
    folder = f"{prefix}/rds/{envoy}"
    return {
        "route_config_name": route,
        "config_source": {
            "resource_api_version": "V3",
            "path_config_source": {
                "path": f"{folder}/{route}.yaml",
                "watched_directory": {"path": folder},
            },
        },
    }


def listener(name: str, port: int, hcm: Json) -> Json:
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network"
                            ".http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": name,
                            "codec_type": "AUTO",
                            "access_log": parts.access_log(failures_only=True),
                            "http_filters": [parts.router_filter()],
                            **hcm,
                        },
                    }
                ]
            }
        ],
    }


def bootstrap(
    name: str, cluster: str, admin: int, listeners: list[Json], clusters: list[Json]
) -> Json:
    return {
        "node": {"id": name, "cluster": cluster},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "static_resources": {"listeners": listeners, "clusters": clusters},
        # many Envoys on one machine: an explicit downstream connection cap per process
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.resource_monitors"
                        ".downstream_connections.v3.DownstreamConnectionsConfig",
                        "max_active_downstream_connections": 50000,
                    },
                }
            ]
        },
    }


def peer_clusters(topology: Topology, names: list[str]) -> list[Json]:
    clusters = []
    for name in names:
        service = topology.service(name)
        for version in service.versions:
            ports = [i.inbound for i in version.instances]
            clusters.append(parts.peer_cluster(service, version.name, ports))
    return clusters


def route_config(name: str, routes: list[Json], vhost_extra: Json | None = None) -> Json:
    return {
        "name": name,
        "virtual_hosts": [
            {"name": name, "domains": ["*"], "routes": routes, **(vhost_extra or {})}
        ],
    }


def sidecar(
    topology: Topology, service: Service, version: str, index: int, instance: Instance, prefix: str
) -> EnvoyUnit:
    name = sidecar_name(service.name, version, index)
    inbound_routes = route_config("inbound", parts.inbound_routes(service))
    listeners = [listener("inbound", instance.inbound, {"route_config": inbound_routes})]
    routes: dict[str, Json] = {}
    for peer in service.calls:
        route = f"outbound-{peer}"
        routes[route] = route_config(route, parts.peer_routes(topology.service(peer)))
        listeners.append(
            listener(route, instance.outbound[peer], {"rds": rds_source(prefix, name, route)})
        )
    clusters = [
        parts.local_app_cluster(instance.app),
        *peer_clusters(topology, list(service.calls)),
    ]
    return EnvoyUnit(
        name,
        instance.admin,
        bootstrap(name, service.name, instance.admin, listeners, clusters),
        routes,
    )


def sidecars(topology: Topology, prefix: str) -> list[EnvoyUnit]:
    return [
        sidecar(topology, service, version.name, index, instance, prefix)
        for service in topology.services
        for version in service.versions
        for index, instance in enumerate(version.instances)
    ]


def render(topology: Topology, prefix: str, sold_out: Sequence[str] = ()) -> list[EnvoyUnit]:
    """Every Envoy's config; `sold_out` are the SKUs the edge gate answers itself (mesh.gate)."""
    from mesh.edge import edge_unit

    return [edge_unit(topology, prefix, sold_out), *sidecars(topology, prefix)]


def dump(value: Json) -> str:
    return yaml.safe_dump(value, sort_keys=False, width=100)


def discovery_response(route: Json, version: int) -> Json:
    return {
        "version_info": str(version),
        "resources": [
            {"@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", **route}
        ],
    }


def atomic_write(path: pathlib.Path, text: str) -> None:
    """Write next to the target and rename over it: Envoy never reads a half-written file, and
    the rename is the move event its watched directory reacts to."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def write_routes(
    unit: EnvoyUnit, out: pathlib.Path, version: int, only: set[str] | None = None
) -> list[pathlib.Path]:
    written = []
    for route, config in unit.routes.items():
        if only is not None and route not in only:
            continue
        path = out / "rds" / unit.name / f"{route}.yaml"
        atomic_write(path, dump(discovery_response(config, version)))
        written.append(path)
    return written


def write(topology: Topology, out: pathlib.Path, prefix: str | None = None) -> list[EnvoyUnit]:
    """Write every bootstrap and route file under `out`; returns the units written."""
    from mesh.descriptors import build_descriptor_set

    out.mkdir(parents=True, exist_ok=True)
    build_descriptor_set(out / DESCRIPTOR_FILE)
    units = render(topology, str(out.resolve()) if prefix is None else prefix)
    for unit in units:
        atomic_write(out / f"{unit.name}.yaml", dump(unit.bootstrap))
        write_routes(unit, out, topology.config_version)
    return units
