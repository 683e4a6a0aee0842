"""The mesh topology: services, versions, instances, ports, who calls whom, and policy knobs.

`mesh/topology.yaml` is the source; everything else (Envoy bootstraps, route files, Kubernetes and
Istio manifests, the launcher's process list) is derived from the value objects here.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

DEFAULT_TOPOLOGY = pathlib.Path(__file__).with_name("topology.yaml")


class TopologyError(ValueError):
    """The topology file is inconsistent (unknown peer, bad weights, duplicate port, ...)."""


@dataclass(frozen=True, slots=True)
class Policy:
    """Per-cluster and per-route knobs shared by the Envoy and the Istio rendering."""

    timeout_s: float = 5.0
    per_try_timeout_s: float = 1.0
    retries: int = 2
    max_connections: int = 1024
    max_requests: int = 1024
    max_pending: int = 1024
    max_retries: int = 3
    retry_budget_percent: float = 20.0
    min_retry_concurrency: int = 3
    consecutive_5xx: int = 5
    outlier_interval_s: float = 1.0
    base_ejection_s: float = 10.0
    max_ejection_percent: int = 100
    health_interval_s: float = 2.0


@dataclass(frozen=True, slots=True)
class Instance:
    """One app process and its sidecar: app, sidecar inbound, sidecar admin and metrics ports,
    plus the sidecar's outbound listener port for each peer the app calls."""

    app: int
    inbound: int
    admin: int
    metrics: int
    outbound: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Version:
    name: str
    weight: int
    instances: tuple[Instance, ...]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    proto_module: str  # e.g. shop.inventory.v1.inventory_pb2
    grpc_service: str  # e.g. InventoryService
    calls: tuple[str, ...]
    versions: tuple[Version, ...]
    policy: Policy

    @property
    def package(self) -> str:
        return self.proto_module.rsplit(".", 1)[0]

    @property
    def full_name(self) -> str:
        return f"{self.package}.{self.grpc_service}"

    def version(self, name: str) -> Version:
        for version in self.versions:
            if version.name == name:
                return version
        raise TopologyError(f"{self.name} has no version {name!r}")

    def weights(self) -> dict[str, int]:
        return {v.name: v.weight for v in self.versions}


@dataclass(frozen=True, slots=True)
class Edge:
    port: int
    admin: int
    web: int  # the static web frontend server the edge routes `/` to
    rate_limit_tokens: int = 1000
    rate_limit_per_s: int = 1000
    cors_origins: tuple[str, ...] = ("*",)
    # per-route overrides, "service.Method" -> requests/s with a one-second bucket: sized to what
    # the service behind can take, so a burst above it is refused at the edge, not queued there
    route_limits: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Topology:
    edge: Edge
    services: tuple[Service, ...]
    redis_port: int = 6390
    config_version: int = 1

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise TopologyError(f"unknown service {name!r}")

    def callers_of(self, name: str) -> list[Service]:
        return [s for s in self.services if name in s.calls]

    def with_weights(self, name: str, weights: Mapping[str, int]) -> Topology:
        """This topology with `name`'s version weights replaced and the config version bumped."""
        service = self.service(name)
        unknown = set(weights) - {v.name for v in service.versions}
        if unknown:
            raise TopologyError(f"{name} has no version(s) {', '.join(sorted(unknown))}")
        versions = tuple(replace(v, weight=weights.get(v.name, 0)) for v in service.versions)
        updated = replace(service, versions=versions)
        _check_weights(updated)
        services = tuple(updated if s.name == name else s for s in self.services)
        return replace(self, services=services, config_version=self.config_version + 1)

    def only(self, names: set[str]) -> Topology:
        """Keep only the named services (and calls between them): the launcher runs what exists."""
        kept = tuple(
            replace(s, calls=tuple(c for c in s.calls if c in names))
            for s in self.services
            if s.name in names
        )
        limits = {r: n for r, n in self.edge.route_limits.items() if r.partition(".")[0] in names}
        return replace(self, services=kept, edge=replace(self.edge, route_limits=limits))

    def ports(self) -> list[int]:
        return [port for port, _ in self.labelled_ports()]

    def labelled_ports(self) -> list[tuple[int, str]]:
        """Every port with what uses it, for clear "port in use" errors."""
        found = [
            (self.edge.port, "edge listener"),
            (self.edge.admin, "edge admin"),
            (self.edge.web, "web frontend server"),
            (self.redis_port, "embedded Redis"),
        ]
        for service in self.services:
            for version in service.versions:
                for n, i in enumerate(version.instances):
                    who = f"{service.name}-{version.name}-{n}"
                    found += [
                        (i.app, f"{who} app"),
                        (i.inbound, f"{who} sidecar inbound"),
                        (i.admin, f"{who} sidecar admin"),
                        (i.metrics, f"{who} metrics"),
                    ]
                    found += [(p, f"{who} sidecar outbound to {k}") for k, p in i.outbound.items()]
        return found

    def renumber(self, next_port: Callable[[], int]) -> Topology:
        """The same topology on fresh ports (tests use free ones)."""
        edge = replace(self.edge, port=next_port(), admin=next_port(), web=next_port())
        services = tuple(
            replace(s, versions=tuple(_renumber_version(v, next_port) for v in s.versions))
            for s in self.services
        )
        return replace(self, edge=edge, services=services, redis_port=next_port())


