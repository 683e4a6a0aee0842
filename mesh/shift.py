"""Live traffic shifting: re-render only the weighted route files, replace them atomically, and
wait until every affected Envoy reports the new config version. No Envoy restarts."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping

from mesh import admin, gate, render
from mesh.topology import Topology, TopologyError


def affected(topology: Topology, service: str) -> list[str]:
    """The Envoys whose routes split traffic to `service`: the edge and its callers' sidecars."""
    names = ["edge"]
    for caller in topology.callers_of(service):
        for version in caller.versions:
            names += [
                render.sidecar_name(caller.name, version.name, i)
                for i in range(len(version.instances))
            ]
    return names


def parse_weights(specs: list[str]) -> dict[str, int]:
    """`["v1=90", "v2=10"]` -> {"v1": 90, "v2": 10}."""
    weights: dict[str, int] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not value.strip().isdigit():
            raise TopologyError(f"bad weight {spec!r}: expected VERSION=PERCENT, e.g. v1=90")
        weights[name.strip()] = int(value)
    return weights


def apply(
    topology: Topology,
    folder: pathlib.Path,
    service: str,
    weights: Mapping[str, int],
    running: set[str] | None = None,
    timeout_s: float = 10.0,
) -> tuple[Topology, dict[str, float]]:
    """Write the new weights for `service`; returns the new topology and, per Envoy that is
    running (all affected ones unless `running` says otherwise), the seconds it took to apply."""
    updated = topology.with_weights(service, weights)
    names = [n for n in affected(updated, service) if running is None or n in running]
    # the edge keeps the gate's sold-out routes (mesh.gate) through a shift
    units = {u.name: u for u in render.render(updated, str(folder), gate.load(folder))}
    # only the route configs that split to `service`: Envoy ignores a rewrite that changes nothing
    changed = {n: {"edge"} if n == "edge" else {f"outbound-{service}"} for n in names}
    for name in names:
        render.write_routes(units[name], folder, updated.config_version, changed[name])
    version = str(updated.config_version)
    applied = {
        name: admin.wait_route_version(units[name].admin, version, timeout_s, changed[name])
        for name in names
    }
    return updated, applied
