"""The resolved topology a `shopmesh up` runs, saved in its run dir, so `shift` and `status`
(from another terminal) work on the real ports and the weights as last shifted."""

from __future__ import annotations

import pathlib
from typing import Any

import yaml

from mesh.topology import Policy, Topology, TopologyError, Version, load

RESOLVED = "topology.resolved.yaml"


def _version_raw(version: Version) -> dict[str, Any]:
    instances = [
        {"app": i.app, "inbound": i.inbound, "admin": i.admin, "metrics": i.metrics}
        | {"outbound": dict(i.outbound)}
        for i in version.instances
    ]
    return {"weight": version.weight, "env": dict(version.env), "instances": instances}


def to_raw(topology: Topology) -> dict[str, Any]:
    """The inverse of `mesh.topology.parse`, with every policy field spelled out."""
    edge = topology.edge
    return {
        "redis_port": topology.redis_port,
        "config_version": topology.config_version,
        "edge": {
            "port": edge.port,
            "admin": edge.admin,
            "web": edge.web,
            "rate_limit_tokens": edge.rate_limit_tokens,
            "rate_limit_per_s": edge.rate_limit_per_s,
            "cors_origins": list(edge.cors_origins),
            "route_limits": dict(edge.route_limits),
        },
        "services": {
            s.name: {
                "proto": s.proto_module,
                "service": s.grpc_service,
                "calls": list(s.calls),
                "policy": {f: getattr(s.policy, f) for f in Policy.__dataclass_fields__},
                "versions": {v.name: _version_raw(v) for v in s.versions},
            }
            for s in topology.services
        },
    }


def save(topology: Topology, path: pathlib.Path) -> None:
    path.write_text(yaml.safe_dump(to_raw(topology), sort_keys=False))


def running(run_dir: pathlib.Path) -> Topology:
    """The topology a `shopmesh up` in `run_dir` is running (weights as last shifted)."""
    path = run_dir / RESOLVED
    if not path.exists():
        raise TopologyError(f"no running mesh in {run_dir} (start one with `shopmesh up`)")
    return load(path)