def _renumber_version(version: Version, next_port: Callable[[], int]) -> Version:
    instances = tuple(
        Instance(
            next_port(), next_port(), next_port(), next_port(), {k: next_port() for k in i.outbound}
        )
        for i in version.instances
    )
    return replace(version, instances=instances)


def _check_weights(service: Service) -> None:
    total = sum(v.weight for v in service.versions)
    if any(v.weight < 0 for v in service.versions) or total != 100:
        raise TopologyError(f"{service.name}: version weights must be >= 0 and sum to 100")


def _instance(raw: Mapping[str, Any]) -> Instance:
    outbound = {str(k): int(v) for k, v in dict(raw.get("outbound", {})).items()}
    return Instance(
        int(raw["app"]), int(raw["inbound"]), int(raw["admin"]), int(raw["metrics"]), outbound
    )


def _service(name: str, raw: Mapping[str, Any], defaults: Policy) -> Service:
    policy = replace(defaults, **dict(raw.get("policy", {})))
    versions = tuple(
        Version(
            str(vname),
            int(vraw.get("weight", 0)),
            tuple(_instance(i) for i in vraw["instances"]),
            {str(k): str(v) for k, v in dict(vraw.get("env", {})).items()},
        )
        for vname, vraw in dict(raw["versions"]).items()
    )
    service = Service(
        name,
        str(raw["proto"]),
        str(raw["service"]),
        tuple(str(c) for c in raw.get("calls", [])),
        versions,
        policy,
    )
    _check_weights(service)
    return service


def _validate(topology: Topology) -> Topology:
    names = {s.name for s in topology.services}
    for service in topology.services:
        for peer in service.calls:
            if peer not in names:
                raise TopologyError(f"{service.name} calls unknown service {peer!r}")
            for version in service.versions:
                if any(peer not in i.outbound for i in version.instances):
                    raise TopologyError(
                        f"{service.name}/{version.name} lacks an outbound port for {peer}"
                    )
    for route, per_s in topology.edge.route_limits.items():
        target, _, method = route.partition(".")
        if target not in names or not method or per_s < 1:
            raise TopologyError(
                f"edge route limit {route}: {per_s}: expected service.Method: requests/s >= 1"
            )
    ports = topology.ports()
    duplicates = sorted({p for p in ports if ports.count(p) > 1})
    if duplicates:
        raise TopologyError(f"ports used twice: {duplicates}")
    return topology


def parse(raw: Mapping[str, Any]) -> Topology:
    defaults = replace(Policy(), **dict(raw.get("defaults", {})))
    edge_raw = dict(raw["edge"])
    edge = Edge(
        int(edge_raw["port"]),
        int(edge_raw["admin"]),
        int(edge_raw["web"]),
        int(edge_raw.get("rate_limit_tokens", 1000)),
        int(edge_raw.get("rate_limit_per_s", 1000)),
        tuple(str(o) for o in edge_raw.get("cors_origins", ["*"])),
        {str(k): int(v) for k, v in dict(edge_raw.get("route_limits") or {}).items()},
    )
    services = tuple(_service(str(n), r, defaults) for n, r in dict(raw["services"]).items())
    redis_port = int(raw.get("redis_port", 6390))
    version = int(raw.get("config_version", 1))
    return _validate(Topology(edge, services, redis_port, version))


def load(path: pathlib.Path = DEFAULT_TOPOLOGY) -> Topology:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TopologyError(f"cannot read topology {path}: {exc}") from exc
    try:
        return parse(raw)
    except (KeyError, TypeError) as exc:
        raise TopologyError(f"topology {path} is missing or mistypes {exc}") from exc
